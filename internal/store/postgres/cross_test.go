package postgres_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/attribute"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/exchange"
	"github.com/kinship-dev/kinship/internal/store/postgres/pgtest"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
	"github.com/kinship-dev/kinship/internal/store/storetest"
)

// fixtures is the demonstration collection, relative to this package.
var fixtures = filepath.Join("..", "..", "..", "testdata", "fixtures")

func openSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	return openSQLiteAt(t, filepath.Join(t.TempDir(), "k.db"))
}

func openSQLiteAt(t *testing.T, path string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// readList reads tab-separated lines, skipping blanks and comments.
func readList(t *testing.T, name string) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, strings.Split(l, "\t"))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// referenceItems are the fixtures' common programs and labelled
// references, as the demo ingests them.
func referenceItems(t *testing.T) []ingest.Item {
	t.Helper()
	var items []ingest.Item
	for _, c := range readList(t, "common.txt") {
		items = append(items, ingest.Item{Path: filepath.Join(fixtures, c[0]), Common: true})
	}
	f, err := os.Open(filepath.Join(fixtures, "labels.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	refs, err := ingest.ParseLabels(f, "labels.tsv", fixtures)
	if err != nil {
		t.Fatal(err)
	}
	return append(items, refs...)
}

func ingestAll(t *testing.T, st model.Store, items []ingest.Item) {
	t.Helper()
	sum := ingest.Run(context.Background(), st, items, ingest.Options{Workers: 2}, func(r ingest.Result) {
		if r.Err != nil {
			t.Errorf("ingest: %v", r.Err)
		}
	})
	if sum.Added != len(items) {
		t.Fatalf("ingested %d of %d files", sum.Added, len(items))
	}
}

// TestAttributionParity attributes the held-back fixtures against the same
// references stored in SQLite and in PostgreSQL: every verdict, with its
// probabilities, candidates and evidence, must be identical.
func TestAttributionParity(t *testing.T) {
	ctx := context.Background()
	pg := pgtest.Open(t)
	lite := openSQLite(t)
	items := referenceItems(t)
	ingestAll(t, lite, items)
	ingestAll(t, pg, items)

	load := func(st model.Store) *attribute.Index {
		start := time.Now()
		ix, err := attribute.Load(ctx, st, attribute.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%T: index loaded and calibrated in %v (%s)", st, time.Since(start), ix.Model().Source)
		return ix
	}
	ixLite, ixPG := load(lite), load(pg)
	expected := readList(t, "expected.tsv")
	right := 0
	for _, x := range expected {
		res, err := analyze.File(filepath.Join(fixtures, x[0]), analyze.Options{})
		if err != nil {
			t.Fatal(err)
		}
		vl := ixLite.Attribute(res.Sample, res.Functions, false)
		vp := ixPG.Attribute(res.Sample, res.Functions, false)
		jl, _ := json.Marshal(vl)
		jp, _ := json.Marshal(vp)
		if !bytes.Equal(jl, jp) {
			t.Errorf("%s: verdicts differ\nsqlite:   %s\npostgres: %s", x[0], jl, jp)
			continue
		}
		if len(vl.Families) == 0 && len(vl.Actors) == 0 && len(vl.Evidence) == 0 && x[1] != "unknown" {
			t.Errorf("%s: empty verdict: the comparison proves nothing", x[0])
		}
		if strings.EqualFold(vl.Family.Name, x[1]) && strings.EqualFold(vl.Actor.Name, x[2]) {
			right++
		}
	}
	t.Logf("%d held-back fixtures: identical verdicts on both backends (%d as expected.tsv says)", len(expected), right)
}

func exportBytes(t *testing.T, st model.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := exchange.Export(context.Background(), st, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func importBytes(t *testing.T, st model.Store, b []byte) {
	t.Helper()
	n, err := exchange.Import(context.Background(), st, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if n.Added != n.Samples {
		t.Fatalf("import into an empty store: %+v", n)
	}
}

func fillCollection(t *testing.T, st model.Store) {
	t.Helper()
	for _, sf := range storetest.Collection() {
		if _, err := st.PutSample(context.Background(), sf.Sample, sf.Functions); err != nil {
			t.Fatal(err)
		}
	}
	var items []ingest.Item
	for _, dir := range []string{"elf64-O2", "pe64-O2"} {
		paths, _ := filepath.Glob(filepath.Join(fixtures, "bin", dir, "*"))
		for _, p := range paths {
			items = append(items, ingest.Item{Path: p, Labels: model.Labels{Source: "fixture"}})
		}
	}
	ingestAll(t, st, items)
	all, _ := st.Samples(context.Background())
	if err := st.SetLabels(context.Background(), all[len(all)/2].SHA256, model.Labels{Family: "set later", Actor: "after ingest"}); err != nil {
		t.Fatal(err)
	}
}

// TestExchangeRoundTrip moves a collection sqlite → file → postgres → file
// → sqlite and the other way round: every export of it is byte-identical
// and every store holds the same content.
func TestExchangeRoundTrip(t *testing.T) {
	t.Run("FromSQLite", func(t *testing.T) {
		s1 := openSQLite(t)
		fillCollection(t, s1)
		f1 := exportBytes(t, s1)
		p := pgtest.Open(t)
		importBytes(t, p, f1)
		storetest.SameContent(t, s1, p)
		f2 := exportBytes(t, p)
		if !bytes.Equal(f1, f2) {
			t.Fatalf("export from PostgreSQL (%d bytes) differs from export from SQLite (%d bytes)", len(f2), len(f1))
		}
		s2 := openSQLite(t)
		importBytes(t, s2, f2)
		storetest.SameContent(t, s1, s2)
		if f3 := exportBytes(t, s2); !bytes.Equal(f1, f3) {
			t.Fatal("export after the round trip differs")
		}
		if err := p.Check(context.Background()); err != nil {
			t.Error(err)
		}
	})
	t.Run("FromPostgres", func(t *testing.T) {
		p1 := pgtest.Open(t)
		fillCollection(t, p1)
		f1 := exportBytes(t, p1)
		s := openSQLite(t)
		importBytes(t, s, f1)
		storetest.SameContent(t, p1, s)
		f2 := exportBytes(t, s)
		if !bytes.Equal(f1, f2) {
			t.Fatalf("export from SQLite (%d bytes) differs from export from PostgreSQL (%d bytes)", len(f2), len(f1))
		}
		p2 := pgtest.Open(t)
		importBytes(t, p2, f2)
		storetest.SameContent(t, p1, p2)
		if f3 := exportBytes(t, p2); !bytes.Equal(f1, f3) {
			t.Fatal("export after the round trip differs")
		}
	})
	t.Run("Fixture", func(t *testing.T) {
		// The committed version 1 file imports into PostgreSQL too.
		raw, err := os.ReadFile(filepath.Join("..", "exchange", "testdata", "v1.jsonl.gz"))
		if err != nil {
			t.Fatal(err)
		}
		p := pgtest.Open(t)
		importBytes(t, p, raw)
		s := openSQLite(t)
		importBytes(t, s, raw)
		storetest.SameContent(t, s, p)
	})
}
