package stix

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/kinship-dev/kinship/internal/knowledge"
)

// scoNamespace is the UUID namespace STIX 2.1 gives for deterministic
// observable ids (section 2.9).
var scoNamespace = knowledge.MustParseUUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

// uriRe accepts what JSON Schema's "uri" format does for the URLs kinship
// holds: an absolute URI with no characters RFC 3986 forbids.
var uriRe = regexp.MustCompile("^[A-Za-z][A-Za-z0-9+.-]*:[^\\s<>\"{}|\\\\^`]+$")

// ValidURI reports whether s can go into a STIX url property.
func ValidURI(s string) bool { return uriRe.MatchString(s) && !strings.Contains(s, "%%") }

// ids maps knowledge keys to STIX ids.
type ids struct {
	entity map[string]string
	source map[string]string
}

func sourceID(key string) string {
	if id, ok := strings.CutPrefix(key, "stix:"); ok {
		return id
	}
	return "identity--" + knowledge.NewUUIDv5(knowledge.Namespace, "source:"+key).String()
}

func entityID(e *knowledge.Entity) string {
	if id, ok := strings.CutPrefix(e.Key, "stix:"); ok {
		return id
	}
	if e.Kind == knowledge.KindSample {
		// STIX 2.1 §2.9: a UUIDv5 in the SCO namespace over the
		// canonical JSON of the id-contributing properties (the hashes).
		b, _ := json.Marshal(map[string]any{"hashes": e.Hashes})
		return "file--" + knowledge.NewUUIDv5(scoNamespace, string(b)).String()
	}
	return stixType(e) + "--" + knowledge.NewUUIDv5(knowledge.Namespace, "entity:"+e.Key).String()
}

func stixType(e *knowledge.Entity) string {
	switch e.Kind {
	case knowledge.KindActor:
		return e.Type
	case knowledge.KindFamily:
		return "malware"
	case knowledge.KindCampaign:
		return "campaign"
	case knowledge.KindSample:
		return "file"
	default:
		return "indicator"
	}
}

func claimID(c *knowledge.Claim) string {
	if id, ok := strings.CutPrefix(c.ID, "stix:"); ok {
		return id
	}
	return "relationship--" + knowledge.NewUUIDv5(knowledge.Namespace, fmt.Sprintf("claim:%s#%d", c.ID, c.Version)).String()
}

func opinionID(o *knowledge.Opinion) string {
	if id, ok := strings.CutPrefix(o.ID, "stix:"); ok {
		return id
	}
	return "opinion--" + knowledge.NewUUIDv5(knowledge.Namespace, "opinion:"+o.ID).String()
}

func analysisID(an *knowledge.Analysis) string {
	return "malware-analysis--" + knowledge.NewUUIDv5(knowledge.Namespace, fmt.Sprintf("analysis:%s#%d", an.ID, an.Version)).String()
}

// Relationship types from a malware-analysis to a malware (STIX 2.1
// section 4.11, Relationships): the analysis was a static analysis of a
// sample of the subject family, and its result characterizes the family
// the engine named.
const (
	RelStaticAnalysisOf = "static-analysis-of"
	RelCharacterizes    = "characterizes"
)

// AnalysisResult is the malware-analysis result kinship writes: "unknown"
// in the STIX malware-av-result-ov, because attribution says whose code a
// sample shares, not whether it is malicious.
const AnalysisResult = "unknown"

func noteID(n *knowledge.Note) string {
	if id, ok := strings.CutPrefix(n.ID, "stix:"); ok {
		return id
	}
	return "note--" + knowledge.NewUUIDv5(knowledge.Namespace, "note:"+n.ID).String()
}

// ts turns a kinship date or STIX timestamp into a STIX timestamp.
func ts(s string) string {
	switch {
	case s == "":
		return ""
	case len(s) == 10:
		return s + "T00:00:00.000Z"
	}
	return s
}

func orEpoch(s string) string {
	if s == "" {
		return Epoch
	}
	return s
}

// Pattern returns the STIX pattern of an indicator.
func Pattern(typ, value string) (string, error) {
	esc := strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(value)
	switch typ {
	case knowledge.IndDomain:
		return "[domain-name:value = '" + esc + "']", nil
	case knowledge.IndURL:
		return "[url:value = '" + esc + "']", nil
	case knowledge.IndIPv4:
		return "[ipv4-addr:value = '" + esc + "']", nil
	case knowledge.IndIPv6:
		return "[ipv6-addr:value = '" + esc + "']", nil
	case knowledge.IndSHA256:
		return "[file:hashes.'SHA-256' = '" + esc + "']", nil
	case knowledge.IndSHA1:
		return "[file:hashes.'SHA-1' = '" + esc + "']", nil
	case knowledge.IndMD5:
		return "[file:hashes.MD5 = '" + esc + "']", nil
	case knowledge.IndBitcoin:
		// STIX 2.1 has no core object for wallets; the pattern names the
		// cryptocurrency-wallet object of the OASIS common extensions.
		return "[cryptocurrency-wallet:value = '" + esc + "']", nil
	case knowledge.IndPattern:
		return value, nil
	}
	return "", fmt.Errorf("indicator type %q has no STIX pattern", typ)
}

