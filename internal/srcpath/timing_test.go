package srcpath_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/srcpath"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCorpusTiming measures what source paths add to the analysis of the
// files KINSHIP_SRCPATH_TIME names (space-separated, relative to
// KINSHIP_CORPUS): the whole analysis with them against the same stages
// without (hashes, loading, disassembly), best CPU time of three rounds
// (KINSHIP_SRCPATH_ROUNDS),
// so that other load on the machine counts as little as it can.
func TestCorpusTiming(t *testing.T) {
	dir, files := os.Getenv("KINSHIP_CORPUS"), strings.Fields(os.Getenv("KINSHIP_SRCPATH_TIME"))
	if dir == "" || len(files) == 0 {
		t.Skip("KINSHIP_CORPUS and KINSHIP_SRCPATH_TIME not set")
	}
	for _, rel := range files {
		data, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		measure := func(fn func()) time.Duration {
			c := cpuTime()
			fn()
			return cpuTime() - c
		}
		best := func(d *time.Duration, x time.Duration) {
			if *d == 0 || x < *d {
				*d = x
			}
		}
		var with, without, plain, refs, scan time.Duration
		rounds := 3
		if n, err := strconv.Atoi(os.Getenv("KINSHIP_SRCPATH_ROUNDS")); err == nil && n > 0 {
			rounds = n
		}
		for range rounds {
			best(&without, measure(func() {
				analyze.Hashes(data)
				f, err := binfmt.Load(bytes.NewReader(data), int64(len(data)), binfmt.Limits{})
				if err != nil {
					t.Fatal(err)
				}
				var d *disasm.Result
				best(&plain, measure(func() { d, _ = disasm.Analyze(f, disasm.Options{}) }))
				_ = d
			}))
			best(&with, measure(func() {
				if _, err := analyze.Bytes(data, rel, analyze.Options{}); err != nil {
					t.Fatal(err)
				}
			}))
			f, _ := binfmt.Load(bytes.NewReader(data), int64(len(data)), binfmt.Limits{})
			var d *disasm.Result
			best(&refs, measure(func() { d, _ = disasm.Analyze(f, disasm.Options{DataRefs: true}) }))
			best(&scan, measure(func() { srcpath.Scan(f, d.DataRefs) }))
		}
		t.Logf("%s (%.1f MB): analysis %v, without source paths %v (%+.1f%%); disasm %v, with data refs %v (%+.1f%%); scan %v (%.1f%% of analysis)",
			rel, float64(len(data))/1e6, with.Round(time.Millisecond), without.Round(time.Millisecond),
			100*(with.Seconds()-without.Seconds())/without.Seconds(),
			plain.Round(time.Millisecond), refs.Round(time.Millisecond), 100*(refs.Seconds()-plain.Seconds())/plain.Seconds(),
			scan.Round(time.Millisecond), 100*scan.Seconds()/without.Seconds())
	}
}
