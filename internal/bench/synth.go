package bench

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// MinInstrs is the size from which the index holds a function
// (attribute.Options.MinInstrs by default).
const MinInstrs = 6

// MaxRedraw bounds how many of a copied function's 64 MinHash values are
// drawn anew: k is uniform in [1, MaxRedraw], so a perturbed copy keeps an
// estimated similarity between 0.5 and 0.98 to its original, the range of
// a function recompiled or lightly edited.
const MaxRedraw = 32

// Pool is the real code a collection of any size is built from: labelled
// samples and their functions, in the order they are used.
type Pool struct {
	Samples   []model.SampleFunctions
	Functions int
	// Repeat is the share of indexed functions whose exact code already
	// occurs earlier in the pool; synthetic copies keep their original's
	// code unchanged at this rate, so the synthetic part has the real
	// part's balance of clusters to occurrences.
	Repeat float64
}

// NewPool keeps the samples that an index would hold (labelled or common,
// with code) and orders them so that every prefix covers as many families
// as possible: first each family's first sample by SHA-256, then each
// family's second, and so on.
func NewPool(samples []model.SampleFunctions) Pool {
	var keep []model.SampleFunctions
	for _, s := range samples {
		l := s.Sample.Labels
		if (l.Family == "" && l.Actor == "" && !s.Sample.Common) || s.Sample.Unsupported != "" || len(s.Functions) == 0 {
			continue
		}
		keep = append(keep, s)
	}
	sort.Slice(keep, func(i, j int) bool { return keep[i].Sample.SHA256 < keep[j].Sample.SHA256 })
	rank := make([]int, len(keep))
	seen := map[string]int{}
	for i, s := range keep {
		k := strings.ToLower(s.Sample.Labels.Family + "\x00" + s.Sample.Labels.Actor)
		rank[i] = seen[k]
		seen[k]++
	}
	idx := make([]int, len(keep))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return rank[idx[a]] < rank[idx[b]] })
	p := Pool{}
	exact := map[uint64]bool{}
	indexed, repeats := 0, 0
	for _, i := range idx {
		s := keep[i]
		p.Samples = append(p.Samples, s)
		p.Functions += len(s.Functions)
		for fi := range s.Functions {
			f := &s.Functions[fi]
			if f.Instrs < MinInstrs {
				continue
			}
			indexed++
			if exact[f.Exact] {
				repeats++
			}
			exact[f.Exact] = true
		}
	}
	if indexed > 0 {
		p.Repeat = float64(repeats) / float64(indexed)
	}
	return p
}

// LoadPool reads the pool from a store in one pass.
func LoadPool(ctx context.Context, st *sqlite.DB) (Pool, error) {
	var all []model.SampleFunctions
	err := st.ForEachSample(ctx, func(sf model.SampleFunctions) error {
		if sf.Sample.SigVersion != model.SigVersion {
			return nil
		}
		all = append(all, sf)
		return nil
	})
	if err != nil {
		return Pool{}, err
	}
	return NewPool(all), nil
}

// synth makes perturbed copies of real functions, deterministically for a
// seed.
type synth struct {
	r      *rand.Rand
	repeat float64
	perm   [model.MinHashK]int
}

func newSynth(seed uint64, repeat float64) *synth {
	s := &synth{r: rand.New(rand.NewPCG(seed, 0x6b696e73686970)), repeat: repeat}
	for i := range s.perm {
		s.perm[i] = i
	}
	return s
}

// valueMask keeps the bits of a MinHash value model.SigVersion stores.
var valueMask = uint32(1<<model.MinHashBits(model.SigVersion) - 1)

// function returns a copy of f that, with probability repeat, is the same
// code (same exact hash and MinHash: an unchanged function in a new
// build) and otherwise a variant: a fresh exact hash and k of its 64
// MinHash values drawn anew, k uniform in [1, MaxRedraw]. Everything else
// (address, size, name, constants, imports, origin) is kept. Pool
// functions are all of model.SigVersion (LoadPool), so new values have as
// many bits as that version keeps.
func (s *synth) function(f model.Function, forceVariant bool) model.Function {
	if !forceVariant && s.r.Float64() < s.repeat {
		return f
	}
	f.Exact = s.r.Uint64()
	k := 1 + s.r.IntN(MaxRedraw)
	for i := 0; i < k; i++ { // partial Fisher-Yates: k distinct positions
		j := i + s.r.IntN(model.MinHashK-i)
		s.perm[i], s.perm[j] = s.perm[j], s.perm[i]
		f.MinHash[s.perm[i]] = s.r.Uint32() & valueMask
	}
	return f
}

