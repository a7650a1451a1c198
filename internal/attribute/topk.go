package attribute

import (
	"sort"
	"sync"

	"github.com/kinship-dev/kinship/internal/model"
)

// Match is one reference function similar to a query function.
type Match struct {
	SHA256     string // the reference sample
	Sample     string // its name
	Family     string
	Actor      string
	Common     bool
	Addr       uint64 // the function in the reference
	Name       string
	Instrs     uint32
	Similarity float64 // estimated Jaccard similarity; 1 for the same normalised code
}

var scratchPool = sync.Pool{New: func() any { return &scratch{} }}

// TopK returns the k reference functions most similar to f among those
// at Options.MinSim or more, most similar first; ties go to the sample
// with the smaller SHA-256, then the lower address.
func (ix *Index) TopK(f *model.Function, k int) []Match {
	if k <= 0 {
		return nil
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	type cand struct {
		sim float64
		o   occ
	}
	var cs []cand
	for _, m := range ix.lookup(f, sc) {
		for _, o := range ix.occs[ix.occStart[m.cluster]:ix.occStart[m.cluster+1]] {
			cs = append(cs, cand{m.sim, o})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.sim != b.sim {
			return a.sim > b.sim
		}
		if a.o.sample != b.o.sample {
			return a.o.sample < b.o.sample
		}
		return a.o.fn < b.o.fn
	})
	out := make([]Match, 0, min(k, len(cs)))
	for _, c := range cs[:min(k, len(cs))] {
		rs := &ix.samples[c.o.sample]
		rf := &rs.funcs[c.o.fn]
		out = append(out, Match{SHA256: rs.s.SHA256, Sample: rs.s.Name, Family: rs.s.Labels.Family, Actor: rs.s.Labels.Actor,
			Common: rs.common, Addr: rf.Addr, Name: rf.Name, Instrs: rf.Instrs, Similarity: c.sim})
	}
	return out
}

// parallelMin is the number of query functions from which Attribute
// spreads its lookups over Options.Workers goroutines.
const parallelMin = 512

// matchParallel is matchAll spread over the workers; lookups are
// independent, and scoring then reads them in query order, so the result
// is the same as looking up one function after the other.
func (ix *Index) matchParallel(funcs []model.Function) [][]match {
	out := make([][]match, len(funcs))
	const chunk = 256
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < ix.opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := scratchPool.Get().(*scratch)
			defer scratchPool.Put(sc)
			for lo := range next {
				for qi := lo; qi < min(lo+chunk, len(funcs)); qi++ {
					f := &funcs[qi]
					if f.Instrs < ix.opts.MinInstrs || OriginWeight(f.Origin) == 0 {
						continue
					}
					if ms := ix.lookup(f, sc); len(ms) > 0 {
						out[qi] = append([]match(nil), ms...)
					}
				}
			}
		}()
	}
	for lo := 0; lo < len(funcs); lo += chunk {
		next <- lo
	}
	close(next)
	wg.Wait()
	return out
}
