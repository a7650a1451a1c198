// Package bench measures kinship at scale: ingest speed beside objdump and
// tlsh, and, for collections of growing size built from real functions
// (replicated with perturbation beyond the real count), the bytes per
// function on disk and in memory, the time to open the index, and the
// latency of attributing a binary and of a one-function top-10 search.
//
// Timings are wall-clock and CPU time of this process: on a shared
// machine wall time includes waiting for other jobs, CPU time does not.
package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"time"

	"github.com/kinship-dev/kinship/internal/attribute"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// Query is a binary to attribute.
type Query struct {
	Name      string
	Sample    model.Sample
	Functions []model.Function
}

// Options tune Scale. Zero values take the defaults.
type Options struct {
	Dir     string // where the stores are written; required
	Keep    bool   // keep each store after measuring it
	Seed    uint64
	Runs    int // timed attributions per query and size; default 10
	TopK    int // timed one-function searches per size; default 1000
	Workers int // index build and query lookups; default 2
	Log     io.Writer
}

// Latency summarises repeated timings.
type Latency struct {
	Runs  int           `json:"runs"`
	P50   time.Duration `json:"p50_ns"`
	P99   time.Duration `json:"p99_ns"`
	Max   time.Duration `json:"max_ns"`
	CPU   time.Duration `json:"cpu_mean_ns"` // CPU time per run, mean
	First time.Duration `json:"first_ns"`    // the untimed warm-up run
}

// AttrResult is the attribution of one query at one size.
type AttrResult struct {
	Query     string  `json:"query"`
	Functions int     `json:"functions"`
	Looked    int     `json:"looked_up"` // functions the index was searched for
	Latency   Latency `json:"latency"`
	Family    string  `json:"family"`
	Actor     string  `json:"actor"`
}

// SizeResult is everything measured at one collection size.
type SizeResult struct {
	Functions int `json:"functions"`
	Real      int `json:"real_functions"`
	Synthetic int `json:"synthetic_functions"`
	Samples   int `json:"samples"`
	Families  int `json:"families"`
	Clusters  int `json:"clusters"`

	WriteWall time.Duration `json:"write_wall_ns"` // filling the store
	WriteCPU  time.Duration `json:"write_cpu_ns"`
	DiskBytes int64         `json:"disk_bytes"`

	OpenWall  time.Duration `json:"open_wall_ns"` // store to in-memory index
	OpenCPU   time.Duration `json:"open_cpu_ns"`
	HeapBytes int64         `json:"heap_bytes"` // live heap the index adds

	Attribute []AttrResult `json:"attribute"`
	TopK      Latency      `json:"top10"`
	TopKSelf  int          `json:"top10_self_found"` // searches for an indexed function that found it
	TopKTried int          `json:"top10_self_tried"`
}

// DiskPerFunction and HeapPerFunction are bytes per stored function.
func (r SizeResult) DiskPerFunction() float64 { return float64(r.DiskBytes) / float64(r.Functions) }
func (r SizeResult) HeapPerFunction() float64 { return float64(r.HeapBytes) / float64(r.Functions) }

