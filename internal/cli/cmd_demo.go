package cli

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	kinship "github.com/kinship-dev/kinship"
	"github.com/kinship-dev/kinship/internal/attribute"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/report"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// demoShow are the held-back samples whose full report the demo prints:
// a new version of a known family, a new program by a known actor that
// shares only a cipher routine and its table (the WannaCry pattern), and
// an unrelated program that shares nothing but the C runtime.
var demoShow = []string{"bin/pe64-O2/emberkit-v2.exe", "bin/pe64-O2/cinderloop.exe", "bin/pe64-O2/driftwood.exe"}

func runDemo(e *env, args []string) int {
	fset := newFlags(e, "demo")
	keep := fset.String("dir", "", "extract the fixtures and keep the store in this folder (default: a temporary folder, removed afterwards)")
	all := fset.Bool("all", false, "print the full report of every held-back sample")
	if _, err := parse(fset, args); err != nil {
		return parseExit(err)
	}
	dir := *keep
	if dir == "" {
		d, err := os.MkdirTemp("", "kinship-demo-")
		if err != nil {
			return fail(e, err)
		}
		defer os.RemoveAll(d)
		dir = d
	}
	root, err := extractFixtures(dir)
	if err != nil {
		return fail(e, err)
	}
	st, err := sqlite.Open(filepath.Join(dir, "demo.db"), sqlite.Options{})
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()

	// Common code first: trivial programs built by the same toolchains.
	var items []ingest.Item
	commons, err := readList(filepath.Join(root, "common.txt"))
	if err != nil {
		return fail(e, err)
	}
	for _, c := range commons {
		items = append(items, ingest.Item{Path: filepath.Join(root, c[0]), Common: true})
	}
	f, err := os.Open(filepath.Join(root, "labels.tsv"))
	if err != nil {
		return fail(e, err)
	}
	refs, err := ingest.ParseLabels(f, "labels.tsv", root)
	f.Close()
	if err != nil {
		return fail(e, err)
	}
	items = append(items, refs...)
	fmt.Fprintf(e.stdout, "kinship demo: a collection of %d labelled C programs (gcc ELF and mingw-w64 PE, -O0 and -O2) and %d common runtime programs\n", len(refs), len(commons))
	sum := ingest.Run(e.ctx, st, items, ingest.Options{Logger: e.log}, func(r ingest.Result) {
		if r.Err != nil {
			fmt.Fprintf(e.stderr, "skipped: %v\n", r.Err)
		}
	})
	fmt.Fprintf(e.stdout, "ingested %d files (%d functions) in %.2fs\n", sum.Added, sum.Functions, sum.Elapsed.Seconds())
	ix, err := attribute.Load(e.ctx, st, attribute.Options{})
	if err != nil {
		return fail(e, err)
	}
	fmt.Fprintf(e.stdout, "calibration: %s\n\n", ix.Model().Source)

	expected, err := readList(filepath.Join(root, "expected.tsv"))
	if err != nil {
		return fail(e, err)
	}
	show := map[string]bool{}
	for _, s := range demoShow {
		show[s] = true
	}
	type row struct {
		rel, wantF, wantA, gotF, gotA, term string
	}
	var rows []row
	right := 0
	for _, x := range expected {
		if len(x) < 3 {
			continue
		}
		p := filepath.Join(root, x[0])
		v := attributeOne(ix, p)
		v.Path = x[0]
		if *all || show[x[0]] {
			report.Text(e.stdout, v)
		}
		term := "no attribution"
		switch {
		case v.Family.Name != model.Unknown:
			term = v.Family.PHIA
		case v.Actor.Name != model.Unknown:
			term = v.Actor.PHIA
		}
		r := row{x[0], x[1], x[2], v.Family.Name, v.Actor.Name, term}
		if strings.EqualFold(r.wantF, r.gotF) && strings.EqualFold(r.wantA, r.gotA) {
			right++
		}
		rows = append(rows, r)
	}
	fmt.Fprintf(e.stdout, "held-back samples (expected -> kinship):\n")
	for _, r := range rows {
		mark := "ok "
		if !strings.EqualFold(r.wantF, r.gotF) || !strings.EqualFold(r.wantA, r.gotA) {
			mark = "MISS"
		}
		fmt.Fprintf(e.stdout, "  %-4s %-32s %-10s %-10s -> %-10s %-10s %s\n", mark, r.rel, r.wantF, r.wantA, r.gotF, r.gotA, r.term)
	}
	fmt.Fprintf(e.stdout, "%d of %d held-back samples attributed as expected (family and actor)\n", right, len(rows))
	return ExitOK
}

// extractFixtures writes the embedded fixtures below dir, with no execute
// bits, and returns the folder labels.tsv paths are relative to.
func extractFixtures(dir string) (string, error) {
	err := fs.WalkDir(kinship.Fixtures, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := kinship.Fixtures.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	return filepath.Join(dir, filepath.FromSlash(path.Clean(kinship.FixturesRoot))), err
}

// readList reads tab-separated lines, skipping blanks and comments.
func readList(p string) ([][]string, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		out = append(out, strings.Split(t, "\t"))
	}
	return out, sc.Err()
}
