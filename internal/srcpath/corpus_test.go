package srcpath

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/model"
)

// corpusDir is the real-binary corpus: KINSHIP_CORPUS, else
// ~/.cache/kinship-corpus.
func corpusDir(t *testing.T) string {
	dir := os.Getenv("KINSHIP_CORPUS")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Skip("no corpus")
		}
		dir = filepath.Join(home, ".cache", "kinship-corpus")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Skipf("corpus %s absent", dir)
	}
	return dir
}

// TestCorpusSmoke checks two small real binaries, when the corpus is
// there: a Rust addon whose crates must be found, and a C++ addon whose
// only paths are the C++ standard library's.
func TestCorpusSmoke(t *testing.T) {
	dir := corpusDir(t)
	load := func(rel string) (*binfmt.File, *disasm.Result, *Result) {
		f, err := binfmt.LoadFile(filepath.Join(dir, rel), binfmt.Limits{})
		if err != nil {
			t.Skipf("%s: %v", rel, err)
		}
		d, err := disasm.Analyze(f, disasm.Options{DataRefs: true})
		if err != nil {
			t.Fatal(err)
		}
		return f, d, Scan(f, d.DataRefs)
	}

	_, d, r := load("mongodb-zstd/1.2.2/zstd.win32-x64-msvc.node")
	crates := map[string]int{}
	var byOrigin [5]int
	for i, o := range r.Origins {
		byOrigin[o]++
		if o == model.OriginLibrary {
			crates[r.Crates[i]]++
		}
	}
	t.Logf("zstd: %d functions, %s (own/lib/std/rt/unknown), crates %s", len(d.Funcs), counts(byOrigin), top(crates, 6))
	if r.Language != "rust" || crates["tokio"] == 0 || crates["zstd-safe"] == 0 || byOrigin[model.OriginStd] == 0 {
		t.Errorf("zstd: language %q, crates %v, origins %v", r.Language, crates, byOrigin)
	}
	for _, p := range r.Paths {
		if p.Origin == model.OriginOwn {
			t.Errorf("zstd: own path %q (the addon's own code has none)", p.Path)
		}
	}

	_, _, r = load("sharp/0.34.5/sharp-linux-x64.node")
	if r.Language != "c++" {
		t.Errorf("sharp: language %q", r.Language)
	}
	for _, p := range r.Paths {
		if p.Origin != model.OriginStd || p.Crate != "libstdc++" {
			t.Errorf("sharp: %q is %v %q", p.Path, p.Origin, p.Crate)
		}
	}
}

// TestCorpus reports, per non-Go binary of KINSHIP_CORPUS (it takes
// minutes, so only when asked), the functions by origin before and after
// Scan, the crates found, and the CPU time data references and Scan add
// to disassembly. KINSHIP_SRCPATH_FILTER restricts it to paths containing a
// substring; KINSHIP_SRCPATH_PATHS=1 also lists the paths.
func TestCorpus(t *testing.T) {
	if os.Getenv("KINSHIP_CORPUS") == "" {
		t.Skip("KINSHIP_CORPUS not set")
	}
	dir := corpusDir(t)
	filter := os.Getenv("KINSHIP_SRCPATH_FILTER")
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && strings.Contains(p, filter) && !strings.HasSuffix(p, ".tsv") {
			files = append(files, p)
		}
		return nil
	})
	var rows []string
	for _, p := range files {
		f, err := binfmt.LoadFile(p, binfmt.Limits{})
		if err != nil || f.Unsupported != "" || f.Go != nil {
			continue
		}
		t0 := cpuNow()
		plain, err := disasm.Analyze(f, disasm.Options{})
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		tPlain := cpuNow() - t0
		t0 = cpuNow()
		d, err := disasm.Analyze(f, disasm.Options{DataRefs: true})
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		tRefs := cpuNow() - t0
		t0 = cpuNow()
		r := Scan(f, d.DataRefs)
		tScan := cpuNow() - t0

		if len(d.Funcs) != len(plain.Funcs) {
			t.Errorf("%s: %d functions with DataRefs, %d without", p, len(d.Funcs), len(plain.Funcs))
		} else {
			for i := range d.Funcs {
				if d.Funcs[i].Addr != plain.Funcs[i].Addr || d.Funcs[i].Exact != plain.Funcs[i].Exact || d.Funcs[i].MinHash != plain.Funcs[i].MinHash {
					t.Errorf("%s: function %#x differs with DataRefs", p, d.Funcs[i].Addr)
					break
				}
			}
		}
		var before, after [5]int
		for i := range d.Funcs {
			before[d.Funcs[i].Origin]++
		}
		r.Apply(d.Funcs)
		crates := map[string]int{}
		for i := range d.Funcs {
			after[d.Funcs[i].Origin]++
			if d.Funcs[i].Origin == model.OriginLibrary && r.Crates[i] != "" {
				crates[r.Crates[i]]++
			}
		}
		rel, _ := filepath.Rel(dir, p)
		row := fmt.Sprintf("%s | %s | %d | %s | %s | %d | %s | %v | %v (%+.1f%%) | %v",
			rel, r.Language, len(d.Funcs), counts(before), counts(after), len(r.Paths), top(crates, 8),
			tPlain.Round(time.Millisecond), tRefs.Round(time.Millisecond),
			100*(tRefs.Seconds()-tPlain.Seconds())/tPlain.Seconds(), tScan.Round(time.Millisecond))
		rows = append(rows, row)
		t.Log(row)
		if os.Getenv("KINSHIP_SRCPATH_PATHS") != "" {
			for _, x := range r.Paths {
				t.Logf("    %-7s %-20s %5d %s", x.Origin, x.Crate, x.Funcs, x.Path)
			}
		}
	}
	t.Logf("\n| binary | language | functions | before (own/lib/std/rt/unknown) | after | paths | top crates (functions) | disasm CPU | with data refs | scan CPU |\n|---|---|---|---|---|---|---|---|---|---|\n| %s |",
		strings.Join(rows, " |\n| "))
}

// cpuNow is the process's CPU time: other load on the machine changes it
// less than wall-clock time.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func counts(c [5]int) string {
	return fmt.Sprintf("%d/%d/%d/%d/%d", c[model.OriginOwn], c[model.OriginLibrary], c[model.OriginStd], c[model.OriginRuntime], c[model.OriginUnknown])
}

func top(m map[string]int, n int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	var parts []string
	for _, k := range keys[:min(n, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