// sample returns copy number c of base, holding at most limit functions.
// Copy c of every sample of family F is labelled family F~c, by the same
// actor: each copy of the real collection is a set of new programs by the
// same authors, reusing their code. Code found under one actor only is
// scored in full (code under two actors stops at the second), so this is
// the costlier labelling to measure.
func (s *synth) sample(base model.SampleFunctions, c, limit int) model.SampleFunctions {
	out := base.Sample
	sum := sha256.Sum256([]byte(fmt.Sprintf("kinship-bench %s %d", base.Sample.SHA256, c)))
	out.SHA256 = hex.EncodeToString(sum[:])
	out.Hashes = model.FileHashes{SHA256: out.SHA256}
	suffix := fmt.Sprintf("~%d", c)
	out.Name += suffix
	if out.Labels.Family != "" {
		out.Labels.Family += suffix
	}
	if out.Program != "" {
		out.Program += suffix
	}
	n := min(limit, len(base.Functions))
	fns := make([]model.Function, n)
	for i := range fns {
		fns[i] = s.function(base.Functions[i], false)
	}
	out.Stats.Functions = n
	return model.SampleFunctions{Sample: out, Functions: fns}
}

// Collection calls put with the samples of a collection of exactly n
// functions: when n is at most the pool's size, every pool sample cut to
// its share of n (its first functions by address); beyond, the whole pool
// and then synthetic copies of it, copy 1 of every sample, copy 2, and so
// on, the last one cut to fit.
func (p Pool) Collection(n int, seed uint64, put func(model.SampleFunctions) error) (real, synthetic int, err error) {
	if p.Functions == 0 {
		return 0, 0, fmt.Errorf("no real functions to build from")
	}
	if n <= p.Functions {
		quota := make([]int, len(p.Samples))
		left := n
		for i, s := range p.Samples {
			quota[i] = int(int64(len(s.Functions)) * int64(n) / int64(p.Functions))
			left -= quota[i]
		}
		for i := 0; left > 0; i = (i + 1) % len(quota) {
			if quota[i] < len(p.Samples[i].Functions) {
				quota[i]++
				left--
			}
		}
		for i, s := range p.Samples {
			if quota[i] == 0 {
				continue
			}
			cut := s
			cut.Functions = s.Functions[:quota[i]]
			cut.Sample.Stats.Functions = quota[i]
			if err := put(cut); err != nil {
				return real, 0, err
			}
			real += quota[i]
		}
		return real, 0, nil
	}
	for _, s := range p.Samples {
		if err := put(s); err != nil {
			return real, 0, err
		}
		real += len(s.Functions)
	}
	sy := newSynth(seed, p.Repeat)
	for c := 1; real+synthetic < n; c++ {
		for _, s := range p.Samples {
			left := n - real - synthetic
			if left == 0 {
				break
			}
			cp := sy.sample(s, c, left)
			if err := put(cp); err != nil {
				return real, synthetic, err
			}
			synthetic += len(cp.Functions)
		}
	}
	return real, synthetic, nil
}

// SyntheticQuery is a binary of n functions none of which is in the
// index: variants (see synth.function) of indexed pool functions drawn at
// random, all of unknown origin so that every one is looked up, the worst
// case for attribution.
func (p Pool) SyntheticQuery(n int, seed uint64) (model.Sample, []model.Function) {
	var all []*model.Function
	for si := range p.Samples {
		for fi := range p.Samples[si].Functions {
			if f := &p.Samples[si].Functions[fi]; f.Instrs >= MinInstrs {
				all = append(all, f)
			}
		}
	}
	sy := newSynth(seed^0x7175657279, 0)
	fns := make([]model.Function, 0, n)
	for i := 0; i < n && len(all) > 0; i++ {
		f := sy.function(*all[sy.r.IntN(len(all))], true)
		f.Addr = 0x10000 + uint64(i)*0x40
		f.Origin = model.OriginUnknown
		f.Name = ""
		fns = append(fns, f)
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("kinship-bench query %d %d", n, seed)))
	s := model.Sample{SHA256: hex.EncodeToString(sum[:]), Name: fmt.Sprintf("synthetic-%d", n), Format: model.FormatPE,
		Arch: model.ArchAMD64, SigVersion: model.SigVersion, Stats: model.CodeStats{Functions: len(fns)}}
	return s, fns
}
