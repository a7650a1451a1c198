package ingest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/disasm"
)

// Limits bound what one file may cost. Zero fields take DefaultLimits.
type Limits struct {
	// MaxFileSize refuses larger files before reading them.
	MaxFileSize int64
	// MaxMemory is the memory analysing one file may plan for: the file's
	// bytes, held twice (as read and as loaded), plus the records of
	// loading and disassembly, whose counts are capped to fit what is
	// left. It is an estimate from measured costs per instruction and per
	// function, not an allocator quota: a pathological file can exceed it
	// by a small factor, never by orders of magnitude. A file whose bytes
	// alone leave too little is refused.
	MaxMemory int64
	// Timeout is the wall-clock time analysing one file may take. The
	// file then fails with a *TimeoutError and the batch goes on.
	// Wall-clock, because Go cannot measure one goroutine's CPU time; on
	// a loaded machine allow for it.
	Timeout time.Duration
	// MaxOverdue is how many analyses may be left running past their
	// deadline (code that does not check it, e.g. the loader) before new
	// files wait for them; default the number of workers. It bounds the
	// memory such stragglers hold.
	MaxOverdue int
}

// DefaultLimits apply to every zero field of Limits.
var DefaultLimits = Limits{
	MaxFileSize: 512 << 20,
	MaxMemory:   512 << 20,
	Timeout:     60 * time.Second,
}

// Planned costs, measured on real binaries (Go, C, C++ up to 120 MB):
// peak heap is about twice the file plus 45-50 bytes per decoded
// instruction (records, the per-byte index, features); functions and
// hints cost little per instruction but a hostile file can make every
// instruction a function.
const (
	bytesPerInstr = 64
	bytesPerFunc  = 1024
	bytesPerHint  = 256
	// minAnalysisMemory is the least worth starting an analysis with.
	minAnalysisMemory = 16 << 20
)

// TimeoutError is the error of a file whose analysis ran past
// Limits.Timeout.
type TimeoutError struct{ Limit time.Duration }

func (e *TimeoutError) Error() string { return fmt.Sprintf("analysis exceeded %s", e.Limit) }

// ErrMemoryLimit is wrapped by the error of a file too large to analyse
// within Limits.MaxMemory.
var ErrMemoryLimit = errors.New("per-file memory limit")

// analyzeBytes is analyze.Bytes; tests replace it to simulate analyses
// that never return.
var analyzeBytes = analyze.Bytes

func (l Limits) withDefaults(workers int) Limits {
	d := DefaultLimits
	if l.MaxFileSize > 0 {
		d.MaxFileSize = l.MaxFileSize
	}
	if l.MaxMemory > 0 {
		d.MaxMemory = l.MaxMemory
	}
	if l.Timeout > 0 {
		d.Timeout = l.Timeout
	}
	d.MaxOverdue = max(1, workers)
	if l.MaxOverdue > 0 {
		d.MaxOverdue = l.MaxOverdue
	}
	return d
}

// AddFlags registers --max-file-size, --max-memory and --timeout on fs;
// parsing fills l. Sizes take a unit: 64MiB, 1GiB, 500MB, or bytes.
func (l *Limits) AddFlags(fs *flag.FlagSet) {
	fs.Func("max-file-size", fmt.Sprintf("refuse files larger than this (default %s)", FormatSize(DefaultLimits.MaxFileSize)), func(s string) error {
		n, err := ParseSize(s)
		l.MaxFileSize = n
		return err
	})
	fs.Func("max-memory", fmt.Sprintf("memory analysing one file may plan for (default %s)", FormatSize(DefaultLimits.MaxMemory)), func(s string) error {
		n, err := ParseSize(s)
		l.MaxMemory = n
		return err
	})
	fs.DurationVar(&l.Timeout, "timeout", DefaultLimits.Timeout, "wall-clock time analysing one file may take")
}

// ParseSize reads a byte count with an optional unit (K, KB, KiB, M, MB,
// MiB, G, GB, GiB; K, M and G alone are binary).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	mult := map[string]int64{"": 1, "b": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1e3, "m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
		"g": 1 << 30, "gib": 1 << 30, "gb": 1e9}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || mult == 0 || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q (want e.g. 256MiB)", s)
	}
	return n * mult, nil
}

// FormatSize writes n in the largest binary unit that divides it.
func FormatSize(n int64) string {
	for _, u := range []struct {
		s string
		v int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.v && n%u.v == 0 {
			return fmt.Sprintf("%d%s", n/u.v, u.s)
		}
	}
	return strconv.FormatInt(n, 10)
}

