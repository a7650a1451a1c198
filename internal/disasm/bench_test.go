package disasm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kinship-dev/kinship/internal/binfmt"
)

// benchFile returns a large real binary when the corpus cache has one
// (KINSHIP_BENCH names another), else a fixture.
func benchFile(b *testing.B) *binfmt.File {
	var paths []string
	if p := os.Getenv("KINSHIP_BENCH"); p != "" {
		paths = append(paths, p)
	}
	if home, err := os.UserHomeDir(); err == nil {
		paths = append(paths, filepath.Join(home, ".cache/kinship-corpus/turbo/1.8.8/go-turbo.exe"),
			filepath.Join(home, ".cache/kinship-corpus/turbo/1.0.24/turbo.exe"))
	}
	paths = append(paths, "../../testdata/fixtures/bin/pe64-O2/emberkit-v1.exe", "../../testdata/fixtures/bin/elf64-O2/emberkit-v1")
	for _, p := range paths {
		f, err := binfmt.LoadFile(p, binfmt.Limits{})
		if err == nil {
			b.Logf("benchmark file %s: %d code bytes", p, f.CodeBytes())
			return f
		}
	}
	b.Skip("no benchmark binary")
	return nil
}

func BenchmarkAnalyze(b *testing.B) {
	f := benchFile(b)
	b.SetBytes(int64(f.CodeBytes()))
	c0 := cpuTime()
	n := 0
	for b.Loop() {
		if _, err := Analyze(f, Options{}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	// CPU time per run does not depend on what else the machine runs,
	// wall time does.
	b.ReportMetric((cpuTime()-c0).Seconds()/float64(n), "cpu-s/op")
}
