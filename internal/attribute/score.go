package attribute

import (
	"math"

	"github.com/kinship-dev/kinship/internal/model"
)

// SizeWeight is how much evidence one function of n instructions carries.
// Short functions are generic (getters, thunks, stubs) and count little;
// beyond 64 instructions a function counts as one full unit so that one
// huge function cannot outweigh many distinctive ones.
func SizeWeight(n uint32) float64 {
	w := (float64(n) - 4) / 60
	switch {
	case w < 0:
		return 0
	case w > 1:
		return 1
	}
	return w
}

// OriginWeight is how much a function counts given what the binary says
// about where it comes from. Runtime, standard-library and third-party
// library code says nothing about who wrote the program: a library linked
// by one family of the collection is still somebody else's code, and the
// next unknown program may link it too. Own code and code of unknown
// origin count in full.
func OriginWeight(o model.Origin) float64 {
	switch o {
	case model.OriginRuntime, model.OriginStd, model.OriginLibrary:
		return 0
	}
	return 1
}

// fnClass says where one query function's code was found.
type fnClass uint8

const (
	clsUnique fnClass = iota // no labelled match
	clsCommon                // runtime, declared common, or across unrelated actors
	clsShared                // in exactly one family
	clsMulti                 // in several families of one actor (or families without actor)
)

type hit struct {
	sim    float64
	sample int32
	fn     int32
}

type fnResult struct {
	q      int32
	class  fnClass
	w      float64 // weight counted in the total
	fam    int32   // family when clsShared
	act    int32   // actor when found under exactly one actor
	famHit hit
	actHit hit
	nfam   int
}

// scores are the raw, uncalibrated results for one query.
type scores struct {
	total   float64 // weight of distinctive (non-common) code
	famE    []float64
	famN    []int
	actE    []float64
	actN    []int
	share   model.CodeShare
	sampleE []float64
	sampleN []int
	fns     []fnResult // only in detail mode
	famSize []float64  // mean reference weight per family (coverage)
	actSize []float64
	size    float64 // the query's own weight, measured as a reference's is
}

