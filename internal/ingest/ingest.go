// Package ingest adds files to a store in parallel: it expands folders,
// skips files already stored (by SHA-256), analyses the rest, and turns a
// failure on one file into one error line while the batch goes on.
package ingest

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/model"
)

// Item is one file to ingest with the labels it should carry.
type Item struct {
	Path   string
	Labels model.Labels
	Common bool
}

// Options control a batch.
type Options struct {
	Workers int // files analysed at once; default GOMAXPROCS
	Analyze analyze.Options
	Logger  *slog.Logger
	Limits  Limits // per-file bounds on size, memory and time
}

// Result is the outcome for one file.
type Result struct {
	Path      string
	SHA256    string
	Added     bool // false when it was already stored
	Relabeled bool
	Functions int
	Bytes     int64
	Elapsed   time.Duration // analysing the file, when it was analysed
	Err       error
}

// Summary counts a batch.
type Summary struct {
	Files     int
	Added     int
	Existing  int
	Failed    int
	Bytes     int64 // bytes of files analysed
	Functions int
	Elapsed   time.Duration
}

// Expand turns paths (files or folders, walked recursively in lexical
// order) into items sharing the given labels. Symbolic links inside folders
// are not followed, so a hostile tree cannot loop.
func Expand(paths []string, l model.Labels, common bool) ([]Item, error) {
	var out []Item
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, Item{Path: p, Labels: l, Common: common})
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				out = append(out, Item{Path: path, Labels: l, Common: common})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Run ingests items into st. onResult, if set, is called once per item,
// from one goroutine at a time.
func Run(ctx context.Context, st model.Store, items []Item, opts Options, onResult func(Result)) Summary {
	start := time.Now()
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if workers > 1 {
		// Files analysed side by side already keep the processors busy:
		// one walker per file then does less work in all than several
		// that share the file's functions (its decode cache sees all the
		// file's code, and no records wait to be merged). Largest files
		// first, so that the last to finish is a small one.
		if opts.Analyze.Disasm.Workers == 0 {
			opts.Analyze.Disasm.Workers = max(1, runtime.GOMAXPROCS(0)/workers)
		}
		items = largestFirst(items)
	}
	g := newGuard(opts, workers)
	jobs := make(chan Item)
	var mu sync.Mutex
	var sum Summary
	report := func(r Result) {
		mu.Lock()
		defer mu.Unlock()
		sum.Files++
		switch {
		case r.Err != nil:
			sum.Failed++
			log.Warn("ingest failed", "path", r.Path, "err", r.Err)
		case r.Added:
			sum.Added++
			sum.Bytes += r.Bytes
			sum.Functions += r.Functions
		default:
			sum.Existing++
		}
		if onResult != nil {
			onResult(r)
		}
	}
	// With several files at once, one goroutine stores what the others
	// analysed: a worker that waited for the store's single writer would
	// leave its processor idle meanwhile.
	var writes chan *write
	var writer sync.WaitGroup
	if workers > 1 {
		writes = make(chan *write, workers)
		writer.Go(func() {
			for w := range writes {
				report(w.store(ctx, st))
			}
		})
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for it := range jobs {
				r, w := one(ctx, st, it, opts, g)
				switch {
				case w == nil:
					report(r)
				case writes != nil:
					writes <- w
				default:
					report(w.store(ctx, st))
				}
			}
		})
	}
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		jobs <- it
	}
	close(jobs)
	wg.Wait()
	if writes != nil {
		close(writes)
		writer.Wait()
	}
	sum.Elapsed = time.Since(start)
	return sum
}

// largestFirst returns items ordered by file size, largest first; files
// of equal size, and those whose size is unknown (last), keep their order.
func largestFirst(items []Item) []Item {
	size := make(map[string]int64, len(items))
	for _, it := range items {
		size[it.Path] = -1
		if st, err := os.Stat(it.Path); err == nil {
			size[it.Path] = st.Size()
		}
	}
	out := slices.Clone(items)
	slices.SortStableFunc(out, func(x, y Item) int { return cmp.Compare(size[y.Path], size[x.Path]) })
	return out
}

