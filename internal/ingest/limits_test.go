package ingest

import (
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/model"
)

// memStore is the least model.Store ingest needs.
type memStore struct {
	model.Store
	mu sync.Mutex
	m  map[string]int
}

func (s *memStore) GetSample(_ context.Context, sha string) (model.Sample, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[sha]; ok {
		return model.Sample{SHA256: sha}, nil
	}
	return model.Sample{}, model.ErrNotFound
}

func (s *memStore) PutSample(_ context.Context, sm model.Sample, fns []model.Function) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[sm.SHA256] = len(fns)
	return true, nil
}

// distinctFiles writes n files with different contents.
func distinctFiles(t *testing.T, n int) []Item {
	dir := t.TempDir()
	var items []Item
	for i := range n {
		p := filepath.Join(dir, string(rune('a'+i)))
		if err := os.WriteFile(p, []byte{byte(i), 1, 2, 3}, 0o644); err != nil {
			t.Fatal(err)
		}
		items = append(items, Item{Path: p})
	}
	return items
}

// TestTimeoutAbandonsStuckAnalysis: an analysis that never returns costs
// its file a timeout error, not the batch; once MaxOverdue analyses are
// stuck, later files fail promptly instead of queueing behind them.
func TestTimeoutAbandonsStuckAnalysis(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	var running sync.WaitGroup
	started := 0
	analyzeBytes = func(data []byte, name string, o analyze.Options) (*analyze.Result, error) {
		running.Add(1)
		defer running.Done()
		mu.Lock()
		started++
		mu.Unlock()
		if data[0] < 2 {
			<-release // ignores every deadline
		}
		return &analyze.Result{Sample: model.Sample{SHA256: name}}, nil
	}
	defer func() {
		running.Wait()
		analyzeBytes = analyze.Bytes
	}()

	items := distinctFiles(t, 6)
	st := &memStore{m: map[string]int{}}
	const limit = 100 * time.Millisecond
	start := time.Now()
	var results []Result
	sum := Run(context.Background(), st, items, Options{Workers: 1, Limits: Limits{Timeout: limit, MaxOverdue: 1}}, func(r Result) {
		results = append(results, r)
	})
	elapsed := time.Since(start)
	close(release)

	if sum.Files != 6 || len(results) != 6 {
		t.Fatalf("%d files, %d results, want 6", sum.Files, len(results))
	}
	// Files 0 and 1 hang and fill both slots (one worker, one overdue);
	// file 2 waits one limit for a slot, 3 to 5 fail at once.
	for i, r := range results {
		var te *TimeoutError
		switch {
		case i < 2:
			if !errors.As(r.Err, &te) || !strings.Contains(r.Err.Error(), "analysis exceeded 100ms") || !strings.Contains(r.Err.Error(), r.Path) {
				t.Errorf("file %d: want a timeout naming the file, got %v", i, r.Err)
			}
		default:
			if r.Err == nil || !strings.Contains(r.Err.Error(), "not analysed") {
				t.Errorf("file %d: want a not-analysed error, got %v", i, r.Err)
			}
		}
	}
	if elapsed > 10*limit {
		t.Errorf("batch took %v with a %v limit: it waited on stuck analyses", elapsed, limit)
	}
	mu.Lock()
	defer mu.Unlock()
	if started != 2 {
		t.Errorf("%d analyses started, want 2 (the rest had no slot)", started)
	}
}

// TestTimeoutStopsDisassembly: the deadline reaches the disassembler, so
// a real analysis past its limit ends with the timeout error.
func TestTimeoutStopsDisassembly(t *testing.T) {
	p := filepath.Join("..", "..", "testdata", "fixtures", "bin", "elf64-O2", "emberkit-v1")
	st := &memStore{m: map[string]int{}}
	var got Result
	Run(context.Background(), st, []Item{{Path: p}}, Options{Limits: Limits{Timeout: time.Nanosecond}}, func(r Result) { got = r })
	var te *TimeoutError
	if !errors.As(got.Err, &te) || !strings.Contains(got.Err.Error(), "analysis exceeded 1ns") {
		t.Fatalf("want a timeout, got %v", got.Err)
	}
	got = Result{}
	Run(context.Background(), st, []Item{{Path: p}}, Options{}, func(r Result) { got = r })
	if got.Err != nil || !got.Added || got.Functions == 0 {
		t.Fatalf("default limits: %+v", got)
	}
}

