package attribute

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
)

// Logit is a logistic model
//
//	p = 1/(1+exp(-(B0 + B1*share + B2*log1p(evidence) + B3*log(cover+0.001) - B4*gap)))
//
// over the features of one candidate (see features). B1 to B4 are never
// negative: more of the query's code or of the candidate's code found, or
// sizes that agree better, never lower the probability.
type Logit struct {
	B0, B1, B2, B3, B4 float64
	Pos, Neg           int // training trials behind it; 0 when defaults are used
}

// nFeat is the number of model inputs, the constant term included.
const nFeat = 5

func (f features) vec() [nFeat]float64 {
	return [nFeat]float64{1, f.share, math.Log1p(f.evidence), f.cover, -f.gap}
}

func (l Logit) coef() [nFeat]float64 { return [nFeat]float64{l.B0, l.B1, l.B2, l.B3, l.B4} }

// Prob evaluates the model.
func (l Logit) Prob(f features) float64 {
	v, b := f.vec(), l.coef()
	z := 0.0
	for i := range v {
		z += b[i] * v[i]
	}
	return 1 / (1 + math.Exp(-z))
}

// Model holds one calibrated model for families and one for actors.
type Model struct {
	Family Logit
	Actor  Logit
	Source string // how it was obtained, printed with every verdict
}

// defaultLogit is used when the collection is too small to learn from
// (fewer than minTrials positive or negative trials). It asks for a fifth
// of the sample's distinctive code, or a great deal of evidence, before
// reaching even odds: conservative, so that small collections say
// "unknown" rather than guess.
var defaultLogit = Logit{B0: -4, B1: 16, B2: 0.5}

const minTrials = 3

// DefaultModel is the conservative model calibration falls back on, for
// callers that fix the model rather than fit it (Options.Model).
func DefaultModel() Model {
	return Model{Family: defaultLogit, Actor: defaultLogit, Source: "family: default model (not calibrated), actor: default model (not calibrated)"}
}

type trial struct {
	x   features
	pos bool
}

// calibrate fits the family and actor models by leave-one-out over the
// labelled references. Positives: a reference scored against the rest of
// the collection, for its own family (actor), when that family (actor) has
// another sample left. Negatives: every other candidate in that trial, and
// every candidate when the reference's whole family (actor) is left out,
// which is what a sample of a family the collection has never seen looks
// like, including the libraries it happens to share with one other family.
func (ix *Index) calibrate() Model {
	famCount := make([]int, len(ix.families))
	actCount := make([]int, len(ix.actors))
	for _, rs := range ix.samples {
		if rs.fam >= 0 {
			famCount[rs.fam]++
		}
		if rs.act >= 0 {
			actCount[rs.act]++
		}
	}
	var mu sync.Mutex
	var famTrials, actTrials []trial
	var wg sync.WaitGroup
	jobs := make(chan int)
	for w := 0; w < ix.opts.Workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sc := ix.newScratch()
			for si := range jobs {
				ft, at := ix.trialsFor(si, famCount, actCount, sc)
				mu.Lock()
				famTrials = append(famTrials, ft...)
				actTrials = append(actTrials, at...)
				mu.Unlock()
			}
		}()
	}
	for si, rs := range ix.samples {
		if rs.common || (rs.fam < 0 && rs.act < 0) {
			continue
		}
		jobs <- si
	}
	close(jobs)
	wg.Wait()
	// Trials arrive in worker order; sort for a deterministic fit.
	sortTrials(famTrials)
	sortTrials(actTrials)
	m := Model{}
	var src []string
	m.Family, src = fitOrDefault(famTrials, "family", src)
	m.Actor, src = fitOrDefault(actTrials, "actor", src)
	m.Source = strings.Join(src, "; ")
	return m
}

func (ix *Index) trialsFor(si int, famCount, actCount []int, sc *scratch) (ft, at []trial) {
	rs := &ix.samples[si]
	n := len(ix.samples)
	// Leave this sample out.
	excl := make([]bool, n)
	excl[si] = true
	pre := ix.matchAll(rs.funcs, sc)
	r := ix.score(rs.funcs, excl, false, sc, pre)
	for f := range ix.families {
		pos := int32(f) == rs.fam
		if (pos && famCount[f] < 2) || r.famN[f] == 0 {
			continue
		}
		ft = append(ft, trial{r.famFeat(f), pos})
	}
	for a := range ix.actors {
		pos := int32(a) == rs.act
		if (pos && actCount[a] < 2) || r.actN[a] == 0 {
			continue
		}
		at = append(at, trial{r.actFeat(a), pos})
	}
	// Leave the whole family out: every candidate is wrong.
	if rs.fam >= 0 {
		excl := make([]bool, n)
		for j := range ix.samples {
			excl[j] = ix.samples[j].fam == rs.fam
		}
		r := ix.score(rs.funcs, excl, false, sc, pre)
		for f := range ix.families {
			if int32(f) != rs.fam && r.famN[f] > 0 {
				ft = append(ft, trial{r.famFeat(f), false})
			}
		}
		// The actor may still be known through another family: that is
		// the case of a new program by a known author.
		for a := range ix.actors {
			pos := int32(a) == rs.act
			if (pos && actCount[a]-famSamplesOfActor(ix, rs.fam, rs.act) < 1) || r.actN[a] == 0 {
				continue
			}
			at = append(at, trial{r.actFeat(a), pos})
		}
	}
	// Leave the whole actor out: every actor candidate is wrong.
	if rs.act >= 0 {
		excl := make([]bool, n)
		for j := range ix.samples {
			excl[j] = ix.samples[j].act == rs.act
		}
		r := ix.score(rs.funcs, excl, false, sc, pre)
		for a := range ix.actors {
			if int32(a) != rs.act && r.actN[a] > 0 {
				at = append(at, trial{r.actFeat(a), false})
			}
		}
	}
	return ft, at
}

