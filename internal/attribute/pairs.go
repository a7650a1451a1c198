package attribute

import (
	"sort"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

// Pair is a function of A and its most similar function in B.
type Pair struct {
	A, B       model.Function
	Similarity float64
}

// Pairs finds, for every function of a with at least minInstrs
// instructions, its best match in b at similarity minSim or more. It is a
// pairwise comparison with no notion of rarity: `kinship compare`.
func Pairs(a, b []model.Function, minSim float64, minInstrs uint32) []Pair {
	exact := map[uint64]int{}
	var bands [sketch.Bands]map[uint64][]int
	for i := range bands {
		bands[i] = map[uint64][]int{}
	}
	for j := range b {
		if b[j].Instrs < minInstrs {
			continue
		}
		if _, ok := exact[b[j].Exact]; !ok {
			exact[b[j].Exact] = j
		}
		for k, key := range sketch.BandKeys(&b[j].MinHash) {
			bands[k][key] = append(bands[k][key], j)
		}
	}
	// Small pairs of binaries are compared exhaustively, so that compare
	// also finds pairs below LSH's reach (LSH retrieves a pair at 0.5 only
	// two times in three).
	brute := len(a)*len(b) <= 4_000_000
	var out []Pair
	for i := range a {
		f := &a[i]
		if f.Instrs < minInstrs {
			continue
		}
		if j, ok := exact[f.Exact]; ok {
			out = append(out, Pair{*f, b[j], 1})
			continue
		}
		best, bestSim := -1, minSim
		try := func(j int) {
			if s := sketch.Similarity(&f.MinHash, &b[j].MinHash); s > bestSim || (s == bestSim && (best < 0 || j < best)) {
				best, bestSim = j, s
			}
		}
		if brute {
			for j := range b {
				if b[j].Instrs >= minInstrs {
					try(j)
				}
			}
		} else {
			for k, key := range sketch.BandKeys(&f.MinHash) {
				for _, j := range bands[k][key] {
					try(j)
				}
			}
		}
		if best >= 0 {
			out = append(out, Pair{*f, b[best], bestSim})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Similarity != out[j].Similarity {
			return out[i].Similarity > out[j].Similarity
		}
		if out[i].A.Instrs != out[j].A.Instrs {
			return out[i].A.Instrs > out[j].A.Instrs
		}
		return out[i].A.Addr < out[j].A.Addr
	})
	return out
}
