package eval

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/ssdeep"
	"github.com/kinship-dev/kinship/internal/tlsh"
)

var baselineNames = []string{"tlsh", "ssdeep", "imphash"}

// baselines attribute by the nearest reference under a whole-file hash,
// the way analysts use TLSH, ssdeep and imphash today. Thresholds come
// from the references alone, by the same leave-one-out and
// leave-family-out trials that calibrate kinship.
type baselines struct {
	refs      []model.Sample
	tlshMax   int // attribute when distance <= tlshMax; -1 never
	ssdeepMin int // attribute when score >= ssdeepMin; 101 never
	tlshNote  string
	ssNote    string
}

func newBaselines(samples []model.Sample) *baselines {
	b := &baselines{}
	for _, s := range samples {
		if s.Labels.Family != "" || s.Labels.Actor != "" {
			b.refs = append(b.refs, s)
		}
	}
	sort.Slice(b.refs, func(i, j int) bool { return b.refs[i].SHA256 < b.refs[j].SHA256 })
	b.tlshMax, b.tlshNote = b.fit(func(q, r model.Sample) (int, bool) { return tlshDist(q.Hashes.TLSH, r.Hashes.TLSH) }, false)
	maxSim, note := b.fit(func(q, r model.Sample) (int, bool) {
		s, ok := ssdeepScore(q.Hashes.Ssdeep, r.Hashes.Ssdeep)
		return 100 - s, ok
	}, true)
	b.ssdeepMin, b.ssNote = 100-maxSim, note
	return b
}

func (b *baselines) thresholds() map[string]string {
	return map[string]string{"tlsh": b.tlshNote, "ssdeep": b.ssNote, "imphash": "exact match of the import hash, no threshold"}
}

func tlshDist(a, b string) (int, bool) {
	if a == "" || b == "" {
		return 0, false
	}
	d, err := tlsh.Diff(a, b)
	return d, err == nil
}

func ssdeepScore(a, b string) (int, bool) {
	if a == "" || b == "" {
		return 0, false
	}
	s, err := ssdeep.Compare(a, b)
	if err != nil || s == 0 {
		return 0, false // score 0 is "no relation", not a distance
	}
	return s, true
}

// nearest returns the reference closest to q under dist, skipping refs
// for which skip says so; -1 when none is comparable.
func (b *baselines) nearest(q model.Sample, dist func(q, r model.Sample) (int, bool), skip func(r model.Sample) bool) (int, int) {
	best, bestD := -1, 0
	for i, r := range b.refs {
		if skip != nil && skip(r) {
			continue
		}
		d, ok := dist(q, r)
		if !ok {
			continue
		}
		if best < 0 || d < bestD {
			best, bestD = i, d
		}
	}
	return best, bestD
}

// fit picks the distance threshold that gets the most leave-one-out
// (family present: the answer is the family) and leave-family-out (family
// absent: the answer is unknown) trials right; ties go to the stricter
// threshold.
func (b *baselines) fit(dist func(q, r model.Sample) (int, bool), similarity bool) (int, string) {
	type tr struct {
		d       int
		nn      string // nearest family, "" when none comparable
		want    string
		present bool
	}
	var trials []tr
	for _, r := range b.refs {
		fam := strings.ToLower(r.Labels.Family)
		i, d := b.nearest(r, dist, func(x model.Sample) bool { return x.SHA256 == r.SHA256 })
		t := tr{d: d, want: fam, present: true}
		if i >= 0 {
			t.nn = strings.ToLower(b.refs[i].Labels.Family)
		}
		trials = append(trials, t)
		i, d = b.nearest(r, dist, func(x model.Sample) bool { return strings.EqualFold(x.Labels.Family, r.Labels.Family) })
		t = tr{d: d, want: model.Unknown}
		if i >= 0 {
			t.nn = strings.ToLower(b.refs[i].Labels.Family)
		}
		trials = append(trials, t)
	}
	cands := []int{-1}
	for _, t := range trials {
		if t.nn != "" {
			cands = append(cands, t.d)
		}
	}
	sort.Ints(cands)
	best, bestOK := -1, -1
	for _, c := range cands {
		ok := 0
		for _, t := range trials {
			got := model.Unknown
			if t.nn != "" && t.d <= c {
				got = t.nn
			}
			if got == t.want {
				ok++
			}
		}
		if ok > bestOK {
			best, bestOK = c, ok
		}
	}
	unit := "distance <="
	shown := best
	if similarity {
		unit = "score >="
		shown = 100 - best
	}
	if best < 0 {
		return best, fmt.Sprintf("never attribute (best on %d reference trials: %d right)", len(trials), bestOK)
	}
	return best, fmt.Sprintf("%s %d (%d of %d leave-one-out/leave-family-out reference trials right)", unit, shown, bestOK, len(trials))
}

// answer attributes one sample with each baseline.
func (b *baselines) answer(h model.FileHashes) map[string]Answer {
	q := model.Sample{Hashes: h}
	out := map[string]Answer{}
	pick := func(i int, score float64, detail string) Answer {
		if i < 0 {
			return Answer{Family: model.Unknown, Actor: model.Unknown, Detail: detail}
		}
		r := b.refs[i]
		return Answer{Family: r.Labels.Family, Actor: r.Labels.Actor, Score: score, Detail: detail}
	}
	i, d := b.nearest(q, func(q, r model.Sample) (int, bool) { return tlshDist(q.Hashes.TLSH, r.Hashes.TLSH) }, nil)
	detail := "no comparable digest"
	if i >= 0 {
		detail = fmt.Sprintf("nearest %s at distance %d", b.refs[i].Labels.Family, d)
	}
	if i >= 0 && d > b.tlshMax {
		i = -1
	}
	out["tlsh"] = pick(i, float64(d), detail)

	i, d = b.nearest(q, func(q, r model.Sample) (int, bool) {
		s, ok := ssdeepScore(q.Hashes.Ssdeep, r.Hashes.Ssdeep)
		return 100 - s, ok
	}, nil)
	detail = "no reference scores above 0"
	if i >= 0 {
		detail = fmt.Sprintf("nearest %s at score %d", b.refs[i].Labels.Family, 100-d)
	}
	if i >= 0 && 100-d < b.ssdeepMin {
		i = -1
	}
	out["ssdeep"] = pick(i, float64(100-d), detail)

	i = -1
	if h.Imphash != "" {
		for j, r := range b.refs {
			if r.Hashes.Imphash == h.Imphash {
				i = j
				break
			}
		}
	}
	detail = "no reference with the same imphash"
	if i >= 0 {
		detail = "same imphash as " + b.refs[i].Labels.Family
	}
	out["imphash"] = pick(i, 1, detail)
	return out
}
