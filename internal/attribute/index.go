// Package attribute decides which labelled family and actor a sample's code
// comes from.
//
// It builds an in-memory index over the functions of every labelled and
// common sample (exact hashes, and MinHash LSH bands for near matches),
// scores a query's functions by how rare their matches are across the
// collection, and turns the scores into calibrated probabilities with a
// model fitted on the collection itself (leave-one-out over references).
package attribute

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

// Options tune matching. Zero values take the defaults.
type Options struct {
	// MinSim is the estimated Jaccard similarity at which two functions
	// count as the same code. 0.6 sits 1.5 standard errors of a 64-value
	// MinHash above 0.5, where unrelated functions of similar shape fall.
	MinSim float64
	// MinInstrs: functions shorter than this are neither indexed nor
	// counted; they are too generic to tell authors apart.
	MinInstrs uint32
	// MaxBucket skips LSH buckets holding more clusters than this: such a
	// band value is shared by so much code that it carries no signal.
	MaxBucket int
	// MaxEvidence is how many function matches a verdict lists.
	MaxEvidence int
	// Workers for building the index, calibration and the lookups of one
	// large query; default 2.
	Workers int
	// CalibrationCache, when set, is a file holding the fitted model keyed
	// by a fingerprint of the collection, so that calibration runs once per
	// change of the collection rather than once per command.
	CalibrationCache string
	// Model, when set, is used as given and calibration is skipped: for
	// measurements of the index itself (kinship bench), where fitting on
	// synthetic references would take long and mean nothing.
	Model *Model
}

func (o Options) withDefaults() Options {
	if o.MinSim == 0 {
		o.MinSim = 0.6
	}
	if o.MinInstrs == 0 {
		o.MinInstrs = 6
	}
	if o.MaxBucket == 0 {
		o.MaxBucket = 256
	}
	if o.MaxEvidence == 0 {
		o.MaxEvidence = 15
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
	return o
}

type refSample struct {
	s      model.Sample
	fam    int32 // index into Index.families, -1 when unlabelled
	act    int32 // index into Index.actors, -1 when unlabelled
	common bool
	funcs  []model.Function
}

type occ struct {
	sample int32
	fn     int32
	ow     float32 // OriginWeight of the reference's copy, kept here so scoring never touches the function itself
}

type band struct {
	keys []uint64
	ids  []int32
	// dir[p] is the first entry whose key's top bits are p or more, so
	// that a search starts within a few entries of its key instead of
	// bisecting the whole band.
	dir   []int32
	shift uint8
}

// Index holds the reference collection in memory.
type Index struct {
	opts     Options
	samples  []refSample
	families []string
	famActor []int32 // actor of each family (-1 if mixed or none)
	actors   []string
	// A cluster is one distinct normalised function (one exact hash).
	// sigs[c] is the MinHash of its first occurrence; all its occurrences
	// are occs[occStart[c]:occStart[c+1]]. Flat arrays: a slice per
	// cluster costs a header and an allocation each, and signatures side
	// by side are read far faster than scattered among the functions.
	sigs     []sketch.Signature
	occStart []int32
	occs     []occ
	codes    []codes    // per cluster: a 2-bit digest of each MinHash value
	need     int        // MinHash values two signatures must share to be at MinSim
	progs    []programs // per family
	exact    map[uint64]int32
	bands    [sketch.Bands]band
	model    Model
	// sigVersion is the signature version of every indexed sample;
	// queries must be signed with it.
	sigVersion int
	cover      coverTable
}

// Load builds an index from every labelled or common sample in the store.
// Unlabelled samples are ignored: they are neither evidence nor common code.
func Load(ctx context.Context, st model.Store, opts Options) (*Index, error) {
	samples, err := st.Samples(ctx)
	if err != nil {
		return nil, err
	}
	var refs []model.SampleFunctions
	for _, s := range samples {
		if !s.Common && s.Labels.Family == "" && s.Labels.Actor == "" {
			continue
		}
		if s.Unsupported != "" {
			continue
		}
		refs = append(refs, model.SampleFunctions{Sample: s})
	}
	if _, err := sigVersionOf(refs); err != nil {
		return nil, err
	}
	// Decoding rows costs more than anything else in opening a large
	// collection: read several samples at once.
	jobs := make(chan int)
	errs := make([]error, len(refs))
	var wg sync.WaitGroup
	for w := 0; w < max(1, opts.withDefaults().Workers); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				fns, err := st.Functions(ctx, refs[i].Sample.SHA256)
				if err != nil {
					errs[i] = fmt.Errorf("load %s: %w", refs[i].Sample.SHA256, err)
					continue
				}
				// Attribution never reads them; the index keeps the functions.
				for j := range fns {
					fns[j].Consts, fns[j].Imports = nil, nil
				}
				refs[i].Functions = fns
			}
		}()
	}
	for i := range refs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return Build(refs, opts), nil
}

// sigVersionOf returns the signature version all refs share
// (model.SigVersion when there are none). Signatures of different versions
// cannot be compared, so a collection mixing them, or holding a version
// this kinship does not compute, is refused with what to do about it.
func sigVersionOf(refs []model.SampleFunctions) (int, error) {
	count := map[int]int{}
	for _, r := range refs {
		count[r.Sample.SigVersion]++
	}
	vs := make([]int, 0, len(count))
	for v := range count {
		vs = append(vs, v)
	}
	sort.Ints(vs)
	for _, v := range vs {
		if v < 1 || v > model.SigVersion {
			return 0, fmt.Errorf("%d samples have signature version %d, which this kinship (versions 1 to %d) does not know: use a newer kinship or re-ingest them", count[v], v, model.SigVersion)
		}
	}
	switch len(vs) {
	case 0:
		return model.SigVersion, nil
	case 1:
		return vs[0], nil
	}
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%d of version %d", count[v], v)
	}
	return 0, fmt.Errorf("the collection mixes signature versions (%s samples), which cannot be compared: re-ingest the samples of the older versions (delete and ingest them again) so that all have version %d",
		strings.Join(parts, ", "), vs[len(vs)-1])
}

