package knowledge

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// WriteJSON writes an assessment as indented JSON.
func WriteJSON(w io.Writer, a *Assessment) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(a)
}

// WriteText writes an assessment for people: the verdict per candidate,
// the weights behind it, the dissent and the timeline.
func WriteText(w io.Writer, a *Assessment) error {
	p := &printer{w: w}
	s := a.Subject
	kind := string(s.Kind)
	if s.Kind == KindFamily {
		kind = "malware family"
	}
	if s.Type != "" {
		kind += ", " + s.Type
	}
	if len(s.Labels) > 0 {
		kind += ": " + strings.Join(s.Labels, ", ")
	}
	p.f("%s (%s)\n", s.Name, kind)
	switch a.MatchedBy {
	case "alias":
		p.f("  found by the alias %q\n", a.Query)
	case "label":
		p.f("  known only from the collection's labels: the knowledge base holds nothing about it\n")
	}
	if len(s.Aliases) > 0 {
		var names []string
		for _, al := range s.Aliases {
			n := al.Name
			if al.Status != AliasAccepted {
				n += " (" + al.Status + ")"
			}
			names = append(names, n)
		}
		p.f("  also known as: %s\n", strings.Join(names, ", "))
	}
	for _, sc := range a.Scope {
		why := a.rel(sc.Why)
		if f := strings.Fields(sc.Why); len(f) == 3 && f[0] == sc.Entity.Key {
			why = f[1] + " " + a.name(f[2])
		}
		p.f("  assessed with: %s (%s; %s)\n", sc.Entity.Name, sc.Entity.Kind, why)
	}

	p.f("\nVerdict\n")
	if len(a.Candidates) == 0 {
		p.f("  no claim attributes %s to anyone\n", s.Name)
	}
	for _, c := range a.Candidates {
		n := len(c.Groups)
		src := "sources"
		if n == 1 {
			src = "source"
		}
		p.f("  %s → %s (%s)\n", s.Name, c.Object.Name, entityKind(c.Object))
		p.f("      PHIA: %s; ICD 203: %s (p = %.2f, from %d independent %s)\n", c.PHIA, c.ICD203, c.P, n, src)
		for _, ch := range c.Chain {
			p.f("      %s is itself %s %s: %s, %s, %s\n", c.Object.Name, ch.Relation, a.name(ch.Object), a.Sources[ch.Source].Name, ch.Date, termText(&ch))
		}
	}

	p.f("\nHow the verdict is reached\n")
	p.f("  Each claim's own term is read on its yardstick as a probability range; the midpoint,\n")
	p.f("  clamped to %.2f-%.2f, is its estimate. Free-text terms are read through the interpretation\n", PClampLo, PClampHi)
	p.f("  recorded with the claim. Shared code with a sample or family attributed to X counts for X\n")
	p.f("  as ICD 203 %q (%.3f), weakened by how sure that attribution is (q): p = %.3f·q + 0.5·(1-q).\n", SharedCodeReading.Term, midOf(SharedCodeReading), midOf(SharedCodeReading))
	p.f("  Sources under one root (e.g. NCSC, GCHQ and the Foreign Office under the UK government)\n")
	p.f("  count once: the root's latest evidence is used, the strongest on the same date.\n")
	p.f("  Weight = source reliability (Admiralty A %.1f, B %.1f, C %.1f, D %.1f, E %.1f, F or unknown %.1f)\n",
		ReliabilityWeight["A"], ReliabilityWeight["B"], ReliabilityWeight["C"], ReliabilityWeight["D"], ReliabilityWeight["E"], ReliabilityWeight["F"])
	p.f("  × %.1f when the claim is known only as reported by someone else. The verdict is the\n", SecondHandFactor)
	p.f("  weighted mean of the log-odds ln(p/(1-p)), turned back into a probability. Opinions are\n")
	p.f("  shown, not pooled.\n")
	p.f("  The kinship engine is one source however many samples it analysed: its calibrated\n")
	p.f("  probabilities for an actor are pooled (mean log-odds, q) and read like shared code,\n")
	p.f("  p = %.3f·q + 0.5·(1-q); reliability %s when calibrated on the collection's references,\n", midOf(SharedCodeReading), EngineGrade)
	p.f("  %s when not. The subject's own family labels are held out of the collection it compares with.\n", EngineGradeUncalibrated)

	for _, c := range a.Candidates {
		p.f("\nWeights: %s → %s\n", s.Name, c.Object.Name)
		for i, g := range c.Groups {
			it := g.Used
			p.f("  %d. %s", i+1, g.Root.Name)
			if it.Source.Key != g.Root.Key {
				p.f(" (via %s)", it.Source.Name)
			}
			grade := g.Reliability
			if grade == "" {
				grade = "unknown"
			}
			if it.GradeWhy != "" {
				grade += " (" + it.GradeWhy + ")"
			}
			p.f(": reliability %s = %.1f", grade, ReliabilityWeight[g.Reliability])
			if g.SecondHand {
				p.f(" × %.1f (reported by %s)", SecondHandFactor, a.name(it.Claim.ReportedBy))
			}
			p.f(" → weight %.2f\n", g.Weight)
			p.f("     %s\n", a.itemText(it))
			p.f("     p = %.3f, log-odds %+.2f\n", it.P, g.LogOdds)
			for _, o := range g.Others {
				p.f("     not pooled (%s): %s\n", o.NotPooled, a.itemText(o))
			}
		}
		var sw, swl float64
		for _, g := range c.Groups {
			sw += g.Weight
			swl += g.Weight * g.LogOdds
		}
		p.f("  pooled: %.2f / %.2f = %+.2f → p = %.2f\n", swl, sw, c.LogOdds, c.P)
	}

	p.f("\nDissent\n")
	any := false
	for _, c := range a.Candidates {
		if len(c.Dissent) == 0 && len(c.Support) == 0 {
			continue
		}
		any = true
		p.f("  %s → %s\n", s.Name, c.Object.Name)
		for _, d := range c.Dissent {
			switch d.Kind {
			case "opinion":
				p.f("    %s %s %ss with %s's claim: %s\n", d.Date, d.Source.Name, d.Opinion.Opinion, a.name(claimSourceOf(a, d.Opinion)), quoteText(d.Opinion.Quote, d.Opinion.QuoteKind))
			case "weaker":
				p.f("    %s %s: %s (%s)\n", d.Date, d.Source.Name, termText(d.Claim), d.Text)
			case "caveat":
				p.f("    %s %s, caveat: %s\n", d.Date, d.Source.Name, d.Text)
			default:
				p.f("    %s %s: not pooled, %s\n", d.Date, d.Source.Name, d.Text)
			}
		}
		for _, o := range c.Support {
			p.f("    (support) %s %s %ss with %s's claim: %s\n", o.Date, a.Sources[o.Source].Name, o.Opinion, a.name(claimSourceOf(a, &o)), quoteText(o.Quote, o.QuoteKind))
		}
	}
	if !any {
		p.f("  none recorded\n")
	}

	a.writeEngine(p)

	p.f("\nTimeline\n")
	for _, t := range a.Timeline {
		if an := t.Analysis; an != nil {
			ver := ""
			if an.Version > 1 {
				ver = fmt.Sprintf(" [v%d]", an.Version)
			}
			p.f("  %s  kinship engine (machine-generated): %s, analysed for %s%s: %s; %s\n", t.Date, sampleName(an), a.name(an.Subject), ver,
				shortJudgment("family", an.Family, len(an.HeldOut) > 0), shortJudgment("actor", an.Actor, false))
			continue
		}
		if t.Opinion != nil {
			o := t.Opinion
			who := a.Sources[o.Source].Name
			if o.ReportedBy != "" {
				who += ", as reported by " + a.name(o.ReportedBy)
			}
			p.f("  %s  %s: %s with %s's claim (%s)\n", t.Date, who, o.Opinion, a.name(claimSourceOf(a, o)), o.ClaimID)
			p.f("              %s\n", quoteText(o.Quote, o.QuoteKind))
			continue
		}
		c := t.Claim
		who := a.Sources[c.Source].Name
		if c.ReportedBy != "" {
			who += ", as reported by " + a.name(c.ReportedBy)
		}
		ver := ""
		if c.Version > 1 || t.Superseded {
			ver = fmt.Sprintf(" [v%d", c.Version)
			if t.Superseded {
				ver += ", superseded"
			}
			ver += "]"
		}
		p.f("  %s  %s: %s %s %s%s\n", t.Date, who, a.name(c.Subject), c.Relation, a.name(c.Object), ver)
		if c.NativeTerm != "" {
			p.f("              term: %s\n", termText(c))
		}
		if c.Quote != "" {
			p.f("              %s\n", quoteText(c.Quote, c.QuoteKind))
		}
		for _, r := range c.References {
			if r.Kind == RefFunctionPair {
				p.f("              function pair: %s@%s = %s@%s\n", r.Sample, r.Address, r.Other, r.OtherAddress)
			}
		}
	}
	return p.err
}

