package disasm

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/binfmt"
)

// corpusFiles lists real binaries to measure on: KINSHIP_CORPUS names
// files or directories (space-separated); the test is skipped without it,
// since a run over a corpus takes minutes.
func corpusFiles(t *testing.T) []string {
	spec := os.Getenv("KINSHIP_CORPUS")
	if spec == "" {
		t.Skip("KINSHIP_CORPUS not set")
	}
	var files []string
	for _, p := range strings.Fields(spec) {
		filepath.Walk(p, func(path string, info os.FileInfo, err error) error {
			if err == nil && info.Mode().IsRegular() {
				files = append(files, path)
			}
			return nil
		})
	}
	return files
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCorpus reports time, functions and coverage on real binaries and
// checks that the worker count does not change the result.
func TestCorpus(t *testing.T) {
	for _, p := range corpusFiles(t) {
		f, err := binfmt.LoadFile(p, binfmt.Limits{})
		if err != nil || f.Unsupported != "" {
			continue
		}
		w0, c0 := time.Now(), cpuTime()
		r, err := Analyze(f, Options{})
		wall, cpu := time.Since(w0), cpuTime()-c0
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		t.Logf("%s: %.1f MB code, wall %v, cpu %v, %d functions (%d hints), %d instructions, coverage %.3f, %d anomalies",
			p, float64(r.Stats.CodeBytes)/1e6, wall.Round(time.Millisecond), cpu.Round(time.Millisecond),
			r.Stats.Functions, len(f.Hints), r.Stats.Instructions,
			float64(r.Stats.CoveredBytes)/float64(max(r.Stats.CodeBytes, 1)), len(r.Anomalies))
		if os.Getenv("KINSHIP_CORPUS_DETERMINISM") != "" {
			r1, err := Analyze(f, Options{Workers: 1})
			if err != nil || !reflect.DeepEqual(r, r1) {
				t.Errorf("%s: one worker gives a different result", p)
			}
		}
	}
}