func TestMemoryPlan(t *testing.T) {
	g := newGuard(Options{Limits: Limits{MaxMemory: 64 << 20}}, 1)
	o, err := g.plan(8<<20, analyze.Options{})
	if err != nil {
		t.Fatal(err)
	}
	avail := int64(64<<20 - 2*8<<20)
	if o.Disasm.MaxInstrs != int(avail/bytesPerInstr) || o.Disasm.MaxFuncs != int(avail/bytesPerFunc) {
		t.Errorf("instructions %d, functions %d", o.Disasm.MaxInstrs, o.Disasm.MaxFuncs)
	}
	if o.Limits.MaxFileSize != DefaultLimits.MaxFileSize || o.Limits.MaxFuncHints != int(avail/bytesPerHint) {
		t.Errorf("loader limits %+v", o.Limits)
	}
	// A caller's tighter caps stay.
	in := analyze.Options{}
	in.Disasm.MaxInstrs = 1000
	if o, _ := g.plan(1, in); o.Disasm.MaxInstrs != 1000 {
		t.Errorf("caller's MaxInstrs replaced: %d", o.Disasm.MaxInstrs)
	}
	if _, err := g.plan(25<<20, analyze.Options{}); !errors.Is(err, ErrMemoryLimit) {
		t.Errorf("25 MiB file in 64 MiB: %v", err)
	}
}

func TestMemoryLimitRefusesFile(t *testing.T) {
	items := distinctFiles(t, 1)
	var got Result
	Run(context.Background(), &memStore{m: map[string]int{}}, items, Options{Limits: Limits{MaxMemory: 1 << 20}}, func(r Result) { got = r })
	if !errors.Is(got.Err, ErrMemoryLimit) || !strings.Contains(got.Err.Error(), items[0].Path) {
		t.Fatalf("got %v", got.Err)
	}
}

func TestMaxFileSize(t *testing.T) {
	items := distinctFiles(t, 1)
	var got Result
	Run(context.Background(), &memStore{m: map[string]int{}}, items, Options{Limits: Limits{MaxFileSize: 3}}, func(r Result) { got = r })
	if !errors.Is(got.Err, analyze.ErrTooLarge) {
		t.Fatalf("got %v", got.Err)
	}
	// The loader's limit, when the caller set only that, still counts.
	opts := Options{}
	opts.Analyze.Limits.MaxFileSize = 3
	Run(context.Background(), &memStore{m: map[string]int{}}, items, opts, func(r Result) { got = r })
	if !errors.Is(got.Err, analyze.ErrTooLarge) {
		t.Fatalf("analyze limit: got %v", got.Err)
	}
}

func TestSizes(t *testing.T) {
	for s, want := range map[string]int64{"4096": 4096, "64MiB": 64 << 20, "64M": 64 << 20, "1GiB": 1 << 30, "500MB": 500e6, "2 kib": 2048} {
		if n, err := ParseSize(s); err != nil || n != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", s, n, err, want)
		}
	}
	for _, s := range []string{"", "0", "-1", "MiB", "12XB", "99999999999GiB"} {
		if _, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q): no error", s)
		}
	}
	for n, want := range map[int64]string{256 << 20: "256MiB", 1 << 30: "1GiB", 1000: "1000", 3 << 10: "3KiB"} {
		if s := FormatSize(n); s != want {
			t.Errorf("FormatSize(%d) = %s, want %s", n, s, want)
		}
	}
}

func TestAddFlags(t *testing.T) {
	var l Limits
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	l.AddFlags(fs)
	if err := fs.Parse([]string{"--max-file-size", "1MiB", "--max-memory", "2GiB", "--timeout", "3s"}); err != nil {
		t.Fatal(err)
	}
	if l != (Limits{MaxFileSize: 1 << 20, MaxMemory: 2 << 30, Timeout: 3 * time.Second}) {
		t.Fatalf("%+v", l)
	}
	var d Limits
	d.AddFlags(flag.NewFlagSet("y", flag.ContinueOnError))
	if d.withDefaults(2) != (Limits{MaxFileSize: DefaultLimits.MaxFileSize, MaxMemory: DefaultLimits.MaxMemory, Timeout: DefaultLimits.Timeout, MaxOverdue: 2}) {
		t.Fatalf("defaults %+v", d.withDefaults(2))
	}
}

func TestAnalyzeFile(t *testing.T) {
	p := filepath.Join("..", "..", "testdata", "fixtures", "bin", "pe64-O2", "emberkit-v1.exe")
	r, err := AnalyzeFile(context.Background(), p, Limits{}, analyze.Options{})
	if err != nil || len(r.Functions) == 0 {
		t.Fatalf("%v", err)
	}
	_, err = AnalyzeFile(context.Background(), p, Limits{Timeout: time.Nanosecond}, analyze.Options{})
	var te *TimeoutError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), p) {
		t.Fatalf("want a timeout naming the file, got %v", err)
	}
	if _, err := AnalyzeFile(context.Background(), p, Limits{MaxMemory: 1 << 20}, analyze.Options{}); !errors.Is(err, ErrMemoryLimit) {
		t.Fatalf("want the memory limit, got %v", err)
	}
}
