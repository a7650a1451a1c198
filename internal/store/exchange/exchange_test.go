package exchange_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/exchange"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
	"github.com/kinship-dev/kinship/internal/store/storetest"
)

var update = flag.Bool("update", false, "rewrite testdata/v2.jsonl.gz (only before version 2 is released)")

func openSQLite(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "k.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func fill(t *testing.T, st model.Store) {
	t.Helper()
	ctx := context.Background()
	for _, sf := range storetest.Collection() {
		if _, err := st.PutSample(ctx, sf.Sample, sf.Functions); err != nil {
			t.Fatal(err)
		}
	}
}

func export(t *testing.T, st model.Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := exchange.Export(context.Background(), st, &buf)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := st.Samples(context.Background())
	if n.Samples != len(all) {
		t.Fatalf("Export wrote %d samples of %d", n.Samples, len(all))
	}
	return buf.Bytes()
}

func importInto(t *testing.T, st model.Store, b []byte) exchange.Stats {
	t.Helper()
	n, err := exchange.Import(context.Background(), st, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRoundTripSQLite(t *testing.T) {
	a := openSQLite(t)
	fill(t, a)
	fileA := export(t, a)
	b := openSQLite(t)
	n := importInto(t, b, fileA)
	if want := len(storetest.Collection()); n.Samples != want || n.Added != want || n.Existing != 0 {
		t.Errorf("Import = %+v, want %d samples all added", n, want)
	}
	storetest.SameContent(t, a, b)
	if fileB := export(t, b); !bytes.Equal(fileA, fileB) {
		t.Errorf("export of the imported store differs from the original export")
	}
	// Importing again adds nothing.
	if n := importInto(t, b, fileA); n.Added != 0 || n.Existing != n.Samples {
		t.Errorf("second Import = %+v", n)
	}
	// Labels set after ingest travel too.
	ctx := context.Background()
	all, _ := a.Samples(ctx)
	if err := a.SetLabels(ctx, all[0].SHA256, model.Labels{Family: "relabelled"}); err != nil {
		t.Fatal(err)
	}
	c := openSQLite(t)
	importInto(t, c, export(t, a))
	storetest.SameContent(t, a, c)
}

func TestEmpty(t *testing.T) {
	f := export(t, openSQLite(t))
	b := openSQLite(t)
	if n := importInto(t, b, f); n.Samples != 0 {
		t.Errorf("Import of an empty export = %+v", n)
	}
}

// TestFixture imports the committed file of each format version, which
// every later kinship must keep reading, and checks that exporting what it
// stored gives the same content back (in the current format: a version 1
// file's samples all have signature version 1, whose MinHash encoding has
// not changed, so only the header's version differs).
func TestFixture(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprint(v), func(t *testing.T) { testFixture(t, v) })
	}
}

