package funcsim

import (
	"fmt"
	"math"
	"math/bits"
	"slices"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

// Variant is one way to score two functions. Shingles, when set, turns a
// function into the set a 64-value MinHash signature is computed over (the
// form kinship stores and indexes with LSH); Score, when set, combines
// signatures and stored per-function data into the final similarity.
type Variant struct {
	Name, Desc string
	Shingles   func(f *Func) []uint64
	// Sig, when set, gives a stored signature instead (kinship's own).
	Sig func(f *Func) *sketch.Signature
	// Score is given the signatures of every Parts variant, in order.
	Parts []string
	Score func(a, b *Func, sims []float64) float64
	// Exact scores by the exact Jaccard of the shingle sets instead of the
	// signature: the ceiling the 64-value estimate can reach.
	Exact bool
}

// Scorer prepares a variant over the dataset: signatures are computed once
// per function. Parts are looked up in vs by name.
func (v Variant) Scorer(all []*Func, vs []Variant) Scorer {
	sig := func(v Variant) []sketch.Signature {
		out := make([]sketch.Signature, len(all))
		for i, f := range all {
			if v.Sig != nil {
				out[i] = *v.Sig(f)
				continue
			}
			if v.Shingles == nil {
				out[i] = f.Fn.MinHash
				continue
			}
			out[i] = sketch.MinHash(v.Shingles(f))
		}
		return out
	}
	if v.Exact {
		sets := make([][]uint64, len(all))
		for i, f := range all {
			x := slices.Clone(v.Shingles(f))
			slices.Sort(x)
			sets[i] = slices.Compact(x)
		}
		return func(a, b int) float64 { return sortedJaccard(sets[a], sets[b]) }
	}
	if v.Score == nil {
		s := sig(v)
		return func(a, b int) float64 { return sketch.Similarity(&s[a], &s[b]) }
	}
	var parts [][]sketch.Signature
	for _, name := range v.Parts {
		i := slices.IndexFunc(vs, func(x Variant) bool { return x.Name == name })
		parts = append(parts, sig(vs[i]))
	}
	return func(a, b int) float64 {
		sims := make([]float64, len(parts))
		for i, p := range parts {
			sims[i] = sketch.Similarity(&p[a], &p[b])
		}
		return v.Score(all[a], all[b], sims)
	}
}

// grams returns the n-grams of toks (all tokens when shorter than n).
func grams(toks []uint64, n int, salt uint64) []uint64 {
	if len(toks) < n {
		h := salt + uint64(len(toks))
		for _, t := range toks {
			h = sketch.Combine(h, t)
		}
		return []uint64{h}
	}
	out := make([]uint64, 0, len(toks)-n+1)
	for i := 0; i+n <= len(toks); i++ {
		h := salt + uint64(n)
		for _, t := range toks[i : i+n] {
			h = sketch.Combine(h, t)
		}
		out = append(out, h)
	}
	return out
}

// multiset turns a bag into a set by numbering repeats: the k-th copy of x
// becomes (x, k), so set Jaccard becomes the weighted (min/max) Jaccard of
// the counts.
func multiset(toks []uint64) []uint64 {
	seen := make(map[uint64]uint64, len(toks))
	out := make([]uint64, 0, len(toks))
	for _, t := range toks {
		seen[t]++
		out = append(out, sketch.Combine(t^saltOcc, seen[t]))
	}
	return out
}

// capped is multiset with at most max copies of each element, so one
// repeated thing cannot outweigh the rest.
func capped(toks []uint64, max uint64) []uint64 {
	seen := make(map[uint64]uint64, len(toks))
	out := make([]uint64, 0, len(toks))
	for _, t := range toks {
		if seen[t] < max {
			seen[t]++
			out = append(out, sketch.Combine(t^saltOcc, seen[t]))
		}
	}
	return out
}

func without(toks []uint64, drop []bool) []uint64 {
	out := make([]uint64, 0, len(toks))
	for i, t := range toks {
		if !drop[i] {
			out = append(out, t)
		}
	}
	return out
}

func salted(vals []int64, salt uint64, keep func(int64) bool) []uint64 {
	out := make([]uint64, 0, len(vals))
	for _, v := range vals {
		if keep == nil || keep(v) {
			out = append(out, sketch.Mix(uint64(v)^salt))
		}
	}
	return out
}

func hashes(h []uint64, salt uint64) []uint64 {
	out := make([]uint64, len(h))
	for i, x := range h {
		out[i] = x ^ salt
	}
	return out
}

// bucket is a logarithmic size class: 0, 1, 2-3, 4-7, ...
func bucket(n int) uint64 { return uint64(bits.Len(uint(n))) }

// cfgShingles describes the control-flow shape as a few bucketed counts.
// Each appears w times so the shape can carry weight beside hundreds of
// instruction shingles.
func cfgShingles(ft *Features, w int) []uint64 {
	nonMove := 0
	for _, m := range ft.Move {
		if !m {
			nonMove++
		}
	}
	vals := []int{ft.Blocks, ft.Edges, ft.Back, ft.Rets, ft.Calls + len(ft.Imps), ft.ICalls, nonMove}
	var out []uint64
	for i, v := range vals {
		for k := 0; k < w; k++ {
			out = append(out, sketch.Combine(sketch.Combine(saltCFG+uint64(i), bucket(v)), uint64(k)))
		}
	}
	return out
}

// blockBags hashes each basic block as the sorted bag of its non-move
// opcode classes: insensitive to scheduling inside a block.
func blockBags(ft *Features) []uint64 {
	var out []uint64
	var cur []uint64
	flush := func() {
		if len(cur) > 0 {
			slices.Sort(cur)
			h := uint64(saltBlk)
			for _, t := range cur {
				h = sketch.Combine(h, t)
			}
			out = append(out, h)
		}
		cur = cur[:0]
	}
	for i, t := range ft.Op {
		if i > 0 && ft.Block[i] != ft.Block[i-1] {
			flush()
		}
		if !ft.Move[i] {
			cur = append(cur, t)
		}
	}
	flush()
	return out
}

// notTrivial drops immediates every function has (0, ±1).
func notTrivial(v int64) bool { return v < -1 || v > 1 }

// semantic is what survives optimisation and compilers best: imports
// called, strings referenced, non-trivial immediates and structure
// offsets.
func semantic(ft *Features) []uint64 {
	var s []uint64
	s = append(s, hashes(ft.Imps, saltImp)...)
	s = append(s, hashes(ft.Strs, saltStr)...)
	s = append(s, salted(ft.Imms, saltImm, notTrivial)...)
	s = append(s, salted(ft.Offs, saltOff, nil)...)
	return s
}

func feat(fn func(ft *Features) []uint64) func(f *Func) []uint64 {
	return func(f *Func) []uint64 {
		if f.Feat == nil {
			return nil
		}
		return fn(f.Feat)
	}
}

// mixC is one signature over toks (at most tokCap copies of each) and
// the semantic part (at most semCap copies of each, every copy repeated w
// times), the latter over the function and its callees of at most
// maxCallee instructions (none when negative).
func mixC(name, desc string, toks func(*Features) []uint64, tokCap uint64, w int, semCap uint64, maxCallee int) Variant {
	return Variant{Name: name, Desc: desc, Shingles: func(f *Func) []uint64 {
		if f.Feat == nil {
			return nil
		}
		var s []uint64
		if toks != nil {
			s = capped(toks(f.Feat), tokCap)
		}
		sem := semantic(f.Feat)
		if maxCallee >= 0 {
			sem = withSmallCallees(f, semantic, maxCallee)
		}
		for _, x := range capped(sem, semCap) {
			for k := 0; k < w; k++ {
				s = append(s, sketch.Combine(x, uint64(k)))
			}
		}
		return s
	}}
}

// withCallees applies fn to the function and to each distinct callee and
// joins the results: what a caller inlines at one level it calls at
// another, so the caller's set holds the callee's either way.
func withCallees(f *Func, fn func(*Features) []uint64) []uint64 {
	return withSmallCallees(f, fn, math.MaxInt)
}

// withSmallCallees is withCallees for callees of at most maxIns
// instructions: compilers inline only small functions, and a large callee
// (a statically linked printf) would swamp the caller.
func withSmallCallees(f *Func, fn func(*Features) []uint64, maxIns int) []uint64 {
	if f.Feat == nil {
		return nil
	}
	out := fn(f.Feat)
	seen := map[*Features]bool{}
	for _, c := range f.Callees {
		if len(c.Fine) <= maxIns && !seen[c] {
			seen[c] = true
			out = append(out, fn(c)...)
		}
	}
	return out
}

// sizeSim is min/max of two counts (1 when both are 0).
func sizeSim(a, b int) float64 {
	if a == b {
		return 1
	}
	return float64(min(a, b)) / float64(max(a, b))
}

func sortedJaccard(a, b []uint64) float64 {
	if len(a) == 0 && len(b) == 0 {
		return 1
	}
	i, j, n := 0, 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			n++
			i++
			j++
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return float64(n) / float64(len(a)+len(b)-n)
}

// sigDesc says what each signature version of internal/disasm is.
var sigDesc = map[int]string{
	1: "token 3-grams over contiguous runs, imports and large constants as 1-grams",
	2: "token set, semantic elements x3, small callees; 16 bits per value",
	3: "version 1's set, 16 bits per value",
}

// sigOf returns a function's stored signature of version v (an empty
// signature when disasm did not sign it).
func sigOf(v int) func(f *Func) *sketch.Signature {
	return func(f *Func) *sketch.Signature {
		if s := f.Sigs[v]; s != nil {
			return s
		}
		return new(sketch.Signature)
	}
}

// Best is the variant recommended for internal/disasm (see
// bench/funcsim/README.md).
const Best = "fine-set+sem-set+callees<=80/3"

// Variants lists every variant measured, in the order of the results
// table. "kinship" is the signature kinship stores (internal/disasm,
// model.SigVersion), "kinship-vN" signature version N;
// the rest are built from the experimental Features. Names say what goes
// into one 64-value signature: "ms" a multiset (repeats numbered), "set"
// each element once, "cN" at most N copies, "/W" the semantic part
// repeated W times, "callees<=N" the semantic part of callees of at most N
// instructions joined in.
func Variants() []Variant {
	fineToks := func(ft *Features) []uint64 { return ft.Fine }
	vs := []Variant{
		{Name: "kinship", Desc: fmt.Sprintf("what kinship stores: signature version %d (%s)", model.SigVersion, sigDesc[model.SigVersion])},
		{Name: "kinship-v1", Desc: "kinship's signature version 1: " + sigDesc[1], Sig: sigOf(1)},
		{Name: "kinship-v2", Desc: "kinship's signature version 2: " + sigDesc[2], Sig: sigOf(2)},
		{Name: "kinship-v3", Desc: "kinship's signature version 3: " + sigDesc[3], Sig: sigOf(3)},
		{Name: "fine-3gram", Desc: "kinship's tokens recomputed here, 3-grams over the whole function (checks the copy)", Shingles: feat(func(ft *Features) []uint64 {
			return grams(ft.Fine, 3, saltGram)
		})},

		// Coarser tokens and shorter shingles.
		{Name: "fine-1gram-ms", Desc: "kinship's tokens as a multiset", Shingles: feat(func(ft *Features) []uint64 { return multiset(ft.Fine) })},
		mixC("fine-set", "kinship's tokens as a set", fineToks, 1, 0, 1, -1),
		{Name: "kind-3gram", Desc: "opcode class + operand kinds (no sizes, no values), 3-grams", Shingles: feat(func(ft *Features) []uint64 { return grams(ft.Kind, 3, saltGram) })},
		{Name: "kind-2gram", Desc: "the same, 2-grams", Shingles: feat(func(ft *Features) []uint64 { return grams(ft.Kind, 2, saltGram) })},
		{Name: "kind-1gram-ms", Desc: "the same, multiset", Shingles: feat(func(ft *Features) []uint64 { return multiset(ft.Kind) })},
		{Name: "op-1gram-ms", Desc: "opcode class only (mov family, jcc, cmov, set merged), multiset", Shingles: feat(func(ft *Features) []uint64 { return multiset(ft.Op) })},
		{Name: "op-nomove-ms", Desc: "opcode class, data movement (mov, push, pop, lea, nop) dropped, multiset", Shingles: feat(func(ft *Features) []uint64 { return multiset(without(ft.Op, ft.Move)) })},
		{Name: "op-nomove-2gram", Desc: "the same, 2-grams", Shingles: feat(func(ft *Features) []uint64 {
			return grams(without(ft.Op, ft.Move), 2, saltGram)
		})},

		// Structure.
		{Name: "block-bags", Desc: "one shingle per basic block: sorted bag of its non-move opcode classes", Shingles: feat(blockBags)},
		{Name: "cfg", Desc: "bucketed counts: blocks, edges, back edges, returns, calls, indirect calls, non-move instructions", Shingles: feat(func(ft *Features) []uint64 { return cfgShingles(ft, 1) })},
	}

	// What compilers keep: the semantic part and its ablation.
	part := func(name, desc string, fn func(ft *Features) []uint64) Variant {
		return Variant{Name: name, Desc: desc, Shingles: feat(func(ft *Features) []uint64 { return multiset(fn(ft)) })}
	}
	vs = append(vs,
		Variant{Name: "semantic", Desc: "multiset of: imports and exported functions called, strings referenced, immediates other than 0/±1 (not stack-pointer arithmetic), displacements off non-stack base registers", Shingles: feat(func(ft *Features) []uint64 { return multiset(semantic(ft)) })},
		part("sem-imports", "semantic ablation: calls to imports and exports only", func(ft *Features) []uint64 { return hashes(ft.Imps, saltImp) }),
		part("sem-strings", "semantic ablation: strings only", func(ft *Features) []uint64 { return hashes(ft.Strs, saltStr) }),
		part("sem-imms", "semantic ablation: immediates only", func(ft *Features) []uint64 { return salted(ft.Imms, saltImm, notTrivial) }),
		part("sem-offs", "semantic ablation: structure offsets only", func(ft *Features) []uint64 { return salted(ft.Offs, saltOff, nil) }),
		Variant{Name: "sem-c4", Desc: "semantic, at most 4 copies of each element", Shingles: feat(func(ft *Features) []uint64 { return capped(semantic(ft), 4) })},
		mixC("sem-set", "semantic as a set", nil, 0, 1, 1, -1),
	)

	// Callees: what one build inlines another calls.
	vs = append(vs, Variant{Name: "sem-ms+callees", Desc: "semantic multiset over the function and each distinct callee", Shingles: func(f *Func) []uint64 {
		return multiset(withCallees(f, semantic))
	}})
	for _, n := range []int{20, 40, 80} {
		vs = append(vs, mixC(fmt.Sprintf("sem-ms+callees<=%d", n), fmt.Sprintf("the same, callees of at most %d instructions only", n), nil, 0, 1, math.MaxInt, n))
	}
	vs = append(vs,
		mixC("sem-c4+callees<=80", "semantic (at most 4 copies) with callees<=80", nil, 0, 1, 4, 80),
		mixC("sem-c2+callees<=80", "semantic (at most 2 copies) with callees<=80", nil, 0, 1, 2, 80),
		mixC("sem-set+callees<=80", "semantic as a set with callees<=80", nil, 0, 1, 1, 80),
	)

	// One signature mixing instruction tokens and the semantic part.
	vs = append(vs,
		Variant{Name: "combo", Desc: "op-nomove-ms + semantic + cfg (cfg x4)", Shingles: feat(func(ft *Features) []uint64 {
			s := multiset(without(ft.Op, ft.Move))
			s = append(s, multiset(semantic(ft))...)
			return append(s, cfgShingles(ft, 4)...)
		})},
		Variant{Name: "sem+cfg", Desc: "semantic + cfg (cfg x2)", Shingles: feat(func(ft *Features) []uint64 {
			return append(multiset(semantic(ft)), cfgShingles(ft, 2)...)
		})},
		mixC("op-nomove-ms+sem-ms/2", "op-nomove-ms, semantic twice", func(ft *Features) []uint64 { return without(ft.Op, ft.Move) }, math.MaxInt, 2, math.MaxInt, -1),
		mixC("op-nomove-ms+sem-ms+callees/3", "op-nomove-ms, semantic with all callees three times", func(ft *Features) []uint64 { return without(ft.Op, ft.Move) }, math.MaxInt, 3, math.MaxInt, math.MaxInt),
		mixC("kind-ms+sem-ms+callees/2", "kind-1gram-ms, semantic with all callees twice", func(ft *Features) []uint64 { return ft.Kind }, math.MaxInt, 2, math.MaxInt, math.MaxInt),
		mixC("fine-ms+sem-ms/2", "kinship's tokens as a multiset, semantic twice", fineToks, math.MaxInt, 2, math.MaxInt, -1),
		mixC("fine-ms+sem-ms+callees/2", "the same with all callees", fineToks, math.MaxInt, 2, math.MaxInt, math.MaxInt),
		mixC("fine-ms+sem-ms+callees<=80/2", "the same with callees<=80", fineToks, math.MaxInt, 2, math.MaxInt, 80),
		mixC("fine-ms+sem-c4+callees<=80/2", "the same, semantic at most 4 copies", fineToks, math.MaxInt, 2, 4, 80),
		mixC("fine-c4+sem-c4+callees<=80/2", "the same, tokens at most 4 copies too", fineToks, 4, 2, 4, 80),
		mixC("fine-c2+sem-c2+callees<=80/2", "the same, at most 2 copies of either", fineToks, 2, 2, 2, 80),
		mixC("fine-c2+sem-c2+callees<=40/2", "the same, callees<=40", fineToks, 2, 2, 2, 40),
		mixC("fine-c2+sem-c2+callees<=160/2", "the same, callees<=160", fineToks, 2, 2, 2, 160),
		mixC("fine-c2+sem-c2+callees/2", "the same, all callees", fineToks, 2, 2, 2, math.MaxInt),
		mixC("fine-c2+sem-c2+callees<=80/1", "at most 2 copies, callees<=80, semantic once", fineToks, 2, 1, 2, 80),
		mixC("fine-set+sem-set/2", "kinship's tokens as a set, semantic as a set twice, no callees", fineToks, 1, 2, 1, -1),
		mixC("fine-set+sem-set+callees<=80/2", "the same with callees<=80", fineToks, 1, 2, 1, 80),
		mixC(Best, "the same, semantic three times: the recommended signature", fineToks, 1, 3, 1, 80),
	)

	// The ceiling of the 64-value estimate: exact Jaccard of the same sets.
	for _, name := range []string{"fine-3gram", "semantic", Best} {
		i := slices.IndexFunc(vs, func(x Variant) bool { return x.Name == name })
		x := vs[i]
		x.Name, x.Desc, x.Exact = name+" exact", "exact Jaccard of the sets behind "+name, true
		vs = append(vs, x)
	}

	// Two signatures, or a signature and stored counts, combined at
	// scoring time.
	vs = append(vs,
		Variant{Name: "kinship+size", Desc: "kinship's signature + 0.25 x block-count ratio + 0.25 x instruction-count ratio (both stored per function)", Parts: []string{"kinship"},
			Score: func(a, b *Func, s []float64) float64 {
				return s[0] + 0.25*sizeSim(int(a.Fn.Blocks), int(b.Fn.Blocks)) + 0.25*sizeSim(int(a.Fn.Instrs), int(b.Fn.Instrs))
			}},
		Variant{Name: "kinship & semantic (2 sigs)", Desc: "mean of kinship's signature and the semantic signature (128 values)", Parts: []string{"kinship", "semantic"},
			Score: func(a, b *Func, s []float64) float64 { return (s[0] + s[1]) / 2 }},
		Variant{Name: "op-nomove-ms & semantic (2 sigs)", Desc: "mean of the op-nomove-ms and semantic signatures (128 values)", Parts: []string{"op-nomove-ms", "semantic"},
			Score: func(a, b *Func, s []float64) float64 { return (s[0] + s[1]) / 2 }},
	)
	return vs
}
