package knowledge

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kinship-dev/kinship/internal/yardstick"
)

// The weights the assessment uses. docs/knowledge.md explains each; the
// assessment prints them with every verdict.
var (
	// ReliabilityWeight maps an Admiralty source-reliability grade to the
	// weight of the source's claims. Unknown weighs as F ("reliability
	// cannot be judged").
	ReliabilityWeight = map[string]float64{"A": 1.0, "B": 0.9, "C": 0.8, "D": 0.7, "E": 0.6, "F": 0.5, "": 0.5}
	// SecondHandFactor multiplies the weight of a claim known only through
	// someone else's report of it.
	SecondHandFactor = 0.8
	// PClampLo and PClampHi bound every claim's probability before it is
	// turned into log-odds, so that no single "certain" or "impossible"
	// outweighs everything else.
	PClampLo, PClampHi = 0.02, 0.98
	// SharedCodeReading is how kinship reads published shared code with a
	// sample or family attributed elsewhere: ICD 203 "likely". Shared code
	// shows shared authors or shared source, not who ran an operation; the
	// reading is weakened by how sure the link to the other side is.
	SharedCodeReading = Interpretation{Yardstick: YICD203, Term: "likely", Note: "shared code shows shared authors or shared source code, not identity"}
)

// Item is one piece of evidence for a candidate: a claim, technical
// evidence (a shares-code-with claim joined to a claim attributing the
// other side), or the engine's verdicts.
type Item struct {
	Kind string `json:"kind"` // "claim", "technical" or "engine"
	// Claim is the claim used; for engine evidence, a statement standing
	// for the engine's verdicts (never stored).
	Claim  Claim  `json:"claim"`
	Link   *Claim `json:"link,omitempty"` // for technical evidence: the other side's attribution
	Source Source `json:"source"`
	// Range is the probability range read from the claim's term; P is the
	// estimate used (the range's midpoint, or the technical formula).
	Range     *Range  `json:"range,omitempty"`
	P         float64 `json:"p"`
	HasP      bool    `json:"has_p"`
	NotPooled string  `json:"not_pooled,omitempty"` // why the item was not pooled
	// Engine evidence: the analyses pooled ("ID#VERSION"), their pooled
	// probability Q, and why the engine has the grade it has.
	Analyses []string `json:"analyses,omitempty"`
	Q        float64  `json:"q,omitempty"`
	GradeWhy string   `json:"grade_why,omitempty"`
}

// Group is the evidence of one root source, counted once.
type Group struct {
	Root        Source  `json:"root"`
	Used        Item    `json:"used"`
	Reliability string  `json:"reliability"`
	Weight      float64 `json:"weight"`
	SecondHand  bool    `json:"second_hand"`
	LogOdds     float64 `json:"log_odds"`
	Others      []Item  `json:"others,omitempty"` // the group's other evidence, not pooled
}

// Dissent is evidence against or weaker than a verdict.
type Dissent struct {
	Kind    string   `json:"kind"` // "weaker", "caveat", "opinion", "no-probability"
	Date    string   `json:"date"`
	Source  Source   `json:"source"`
	Text    string   `json:"text"`
	Claim   *Claim   `json:"claim,omitempty"`
	Opinion *Opinion `json:"opinion,omitempty"`
}

// Candidate is one attribution of the subject and the verdict on it.
type Candidate struct {
	Object  Entity    `json:"object"`
	P       float64   `json:"p"`
	LogOdds float64   `json:"log_odds"`
	PHIA    string    `json:"phia"`
	ICD203  string    `json:"icd203"`
	Groups  []Group   `json:"groups"`
	Dissent []Dissent `json:"dissent,omitempty"`
	Support []Opinion `json:"support,omitempty"` // opinions agreeing with its evidence
	// Chain holds the latest claims attributing the candidate itself
	// (Lazarus Group → North Korea).
	Chain []Claim `json:"chain,omitempty"`
}

// TimelineEntry is one dated statement about the subject.
type TimelineEntry struct {
	Date     string    `json:"date"`
	Claim    *Claim    `json:"claim,omitempty"`
	Opinion  *Opinion  `json:"opinion,omitempty"`
	Analysis *Analysis `json:"analysis,omitempty"`
	// Superseded marks a claim version a later version of it corrects.
	Superseded bool `json:"superseded,omitempty"`
}

// ScopeEntry is an entity assessed with the subject and why.
type ScopeEntry struct {
	Entity Entity `json:"entity"`
	Why    string `json:"why"`
}

