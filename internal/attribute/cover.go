package attribute

// Coverage: how much of a candidate's own code a query holds.
//
// A query's share of distinctive code says how much of the query comes from
// a candidate; it cannot tell a new version of a program from a different
// program that links a library only that candidate has in the collection.
// Both hold much code found under the candidate, but a new version also
// holds much of the candidate's code, while the other program holds only
// the library, a small part of the candidate. Coverage measures that second
// side: the evidence found under the candidate divided by the mean size of
// its references' distinctive code, so that calibration can learn how much
// of a family (or actor) a true member carries.

// refWeight is the weight of one reference's countable code: the same
// size and origin weights a query's functions get.
func (ix *Index) refWeight(rs *refSample) float64 {
	w := 0.0
	for i := range rs.funcs {
		f := &rs.funcs[i]
		if f.Instrs < ix.opts.MinInstrs {
			continue
		}
		w += SizeWeight(f.Instrs) * OriginWeight(f.Origin)
	}
	return w
}

// buildCover records each reference's weight and the totals per family
// and actor.
func (ix *Index) buildCover() {
	c := &ix.cover
	c.sample = make([]float64, len(ix.samples))
	c.famW = make([]float64, len(ix.families))
	c.famN = make([]int, len(ix.families))
	c.actW = make([]float64, len(ix.actors))
	c.actN = make([]int, len(ix.actors))
	for si := range ix.samples {
		rs := &ix.samples[si]
		w := ix.refWeight(rs)
		c.sample[si] = w
		if rs.fam >= 0 {
			c.famW[rs.fam] += w
			c.famN[rs.fam]++
		}
		if rs.act >= 0 {
			c.actW[rs.act] += w
			c.actN[rs.act]++
		}
	}
}

// coverTable holds reference weights for coverage.
type coverTable struct {
	sample     []float64
	famW, actW []float64
	famN, actN []int
}

// sizes returns the mean reference weight of every family and actor,
// leaving out the samples marked in excluded, as calibration does.
func (ix *Index) sizes(excluded []bool) (fam, act []float64) {
	c := &ix.cover
	fw, aw := append([]float64(nil), c.famW...), append([]float64(nil), c.actW...)
	fn, an := append([]int(nil), c.famN...), append([]int(nil), c.actN...)
	for si, ex := range excluded {
		if !ex {
			continue
		}
		rs := &ix.samples[si]
		if rs.fam >= 0 {
			fw[rs.fam] -= c.sample[si]
			fn[rs.fam]--
		}
		if rs.act >= 0 {
			aw[rs.act] -= c.sample[si]
			an[rs.act]--
		}
	}
	mean := func(w []float64, n []int) []float64 {
		for i := range w {
			if n[i] > 0 {
				w[i] /= float64(n[i])
			} else {
				w[i] = 0
			}
		}
		return w
	}
	return mean(fw, fn), mean(aw, an)
}

// coverage is evidence over a candidate's mean reference weight, at most 1.
func coverage(e, size float64) float64 {
	if size <= 0 {
		return 0
	}
	if c := e / size; c < 1 {
		return c
	}
	return 1
}