// AnalyzeFile analyses one file under the same limits as ingest, for
// commands that analyse without storing (attribute, info, compare).
func AnalyzeFile(ctx context.Context, path string, l Limits, o analyze.Options) (*analyze.Result, error) {
	g := newGuard(Options{Limits: l, Analyze: o}, 1)
	data, err := analyze.ReadFile(path, g.lim.MaxFileSize)
	if err != nil {
		return nil, err
	}
	if o, err = g.plan(int64(len(data)), o); err == nil {
		var r *analyze.Result
		if r, err = g.analyze(ctx, data, filepath.Base(path), o); err == nil {
			return r, nil
		}
	}
	return nil, fmt.Errorf("%s: %w", path, err)
}

// guard enforces Limits for one batch.
type guard struct {
	lim Limits
	// slots holds one token per analysis still running, overdue ones
	// included: workers plus MaxOverdue at most.
	slots chan struct{}
	// stuck is set when a file waited a whole Timeout for a slot; later
	// files then fail at once instead of each waiting in turn, until an
	// overdue analysis ends.
	stuck atomic.Bool
}

func newGuard(opts Options, workers int) *guard {
	l := opts.Limits
	if l.MaxFileSize <= 0 {
		// A loader limit set by the caller still counts.
		l.MaxFileSize = opts.Analyze.Limits.MaxFileSize
	}
	l = l.withDefaults(workers)
	return &guard{lim: l, slots: make(chan struct{}, workers+l.MaxOverdue)}
}

// plan fits the analysis of a file of size bytes into MaxMemory by
// capping the counts that drive allocation; a caller's tighter caps stay.
func (g *guard) plan(size int64, o analyze.Options) (analyze.Options, error) {
	avail := g.lim.MaxMemory - 2*size
	if avail < minAnalysisMemory {
		return o, fmt.Errorf("%w: a file of %d bytes needs more than %s to analyse (--max-memory)", ErrMemoryLimit, size, FormatSize(g.lim.MaxMemory))
	}
	capInt := func(v *int, limit int64, def int) {
		if *v <= 0 {
			*v = def
		}
		*v = int(min(int64(*v), limit))
	}
	o.Limits.MaxFileSize = g.lim.MaxFileSize
	capInt(&o.Disasm.MaxInstrs, avail/bytesPerInstr, 50_000_000)
	capInt(&o.Disasm.MaxFuncs, avail/bytesPerFunc, 2_000_000)
	capInt(&o.Limits.MaxFuncHints, avail/bytesPerHint, binfmt.DefaultLimits.MaxFuncHints)
	capInt(&o.Limits.MaxSymbols, avail/bytesPerHint, binfmt.DefaultLimits.MaxSymbols)
	return o, nil
}

type outcome struct {
	res *analyze.Result
	err error
}

// analyze runs one analysis within Timeout. The analysis is told the
// deadline (disassembly stops at it) and also runs on its own goroutine,
// so that code which cannot be interrupted is abandoned at the deadline
// rather than holding up the batch; it keeps its slot until it returns.
func (g *guard) analyze(ctx context.Context, data []byte, name string, o analyze.Options) (*analyze.Result, error) {
	deadline := time.Now().Add(g.lim.Timeout)
	if o.Disasm.Deadline.IsZero() || o.Disasm.Deadline.After(deadline) {
		o.Disasm.Deadline = deadline
	}
	if err := g.acquire(ctx, deadline); err != nil {
		return nil, err
	}
	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: fmt.Errorf("internal error: %v\n%s", p, debug.Stack())}
			}
			<-g.slots
			g.stuck.Store(false)
		}()
		r, err := analyzeBytes(data, name, o)
		done <- outcome{r, err}
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case out := <-done:
		if errors.Is(out.err, disasm.ErrDeadline) {
			return nil, &TimeoutError{g.lim.Timeout}
		}
		return out.res, out.err
	case <-t.C:
		return nil, &TimeoutError{g.lim.Timeout}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// acquire takes a slot, waiting until the deadline for an overdue
// analysis to end.
func (g *guard) acquire(ctx context.Context, deadline time.Time) error {
	select {
	case g.slots <- struct{}{}:
		return nil
	default:
	}
	full := fmt.Errorf("not analysed: all %d analysis slots are held by analyses running past their time limit", cap(g.slots))
	if g.stuck.Load() {
		return full
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case g.slots <- struct{}{}:
		return nil
	case <-t.C:
		g.stuck.Store(true)
		return full
	case <-ctx.Done():
		return ctx.Err()
	}
}
