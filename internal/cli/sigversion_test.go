package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/attribute"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// A collection ingested with signature version 1 keeps attributing: the
// query is signed with the collection's version, whatever this kinship's
// own is. Adding samples of another version makes the collection refuse
// to load, saying what to do.
func TestOlderSignatureVersion(t *testing.T) {
	root := filepath.Join("..", "..", "testdata", "fixtures")
	if _, err := os.Stat(filepath.Join(root, "bin", "pe64-O2")); err != nil {
		t.Skip("fixtures not built")
	}
	f, err := os.Open(filepath.Join(root, "labels.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	all, err := ingest.ParseLabels(f, "labels.tsv", root)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	commons, err := readList(filepath.Join(root, "common.txt"))
	if err != nil {
		t.Fatal(err)
	}
	refs := all
	for _, c := range commons {
		refs = append(refs, ingest.Item{Path: filepath.Join(root, c[0]), Common: true})
	}
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "v1.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v1 := ingest.Options{Analyze: analyze.Options{Disasm: disasm.Options{SigVersion: 1}}}
	if sum := ingest.Run(ctx, st, refs, v1, nil); sum.Failed > 0 || sum.Added != len(refs) {
		t.Fatalf("ingest: %+v", sum)
	}
	ix, err := attribute.Load(ctx, st, attribute.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ix.SigVersion() != 1 {
		t.Fatalf("index of a version 1 collection has version %d", ix.SigVersion())
	}
	v := attributeOne(ix, filepath.Join(root, "bin", "pe64-O2", "emberkit-v2.exe"))
	if v.Error != "" || v.Family.Name != "emberkit" || v.Actor.Name != "redfox" {
		t.Errorf("version 1 collection: %s / %s (%s), want emberkit / redfox", v.Family.Name, v.Actor.Name, v.Error)
	}

	// One more reference signed with the current version: mixed.
	extra := filepath.Join(root, "bin", "pe32-O2", "emberkit-v2.exe")
	cur := ingest.Options{Analyze: analyze.Options{}}
	if sum := ingest.Run(ctx, st, []ingest.Item{{Path: extra, Labels: model.Labels{Family: "emberkit", Actor: "redfox"}}}, cur, nil); sum.Added != 1 {
		t.Fatalf("ingest: %+v", sum)
	}
	_, err = attribute.Load(ctx, st, attribute.Options{})
	if err == nil || !strings.Contains(err.Error(), "re-ingest") ||
		!strings.Contains(err.Error(), fmt.Sprintf("%d of version 1, 1 of version %d", len(refs), model.SigVersion)) {
		t.Errorf("mixed collection: %v", err)
	}
}

// kinship ingest into a collection of an older signature version signs the
// new samples with that version, so the collection stays usable.
func TestIngestFollowsStoreVersion(t *testing.T) {
	root := filepath.Join("..", "..", "testdata", "fixtures")
	db := filepath.Join(t.TempDir(), "v1.db")
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	v1 := ingest.Options{Analyze: analyze.Options{Disasm: disasm.Options{SigVersion: 1}}}
	first := filepath.Join(root, "bin", "pe64-O2", "emberkit-v1.exe")
	if sum := ingest.Run(ctx, st, []ingest.Item{{Path: first, Labels: model.Labels{Family: "emberkit", Actor: "redfox"}}}, v1, nil); sum.Added != 1 {
		t.Fatalf("ingest: %+v", sum)
	}
	st.Close()
	second := filepath.Join(root, "bin", "pe64-O2", "ashdrop-v1.exe")
	if _, errOut, code := run(t, "ingest", "--db", db, "--quiet", "--family", "ashdrop", "--actor", "redfox", second); code != 0 {
		t.Fatalf("kinship ingest: exit %d: %s", code, errOut)
	}
	st, err = sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	samples, err := st.Samples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(samples) != 2 {
		t.Fatalf("%d samples, want 2", len(samples))
	}
	for _, s := range samples {
		if s.SigVersion != 1 {
			t.Errorf("%s: signature version %d, want the collection's 1", s.Name, s.SigVersion)
		}
	}
}
