package funcsim

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var (
	dataDir  = flag.String("funcsim", "", "dataset folder made by bench/funcsim/build.sh; the benchmark skips without it")
	outFile  = flag.String("funcsim.out", "", "also write the results (Markdown) to this file; relative to the repository root")
	variants = flag.String("funcsim.variants", "", "comma-separated variant names to measure (default all)")
	libs     = flag.String("funcsim.libs", "", "comma-separated libraries to keep (default all)")
)

// Tasks are the paper's, over build.sh's builds.
func Tasks(builds []string) []Task {
	gcc, clang := Match(builds, "gcc-"), Match(builds, "clang-")
	var same [][2]string
	for _, g := range gcc {
		c := "clang-" + strings.TrimPrefix(g, "gcc-")
		if slices.Contains(clang, c) {
			same = append(same, [2]string{g, c})
		}
	}
	ts := []Task{
		{Name: "XO (gcc O0-O3)", Pairs: Cross(gcc, gcc)},
		{Name: "XC (gcc vs clang, O0-O3)", Pairs: Cross(gcc, clang)},
		{Name: "XC same level (gcc vs clang)", Pairs: same},
	}
	if slices.Contains(builds, "gcc-O2") && slices.Contains(builds, "mingw-O2") {
		ts = append(ts, Task{Name: "XC ELF vs PE (gcc-O2 vs mingw-O2)", Pairs: [][2]string{{"gcc-O2", "mingw-O2"}}})
	}
	return ts
}