func extMap(x Ext) map[string]json.RawMessage {
	x.ExtensionType = "property-extension"
	b, _ := json.Marshal(x)
	return map[string]json.RawMessage{ExtensionID: b}
}

func extRefs(refs []knowledge.ExtRef) []ExternalReference {
	var out []ExternalReference
	for _, r := range refs {
		er := ExternalReference{SourceName: r.Source, ExternalID: r.ID, URL: r.URL, Description: r.Description}
		if er.URL != "" && !ValidURI(er.URL) {
			er.Description = strings.TrimSpace(er.Description + " " + er.URL)
			er.URL = ""
		}
		if er.SourceName == "" {
			er.SourceName = "kinship"
		}
		out = append(out, er)
	}
	return out
}

func evidenceRefs(sourceName string, refs []knowledge.Reference) []ExternalReference {
	var out []ExternalReference
	for _, r := range refs {
		if r.Kind == knowledge.RefURL && ValidURI(r.URL) {
			out = append(out, ExternalReference{SourceName: sourceName, URL: r.URL, Description: r.Title})
		}
	}
	return out
}

// Export writes the whole knowledge base, or with subject the knowledge
// about it (the entities, claims, opinions and notes its assessment reads,
// and the sources behind them), as one STIX 2.1 bundle.
func Export(ctx context.Context, kb *knowledge.KB, subject string, w io.Writer) error {
	b, err := BuildBundle(ctx, kb, subject)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(b)
}

// BuildBundle makes the bundle Export writes.
func BuildBundle(ctx context.Context, kb *knowledge.KB, subject string) (*Bundle, error) {
	doc, err := kb.Dump(ctx)
	if err != nil {
		return nil, err
	}
	if subject != "" {
		if doc, err = subset(ctx, kb, doc, subject); err != nil {
			return nil, err
		}
	}
	return bundleOf(doc)
}

// subset keeps what the assessment of subject reads.
func subset(ctx context.Context, kb *knowledge.KB, doc *knowledge.Document, subject string) (*knowledge.Document, error) {
	a, err := kb.Assess(ctx, subject)
	if err != nil {
		return nil, err
	}
	keep := map[string]bool{a.Subject.Key: true}
	claims := map[string]bool{}
	analyses := map[string]bool{}
	srcs := map[string]bool{}
	for _, s := range a.Scope {
		keep[s.Entity.Key] = true
	}
	for _, t := range a.Timeline {
		if c := t.Claim; c != nil {
			claims[c.ID] = true
			keep[c.Subject], keep[c.Object] = true, true
			srcs[c.Source] = true
			if c.ReportedBy != "" {
				srcs[c.ReportedBy] = true
			}
		}
		if o := t.Opinion; o != nil {
			srcs[o.Source] = true
			if o.ReportedBy != "" {
				srcs[o.ReportedBy] = true
			}
		}
		if an := t.Analysis; an != nil {
			analyses[an.ID] = true
			keep[an.Subject], keep[an.Sample] = true, true
			if an.Family.Key != "" {
				keep[an.Family.Key] = true
			}
			srcs[an.Source] = true
		}
	}
	out := &knowledge.Document{}
	for _, e := range doc.Entities {
		if keep[e.Key] {
			out.Entities = append(out.Entities, e)
		}
	}
	for _, c := range doc.Claims {
		if claims[c.ID] {
			out.Claims = append(out.Claims, c)
		}
	}
	for _, an := range doc.Analyses {
		if analyses[an.ID] {
			out.Analyses = append(out.Analyses, an)
		}
	}
	for _, o := range doc.Opinions {
		if claims[o.ClaimID] {
			out.Opinions = append(out.Opinions, o)
			srcs[o.Source] = true
		}
	}
	for _, n := range doc.Notes {
		for _, k := range n.About {
			if keep[k] || claims[strings.TrimPrefix(k, "claim:")] {
				out.Notes = append(out.Notes, n)
				if n.Author != "" {
					srcs[n.Author] = true
				}
				break
			}
		}
	}
	// Sources with their parent chains.
	bySrc := map[string]knowledge.Source{}
	for _, s := range doc.Sources {
		bySrc[s.Key] = s
	}
	for k := range srcs {
		for p := bySrc[k].Parent; p != "" && !srcs[p]; p = bySrc[p].Parent {
			srcs[p] = true
		}
	}
	for _, s := range doc.Sources {
		if srcs[s.Key] {
			out.Sources = append(out.Sources, s)
		}
	}
	// Notes may name entities or claims outside the subset; keep them
	// only when all they are about is exported.
	var notes []knowledge.Note
	for _, n := range out.Notes {
		ok := true
		for _, k := range n.About {
			if c, isClaim := strings.CutPrefix(k, "claim:"); isClaim {
				ok = ok && claims[c]
			} else {
				ok = ok && keep[k]
			}
		}
		if ok {
			notes = append(notes, n)
		}
	}
	out.Notes = notes
	return out, nil
}