// Assessment is the fused verdict on who is behind a subject.
type Assessment struct {
	Query      string          `json:"query"`
	Subject    Entity          `json:"subject"`
	MatchedBy  string          `json:"matched_by"` // "name", "alias", "key", or "label": known only from the collection's labels
	Scope      []ScopeEntry    `json:"scope,omitempty"`
	Candidates []Candidate     `json:"candidates"`
	Timeline   []TimelineEntry `json:"timeline"`
	// Engine is what the engine's verdicts contributed; nil when no
	// collection was consulted and none is recorded.
	Engine  *EngineSection    `json:"engine,omitempty"`
	Names   map[string]string `json:"names"` // entity and source keys to display names
	Sources map[string]Source `json:"-"`
}

// ErrAmbiguous is returned when a name resolves to several entities with
// equal right (two own names, or only aliases shared by several).
var ErrAmbiguous = errors.New("ambiguous name")

// Resolve finds the one entity a name means: an entity key is exact; an
// entity's own name beats aliases; several entities at the same level are ambiguous and never
// merged.
func (kb *KB) Resolve(ctx context.Context, name string) (Match, error) {
	// An entity key names one entity exactly.
	if e, err := kb.Entity(ctx, name); err == nil {
		return Match{Entity: e, By: "key"}, nil
	}
	ms, err := kb.Find(ctx, name)
	if err != nil {
		return Match{}, err
	}
	if len(ms) == 0 {
		return Match{}, fmt.Errorf("%q: %w", name, ErrNotFound)
	}
	var own []Match
	for _, m := range ms {
		if m.By == "name" {
			own = append(own, m)
		}
	}
	if len(own) == 1 {
		return own[0], nil
	}
	if len(own) == 0 && len(ms) == 1 {
		return ms[0], nil
	}
	list := own
	if len(list) == 0 {
		list = ms
	}
	var names []string
	for _, m := range list {
		names = append(names, fmt.Sprintf("%s (%s %s)", m.Entity.Name, m.Entity.Kind, m.Entity.Key))
	}
	return Match{}, fmt.Errorf("%q: %w: it names %s", name, ErrAmbiguous, strings.Join(names, "; "))
}

// Assess fuses what the knowledge base holds about name (a name or alias
// of a family, campaign, actor or sample) into a verdict per candidate
// attribution. The engine's technical evidence is the analyses recorded for
// the subject's scope, if any (see AssessWith).
func (kb *KB) Assess(ctx context.Context, name string) (*Assessment, error) {
	return kb.AssessWith(ctx, name, nil)
}

// scope returns the subject's scope: the subject, the campaigns that use
// it or the families it uses, and the samples of those families, two links
// deep, each with why it is in.
func (kb *KB) scope(ctx context.Context, subject Entity) (map[string]Entity, []ScopeEntry, error) {
	inScope := map[string]Entity{subject.Key: subject}
	var why []ScopeEntry
	frontier := []string{subject.Key}
	for depth := 0; depth < 2 && len(frontier) > 0; depth++ {
		cs, err := kb.Claims(ctx, frontier...)
		if err != nil {
			return nil, nil, err
		}
		var next []string
		for _, c := range latest(cs) {
			if c.Relation != RelUses && c.Relation != RelSampleOf {
				continue
			}
			for _, pair := range [][2]string{{c.Subject, c.Object}, {c.Object, c.Subject}} {
				if _, ok := inScope[pair[1]]; !slices.Contains(frontier, pair[0]) || ok {
					continue
				}
				e, err := kb.Entity(ctx, pair[1])
				if err != nil {
					return nil, nil, err
				}
				if e.Kind != KindFamily && e.Kind != KindCampaign && e.Kind != KindSample {
					continue
				}
				inScope[pair[1]] = e
				next = append(next, pair[1])
				why = append(why, ScopeEntry{Entity: e, Why: fmt.Sprintf("%s %s %s", c.Subject, c.Relation, c.Object)})
			}
		}
		frontier = next
	}
	return inScope, why, nil
}