type printer struct {
	w   io.Writer
	err error
}

func (p *printer) f(format string, args ...any) {
	if p.err == nil {
		_, p.err = fmt.Fprintf(p.w, format, args...)
	}
}

func midOf(i Interpretation) float64 {
	r, err := TermRange(i.Yardstick, i.Term, nil)
	if err != nil {
		return 0.5
	}
	return r.Mid()
}

func (a *Assessment) name(key string) string {
	if n, ok := a.Names[key]; ok {
		return n
	}
	if s, ok := a.Sources[key]; ok {
		return s.Name
	}
	return key
}

// rel renders "A uses B" with display names.
func (a *Assessment) rel(why string) string {
	f := strings.Fields(why)
	if len(f) != 3 {
		return why
	}
	return a.name(f[0]) + " " + f[1] + " " + a.name(f[2])
}

func claimSourceOf(a *Assessment, o *Opinion) string {
	for _, t := range a.Timeline {
		if t.Claim != nil && t.Claim.ID == o.ClaimID && t.Claim.Version == o.ClaimVersion {
			return t.Claim.Source
		}
	}
	return ""
}

func quoteText(q, kind string) string {
	if kind == QuotePara {
		return q + " [paraphrase]"
	}
	return "\"" + q + "\""
}

// termText renders a claim's native term with its yardstick and, for free
// text, kinship's reading of it.
func termText(c *Claim) string {
	if c.NativeTerm == "" {
		return "no term"
	}
	s := fmt.Sprintf("%q (%s", c.NativeTerm, YardstickTitle(c.Yardstick))
	if c.Interpretation != nil {
		s += fmt.Sprintf("; read as %s %q", YardstickTitle(c.Interpretation.Yardstick), c.Interpretation.Term)
		if c.Interpretation.Note != "" {
			s += ": " + c.Interpretation.Note
		}
	}
	if c.Confidence != nil {
		s += fmt.Sprintf("; STIX confidence %d", *c.Confidence)
	}
	return s + ")"
}

