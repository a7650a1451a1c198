package binfmt

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Real programs, when a corpus of them is on this machine: large Go and
// Rust PE32+ binaries must load quickly and yield functions.
func TestCorpus(t *testing.T) {
	home, _ := os.UserHomeDir()
	root := filepath.Join(home, ".cache", "kinship-corpus")
	var paths []string
	for _, pat := range []string{"turbo/*/*.exe", "rollup/*/*.node", "buf-lint/*/*.exe", "nx/*/*.node", "bazelisk/*/*"} {
		m, _ := filepath.Glob(filepath.Join(root, pat))
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Skip("no corpus in " + root)
	}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		f, err := LoadFile(p, Limits{})
		d := time.Since(start)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		rel, _ := filepath.Rel(root, p)
		t.Logf("%-55s %5.1f MB %4d ms  %s/%s funcs %6d imports %3d go %v", rel, float64(st.Size())/1e6, d.Milliseconds(), f.Format, f.Arch, len(f.Hints), len(f.Imports), f.Go != nil)
		if len(f.Hints) < 100 {
			t.Errorf("%s: only %d function hints", rel, len(f.Hints))
		}
		if d > 5*time.Second {
			t.Errorf("%s: load took %v", rel, d)
		}
	}
}