// score matches a query's functions against the index, ignoring the
// samples marked in excluded (used by leave-one-out calibration).
//
// pre, when not nil, holds the lookups of each function from matchAll, so
// that calibration looks a reference up once and scores it under several
// exclusions.
func (ix *Index) score(funcs []model.Function, excluded []bool, detail bool, sc *scratch, pre [][]match) *scores {
	r := &scores{
		famE:  make([]float64, len(ix.families)),
		famN:  make([]int, len(ix.families)),
		actE:  make([]float64, len(ix.actors)),
		actN:  make([]int, len(ix.actors)),
		share: model.CodeShare{Shared: map[string]float64{}},
	}
	r.famSize, r.actSize = ix.sizes(excluded)
	if detail {
		r.sampleE = make([]float64, len(ix.samples))
		r.sampleN = make([]int, len(ix.samples))
	}
	famSim := make([]hit, len(ix.families))
	actSim := make([]hit, len(ix.actors))
	var famTouched, actTouched []int32
	sampleSeen := map[int32]float64{}
	for qi := range funcs {
		f := &funcs[qi]
		if f.Instrs < ix.opts.MinInstrs {
			continue
		}
		wsize := SizeWeight(f.Instrs)
		wo := OriginWeight(f.Origin)
		r.size += wsize * wo
		if wo == 0 {
			r.share.Common += wsize
			if detail {
				r.fns = append(r.fns, fnResult{q: int32(qi), class: clsCommon, fam: -1, act: -1})
			}
			continue
		}
		for _, id := range famTouched {
			famSim[id] = hit{}
		}
		for _, id := range actTouched {
			actSim[id] = hit{}
		}
		famTouched, actTouched = famTouched[:0], actTouched[:0]
		clear(sampleSeen)
		common := false
		refWO := 0.0 // the most a matched reference says its copy counts
		var ms []match
		if pre != nil {
			ms = pre[qi]
		} else {
			ms = ix.lookup(f, sc)
		}
	matches:
		for _, m := range ms {
			for _, o := range ix.occs[ix.occStart[m.cluster]:ix.occStart[m.cluster+1]] {
				if excluded != nil && excluded[o.sample] {
					continue
				}
				rs := &ix.samples[o.sample]
				if rs.common {
					common = true
					break matches
				}
				if ow := float64(o.ow); ow > refWO {
					refWO = ow
				}
				if detail && m.sim > sampleSeen[o.sample] {
					sampleSeen[o.sample] = m.sim
				}
				if rs.fam >= 0 {
					h := &famSim[rs.fam]
					if h.sim == 0 {
						famTouched = append(famTouched, rs.fam)
					}
					if m.sim > h.sim {
						*h = hit{m.sim, o.sample, o.fn}
					}
				}
				if rs.act >= 0 {
					h := &actSim[rs.act]
					if h.sim == 0 {
						actTouched = append(actTouched, rs.act)
						if len(actTouched) >= 2 {
							// Code under two actors is common whatever
							// else matches: stop looking.
							break matches
						}
					}
					if m.sim > h.sim {
						*h = hit{m.sim, o.sample, o.fn}
					}
				}
			}
		}
		res := fnResult{q: int32(qi), fam: -1, act: -1, nfam: len(famTouched)}
		matched := len(famTouched) > 0 || len(actTouched) > 0
		// Code a reference's own metadata calls runtime or standard
		// library is common wherever it turns up; code it calls a
		// third-party library counts as library code in the query too,
		// even when the query cannot say so itself (no module metadata).
		if matched && refWO == 0 {
			common = true
		}
		if common || len(actTouched) >= 2 {
			r.share.Common += wsize
			res.class = clsCommon
			if detail {
				r.fns = append(r.fns, res)
			}
			continue
		}
		w := wsize * wo
		if matched && refWO < wo {
			w = wsize * refWO
		}
		res.w = w
		r.total += w
		switch {
		case len(famTouched) == 0 && len(actTouched) == 0:
			res.class = clsUnique
			r.share.Unique += w
		case len(famTouched) == 1:
			res.class = clsShared
			res.fam = famTouched[0]
			res.famHit = famSim[res.fam]
			r.famE[res.fam] += w * res.famHit.sim
			r.famN[res.fam]++
			r.share.Shared[ix.families[res.fam]] += w
		default:
			res.class = clsMulti
			r.share.Multi += w
		}
		if len(actTouched) == 1 {
			res.act = actTouched[0]
			res.actHit = actSim[res.act]
			r.actE[res.act] += w * res.actHit.sim
			r.actN[res.act]++
		}
		if detail {
			for s, sim := range sampleSeen {
				r.sampleE[s] += w * sim
				r.sampleN[s]++
			}
			r.fns = append(r.fns, res)
		}
	}
	return r
}

// features are the inputs of the calibration model for one candidate.
type features struct {
	share    float64 // evidence / the query's total distinctive weight
	evidence float64
	cover    float64 // evidence / the candidate's mean reference weight
	gap      float64 // log of how many times the candidate is larger than the query, 0 when it is not
}

// feat computes the features of a candidate with evidence e, given the
// query's distinctive weight total, the query's own weight qsize and the
// candidate's mean reference weight size.
func feat(e, total, qsize, size float64) features {
	f := features{evidence: e, cover: coverage(e, size), gap: math.Max(0, math.Log((size+1)/(qsize+1)))}
	if total > 0 {
		f.share = e / total
	}
	return f
}

func (r *scores) famFeat(f int) features { return feat(r.famE[f], r.total, r.size, r.famSize[f]) }
func (r *scores) actFeat(a int) features { return feat(r.actE[a], r.total, r.size, r.actSize[a]) }

// matchAll looks up every function that score would look up.
func (ix *Index) matchAll(funcs []model.Function, sc *scratch) [][]match {
	out := make([][]match, len(funcs))
	for qi := range funcs {
		f := &funcs[qi]
		if f.Instrs < ix.opts.MinInstrs || OriginWeight(f.Origin) == 0 {
			continue
		}
		if ms := ix.lookup(f, sc); len(ms) > 0 {
			out[qi] = append([]match(nil), ms...)
		}
	}
	return out
}