func (o Options) withDefaults() Options {
	if o.Runs <= 0 {
		o.Runs = 10
	}
	if o.TopK <= 0 {
		o.TopK = 1000
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	return o
}

// Scale builds a collection of each size from the pool, measures it, and
// removes it (unless Keep) before the next.
func Scale(ctx context.Context, pool Pool, sizes []int, queries []Query, o Options) ([]SizeResult, error) {
	o = o.withDefaults()
	var out []SizeResult
	for _, n := range sizes {
		r, err := scaleOne(ctx, pool, n, queries, o)
		if err != nil {
			return out, fmt.Errorf("%d functions: %w", n, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func scaleOne(ctx context.Context, pool Pool, n int, queries []Query, o Options) (SizeResult, error) {
	r := SizeResult{Functions: n}
	path := filepath.Join(o.Dir, fmt.Sprintf("scale-%d.db", n))
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	if !o.Keep {
		defer func() {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(path + suffix)
			}
		}()
	}
	fmt.Fprintf(o.Log, "scale %d: writing the store\n", n)
	st, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return r, err
	}
	t0, c0 := time.Now(), cpuTime()
	r.Real, r.Synthetic, err = pool.Collection(n, o.Seed, func(sf model.SampleFunctions) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		r.Samples++
		_, err := st.PutSample(ctx, sf.Sample, sf.Functions)
		return err
	})
	if err == nil {
		err = st.Close()
	} else {
		st.Close()
	}
	if err != nil {
		return r, err
	}
	r.WriteWall, r.WriteCPU = time.Since(t0), cpuTime()-c0
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(path + suffix); err == nil {
			r.DiskBytes += fi.Size()
		}
	}

	fmt.Fprintf(o.Log, "scale %d: opening the index\n", n)
	heap0 := liveHeap()
	t0, c0 = time.Now(), cpuTime()
	st, err = sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return r, err
	}
	defer st.Close()
	m := attribute.DefaultModel()
	ix, err := attribute.Load(ctx, st, attribute.Options{Model: &m, Workers: o.Workers})
	if err != nil {
		return r, err
	}
	r.OpenWall, r.OpenCPU = time.Since(t0), cpuTime()-c0
	r.HeapBytes = int64(liveHeap()) - int64(heap0)
	_, r.Families, _, r.Clusters = ix.Sizes()

	for _, q := range queries {
		fmt.Fprintf(o.Log, "scale %d: attributing %s\n", n, q.Name)
		a := AttrResult{Query: q.Name, Functions: len(q.Functions)}
		for i := range q.Functions {
			if f := &q.Functions[i]; f.Instrs >= MinInstrs && attribute.OriginWeight(f.Origin) > 0 {
				a.Looked++
			}
		}
		var v model.Verdict
		a.Latency = measure(o.Runs, func() { v = ix.Attribute(q.Sample, q.Functions, false) })
		a.Family, a.Actor = v.Family.Name, v.Actor.Name
		r.Attribute = append(r.Attribute, a)
	}

	fmt.Fprintf(o.Log, "scale %d: top-10 searches\n", n)
	fns := topKQueries(pool, queries, o.TopK, o.Seed)
	i := 0
	r.TopK = measure(len(fns), func() {
		ix.TopK(fns[i%len(fns)], 10)
		i++
	})
	// A function of the index must find itself, unless ten identical
	// functions (similarity 1) rank before it.
	sha, self := selfQueries(pool, n, 100)
	for _, f := range self {
		r.TopKTried++
		ms := ix.TopK(f, 10)
		found := len(ms) == 10 && ms[9].Similarity == 1
		for _, m := range ms {
			found = found || (m.SHA256 == sha && m.Addr == f.Addr)
		}
		if found {
			r.TopKSelf++
		}
	}
	ix = nil
	runtime.GC()
	debug.FreeOSMemory()
	return r, nil
}

// measure runs f once untimed, then runs times, and summarises.
func measure(runs int, f func()) Latency {
	l := Latency{Runs: runs}
	t := time.Now()
	f()
	l.First = time.Since(t)
	ds := make([]time.Duration, runs)
	c0 := cpuTime()
	for i := range ds {
		t := time.Now()
		f()
		ds[i] = time.Since(t)
	}
	if runs > 0 {
		l.CPU = (cpuTime() - c0) / time.Duration(runs)
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		l.P50, l.P99, l.Max = rank(ds, 0.50), rank(ds, 0.99), ds[len(ds)-1]
	}
	return l
}

// rank is the nearest-rank percentile of sorted ds.
func rank(ds []time.Duration, p float64) time.Duration {
	i := int(float64(len(ds))*p+0.999999) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// topKQueries are the one-function searches: functions of the queries
// (or, without queries, variants of pool functions) of at least MinInstrs
// instructions, drawn at random.
func topKQueries(pool Pool, queries []Query, n int, seed uint64) []*model.Function {
	var all []*model.Function
	for qi := range queries {
		for fi := range queries[qi].Functions {
			if f := &queries[qi].Functions[fi]; f.Instrs >= MinInstrs {
				all = append(all, f)
			}
		}
	}
	if len(all) == 0 {
		_, fns := pool.SyntheticQuery(n, seed)
		for i := range fns {
			all = append(all, &fns[i])
		}
	}
	sy := newSynth(seed^0x746f706b, 0)
	out := make([]*model.Function, n)
	for i := range out {
		out[i] = all[sy.r.IntN(len(all))]
	}
	return out
}

// selfQueries are functions that a collection of n functions holds for
// certain, with their sample: the first functions of enough instructions
// of the first pool sample, which always contributes at least its share
// of n.
func selfQueries(pool Pool, n, k int) (string, []*model.Function) {
	var out []*model.Function
	s := pool.Samples[0]
	limit := len(s.Functions)
	if n < pool.Functions {
		limit = int(int64(len(s.Functions)) * int64(n) / int64(pool.Functions))
	}
	for fi := 0; fi < limit && len(out) < k; fi++ {
		if f := &s.Functions[fi]; f.Instrs >= MinInstrs {
			out = append(out, f)
		}
	}
	return s.Sample.SHA256, out
}
