package stix

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/kinship-dev/kinship/internal/knowledge"
)

// UnattributedSource is the source of claims whose relationship names no
// creator (created_by_ref).
var UnattributedSource = knowledge.Source{Key: "import:unattributed", Name: "unattributed STIX producer", Class: "unknown",
	Description: "Relationships imported from STIX without created_by_ref."}

var (
	valuePatRe = regexp.MustCompile(`^\[(domain-name|url|ipv4-addr|ipv6-addr|cryptocurrency-wallet):value\s*=\s*'((?:[^'\\]|\\.)*)'\]$`)
	hashPatRe  = regexp.MustCompile(`^\[file:hashes\.(?:'([A-Za-z0-9-]+)'|([A-Za-z0-9-]+))\s*=\s*'([0-9a-fA-F]+)'\]$`)
)

// ParsePattern recognises the simple patterns kinship writes (one
// comparison of a domain, URL, address, wallet or file hash) and returns the
// indicator type and value; any other pattern is type "pattern" with the
// pattern as its value.
func ParsePattern(p string) (typ, value string) {
	if m := valuePatRe.FindStringSubmatch(p); m != nil {
		v := strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(m[2])
		switch m[1] {
		case "domain-name":
			return knowledge.IndDomain, v
		case "url":
			return knowledge.IndURL, v
		case "ipv4-addr":
			return knowledge.IndIPv4, v
		case "ipv6-addr":
			return knowledge.IndIPv6, v
		case "cryptocurrency-wallet":
			return knowledge.IndBitcoin, v
		}
	}
	if m := hashPatRe.FindStringSubmatch(p); m != nil {
		alg := strings.ToUpper(m[1] + m[2])
		switch alg {
		case "SHA-256", "SHA256":
			return knowledge.IndSHA256, strings.ToLower(m[3])
		case "SHA-1", "SHA1":
			return knowledge.IndSHA1, strings.ToLower(m[3])
		case "MD5":
			return knowledge.IndMD5, strings.ToLower(m[3])
		}
	}
	return knowledge.IndPattern, p
}

// Result says what an import did.
type Result struct {
	Objects int                  `json:"objects"`
	Raw     int                  `json:"raw"` // kept verbatim
	Stats   knowledge.MergeStats `json:"stats"`
}

// Import reads one bundle into the knowledge base in one transaction.
func Import(ctx context.Context, kb *knowledge.KB, r io.Reader, lim Limits) (Result, error) {
	b, err := ParseBundle(r, lim)
	if err != nil {
		return Result{}, err
	}
	doc, err := Document(ctx, kb, b)
	if err != nil {
		return Result{}, err
	}
	st, err := kb.Merge(ctx, doc)
	if err != nil {
		return Result{}, fmt.Errorf("stix: %w", err)
	}
	return Result{Objects: len(b.Objects), Raw: len(doc.Raw), Stats: st}, nil
}

type decoded struct {
	obj Object
	ext *Ext
	raw json.RawMessage
}

func extOf(o *Object) (*Ext, error) {
	raw, ok := o.Extensions[ExtensionID]
	if !ok {
		return nil, nil
	}
	var x Ext
	if err := json.Unmarshal(raw, &x); err != nil {
		return nil, fmt.Errorf("%s: kinship extension: %w", o.ID, err)
	}
	return &x, nil
}

func unEpoch(s string) string {
	if s == Epoch {
		return ""
	}
	return s
}

func date(s string) string {
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}

