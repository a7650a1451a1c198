package attribute

import (
	"fmt"
	"sort"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/yardstick"
)

// Threshold is the calibrated probability at or above which kinship names
// a family or actor. Below it the verdict is "unknown": a wrong name costs
// an incident responder more than an honest "no attribution".
const Threshold = 0.5

// Attribute judges one sample whose functions are given. The sample is not
// looked up in the index: pass excludeSelf to ignore a reference with the
// same SHA-256 (so a reference attributed against its own collection is
// judged on its siblings, not on itself).
func (ix *Index) Attribute(s model.Sample, funcs []model.Function, excludeSelf bool) model.Verdict {
	var excl []bool
	if excludeSelf {
		for i, rs := range ix.samples {
			if rs.s.SHA256 == s.SHA256 {
				if excl == nil {
					excl = make([]bool, len(ix.samples))
				}
				excl[i] = true
			}
		}
	}
	sc := scratchPool.Get().(*scratch)
	defer scratchPool.Put(sc)
	var pre [][]match
	if ix.opts.Workers > 1 && len(funcs) >= parallelMin {
		pre = ix.matchParallel(funcs)
	}
	r := ix.score(funcs, excl, true, sc, pre)
	v := model.Verdict{Sample: s, Share: r.share, Calibrated: ix.model.Source}

	for f, name := range ix.families {
		if r.famN[f] == 0 {
			continue
		}
		x := r.famFeat(f)
		c := model.Candidate{Name: name, Share: x.share, Evidence: x.evidence, Functions: r.famN[f], Probability: ix.model.Family.Prob(x)}
		if a := ix.famActor[f]; a >= 0 {
			c.Actor = ix.actors[a]
		}
		v.Families = append(v.Families, c)
	}
	for a, name := range ix.actors {
		if r.actN[a] == 0 {
			continue
		}
		x := r.actFeat(a)
		v.Actors = append(v.Actors, model.Candidate{Name: name, Share: x.share, Evidence: x.evidence, Functions: r.actN[a], Probability: ix.model.Actor.Prob(x)})
	}
	sortCandidates(v.Families)
	sortCandidates(v.Actors)

	v.Family = judge(v.Families, "family")
	v.Actor = judge(v.Actors, "actor")
	// A named family implies its actor; the actor judgment keeps the
	// higher of the two probabilities, since either line of evidence is
	// enough to name the author.
	if v.Family.Name != model.Unknown {
		for _, c := range v.Families {
			if c.Name == v.Family.Name && c.Actor != "" {
				if v.Actor.Name == model.Unknown || equalFold(v.Actor.Name, c.Actor) {
					p := v.Actor.Probability
					if !equalFold(v.Actor.Name, c.Actor) || c.Probability > p {
						p = c.Probability
					}
					reason := v.Actor.Reason
					if v.Actor.Name == model.Unknown {
						reason = fmt.Sprintf("actor of family %s", c.Name)
					}
					v.Actor = term(c.Actor, p, reason)
					v.Actor.Best = c.Actor
				}
			}
		}
	}

	ix.identity(&v)

	for si := range ix.samples {
		if r.sampleN[si] == 0 {
			continue
		}
		rs := &ix.samples[si]
		v.Samples = append(v.Samples, model.SampleMatch{SHA256: rs.s.SHA256, Name: rs.s.Name, Family: rs.s.Labels.Family, Actor: rs.s.Labels.Actor, Functions: r.sampleN[si], Evidence: r.sampleE[si]})
	}
	sort.Slice(v.Samples, func(i, j int) bool {
		a, b := v.Samples[i], v.Samples[j]
		if a.Evidence != b.Evidence {
			return a.Evidence > b.Evidence
		}
		return a.SHA256 < b.SHA256
	})
	if len(v.Samples) > 10 {
		v.Samples = v.Samples[:10]
	}
	v.Evidence = ix.evidence(funcs, r, v)
	return v
}