func (a *Assessment) itemText(it Item) string {
	c := it.Claim
	if it.Kind == "engine" {
		n := len(it.Analyses)
		what := "sample's"
		if n > 1 {
			what = fmt.Sprintf("%d samples'", n)
		}
		return fmt.Sprintf("%s technical (kinship engine, machine-generated): the %s code is %s's by the collection's references: q = %.3f (PHIA %s)",
			c.Date, what, a.name(c.Object), it.Q, c.NativeTerm)
	}
	if it.Kind == "technical" {
		l := it.Link
		q := 0.0
		if r, err := TermRange(l.Yardstick, l.NativeTerm, l.Interpretation); err == nil {
			q = clampP(r.Mid())
		}
		return fmt.Sprintf("%s technical: %s shares code with %s, which %s (%s, %s) says is %s's: q = %.3f",
			c.Date, a.name(c.Subject), a.name(c.Object), a.Sources[l.Source].Name, l.Date, l.Relation, a.name(l.Object), q)
	}
	s := fmt.Sprintf("%s %s %s %s: %s", c.Date, a.name(c.Subject), c.Relation, a.name(c.Object), termText(&c))
	if it.Range != nil {
		s += fmt.Sprintf(" → %.2f-%.2f", it.Range.Lo, it.Range.Hi)
	}
	return s
}