// write is an analysed file waiting to be stored.
type write struct {
	it     Item
	r      Result
	sample model.Sample
	fns    []model.Function
}

// one reads and analyses a single file, and returns what is to be stored,
// or nil with the file's result when there is nothing to store. A panic
// anywhere below becomes this file's error: one hostile sample must never
// cost the batch.
func one(ctx context.Context, st model.Store, it Item, opts Options, g *guard) (r Result, w *write) {
	r.Path = it.Path
	defer func() {
		if p := recover(); p != nil {
			r.Err = fmt.Errorf("%s: internal error: %v\n%s", it.Path, p, debug.Stack())
			w = nil
		}
	}()
	data, err := analyze.ReadFile(it.Path, g.lim.MaxFileSize)
	if err != nil {
		r.Err = err
		return r, nil
	}
	sum := sha256Hex(data)
	r.SHA256 = sum
	if existing, err := st.GetSample(ctx, sum); err == nil {
		r.Err = relabel(ctx, st, it, existing, &r)
		return r, nil
	} else if !errors.Is(err, model.ErrNotFound) {
		r.Err = fmt.Errorf("%s: %w", it.Path, err)
		return r, nil
	}
	aopts, err := g.plan(int64(len(data)), opts.Analyze)
	if err != nil {
		r.Err = fmt.Errorf("%s: %w", it.Path, err)
		return r, nil
	}
	aopts.SHA256 = sum
	start := time.Now()
	res, err := g.analyze(ctx, data, filepath.Base(it.Path), aopts)
	r.Elapsed = time.Since(start)
	if err != nil {
		r.Err = fmt.Errorf("%s: %w", it.Path, err)
		return r, nil
	}
	s := res.Sample
	s.Labels = it.Labels
	s.Common = it.Common
	sort.Slice(res.Functions, func(i, j int) bool { return res.Functions[i].Addr < res.Functions[j].Addr })
	r.Functions = len(res.Functions)
	r.Bytes = int64(len(data))
	return r, &write{it: it, r: r, sample: s, fns: res.Functions}
}

// store adds an analysed file to st. When the same bytes were stored
// meanwhile (the same file twice in a batch, or another process), the
// file's labels are merged as for a file found stored before analysis.
func (w *write) store(ctx context.Context, st model.Store) (r Result) {
	r = w.r
	defer func() {
		if p := recover(); p != nil {
			r.Err = fmt.Errorf("%s: internal error: %v\n%s", w.it.Path, p, debug.Stack())
		}
	}()
	added, err := st.PutSample(ctx, w.sample, w.fns)
	if err != nil {
		r.Err = fmt.Errorf("%s: %w", w.it.Path, err)
		return r
	}
	r.Added = added
	if !added {
		existing, err := st.GetSample(ctx, r.SHA256)
		if err != nil {
			r.Err = fmt.Errorf("%s: %w", w.it.Path, err)
			return r
		}
		r.Err = relabel(ctx, st, w.it, existing, &r)
	}
	return r
}

// relabel gives a stored sample the labels and common flag of it, where
// it has them.
func relabel(ctx context.Context, st model.Store, it Item, existing model.Sample, r *Result) error {
	// Only labels may change, and only when given.
	if want := merge(existing.Labels, it.Labels); want != existing.Labels {
		if err := st.SetLabels(ctx, r.SHA256, want); err != nil {
			return fmt.Errorf("%s: %w", it.Path, err)
		}
		r.Relabeled = true
	}
	if it.Common && !existing.Common {
		if err := st.SetCommon(ctx, r.SHA256, true); err != nil {
			return fmt.Errorf("%s: %w", it.Path, err)
		}
	}
	return nil
}

// merge overlays the non-empty fields of b on a.
func merge(a, b model.Labels) model.Labels {
	if b.Family != "" {
		a.Family = b.Family
	}
	if b.Actor != "" {
		a.Actor = b.Actor
	}
	if b.Source != "" {
		a.Source = b.Source
	}
	return a
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