func TestFuncSim(t *testing.T) {
	if *dataDir == "" {
		t.Skip("no dataset: run bench/funcsim/build.sh, then pass -funcsim=DIR")
	}
	specs, err := Scan(*dataDir)
	if err != nil {
		t.Fatal(err)
	}
	if *libs != "" {
		keep := strings.Split(*libs, ",")
		specs = slices.DeleteFunc(specs, func(s Spec) bool { return !slices.Contains(keep, s.Lib) })
	}
	t0 := time.Now()
	ds, err := Load(specs, Options{Features: true})
	if err != nil {
		t.Fatal(err)
	}
	nb, nf, per := ds.Counts()
	t.Logf("loaded %d binaries, %d named functions in %v", nb, nf, time.Since(t0).Round(time.Second))
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# Function-similarity results\n\nWritten by `go test ./internal/funcsim -run 'TestFuncSim$' -funcsim=DIR -funcsim.out=bench/funcsim/results.md`; bench/funcsim/README.md explains the protocol and the variants.\n\n")
	writeDataset(&buf, ds, per)
	vs := pick(Variants(), *variants)
	rows := run(ds, Tasks(ds.Builds()), []int{5, 1}, vs)
	desc := map[string]string{}
	for _, v := range vs {
		desc[v.Name] = v.Desc
	}
	for _, mb := range []int{5, 1} {
		WriteSummary(&buf, rows, mb, desc)
		fmt.Fprintln(&buf)
	}
	writeThresholds(&buf, ds, vs)
	WriteTable(&buf, rows)
	t.Log("\n" + buf.String())
	if out := *outFile; out != "" {
		// go test runs in the package folder; a relative path is taken
		// from the repository root, like the README's commands.
		if !filepath.IsAbs(out) {
			out = filepath.Join("..", "..", out)
		}
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// pick keeps the named variants; combined variants still find their parts,
// since run looks them up in the full list.
func pick(vs []Variant, names string) []Variant {
	if names == "" {
		return vs
	}
	want := strings.Split(names, ",")
	var out []Variant
	for _, v := range vs {
		if slices.Contains(want, v.Name) {
			out = append(out, v)
		}
	}
	return out
}

func run(ds *Dataset, tasks []Task, minBlocks []int, vs []Variant) []Row {
	all := ds.All()
	full := Variants()
	scorers := make([]Scorer, len(vs))
	for i, v := range vs {
		scorers[i] = v.Scorer(all, full)
	}
	var rows []Row
	for _, mb := range minBlocks {
		for _, task := range tasks {
			s := Draw(ds, task, mb, 1)
			for i, v := range vs {
				rows = append(rows, Row{Task: task.Name, Variant: v.Name, MinBlocks: mb, Result: Measure(s, scorers[i])})
			}
		}
	}
	return rows
}

// writeThresholds shows, for kinship's signature and the recommended one,
// how many positive and negative pairs reach each similarity: attribution
// retrieves candidates by LSH and keeps those at estimated Jaccard >= 0.6.
func writeThresholds(buf *bytes.Buffer, ds *Dataset, vs []Variant) {
	all := ds.All()
	full := Variants()
	fmt.Fprintln(buf, "| task | variant | share of positive / negative pairs at similarity >= 0.3 | >= 0.4 | >= 0.5 | >= 0.6 | >= 0.7 |")
	fmt.Fprintln(buf, "| --- | --- | --- | --- | --- | --- | --- |")
	for _, task := range Tasks(ds.Builds())[:2] {
		s := Draw(ds, task, 5, 1)
		for _, v := range vs {
			if v.Name != Best && v.Name != "kinship" && !strings.HasPrefix(v.Name, "kinship-v") {
				continue
			}
			sc := v.Scorer(all, full)
			fmt.Fprintf(buf, "| %s | %s |", task.Name, v.Name)
			for _, th := range []float64{0.3, 0.4, 0.5, 0.6, 0.7} {
				share := func(ps [][2]int) float64 {
					n := 0
					for _, p := range ps {
						if sc(p[0], p[1]) >= th {
							n++
						}
					}
					return float64(n) / float64(max(1, len(ps)))
				}
				fmt.Fprintf(buf, " %.3f / %.3f |", share(s.Pos), share(s.Neg))
			}
			fmt.Fprintln(buf)
		}
	}
	fmt.Fprintln(buf)
}

func writeDataset(buf *bytes.Buffer, ds *Dataset, per map[string]int) {
	// Named functions by library and build.
	var libs []string
	n := map[[2]string]int{}
	for _, b := range ds.Bins {
		if !slices.Contains(libs, b.Lib) {
			libs = append(libs, b.Lib)
		}
		n[[2]string{b.Lib, b.Build}] = len(b.Funcs)
	}
	slices.Sort(libs)
	builds := ds.Builds()
	fmt.Fprint(buf, "| library |")
	for _, b := range builds {
		fmt.Fprintf(buf, " %s |", b)
	}
	fmt.Fprint(buf, "\n| --- |")
	for range builds {
		fmt.Fprint(buf, " ---: |")
	}
	fmt.Fprintln(buf)
	for _, l := range libs {
		fmt.Fprintf(buf, "| %s |", l)
		for _, b := range builds {
			fmt.Fprintf(buf, " %d |", n[[2]string{l, b}])
		}
		fmt.Fprintln(buf)
	}
	fmt.Fprintln(buf)

	fmt.Fprintln(buf, "| build | binaries | named functions | found by disasm | unnamed | clones left out |")
	fmt.Fprintln(buf, "| --- | ---: | ---: | ---: | ---: | ---: |")
	for _, b := range ds.Builds() {
		var n, found, un, cl int
		for _, x := range ds.Bins {
			if x.Build == b {
				n++
				found += x.Found
				un += x.Unnamed
				cl += x.Clones
			}
		}
		fmt.Fprintf(buf, "| %s | %d | %d | %d | %d | %d |\n", b, n, per[b], found, un, cl)
	}
	fmt.Fprintln(buf)
}

// fixtureBin is the repository's fixture collection: small C programs
// built with gcc (ELF) and mingw-w64 (PE), stripped, each with an
// unstripped twin built the same way.
const fixtureBin = "../../testdata/fixtures/bin"

func fixtureSpecs(t *testing.T) []Spec {
	t.Helper()
	var specs []Spec
	for _, v := range []struct{ build, dir, sym, ext string }{
		{"gcc-O2", "elf64-O2", "elf64-O2-sym", ""},
		{"mingw-O2", "pe64-O2", "pe64-O2-sym", ".exe"},
	} {
		files, err := os.ReadDir(filepath.Join(fixtureBin, v.dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			name := f.Name()
			if v.ext != "" && !strings.HasSuffix(name, v.ext) || strings.HasSuffix(name, ".so") || strings.HasSuffix(name, ".dll") {
				continue
			}
			specs = append(specs, Spec{Build: v.build, Lib: strings.TrimSuffix(name, v.ext),
				Stripped: filepath.Join(fixtureBin, v.dir, name), Symbols: filepath.Join(fixtureBin, v.sym, name)})
		}
	}
	return specs
}

// TestSmoke runs the whole harness on the repository's fixtures, so CI
// checks that it loads, names, pairs and scores sensibly. It never skips.
func TestSmoke(t *testing.T) {
	// The fixture programs share most of their code by design (v1/v2,
	// one cipher in two families), so shared names are kept.
	ds, err := Load(fixtureSpecs(t), Options{Features: true, KeepShared: true})
	if err != nil {
		t.Fatal(err)
	}
	_, nf, per := ds.Counts()
	if per["gcc-O2"] < 20 || per["mingw-O2"] < 20 {
		t.Fatalf("too few named functions: %v", per)
	}
	for _, b := range ds.Bins {
		for _, f := range b.Funcs {
			if f.Feat == nil {
				t.Fatalf("%s %s %s: no features", b.Build, b.Lib, f.Name)
			}
		}
	}
	self := Task{Name: "self", Pairs: [][2]string{{"gcc-O2", "gcc-O2"}}}
	cross := Task{Name: "ELF vs PE", Pairs: [][2]string{{"gcc-O2", "mingw-O2"}}}
	vs := Variants()
	if !slices.ContainsFunc(vs, func(v Variant) bool { return v.Name == Best }) {
		t.Fatalf("Best names no variant: %q", Best)
	}
	all := ds.All()
	for _, v := range vs {
		sc := v.Scorer(all, vs)
		s := Draw(ds, cross, 1, 1)
		if len(s.Pos) < 10 || len(s.Neg) != len(s.Pos) || len(s.Queries) != len(s.Pos) {
			t.Fatalf("%s: %d positive, %d negative pairs, %d queries", v.Name, len(s.Pos), len(s.Neg), len(s.Queries))
		}
		r := Measure(s, sc)
		t.Logf("%-18s ELF vs PE: AUC %.3f  Recall@1 %.3f  MRR@10 %.3f  (%d pairs, %d named functions)", v.Name, r.AUC, r.Recall1, r.MRR10, r.Pos, nf)
		if r.AUC <= 0.5 || r.Recall1 <= 0 || r.MRR10 < r.Recall1 || r.AUC > 1 || r.MRR10 > 1 {
			t.Errorf("%s: implausible ELF vs PE result %+v", v.Name, r)
		}
		// A build against itself: every positive is one function paired
		// with itself. Negatives tie only when they are the same code under
		// another program's name, which the fixtures have on purpose, or
		// when a one-feature ablation leaves both sets empty.
		if !slices.Contains([]string{"kinship", "kinship-v1", "kinship-v2", "kinship-v3", "fine-3gram", "semantic", Best}, v.Name) {
			continue
		}
		r = Measure(Draw(ds, self, 1, 1), sc)
		if r.AUC < 0.9 {
			t.Errorf("%s: function against itself: %+v", v.Name, r)
		}
	}
}

func TestMetrics(t *testing.T) {
	if got := auc([]float64{3, 4}, []float64{1, 2}); got != 1 {
		t.Errorf("separated AUC = %v", got)
	}
	if got := auc([]float64{1, 1}, []float64{1, 1}); got != 0.5 {
		t.Errorf("all-tied AUC = %v", got)
	}
	if got := auc([]float64{1, 3}, []float64{2, 4}); got != 0.25 {
		t.Errorf("interleaved AUC = %v", got)
	}
	// One query: true match tied with one negative, one negative above.
	s := &Sample{Queries: []Query{{Q: 0, Pool: []int{1, 2, 3, 4}}}}
	sim := func(a, b int) float64 { return map[int]float64{1: 0.5, 2: 0.5, 3: 0.9, 4: 0.1}[b] }
	r := Measure(s, sim)
	if r.Recall1 != 0 || math.Abs(r.MRR10-(1.0/2+1.0/3)/2) > 1e-12 {
		t.Errorf("tied ranking: %+v", r)
	}
	s.Queries[0].Pool = []int{3, 1, 2, 4}
	if r := Measure(s, sim); r.Recall1 != 1 || r.MRR10 != 1 {
		t.Errorf("top ranking: %+v", r)
	}
}