// bundleOf converts a document to a bundle.
func bundleOf(doc *knowledge.Document) (*Bundle, error) {
	var objs []any
	add := func(o any) { objs = append(objs, o) }
	add(Object{Type: "identity", SpecVersion: "2.1", ID: KinshipIdentity, Created: Epoch, Modified: Epoch,
		Name: "kinship", IdentityClass: "system",
		Description: "kinship attributes malware to families and actors by shared code and keeps who claimed what about them."})
	add(Object{Type: "extension-definition", SpecVersion: "2.1", ID: ExtensionID, CreatedByRef: KinshipIdentity, Created: Epoch, Modified: Epoch,
		Name:        "kinship attribution knowledge",
		Description: "What kinship keeps that STIX has no property for: a claim's date, the source's own words, its native term and the yardstick the term comes from (UK PHIA, US ICD 203, analytic confidence, Admiralty, STIX WEP/DNI, free text) with kinship's reading of free text; claim versions; evidence such as function address pairs; alias status and origin; a source's Admiralty reliability grade and parent; kinship's natural keys.",
		Schema:      "The properties are described in kinship's docs/knowledge.md, section 'STIX extension'.",
		Version:     "1.0", ExtensionTypes: []string{"property-extension"}})

	srcs := map[string]knowledge.Source{}
	for _, s := range doc.Sources {
		srcs[s.Key] = s
	}
	for _, s := range doc.Sources {
		x := Ext{Reliability: s.Reliability, SourceURL: s.URL}
		if !strings.HasPrefix(s.Key, "stix:") {
			x.Key = s.Key
		}
		if s.Parent != "" {
			x.ParentRef = sourceID(s.Parent)
		}
		o := Object{Type: "identity", SpecVersion: "2.1", ID: sourceID(s.Key), Created: orEpoch(s.Created), Modified: orEpoch(s.Modified),
			Name: s.Name, Description: s.Description, IdentityClass: s.Class}
		if x.Key != "" || x.Reliability != "" || x.ParentRef != "" || x.SourceURL != "" {
			o.Extensions = extMap(x)
		}
		add(o)
	}

	ents := map[string]*knowledge.Entity{}
	for i := range doc.Entities {
		ents[doc.Entities[i].Key] = &doc.Entities[i]
	}
	for i := range doc.Entities {
		o, err := entityObject(&doc.Entities[i])
		if err != nil {
			return nil, err
		}
		add(o)
	}

	claimIDs := map[string]string{} // "id#version" → STIX id
	latest := map[string]string{}
	for i := range doc.Claims {
		c := &doc.Claims[i]
		sub, obj := ents[c.Subject], ents[c.Object]
		if sub == nil || obj == nil {
			return nil, fmt.Errorf("claim %s v%d: subject or object not exported", c.ID, c.Version)
		}
		x := Ext{Date: c.Date, Quote: c.Quote, QuoteKind: c.QuoteKind, NativeTerm: c.NativeTerm, Yardstick: c.Yardstick,
			Interpretation: c.Interpretation, Caveat: c.Caveat, References: c.References, Supersedes: c.Supersedes, Correction: c.Correction}
		if !strings.HasPrefix(c.ID, "stix:") {
			x.ClaimID, x.ClaimVersion = c.ID, c.Version
		} else if c.Version > 1 {
			x.ClaimVersion = c.Version
		}
		if c.ReportedBy != "" {
			x.ReportedByRef = sourceID(c.ReportedBy)
		}
		created := ts(c.Date)
		desc := c.Quote
		if c.QuoteKind == knowledge.QuotePara {
			desc = "[paraphrase] " + desc
		}
		o := Object{Type: "relationship", SpecVersion: "2.1", ID: claimID(c), CreatedByRef: sourceID(c.Source),
			Created: created, Modified: created, RelationshipType: c.Relation, SourceRef: entityID(sub), TargetRef: entityID(obj),
			Description: desc, Confidence: c.Confidence, ExternalReferences: evidenceRefs(srcs[c.Source].Name, c.References), Extensions: extMap(x)}
		if c.Modified != "" {
			o.Modified = c.Modified
			x.Modified = c.Modified
			o.Extensions = extMap(x)
			if o.Modified < o.Created {
				o.Created = o.Modified
			}
		}
		claimIDs[fmt.Sprintf("%s#%d", c.ID, c.Version)] = o.ID
		latest[c.ID] = o.ID
		add(o)
	}
	for i := range doc.Opinions {
		op := &doc.Opinions[i]
		ref, ok := claimIDs[fmt.Sprintf("%s#%d", op.ClaimID, op.ClaimVersion)]
		if !ok {
			return nil, fmt.Errorf("opinion %s: claim %s v%d not exported", op.ID, op.ClaimID, op.ClaimVersion)
		}
		x := Ext{Date: op.Date, QuoteKind: op.QuoteKind, References: op.References, Modified: op.Modified}
		if !strings.HasPrefix(op.ID, "stix:") {
			x.Key = op.ID
		}
		if op.ReportedBy != "" {
			x.ReportedByRef = sourceID(op.ReportedBy)
		}
		created := ts(op.Date)
		o := Object{Type: "opinion", SpecVersion: "2.1", ID: opinionID(op), CreatedByRef: sourceID(op.Source), Created: created, Modified: created,
			Explanation: op.Quote, Opinion: op.Opinion, ObjectRefs: []string{ref},
			ExternalReferences: evidenceRefs(srcs[op.Source].Name, op.References), Extensions: extMap(x)}
		if op.Modified != "" {
			o.Modified = op.Modified
		}
		add(o)
	}
	for i := range doc.Notes {
		n := &doc.Notes[i]
		var refs []string
		for _, k := range n.About {
			if c, ok := strings.CutPrefix(k, "claim:"); ok {
				id, ok := latest[c]
				if !ok {
					return nil, fmt.Errorf("note %s: claim %s not exported", n.ID, c)
				}
				refs = append(refs, id)
				continue
			}
			e := ents[k]
			if e == nil {
				return nil, fmt.Errorf("note %s: %s not exported", n.ID, k)
			}
			refs = append(refs, entityID(e))
		}
		x := Ext{Date: n.Date, About: n.About, References: n.References, Modified: n.Modified}
		if !strings.HasPrefix(n.ID, "stix:") {
			x.Key = n.ID
		}
		created := ts(n.Date)
		o := Object{Type: "note", SpecVersion: "2.1", ID: noteID(n), Created: created, Modified: created,
			Abstract: n.Abstract, Content: n.Content, ObjectRefs: refs, Extensions: extMap(x)}
		if n.Author != "" {
			o.CreatedByRef = sourceID(n.Author)
		}
		if n.Modified != "" {
			o.Modified = n.Modified
		}
		add(o)
	}
	for i := range doc.Analyses {
		objs, err := analysisObjects(&doc.Analyses[i], ents)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			add(o)
		}
	}
	for _, r := range doc.Raw {
		add(json.RawMessage(r.JSON))
	}

	b := &Bundle{Type: "bundle"}
	var idList []string
	for _, o := range objs {
		raw, err := json.Marshal(o)
		if err != nil {
			return nil, err
		}
		b.Objects = append(b.Objects, raw)
		h, err := header(raw)
		if err != nil {
			return nil, fmt.Errorf("exporting: %w", err)
		}
		idList = append(idList, h.ID+"@"+h.Modified)
	}
	sort.Strings(idList)
	b.ID = "bundle--" + knowledge.NewUUIDv5(knowledge.Namespace, "bundle:"+strings.Join(idList, ",")).String()
	return b, nil
}