func sortTrials(t []trial) {
	less := func(a, b trial) bool {
		if a.pos != b.pos {
			return !a.pos
		}
		if a.x.share != b.x.share {
			return a.x.share < b.x.share
		}
		return a.x.evidence < b.x.evidence
	}
	sort.SliceStable(t, func(i, j int) bool { return less(t[i], t[j]) })
}

func fitOrDefault(t []trial, what string, src []string) (Logit, []string) {
	pos, neg := 0, 0
	for _, x := range t {
		if x.pos {
			pos++
		} else {
			neg++
		}
	}
	if pos < minTrials || neg < minTrials {
		return defaultLogit, append(src, fmt.Sprintf("%s: default model (%d positive, %d negative leave-one-out trials; %d of each needed)", what, pos, neg, minTrials))
	}
	l := fit(t)
	l.Pos, l.Neg = pos, neg
	return l, append(src, fmt.Sprintf("%s: logistic model fitted on %d positive and %d negative leave-one-out trials", what, pos, neg))
}

// fit runs Newton's method on L2-regularised logistic regression. The
// regulariser keeps weights finite when the trials separate perfectly,
// which they often do; positives and negatives are weighted to equal total
// mass so the thousands of easy negatives do not drown the few positives,
// which makes 0.5 the point of even odds between "this label" and "not".
func fit(t []trial) Logit {
	const lambda = 0.005
	var npos, nneg float64
	for _, x := range t {
		if x.pos {
			npos++
		} else {
			nneg++
		}
	}
	wpos, wneg := 0.5/npos, 0.5/nneg
	var b [nFeat]float64
	for iter := 0; iter < 100; iter++ {
		var g [nFeat]float64
		var h [nFeat][nFeat]float64
		for _, x := range t {
			v := x.x.vec()
			z := 0.0
			for i := range v {
				z += b[i] * v[i]
			}
			p := 1 / (1 + math.Exp(-z))
			y, w := 0.0, wneg
			if x.pos {
				y, w = 1, wpos
			}
			for i := range v {
				g[i] += w * (p - y) * v[i]
				for j := range v {
					h[i][j] += w * p * (1 - p) * v[i] * v[j]
				}
			}
		}
		for i := 1; i < nFeat; i++ { // intercept is not penalised
			g[i] += lambda * b[i]
			h[i][i] += lambda
		}
		h[0][0] += 1e-9
		d, ok := solve(h, g)
		if !ok {
			break
		}
		maxStep := 0.0
		for i := range b {
			b[i] -= d[i]
			maxStep = math.Max(maxStep, math.Abs(d[i]))
		}
		if maxStep < 1e-9 {
			break
		}
	}
	// More evidence must never lower the probability.
	for i := 1; i < nFeat; i++ {
		if b[i] < 0 {
			b[i] = 0
		}
	}
	return Logit{B0: b[0], B1: b[1], B2: b[2], B3: b[3], B4: b[4]}
}

// solve solves h*x = g by Gaussian elimination with partial pivoting.
func solve(h [nFeat][nFeat]float64, g [nFeat]float64) ([nFeat]float64, bool) {
	var a [nFeat][nFeat + 1]float64
	for i := range nFeat {
		copy(a[i][:nFeat], h[i][:])
		a[i][nFeat] = g[i]
	}
	for c := range nFeat {
		p := c
		for r := c + 1; r < nFeat; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-15 {
			return [nFeat]float64{}, false
		}
		a[c], a[p] = a[p], a[c]
		for r := range nFeat {
			if r == c {
				continue
			}
			k := a[r][c] / a[c][c]
			for j := c; j <= nFeat; j++ {
				a[r][j] -= k * a[c][j]
			}
		}
	}
	var x [nFeat]float64
	for i := range nFeat {
		x[i] = a[i][nFeat] / a[i][i]
	}
	return x, true
}

// famSamplesOfActor counts the samples of family fam labelled with actor act.
func famSamplesOfActor(ix *Index, fam, act int32) int {
	n := 0
	for _, rs := range ix.samples {
		if rs.fam == fam && rs.act == act {
			n++
		}
	}
	return n
}
