package ingest

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// blindStore answers its first lookups "not found" whatever it holds, as
// when two workers take copies of one file before either is stored.
type blindStore struct {
	*sqlite.DB
	blind atomic.Int32
}

func (s *blindStore) GetSample(ctx context.Context, sha string) (model.Sample, error) {
	if s.blind.Add(-1) >= 0 {
		return model.Sample{}, model.ErrNotFound
	}
	return s.DB.GetSample(ctx, sha)
}

// TestSameFileTwiceInABatch: two copies of one file with different labels,
// analysed side by side, end as one sample carrying both labels.
func TestSameFileTwiceInABatch(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "testdata", "fixtures", "bin", "pe64-O2", "emberkit-v1.exe"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var items []Item
	for i, l := range []model.Labels{{Family: "emberkit"}, {Actor: "redfox"}} {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(p, src, 0o600); err != nil {
			t.Fatal(err)
		}
		items = append(items, Item{Path: p, Labels: l})
	}
	db, err := sqlite.Open(filepath.Join(dir, "k.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st := &blindStore{DB: db}
	st.blind.Store(2)
	var results []Result
	sum := Run(context.Background(), st, items, Options{Workers: 2}, func(r Result) { results = append(results, r) })
	if sum.Files != 2 || sum.Added != 1 || sum.Existing != 1 || sum.Failed != 0 {
		t.Fatalf("summary %+v, results %+v", sum, results)
	}
	got, err := db.GetSample(context.Background(), results[0].SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels.Family != "emberkit" || got.Labels.Actor != "redfox" {
		t.Errorf("labels %+v, want both copies' labels", got.Labels)
	}
}
