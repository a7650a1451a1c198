package analyze

import (
	"sort"

	"github.com/kinship-dev/kinship/internal/model"
)

// PropagateLibrary marks as library code the functions of unknown origin
// that only library code calls. A C library compiled into a Rust addon
// (zstd inside the zstd crate, say) carries no source paths of its own,
// but its entry points are called only from the crate's wrappers, whose
// panic locations say they are third-party; what they alone call is the
// library's too. A function with any caller of own or unknown origin, or
// with no known caller, keeps its origin. callees is parallel to fns.
func PropagateLibrary(fns []model.Function, callees [][]uint64) {
	if len(callees) != len(fns) {
		return
	}
	idx := make(map[uint64]int, len(fns))
	for i := range fns {
		idx[fns[i].Addr] = i
	}
	callers := make([][]int32, len(fns))
	for i, cs := range callees {
		for _, c := range cs {
			if j, ok := idx[c]; ok && j != i {
				callers[j] = append(callers[j], int32(i))
			}
		}
	}
	// Each round can only turn unknown into library, so at most len(fns)
	// rounds; in practice call chains are short. The order of the work
	// list does not change the fixed point.
	work := make([]int, 0, len(fns))
	for i := range fns {
		if fns[i].Origin == model.OriginUnknown && len(callers[i]) > 0 {
			work = append(work, i)
		}
	}
	for changed := true; changed; {
		changed = false
		next := work[:0]
		for _, i := range work {
			if libraryOnly(fns, callers[i]) {
				fns[i].Origin = model.OriginLibrary
				changed = true
			} else {
				next = append(next, i)
			}
		}
		work = next
		sort.Ints(work)
	}
}

// libraryOnly: at least one library caller, and every caller is library,
// standard library or runtime code.
func libraryOnly(fns []model.Function, callers []int32) bool {
	lib := false
	for _, c := range callers {
		switch fns[c].Origin {
		case model.OriginLibrary:
			lib = true
		case model.OriginStd, model.OriginRuntime:
		default:
			return false
		}
	}
	return lib
}