// analysisObjects converts one of the engine's analyses: a malware-analysis
// of the sample's file object, created by the engine's identity, with the
// verdict in kinship's extension; and its relationships to the subject
// family and to the family the engine named, when those are exported.
func analysisObjects(an *knowledge.Analysis, ents map[string]*knowledge.Entity) ([]Object, error) {
	sample := ents[an.Sample]
	if sample == nil {
		return nil, fmt.Errorf("analysis %s v%d: sample %s not exported", an.ID, an.Version, an.Sample)
	}
	created := an.Started
	if created == "" {
		created = ts(an.Date)
	}
	modified := created
	if an.Modified != "" {
		modified = an.Modified
	}
	x := an
	o := Object{Type: "malware-analysis", SpecVersion: "2.1", ID: analysisID(an), CreatedByRef: sourceID(knowledge.EngineSourceKey),
		Created: created, Modified: modified, Product: an.Product, Version: an.EngineVersion,
		AnalysisStarted: an.Started, AnalysisEnded: an.Ended, Result: AnalysisResult, SampleRef: entityID(sample),
		Extensions: extMap(Ext{Analysis: x})}
	// The family is the sample's name only when the engine compared it
	// with the whole collection; with the subject's family held out it is
	// the closest other family, which the extension and a characterizes
	// relationship carry, but which is not the sample's name.
	if an.Family.Named() && len(an.HeldOut) == 0 {
		o.ResultName = an.Family.Label
	}
	out := []Object{o}
	rel := func(typ string, target *knowledge.Entity) {
		out = append(out, Object{Type: "relationship", SpecVersion: "2.1",
			ID:           "relationship--" + knowledge.NewUUIDv5(knowledge.Namespace, fmt.Sprintf("analysis:%s#%d:%s", an.ID, an.Version, typ)).String(),
			CreatedByRef: sourceID(knowledge.EngineSourceKey), Created: created, Modified: modified,
			RelationshipType: typ, SourceRef: o.ID, TargetRef: entityID(target),
			Description: "machine-generated by the kinship engine"})
	}
	if s := ents[an.Subject]; s != nil && s.Kind == knowledge.KindFamily {
		rel(RelStaticAnalysisOf, s)
	}
	if f := ents[an.Family.Key]; an.Family.Named() && f != nil && f.Kind == knowledge.KindFamily && f.Key != an.Subject {
		rel(RelCharacterizes, f)
	}
	return out, nil
}

