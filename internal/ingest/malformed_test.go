package ingest_test

import (
	"bufio"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// moduleRoot is the folder holding go.mod, found from the test's folder.
func moduleRoot(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			t.Fatal("go.mod not found")
		}
		d = up
	}
}

type manifestEntry struct{ tests, expect string }

func readManifest(t *testing.T, dir string) map[string]manifestEntry {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, "MANIFEST.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]manifestEntry{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "\t")
		if len(parts) != 3 {
			t.Fatalf("MANIFEST.tsv: bad line %q", line)
		}
		// Every file must end refused, with its oddity recorded, or within
		// a limit: none may be stored as if nothing were odd.
		switch parts[2] {
		case "error", "anomaly", "limit":
		default:
			t.Fatalf("MANIFEST.tsv: %s: unknown expectation %q", parts[0], parts[2])
		}
		m[parts[0]] = manifestEntry{parts[1], parts[2]}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

// heapPeak samples the live heap until stop is called and returns the
// highest value seen.
func heapPeak() (stop func() uint64) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			peak = max(peak, sample[0].Value.Uint64())
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak
	}
}

// TestMalformedSuite ingests every file of testdata/malformed, a 1 GB
// sparse file and two good fixtures in one batch through the real path
// (analysis and the SQLite store). No file may panic, hang or exceed its
// limits; each must end as MANIFEST.tsv says; the good files must be
// stored as if the hostile ones were not there.
func TestMalformedSuite(t *testing.T) {
	root := moduleRoot(t)
	dir := filepath.Join(root, "testdata", "malformed")
	manifest := readManifest(t, dir)
	files, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(manifest) {
		t.Errorf("%d files but %d MANIFEST.tsv lines: regenerate with go run testdata/malformed/gen.go", len(files), len(manifest))
	}
	for _, f := range files {
		if _, ok := manifest[filepath.Base(f)]; !ok {
			t.Errorf("%s is not in MANIFEST.tsv", filepath.Base(f))
		}
		if st, err := os.Stat(f); err == nil && st.Mode().Perm()&0o111 != 0 {
			t.Errorf("%s has an execute bit", f)
		}
	}

	tmp := t.TempDir()
	// Made here, never committed: sparse, so it costs no disk.
	sparse := filepath.Join(tmp, "sparse-1g.bin")
	fh, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	if err := fh.Truncate(1 << 30); err != nil {
		t.Fatal(err)
	}
	fh.Close()
	good := []string{
		filepath.Join(root, "testdata", "fixtures", "bin", "elf64-O2", "emberkit-v1"),
		filepath.Join(root, "testdata", "fixtures", "bin", "pe64-O2", "emberkit-v1.exe"),
	}

	items, err := ingest.Expand(append(append([]string{dir}, sparse), good...), model.Labels{Family: "hostile"}, false)
	if err != nil {
		t.Fatal(err)
	}
	var bins []ingest.Item
	for _, it := range items {
		if strings.HasSuffix(it.Path, ".bin") || !strings.HasPrefix(it.Path, dir) {
			bins = append(bins, it)
		}
	}
	// The good files go last so that they run after every hostile one.
	st, err := sqlite.Open(filepath.Join(tmp, "k.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	lim := ingest.DefaultLimits
	results := map[string]ingest.Result{}
	ctx := context.Background()
	stop := heapPeak()
	start := time.Now()
	sum := ingest.Run(ctx, st, bins, ingest.Options{Limits: lim}, func(r ingest.Result) { results[r.Path] = r })
	elapsed := time.Since(start)
	peak := stop()
	t.Logf("%d files in %v: %d added, %d failed; peak heap %d MiB", sum.Files, elapsed.Round(time.Millisecond), sum.Added, sum.Failed, peak>>20)

	if len(results) != len(bins) {
		t.Fatalf("%d results for %d files", len(results), len(bins))
	}
	// Several analyses run at once, each within MaxMemory by plan.
	if budget := uint64(2*lim.MaxMemory) + 64<<20; peak > budget {
		t.Errorf("peak heap %d MiB, more than %d MiB", peak>>20, budget>>20)
	}
	for _, r := range results {
		name := filepath.Base(r.Path)
		if r.Err != nil && (strings.Contains(r.Err.Error(), "internal error") || strings.Contains(r.Err.Error(), "panic")) {
			t.Errorf("%s: %v", name, r.Err)
			continue
		}
		if r.Elapsed > lim.Timeout+time.Second {
			t.Errorf("%s: analysis took %v, limit %v", name, r.Elapsed, lim.Timeout)
		}
		m := manifest[name]
		var te *ingest.TimeoutError
		if errors.As(r.Err, &te) {
			if m.expect != "limit" {
				t.Errorf("%s: %v", name, r.Err)
			}
			continue
		}
		if r.Err != nil && !strings.Contains(r.Err.Error(), r.Path) {
			t.Errorf("%s: error does not name the file: %v", name, r.Err)
		}
		switch {
		case r.Path == sparse:
			if !errors.Is(r.Err, analyze.ErrTooLarge) {
				t.Errorf("1 GB sparse file: want a too-large error, got %v", r.Err)
			}
			continue
		case !strings.HasPrefix(r.Path, dir):
			if r.Err != nil || !r.Added || r.Functions == 0 {
				t.Errorf("good file %s: added %v, %d functions, error %v", name, r.Added, r.Functions, r.Err)
			}
			continue
		}
		switch m.expect {
		case "error":
			if r.Err == nil {
				t.Errorf("%s (%s): stored, want an error", name, m.tests)
			} else if !strings.Contains(r.Err.Error(), "offset 0x") {
				t.Errorf("%s: error does not give the offset: %v", name, r.Err)
			}
			continue
		case "anomaly", "limit":
			if r.Err != nil {
				t.Errorf("%s (%s): %v", name, m.tests, r.Err)
				continue
			}
		}
		s, err := st.GetSample(ctx, r.SHA256)
		if err != nil {
			t.Errorf("%s: not in the store: %v", name, err)
			continue
		}
		if m.expect == "anomaly" && len(s.Anomalies) == 0 {
			t.Errorf("%s (%s): stored with no anomaly recorded", name, m.tests)
		}
		if m.expect == "limit" && !strings.Contains(strings.Join(s.Anomalies, "\n"), "decoding stopped") {
			t.Errorf("%s (%s): stored without reaching a limit: %q", name, m.tests, s.Anomalies)
		}
	}
	if c, ok := any(st).(interface{ Check(context.Context) error }); ok {
		if err := c.Check(ctx); err != nil {
			t.Errorf("store inconsistent after the batch: %v", err)
		}
	}
}