func testFixture(t *testing.T, version int) {
	path := filepath.Join("testdata", fmt.Sprintf("v%d.jsonl.gz", version))
	if *update && version == exchange.Version {
		st := openSQLite(t)
		fill(t, st)
		if err := os.WriteFile(path, export(t, st), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	st := openSQLite(t)
	n := importInto(t, st, raw)
	if n.Samples != 6 || n.Functions != 5+12+19+26+3 {
		t.Errorf("fixture: %+v", n)
	}
	ctx := context.Background()
	// Spot checks on values the file spells out.
	var hostile *model.Sample
	all, _ := st.Samples(ctx)
	for i := range all {
		if all[i].Program == "prog\xc3" {
			hostile = &all[i]
		}
	}
	if hostile == nil || hostile.Name != "nul\x00in\xff\xfename.exe" || hostile.Stats.CodeBytes != ^uint64(0) ||
		hostile.IngestedAt.Year() != 1969 || hostile.IngestedAt.Nanosecond() != 123456000 {
		t.Fatalf("hostile sample: %+v", hostile)
	}
	fns, err := st.Functions(ctx, hostile.SHA256)
	if err != nil || len(fns) != 3 {
		t.Fatal(len(fns), err)
	}
	if fns[1].Name != "nul\x00inside\xff\xfe" || fns[1].Consts[6] != ^uint64(0) || fns[2].Addr != ^uint64(0) ||
		fns[1].MinHash[63] != ^uint32(0)-63 || fns[0].Imports[2] != "ws2_32.dll!#23" {
		t.Errorf("hostile functions: %+v", fns)
	}
	want := gunzip(t, raw)
	want = bytes.Replace(want, []byte(fmt.Sprintf(`"version":%d,`, version)), []byte(fmt.Sprintf(`"version":%d,`, exchange.Version)), 1)
	if got := gunzip(t, export(t, st)); !bytes.Equal(got, want) {
		t.Errorf("re-export of the fixture differs from it")
	}
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func gz(s string) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write([]byte(s))
	zw.Close()
	return buf.Bytes()
}

func TestFormat(t *testing.T) {
	st := openSQLite(t)
	fill(t, st)
	lines := strings.Split(strings.TrimSuffix(string(gunzip(t, export(t, st))), "\n"), "\n")
	if want := fmt.Sprintf(`{"format":"kinship-exchange","version":%d,"sig_version":%d,"samples":6}`, exchange.Version, model.SigVersion); lines[0] != want {
		t.Errorf("header %s, want %s", lines[0], want)
	}
	if len(lines) != 7 {
		t.Fatalf("%d lines", len(lines))
	}
	text := strings.Join(lines, "\n")
	for _, want := range []string{
		`"program":{"base64":"cHJvZ8M="}`, // invalid UTF-8 as base64
		`"name":"quo\"te<&>"`,             // no HTML escaping
		`"addr":"ffffffffffffffff"`,
		`"consts":["0","1","7f","80","7fffffffffffffff","8000000000000000","ffffffffffffffff"]`,
		`"ingested_at":"1969-07-20T20:17:40.123456Z"`,
		`"labels":{"family":"ünïcödé","actor":"<actor & co>","source":"tab\there"}`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("export lacks %s", want)
		}
	}
	for _, l := range lines {
		if !json.Valid([]byte(l)) {
			t.Errorf("line is not JSON: %.80s", l)
		}
	}
}

func TestRejects(t *testing.T) {
	st := openSQLite(t)
	fill(t, st)
	good := string(gunzip(t, export(t, st)))
	lines := strings.SplitAfter(good, "\n")
	header, first := lines[0], lines[1]
	one := `{"format":"kinship-exchange","version":1,"sig_version":1,"samples":1}` + "\n"
	cases := map[string][]byte{
		"not gzip":       []byte(good),
		"empty":          nil,
		"other format":   gz(`{"format":"other","version":1,"sig_version":1,"samples":0}` + "\n"),
		"newer version":  gz(`{"format":"kinship-exchange","version":3,"sig_version":1,"samples":0}` + "\n"),
		"unknown field":  gz(header + strings.Replace(first, `"sig_version":`, `"colour":"red","sig_version":`, 1)),
		"missing sample": gz(header + first),
		"extra sample":   gz(strings.Replace(good, `"samples":6`, `"samples":5`, 1)),
		"bad hex":        gz(header + strings.Replace(first, `"addr":"`, `"addr":"0x`, 1)),
		"short minhash":  gz(one + `{"sample":{"sha256":"ab","size":0,"hashes":{},"labels":{},"sig_version":1,"stats":{"functions":1,"instructions":0,"code_bytes":0,"covered_bytes":0}},"functions":[{"addr":"0","size":0,"blocks":0,"instrs":0,"exact":"0","minhash":"AAAA"}]}` + "\n"),
		// 128 bytes are a version 2 signature, not a version 1 one, and
		// a version 1 file holds 256 bytes whatever the version.
		"v1 short":       gz(one + `{"sample":{"sha256":"ab","size":0,"hashes":{},"labels":{},"sig_version":1,"stats":{"functions":1,"instructions":0,"code_bytes":0,"covered_bytes":0}},"functions":[{"addr":"0","size":0,"blocks":0,"instrs":0,"exact":"0","minhash":"` + strings.Repeat("A", 172) + `"}]}` + "\n"),
		"format 1 short": gz(one + `{"sample":{"sha256":"ab","size":0,"hashes":{},"labels":{},"sig_version":2,"stats":{"functions":1,"instructions":0,"code_bytes":0,"covered_bytes":0}},"functions":[{"addr":"0","size":0,"blocks":0,"instrs":0,"exact":"0","minhash":"` + strings.Repeat("A", 172) + `"}]}` + "\n"),
		"count mismatch": gz(one + `{"sample":{"sha256":"ab","size":0,"hashes":{},"labels":{},"sig_version":1,"stats":{"functions":2,"instructions":0,"code_bytes":0,"covered_bytes":0}},"functions":[]}` + "\n"),
		"truncated":      export(t, st)[:200],
		// Hostile sizes: the reader holds one element at a time, each of
		// at most 1 MiB, whatever the length of the line.
		"long element":    gz(one + `{"sample":{"sha256":"ab","size":0,"hashes":{},"labels":{"family":"` + strings.Repeat("x", 2<<20) + `"},"sig_version":1,"stats":{"functions":0,"instructions":0,"code_bytes":0,"covered_bytes":0}},"functions":[]}` + "\n"),
		"long function":   gz(one + `{"sample":{"sha256":"ab","size":0,"hashes":{},"labels":{},"sig_version":1,"stats":{"functions":1,"instructions":0,"code_bytes":0,"covered_bytes":0}},"functions":[{"addr":"0","name":"` + strings.Repeat("f", 2<<20) + `"}]}` + "\n"),
		"top-level field": gz(header + strings.Replace(first, `{"sample":`, `{"colour":1,"sample":`, 1)),
		"two samples":     gz(header + strings.Replace(first, `{"sample":`, `{"sample":{},"sample":`, 1)),
		"no sample":       gz(one + `{"functions":[]}` + "\n"),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			dst := openSQLite(t)
			_, err := exchange.Import(context.Background(), dst, bytes.NewReader(b))
			if err == nil {
				t.Fatal("Import succeeded")
			}
			if strings.HasPrefix(name, "long") && !strings.Contains(err.Error(), "longer than 1048576 bytes") {
				t.Errorf("error does not name the bound: %v", err)
			}
			t.Log(err)
		})
	}
	// A truncated file stores at most whole samples.
	dst := openSQLite(t)
	full := export(t, st)
	if _, err := exchange.Import(context.Background(), dst, bytes.NewReader(full[:len(full)/2])); err == nil {
		t.Fatal("Import of half a file succeeded")
	}
	if err := dst.Check(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestStr(t *testing.T) {
	for _, s := range []string{"", "plain", "ünï", "nul\x00", "\xff\xfe", "a\xc3"} {
		b, err := json.Marshal(exchange.Str(s))
		if err != nil {
			t.Fatal(err)
		}
		var back exchange.Str
		if err := json.Unmarshal(b, &back); err != nil || string(back) != s {
			t.Errorf("%q -> %s -> %q, %v", s, b, back, err)
		}
	}
	var s exchange.Str
	for _, bad := range []string{`{"base64":"!!"}`, `{"b64":"AA=="}`, `{}`, `12`} {
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	if err := json.Unmarshal([]byte(`{"base64":"AA=="}`), &s); err != nil || s != "\x00" {
		t.Errorf("base64 object: %q, %v", s, err)
	}
}