// AssessWith is Assess with the engine's verdicts of one run as technical
// evidence. With run nil, the analyses recorded in the knowledge base for
// the subject's scope are used instead. A run may stand in for a subject
// the knowledge base does not know (run.Subject).
func (kb *KB) AssessWith(ctx context.Context, name string, run *EngineRun) (*Assessment, error) {
	m, err := kb.Resolve(ctx, name)
	if err != nil {
		if run == nil || run.Subject == nil || !isNotFound(err) || len(run.Analyses)+len(run.Failed) == 0 {
			return nil, err
		}
		m = Match{Entity: *run.Subject, By: "label"}
	}
	a := &Assessment{Query: name, Subject: m.Entity, MatchedBy: m.By, Names: map[string]string{}}
	if a.Sources, err = kb.Sources(ctx); err != nil {
		return nil, err
	}
	if _, ok := a.Sources[EngineSourceKey]; !ok {
		a.Sources[EngineSourceKey] = EngineSource()
	}
	ents := map[string]Entity{m.Entity.Key: m.Entity}
	entity := func(key string) (Entity, error) {
		if e, ok := ents[key]; ok {
			return e, nil
		}
		e, err := kb.Entity(ctx, key)
		if err != nil {
			return e, err
		}
		ents[key] = e
		return e, nil
	}

	scope := map[string]Entity{m.Entity.Key: m.Entity}
	if m.By != "label" {
		if scope, a.Scope, err = kb.scope(ctx, m.Entity); err != nil {
			return nil, err
		}
	}
	inScope := map[string]bool{}
	for k, e := range scope {
		inScope[k] = true
		ents[k] = e
	}
	scopeKeys := make([]string, 0, len(inScope))
	for k := range inScope {
		scopeKeys = append(scopeKeys, k)
	}
	slices.Sort(scopeKeys)
	all, err := kb.Claims(ctx, scopeKeys...)
	if err != nil {
		return nil, err
	}
	timeline := slices.Clone(all)

	items := map[string][]Item{} // by candidate key
	var order []string
	addItem := func(obj string, it Item) {
		if _, ok := items[obj]; !ok {
			order = append(order, obj)
		}
		items[obj] = append(items[obj], it)
	}
	for _, c := range latest(all) {
		switch {
		case IsAttribution(c.Relation) && inScope[c.Subject] && !inScope[c.Object]:
			it := kb.claimItem(a, c)
			addItem(c.Object, it)
		case c.Relation == RelSharesCodeWith && (inScope[c.Subject] != inScope[c.Object]):
			other := c.Object
			if inScope[c.Object] {
				other = c.Subject
			}
			links, extra, err := kb.links(ctx, other)
			if err != nil {
				return nil, err
			}
			timeline = append(timeline, extra...)
			for _, l := range links {
				it := kb.technicalItem(a, c, l)
				addItem(l.Object, it)
			}
		}
	}

	// The engine's verdicts: this run's, or those recorded for the scope.
	var analyses []Analysis
	if run != nil {
		analyses = run.Analyses
		a.Engine = &EngineSection{Ran: true, Collection: run.Collection, References: run.References, HeldOut: run.HeldOut, Failed: run.Failed}
	} else {
		recorded, err := kb.AnalysesFor(ctx, scopeKeys...)
		if err != nil {
			return nil, err
		}
		if analyses = latestAnalyses(recorded); len(analyses) > 0 {
			a.Engine = &EngineSection{}
		}
	}
	if a.Engine != nil {
		for _, ei := range engineItems(a, analyses, inScope, ents) {
			addItem(ei.key, ei.it)
		}
	}

	for _, obj := range order {
		e, err := entity(obj)
		if err != nil {
			return nil, err
		}
		cand, err := kb.fuse(ctx, a, e, items[obj])
		if err != nil {
			return nil, err
		}
		a.Candidates = append(a.Candidates, cand)
	}
	slices.SortStableFunc(a.Candidates, func(x, y Candidate) int {
		switch {
		case x.P > y.P:
			return -1
		case x.P < y.P:
			return 1
		}
		return strings.Compare(x.Object.Name, y.Object.Name)
	})
	for _, c := range a.Candidates {
		for i := range c.Chain {
			timeline = append(timeline, c.Chain[i])
		}
	}

	// Timeline: every version of every claim in scope, and every opinion
	// on them, by date.
	seen := map[string]bool{}
	latestV := map[string]int{}
	for _, c := range timeline {
		latestV[c.ID] = max(latestV[c.ID], c.Version)
	}
	var ids []string
	for _, c := range timeline {
		k := fmt.Sprintf("%s#%d", c.ID, c.Version)
		if seen[k] {
			continue
		}
		seen[k] = true
		c := c
		a.Timeline = append(a.Timeline, TimelineEntry{Date: c.Date, Claim: &c, Superseded: c.Version < latestV[c.ID]})
		if !slices.Contains(ids, c.ID) {
			ids = append(ids, c.ID)
		}
	}
	ops, err := kb.opinionsOn(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range ops {
		a.Timeline = append(a.Timeline, TimelineEntry{Date: ops[i].Date, Opinion: &ops[i]})
	}
	if a.Engine != nil {
		for i := range a.Engine.Uses {
			an := a.Engine.Uses[i].Analysis
			a.Timeline = append(a.Timeline, TimelineEntry{Date: an.Date, Analysis: &an})
		}
	}
	slices.SortStableFunc(a.Timeline, func(x, y TimelineEntry) int {
		if c := strings.Compare(x.Date, y.Date); c != 0 {
			return c
		}
		return strings.Compare(x.id(), y.id())
	})
	// Names for display.
	for _, t := range a.Timeline {
		var keys []string
		switch {
		case t.Claim != nil:
			keys = []string{t.Claim.Subject, t.Claim.Object}
		case t.Analysis != nil:
			keys = []string{t.Analysis.Subject}
		}
		for _, k := range keys {
			if _, ok := a.Names[k]; !ok {
				e, err := entity(k)
				if err != nil {
					return nil, err
				}
				a.Names[k] = e.Name
			}
		}
	}
	for _, c := range a.Candidates {
		a.Names[c.Object.Key] = c.Object.Name
	}
	for k, s := range a.Sources {
		a.Names[k] = s.Name
	}
	return a, nil
}

func (t TimelineEntry) id() string {
	switch {
	case t.Claim != nil:
		return fmt.Sprintf("c:%s#%04d", t.Claim.ID, t.Claim.Version)
	case t.Analysis != nil:
		return fmt.Sprintf("e:%s#%04d", t.Analysis.ID, t.Analysis.Version)
	}
	return "o:" + t.Opinion.ID
}

// opinionsOn returns the opinions on the given claims; none for no claims
// (Opinions would return all).
func (kb *KB) opinionsOn(ctx context.Context, ids []string) ([]Opinion, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return kb.Opinions(ctx, ids...)
}

// latest keeps the highest version of each claim.
func latest(cs []Claim) []Claim {
	return latestVersions(cs, func(c Claim) (string, int) { return c.ID, c.Version })
}

// latestVersions keeps the highest version of each record, in input order;
// key gives a record's identity and version.
func latestVersions[T any](xs []T, key func(T) (string, int)) []T {
	best := map[string]int{}
	for i, x := range xs {
		id, v := key(x)
		if j, ok := best[id]; !ok {
			best[id] = i
		} else if _, bv := key(xs[j]); bv < v {
			best[id] = i
		}
	}
	var out []T
	for i, x := range xs {
		if id, _ := key(x); best[id] == i {
			out = append(out, x)
		}
	}
	return out
}

// links returns the latest attribution claims of key, and, when key is a
// sample, of the families it is a sample of; extra is every claim read.
func (kb *KB) links(ctx context.Context, key string) (links, extra []Claim, err error) {
	cs, err := kb.Claims(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	extra = append(extra, cs...)
	var fams []string
	for _, c := range latest(cs) {
		switch {
		case c.Subject == key && IsAttribution(c.Relation):
			links = append(links, c)
		case c.Subject == key && c.Relation == RelSampleOf:
			fams = append(fams, c.Object)
		}
	}
	for _, f := range fams {
		fc, err := kb.Claims(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range latest(fc) {
			if c.Subject == f && IsAttribution(c.Relation) {
				links = append(links, c)
				extra = append(extra, c)
			}
		}
	}
	return links, extra, nil
}

func clampP(p float64) float64 { return min(max(p, PClampLo), PClampHi) }

func logit(p float64) float64 { return math.Log(p / (1 - p)) }

func (kb *KB) claimItem(a *Assessment, c Claim) Item {
	it := Item{Kind: "claim", Claim: c, Source: a.Sources[c.Source]}
	r, err := TermRange(c.Yardstick, c.NativeTerm, c.Interpretation)
	if err != nil {
		it.NotPooled = "states no probability"
		return it
	}
	it.Range, it.P, it.HasP = &r, clampP(r.Mid()), true
	return it
}

func (kb *KB) technicalItem(a *Assessment, overlap, link Claim) Item {
	it := Item{Kind: "technical", Claim: overlap, Source: a.Sources[overlap.Source]}
	l := link
	it.Link = &l
	lr, err := TermRange(link.Yardstick, link.NativeTerm, link.Interpretation)
	if err != nil {
		it.NotPooled = "the link to the other side states no probability"
		return it
	}
	r, _ := TermRange(SharedCodeReading.Yardstick, SharedCodeReading.Term, nil)
	q := clampP(lr.Mid())
	it.Range = &r
	it.P, it.HasP = clampP(r.Mid()*q+0.5*(1-q)), true
	return it
}

// root follows a source's parents to its root.
func root(srcs map[string]Source, key string) Source {
	s := srcs[key]
	for i := 0; s.Parent != "" && i < 64; i++ {
		p, ok := srcs[s.Parent]
		if !ok {
			break
		}
		s = p
	}
	return s
}

// fuse groups a candidate's evidence by root source, keeps the latest (then
// strongest) item of each group, weighs it and pools the log-odds.
func (kb *KB) fuse(ctx context.Context, a *Assessment, obj Entity, its []Item) (Candidate, error) {
	c := Candidate{Object: obj}
	byRoot := map[string][]Item{}
	var roots []string
	for _, it := range its {
		r := root(a.Sources, it.Claim.Source).Key
		if _, ok := byRoot[r]; !ok {
			roots = append(roots, r)
		}
		byRoot[r] = append(byRoot[r], it)
	}
	var sw, swl float64
	for _, r := range roots {
		g := byRoot[r]
		slices.SortStableFunc(g, func(x, y Item) int {
			if x.HasP != y.HasP {
				if x.HasP {
					return -1
				}
				return 1
			}
			if c := strings.Compare(y.Claim.Date, x.Claim.Date); c != 0 {
				return c
			}
			switch {
			case x.P > y.P:
				return -1
			case x.P < y.P:
				return 1
			}
			return strings.Compare(x.Claim.ID, y.Claim.ID)
		})
		used := g[0]
		grp := Group{Root: a.Sources[r], Used: used, Reliability: used.Source.Reliability}
		for _, o := range g[1:] {
			if o.NotPooled == "" {
				o.NotPooled = "same root source as the evidence used; counted once"
			}
			grp.Others = append(grp.Others, o)
		}
		if !used.HasP {
			for _, o := range g {
				c.Dissent = append(c.Dissent, Dissent{Kind: "no-probability", Date: o.Claim.Date, Source: o.Source, Text: o.NotPooled, Claim: &o.Claim})
			}
			continue
		}
		grp.SecondHand = used.Claim.ReportedBy != ""
		grp.Weight = ReliabilityWeight[used.Source.Reliability]
		if grp.SecondHand {
			grp.Weight *= SecondHandFactor
		}
		grp.LogOdds = logit(used.P)
		sw += grp.Weight
		swl += grp.Weight * grp.LogOdds
		c.Groups = append(c.Groups, grp)
	}
	if sw > 0 {
		c.LogOdds = swl / sw
		c.P = 1 / (1 + math.Exp(-c.LogOdds))
	} else {
		c.P = 0.5
	}
	c.PHIA = yardstick.Word(yardstick.PHIA, c.P)
	c.ICD203 = yardstick.Word(yardstick.ICD203, c.P)

	// Dissent: pooled evidence weaker than the verdict, caveats, and
	// opinions that disagree with any evidence used.
	var ids []string
	for _, g := range c.Groups {
		it := g.Used
		if it.P < c.P && it.Kind == "claim" {
			cl := it.Claim
			c.Dissent = append(c.Dissent, Dissent{Kind: "weaker", Date: cl.Date, Source: it.Source, Claim: &cl,
				Text: fmt.Sprintf("%.2f, below the verdict", it.P)})
		}
		for _, x := range append([]Item{it}, g.Others...) {
			if x.Claim.Caveat != "" {
				cl := x.Claim
				c.Dissent = append(c.Dissent, Dissent{Kind: "caveat", Date: cl.Date, Source: x.Source, Claim: &cl, Text: cl.Caveat})
			}
			ids = append(ids, x.Claim.ID)
		}
	}
	ops, err := kb.opinionsOn(ctx, ids)
	if err != nil {
		return c, err
	}
	for i := range ops {
		o := ops[i]
		switch o.Opinion {
		case "disagree", "strongly-disagree":
			c.Dissent = append(c.Dissent, Dissent{Kind: "opinion", Date: o.Date, Source: a.Sources[o.Source], Opinion: &o, Text: o.Quote})
		case "agree", "strongly-agree":
			c.Support = append(c.Support, o)
		}
	}
	slices.SortStableFunc(c.Dissent, func(x, y Dissent) int { return strings.Compare(x.Date, y.Date) })
	slices.SortStableFunc(c.Support, func(x, y Opinion) int { return strings.Compare(x.Date, y.Date) })

	chain, err := kb.Claims(ctx, obj.Key)
	if err != nil {
		return c, err
	}
	for _, cl := range latest(chain) {
		if cl.Subject == obj.Key && IsAttribution(cl.Relation) {
			c.Chain = append(c.Chain, cl)
		}
	}
	return c, nil
}