func entityObject(e *knowledge.Entity) (Object, error) {
	x := Ext{Country: e.Country}
	if !strings.HasPrefix(e.Key, "stix:") {
		x.Key = e.Key
	}
	if aliasesNeedDetail(e.Aliases) {
		x.AliasDetails = e.Aliases
	}
	x.XRefs = e.XRefs
	if e.FirstSeen != "" || e.LastSeen != "" {
		x.Seen = []string{e.FirstSeen, e.LastSeen}
	}
	o := Object{Type: stixType(e), SpecVersion: "2.1", ID: entityID(e), Created: orEpoch(e.Created), Modified: orEpoch(e.Modified),
		Name: e.Name, Description: e.Description, FirstSeen: ts(e.FirstSeen), LastSeen: ts(e.LastSeen), ExternalReferences: extRefs(e.Refs)}
	for _, a := range e.Aliases {
		o.Aliases = append(o.Aliases, a.Name)
	}
	switch e.Kind {
	case knowledge.KindActor:
		if e.Type == knowledge.ActorThreatActor {
			o.ThreatActorTypes = e.Labels
		} else {
			x.Labels = e.Labels
		}
	case knowledge.KindFamily:
		t := true
		o.IsFamily = &t
		o.MalwareTypes = e.Labels
	case knowledge.KindCampaign:
		x.Labels = e.Labels
	case knowledge.KindSample:
		// An observable: no created, modified, name (a file name) or
		// description of its own; kinship's name and text ride in the
		// extension.
		x.EntityKind, x.EntityName, x.Text, x.Labels = string(e.Kind), e.Name, e.Description, e.Labels
		if len(e.Hashes) == 0 {
			return o, fmt.Errorf("sample %s has no hashes", e.Key)
		}
		o = Object{Type: "file", SpecVersion: "2.1", ID: o.ID, Hashes: e.Hashes}
		if len(e.Refs) > 0 {
			return o, fmt.Errorf("sample %s: references on observables are not exported", e.Key)
		}
		o.Extensions = extMap(x)
		return o, nil
	case knowledge.KindIndicator:
		p, err := Pattern(e.Type, e.Value)
		if err != nil {
			return o, fmt.Errorf("indicator %s: %w", e.Key, err)
		}
		x.EntityType, x.Value = e.Type, e.Value
		o.Aliases, o.FirstSeen, o.LastSeen = nil, "", ""
		o.Pattern, o.PatternType, o.ValidFrom = p, "stix", orEpoch(ts(e.FirstSeen))
		o.IndicatorTypes = e.Labels
		x.AliasDetails = e.Aliases
	}
	o.Extensions = extMap(x)
	return o, nil
}

// aliasesNeedDetail reports whether aliases carry more than names.
func aliasesNeedDetail(as []knowledge.Alias) bool {
	return slices.ContainsFunc(as, func(a knowledge.Alias) bool { return a.Status != "" || a.Origin != "" || a.Note != "" })
}