func sortCandidates(cs []model.Candidate) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Probability != cs[j].Probability {
			return cs[i].Probability > cs[j].Probability
		}
		if cs[i].Evidence != cs[j].Evidence {
			return cs[i].Evidence > cs[j].Evidence
		}
		return cs[i].Name < cs[j].Name
	})
}

func term(name string, p float64, reason string) model.Judgment {
	return model.Judgment{Name: name, Probability: p, PHIA: yardstick.Word(yardstick.PHIA, p), ICD203: yardstick.Word(yardstick.ICD203, p), Reason: reason}
}

// AmbiguityRatio: a second candidate that also clears the threshold makes
// the verdict "unknown" only when its share of the sample's distinctive
// code is at least this fraction of the top candidate's. A program holding
// the code of two sibling programs in like measure is neither of them; a
// program that shares a few runtime pieces with a second family is still
// the first.
const AmbiguityRatio = 0.5

// judge names the top candidate when it clears the threshold and no other
// candidate rivals it (see AmbiguityRatio).
func judge(cs []model.Candidate, what string) model.Judgment {
	if len(cs) == 0 {
		j := term(model.Unknown, 0, fmt.Sprintf("no distinctive code shared with any labelled %s", what))
		return j
	}
	top := cs[0]
	if top.Probability < Threshold {
		j := term(model.Unknown, 1-top.Probability, fmt.Sprintf("strongest %s %s: %.0f%% of distinctive code, probability %.2f below %.2f", what, top.Name, 100*top.Share, top.Probability, Threshold))
		j.Best = top.Name
		// The probability printed for "unknown" is that the best candidate is wrong.
		return j
	}
	if len(cs) > 1 && cs[1].Probability >= Threshold && cs[1].Share >= AmbiguityRatio*top.Share {
		p := 1 - cs[1].Probability
		j := term(model.Unknown, p, fmt.Sprintf("ambiguous: %s (%.2f) and %s (%.2f) both fit; the sample holds code of both", top.Name, top.Probability, cs[1].Name, cs[1].Probability))
		j.Best = top.Name
		return j
	}
	j := term(top.Name, top.Probability, fmt.Sprintf("%.0f%% of the sample's distinctive code (%.1f weighted functions in %d) is found only under this %s", 100*top.Share, top.Evidence, top.Functions, what))
	j.Best = top.Name
	return j
}

// evidence lists the strongest shared functions for the named (or best)
// family and actor, heaviest first.
func (ix *Index) evidence(funcs []model.Function, r *scores, v model.Verdict) []model.FunctionMatch {
	var out []model.FunctionMatch
	for _, fr := range r.fns {
		var h hit
		switch {
		case fr.class == clsShared:
			h = fr.famHit
		case fr.act >= 0:
			h = fr.actHit
		default:
			continue
		}
		if h.sim == 0 {
			continue
		}
		q := &funcs[fr.q]
		rs := &ix.samples[h.sample]
		rf := &rs.funcs[h.fn]
		out = append(out, model.FunctionMatch{
			QueryAddr: q.Addr, RefSHA256: rs.s.SHA256, RefName: rs.s.Name, RefAddr: rf.Addr,
			Family: rs.s.Labels.Family, Actor: rs.s.Labels.Actor, Similarity: h.sim,
			Size: q.Size, Instrs: q.Instrs, Families: fr.nfam, Weight: fr.w * h.sim, Name: firstNonEmpty(q.Name, rf.Name),
		})
	}
	// Code found in one family only is the strongest evidence: list it
	// first, then code shared by several families of one actor.
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Families <= 1) != (b.Families <= 1) {
			return a.Families <= 1
		}
		if a.Weight != b.Weight {
			return a.Weight > b.Weight
		}
		if a.Instrs != b.Instrs {
			return a.Instrs > b.Instrs
		}
		return a.QueryAddr < b.QueryAddr
	})
	if len(out) > ix.opts.MaxEvidence {
		out = out[:ix.opts.MaxEvidence]
	}
	return out
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