// Document converts a bundle to knowledge. kb is read to number new
// versions of relationships imported before (a STIX object's versions
// share its id and differ by modified); it may be nil.
func Document(ctx context.Context, kb *knowledge.KB, b *Bundle) (*knowledge.Document, error) {
	doc := &knowledge.Document{}
	var all []decoded
	for i, raw := range b.Objects {
		var o Object
		if err := json.Unmarshal(raw, &o); err != nil {
			// A property of an unexpected JSON type: keep the object raw.
			h, herr := header(raw)
			if herr != nil {
				return nil, fmt.Errorf("stix: object %d: %w", i, herr)
			}
			o = Object{Type: h.Type, ID: h.ID}
			all = append(all, decoded{obj: o, raw: raw})
			continue
		}
		x, err := extOf(&o)
		if err != nil {
			return nil, fmt.Errorf("stix: object %d: %w", i, err)
		}
		all = append(all, decoded{obj: o, ext: x, raw: raw})
	}
	keyOf := map[string]string{} // STIX id → entity key
	srcOf := map[string]string{} // identity id → source key
	claimOf := map[string]string{}
	handled := map[int]bool{}
	needUnattributed := false

	// Sources.
	for i, d := range all {
		o, x := &d.obj, d.ext
		if o.Type != "identity" || d.raw == nil || o.ID == KinshipIdentity || o.Name == "" {
			continue
		}
		s := knowledge.Source{Key: "stix:" + o.ID, Name: o.Name, Class: o.IdentityClass, Description: o.Description,
			Created: unEpoch(o.Created), Modified: unEpoch(o.Modified)}
		if x != nil {
			if x.Key != "" {
				s.Key = x.Key
			}
			s.Reliability, s.URL = x.Reliability, x.SourceURL
		}
		srcOf[o.ID] = s.Key
		doc.Sources = append(doc.Sources, s)
		handled[i] = true
	}
	for i, d := range all {
		if !handled[i] || d.obj.Type != "identity" || d.ext == nil || d.ext.ParentRef == "" {
			continue
		}
		p, ok := srcOf[d.ext.ParentRef]
		if !ok {
			return nil, fmt.Errorf("stix: %s: parent %s not in the bundle", d.obj.ID, d.ext.ParentRef)
		}
		for j := range doc.Sources {
			if doc.Sources[j].Key == srcOf[d.obj.ID] {
				doc.Sources[j].Parent = p
			}
		}
	}

	// Entities.
	for i, d := range all {
		e, ok, err := entityOf(&d.obj, d.ext)
		if err != nil {
			return nil, fmt.Errorf("stix: %w", err)
		}
		if !ok {
			continue
		}
		keyOf[d.obj.ID] = e.Key
		doc.Entities = append(doc.Entities, e)
		handled[i] = true
	}

	// Claims: relationships between entities. Versions of one foreign
	// relationship are numbered by modified.
	var rels []int
	for i, d := range all {
		o := &d.obj
		if o.Type != "relationship" || d.raw == nil {
			continue
		}
		if keyOf[o.SourceRef] == "" || keyOf[o.TargetRef] == "" {
			continue
		}
		if o.CreatedByRef != "" && srcOf[o.CreatedByRef] == "" {
			continue
		}
		rels = append(rels, i)
	}
	slices.SortStableFunc(rels, func(x, y int) int {
		if c := strings.Compare(all[x].obj.ID, all[y].obj.ID); c != 0 {
			return c
		}
		return strings.Compare(all[x].obj.Modified, all[y].obj.Modified)
	})
	nextVersion := map[string]int{}
	for _, i := range rels {
		d := all[i]
		o, x := &d.obj, d.ext
		c := knowledge.Claim{Subject: keyOf[o.SourceRef], Relation: o.RelationshipType, Object: keyOf[o.TargetRef],
			Source: srcOf[o.CreatedByRef], Date: date(o.Created), Confidence: o.Confidence}
		if c.Source == "" {
			c.Source = UnattributedSource.Key
			needUnattributed = true
		}
		switch {
		case x != nil && x.ClaimID != "":
			c.ID, c.Version = x.ClaimID, x.ClaimVersion
		case x != nil && x.ClaimVersion > 0:
			c.ID, c.Version = "stix:"+o.ID, x.ClaimVersion
			nextVersion[c.ID] = c.Version
		default:
			c.ID = "stix:" + o.ID
			v, err := foreignVersion(ctx, kb, c.ID, o.Modified, nextVersion)
			if err != nil {
				return nil, err
			}
			if v == 0 {
				handled[i] = true // older than the version held: nothing to add
				continue
			}
			c.Version = v
		}
		if x == nil {
			// A foreign relationship: its description is its producer's
			// words, its confidence the only term it has.
			if c.Version > 1 {
				c.Supersedes = c.Version - 1
			}
			c.Modified = o.Modified
			c.Quote = o.Description
			if c.Quote != "" {
				c.QuoteKind = knowledge.QuoteVerbatim
			}
			if o.Confidence != nil {
				c.NativeTerm, c.Yardstick = strconv.Itoa(*o.Confidence), knowledge.YSTIX
			}
			for _, er := range o.ExternalReferences {
				if er.URL != "" {
					c.References = append(c.References, knowledge.Reference{Kind: knowledge.RefURL, URL: er.URL, Title: er.Description})
				}
			}
		} else {
			if x.Date != "" {
				c.Date = x.Date
			}
			c.Quote, c.QuoteKind = x.Quote, x.QuoteKind
			c.NativeTerm, c.Yardstick, c.Interpretation = x.NativeTerm, x.Yardstick, x.Interpretation
			c.References, c.Caveat = x.References, x.Caveat
			c.Supersedes, c.Correction, c.Modified = x.Supersedes, x.Correction, x.Modified
			if x.ReportedByRef != "" {
				c.ReportedBy = srcOf[x.ReportedByRef]
				if c.ReportedBy == "" {
					return nil, fmt.Errorf("stix: %s: reported_by_ref %s not in the bundle", o.ID, x.ReportedByRef)
				}
			}
		}
		if err := c.Validate(); err != nil {
			// A relationship kinship cannot hold as a claim (an odd
			// relationship type, a bad date) is kept verbatim.
			continue
		}
		claimOf[o.ID] = fmt.Sprintf("%s#%d", c.ID, c.Version)
		doc.Claims = append(doc.Claims, c)
		handled[i] = true
	}

	// Opinions on claims, and notes.
	for i, d := range all {
		o, x := &d.obj, d.ext
		switch {
		case o.Type == "opinion" && d.raw != nil && len(o.ObjectRefs) == 1 && claimOf[o.ObjectRefs[0]] != "":
			id, vs, _ := strings.Cut(claimOf[o.ObjectRefs[0]], "#")
			v, _ := strconv.Atoi(vs)
			op := knowledge.Opinion{ID: "stix:" + o.ID, ClaimID: id, ClaimVersion: v, Source: srcOf[o.CreatedByRef], Date: date(o.Created),
				Opinion: o.Opinion, Quote: o.Explanation}
			if op.Source == "" {
				if o.CreatedByRef != "" {
					continue
				}
				op.Source = UnattributedSource.Key
				needUnattributed = true
			}
			if op.Quote != "" {
				op.QuoteKind = knowledge.QuoteVerbatim
			}
			if o.Modified != o.Created {
				op.Modified = o.Modified
			}
			for _, er := range o.ExternalReferences {
				if er.URL != "" {
					op.References = append(op.References, knowledge.Reference{Kind: knowledge.RefURL, URL: er.URL, Title: er.Description})
				}
			}
			if x != nil {
				if x.Key != "" {
					op.ID = x.Key
				}
				op.Date, op.QuoteKind, op.References, op.Modified = x.Date, x.QuoteKind, x.References, x.Modified
				if x.ReportedByRef != "" {
					op.ReportedBy = srcOf[x.ReportedByRef]
				}
			}
			if op.Validate() != nil {
				continue
			}
			doc.Opinions = append(doc.Opinions, op)
			handled[i] = true
		case o.Type == "note" && d.raw != nil && strings.TrimSpace(o.Content) != "":
			n := knowledge.Note{ID: "stix:" + o.ID, Author: srcOf[o.CreatedByRef], Date: date(o.Created), Abstract: o.Abstract, Content: o.Content}
			if o.CreatedByRef != "" && n.Author == "" {
				continue
			}
			if o.Modified != o.Created {
				n.Modified = o.Modified
			}
			ok := len(o.ObjectRefs) > 0
			for _, ref := range o.ObjectRefs {
				if k := keyOf[ref]; k != "" {
					n.About = append(n.About, k)
				} else if c := claimOf[ref]; c != "" {
					id, _, _ := strings.Cut(c, "#")
					n.About = append(n.About, "claim:"+id)
				} else {
					ok = false
				}
			}
			if x != nil {
				if x.Key != "" {
					n.ID = x.Key
				}
				n.Date, n.References, n.Modified = x.Date, x.References, x.Modified
				if len(x.About) > 0 {
					n.About = x.About
				}
			}
			if !ok || n.Validate() != nil {
				continue
			}
			doc.Notes = append(doc.Notes, n)
			handled[i] = true
		}
	}

	// The engine's analyses. Their relationships to malware are made
	// again from the analysis on export, so they are not kept.
	analysisOf := map[string]bool{}
	for i, d := range all {
		o, x := &d.obj, d.ext
		if o.Type != "malware-analysis" || d.raw == nil || x == nil || x.Analysis == nil {
			continue
		}
		an := *x.Analysis
		if an.Validate() != nil || keyOf[o.SampleRef] != an.Sample {
			continue // kept verbatim
		}
		doc.Analyses = append(doc.Analyses, an)
		analysisOf[o.ID] = true
		handled[i] = true
	}
	engineID := sourceID(knowledge.EngineSourceKey)
	for i, d := range all {
		o := &d.obj
		if o.Type == "relationship" && analysisOf[o.SourceRef] && o.CreatedByRef == engineID &&
			(o.RelationshipType == RelStaticAnalysisOf || o.RelationshipType == RelCharacterizes) {
			handled[i] = true
		}
	}

	// Everything else is kept verbatim, except kinship's own identity and
	// extension definition, which every export carries.
	for i, d := range all {
		if handled[i] || d.obj.ID == KinshipIdentity || d.obj.ID == ExtensionID {
			continue
		}
		js, err := compactJSON(d.raw)
		if err != nil {
			return nil, fmt.Errorf("stix: %s: %w", d.obj.ID, err)
		}
		doc.Raw = append(doc.Raw, knowledge.RawObject{ID: d.obj.ID, Type: d.obj.Type, JSON: js})
	}
	if needUnattributed {
		doc.Sources = append(doc.Sources, UnattributedSource)
	}
	return doc, nil
}