// entityKind names an entity's kind for the verdict line.
func entityKind(e Entity) string {
	switch {
	case strings.HasPrefix(e.Key, LabelKeyPrefix):
		return string(e.Kind) + ", collection label only"
	case e.Type != "":
		return e.Type
	}
	return string(e.Kind)
}

func sampleName(an *Analysis) string {
	h := an.Hashes["SHA-256"]
	if an.FileName != "" {
		return fmt.Sprintf("%s (SHA-256 %s)", an.FileName, h)
	}
	return "SHA-256 " + h
}

func shortJudgment(what string, j EngineJudgment, heldOut bool) string {
	if heldOut {
		what = "closest other family"
	}
	if !j.Named() {
		return what + " unknown"
	}
	return fmt.Sprintf("%s %s (p = %.2f)", what, j.Label, j.Probability)
}

func judgmentText(what string, j EngineJudgment) string {
	if !j.Named() {
		s := what + " unknown"
		if j.Best != "" {
			s += fmt.Sprintf(" (strongest: %s)", j.Best)
		}
		if j.Reason != "" {
			s += ": " + j.Reason
		}
		return s
	}
	return fmt.Sprintf("%s %s: PHIA %s; ICD 203 %s (p = %.2f): %s", what, j.Label, j.PHIA, j.ICD203, j.Probability, j.Reason)
}

// MaxFunctionsShown is how many shared functions the text report lists
// per analysis (all are in --json and in STIX).
const MaxFunctionsShown = 3

// writeEngine writes what the engine contributed.
func (a *Assessment) writeEngine(p *printer) {
	p.f("\nEngine\n")
	e := a.Engine
	if e == nil {
		p.f("  not consulted: no collection (--db) and no analysis recorded for %s\n", a.Subject.Name)
		return
	}
	if e.Ran {
		p.f("  collection %s: %d references", e.Collection, e.References)
		if len(e.HeldOut) > 0 {
			p.f("; held out, as the subject's own: %s", strings.Join(e.HeldOut, ", "))
		}
		p.f("\n")
	} else {
		p.f("  analyses recorded earlier (kinship assess --record)\n")
	}
	for _, f := range e.Failed {
		p.f("  not analysed: %s\n", f)
	}
	if len(e.Uses) == 0 && e.Ran {
		p.f("  nothing to analyse: no sample in the collection is labelled %s or has a hash the knowledge\n", a.Subject.Name)
		p.f("  base ties to it, and no file was given (--sample)\n")
	}
	calibration := ""
	for _, u := range e.Uses {
		an := u.Analysis
		if an.Calibration != calibration {
			calibration = an.Calibration
			p.f("  calibration: %s\n", calibration)
		}
		origin := "in the collection"
		if an.Origin == AnalysisFromFile {
			origin = "a file given"
		}
		p.f("  %s, %s, %s\n", an.Date, sampleName(&an), origin)
		family := "family"
		if len(an.HeldOut) > 0 {
			family = "closest other family (its own held out)"
		}
		p.f("      %s\n", judgmentText(family, an.Family))
		p.f("      %s\n", judgmentText("actor", an.Actor))
		if u.For != "" {
			p.f("      pooled for %s\n", a.name(u.For))
		} else {
			p.f("      not pooled: %s\n", u.NotPooled)
		}
		for i, f := range an.Functions {
			if i == MaxFunctionsShown {
				p.f("      … %d more shared functions (--json)\n", len(an.Functions)-i)
				break
			}
			ref := f.RefName
			if ref == "" {
				ref = f.Ref
			}
			labels := strings.Trim(f.Family+", "+f.Actor, ", ")
			p.f("      shared: %s = %s@%s (%s), similarity %.2f, weight %.2f\n", f.Address, ref, f.RefAddress, labels, f.Similarity, f.Weight)
		}
	}
}