// Build indexes the given references, which must share one signature
// version (Load checks). Label comparison is case-insensitive; the first
// spelling seen is kept.
func Build(refs []model.SampleFunctions, opts Options) *Index {
	opts = opts.withDefaults()
	ix := &Index{opts: opts, exact: make(map[uint64]int32), sigVersion: model.SigVersion}
	if len(refs) > 0 {
		ix.sigVersion = refs[0].Sample.SigVersion
	}
	sort.Slice(refs, func(i, j int) bool { return refs[i].Sample.SHA256 < refs[j].Sample.SHA256 })
	famID := map[string]int32{}
	actID := map[string]int32{}
	intern := func(m map[string]int32, names *[]string, s string) int32 {
		if s == "" || equalFold(s, model.Unknown) {
			return -1
		}
		k := lower(s)
		if id, ok := m[k]; ok {
			return id
		}
		id := int32(len(*names))
		m[k] = id
		*names = append(*names, s)
		return id
	}
	for _, r := range refs {
		rs := refSample{s: r.Sample, common: r.Sample.Common, funcs: r.Functions, fam: -1, act: -1}
		if !rs.common {
			rs.fam = intern(famID, &ix.families, r.Sample.Labels.Family)
			rs.act = intern(actID, &ix.actors, r.Sample.Labels.Actor)
		}
		ix.samples = append(ix.samples, rs)
	}
	ix.famActor = make([]int32, len(ix.families))
	for i := range ix.famActor {
		ix.famActor[i] = -2
	}
	for _, rs := range ix.samples {
		if rs.fam < 0 {
			continue
		}
		switch a := ix.famActor[rs.fam]; {
		case a == -2:
			ix.famActor[rs.fam] = rs.act
		case a != rs.act:
			ix.famActor[rs.fam] = -1
		}
	}
	ix.buildClusters()
	ix.buildBands()
	ix.buildPrograms()
	ix.buildCover()
	fp := ix.fingerprint()
	if opts.Model != nil {
		ix.model = *opts.Model
	} else if m, ok := loadModel(opts.CalibrationCache, fp); ok {
		ix.model = m
	} else {
		ix.model = ix.calibrate()
		saveModel(opts.CalibrationCache, fp, ix.model)
	}
	return ix
}

// Sizes reports what the index holds.
func (ix *Index) Sizes() (samples, families, actors, clusters int) {
	return len(ix.samples), len(ix.families), len(ix.actors), len(ix.sigs)
}

// SigVersion is the signature version of the indexed samples: a query
// must be analysed with it (disasm.Options.SigVersion).
func (ix *Index) SigVersion() int { return ix.sigVersion }

// Model returns the calibration model in use.
func (ix *Index) Model() Model { return ix.model }

// match is one reference cluster similar to a query function.
type match struct {
	cluster int32
	sim     float64
}

// scratch is per-goroutine state for lookups.
type scratch struct {
	seen idSet
	out  []match
}

func (ix *Index) newScratch() *scratch { return &scratch{} }

// lookup returns the clusters similar to f, exact match first.
func (ix *Index) lookup(f *model.Function, sc *scratch) []match {
	sc.out = sc.out[:0]
	sc.seen.reset()
	if id, ok := ix.exact[f.Exact]; ok {
		sc.seen.add(id)
		sc.out = append(sc.out, match{id, 1})
	}
	keys := sketch.BandKeys(&f.MinHash)
	qc := digest(&f.MinHash)
	maxDiff := sketch.K - ix.need
	for b, k := range keys {
		bd := &ix.bands[b]
		if len(bd.keys) == 0 {
			continue
		}
		p := k >> bd.shift
		lo, n := int(bd.dir[p]), int(bd.dir[p+1]-bd.dir[p])
		for n > 0 { // lower bound, without sort.Search's closure call per step
			half := n / 2
			if bd.keys[lo+half] < k {
				lo += half + 1
				n -= half + 1
			} else {
				n = half
			}
		}
		// Sorted keys: the bucket is too large exactly when the entry
		// MaxBucket places on still holds its key. Common band values fill
		// buckets of tens of thousands at ten million functions; counting
		// them one by one only to skip them cost more than everything else.
		if last := lo + ix.opts.MaxBucket; last < len(bd.keys) && bd.keys[last] == k {
			continue
		}
		hi := lo
		for hi < len(bd.keys) && bd.keys[hi] == k {
			hi++
		}
		for _, id := range bd.ids[lo:hi] {
			if !sc.seen.add(id) {
				continue
			}
			// Values whose digests differ differ themselves: enough of
			// them rule the cluster out without reading its signature.
			if qc.differ(&ix.codes[id]) > maxDiff {
				continue
			}
			if s := sketch.Similarity(&f.MinHash, &ix.sigs[id]); s >= ix.opts.MinSim {
				sc.out = append(sc.out, match{id, s})
			}
		}
	}
	return sc.out
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 32
		}
	}
	return string(b)
}

func equalFold(a, b string) bool { return lower(a) == lower(b) }