// foreignVersion numbers a version of a foreign relationship: the version
// held with the same modified, or the next one for a newer modified; 0 for
// one older than the latest held.
func foreignVersion(ctx context.Context, kb *knowledge.KB, id, modified string, next map[string]int) (int, error) {
	if v, ok := next[id]; ok {
		next[id] = v + 1
		return v + 1, nil
	}
	v := 1
	if kb != nil {
		c, err := kb.Claim(ctx, id, 0)
		switch {
		case err == nil && c.Modified == modified:
			v = c.Version
		case err == nil && c.Modified < modified:
			v = c.Version + 1
		case err == nil:
			// Older than what is held: look for an equal version.
			for k := c.Version - 1; k >= 1; k-- {
				old, err := kb.Claim(ctx, id, k)
				if err == nil && old.Modified == modified {
					next[id] = k
					return k, nil
				}
			}
			return 0, nil
		}
	}
	next[id] = v
	return v, nil
}

// entityOf converts an object to an entity, if it is one.
func entityOf(o *Object, x *Ext) (knowledge.Entity, bool, error) {
	e := knowledge.Entity{Key: "stix:" + o.ID, Name: o.Name, Description: o.Description,
		FirstSeen: o.FirstSeen, LastSeen: o.LastSeen, Created: unEpoch(o.Created), Modified: unEpoch(o.Modified)}
	switch o.Type {
	case "threat-actor", "intrusion-set":
		e.Kind, e.Type, e.Labels = knowledge.KindActor, o.Type, o.ThreatActorTypes
	case "malware":
		e.Kind, e.Labels = knowledge.KindFamily, o.MalwareTypes
	case "campaign":
		e.Kind = knowledge.KindCampaign
	case "indicator":
		if o.Pattern == "" {
			return e, false, nil
		}
		e.Kind, e.Labels = knowledge.KindIndicator, o.IndicatorTypes
		e.Type, e.Value = ParsePattern(o.Pattern)
		e.FirstSeen = unEpoch(o.ValidFrom)
		if e.Name == "" {
			e.Name = e.Value
		}
	case "file":
		if len(o.Hashes) == 0 {
			return e, false, nil
		}
		e.Kind, e.Hashes = knowledge.KindSample, o.Hashes
		e.Created, e.Modified = "", ""
		for _, alg := range []string{"SHA-256", "SHA-1", "MD5"} {
			if h := o.Hashes[alg]; h != "" && e.Name == "" {
				e.Name = h
			}
		}
		if e.Name == "" {
			for _, h := range o.Hashes {
				e.Name = h
				break
			}
		}
	default:
		return e, false, nil
	}
	for _, a := range o.Aliases {
		e.Aliases = append(e.Aliases, knowledge.Alias{Name: a})
	}
	for _, r := range o.ExternalReferences {
		e.Refs = append(e.Refs, knowledge.ExtRef{Source: r.SourceName, ID: r.ExternalID, URL: r.URL, Description: r.Description})
	}
	if x != nil {
		if x.Key != "" {
			e.Key = x.Key
		}
		if len(x.AliasDetails) > 0 {
			e.Aliases = x.AliasDetails
		}
		e.XRefs, e.Country = x.XRefs, x.Country
		if len(x.Labels) > 0 {
			e.Labels = x.Labels
		}
		e.FirstSeen, e.LastSeen = "", ""
		if len(x.Seen) == 2 {
			e.FirstSeen, e.LastSeen = x.Seen[0], x.Seen[1]
		}
		if x.EntityType != "" {
			e.Type, e.Value = x.EntityType, x.Value
		}
		if o.Type == "file" {
			e.Name, e.Description = x.EntityName, x.Text
		}
	}
	if o.Type == "malware" && o.IsFamily != nil && !*o.IsFamily && e.Name == "" {
		e.Name = o.ID
	}
	if err := e.Validate(); err != nil {
		// An entity kinship cannot hold (no name, say) stays raw.
		return e, false, nil
	}
	return e, true, nil
}
