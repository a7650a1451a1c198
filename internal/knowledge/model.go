// Package knowledge keeps what is said about who is behind malware: actors
// and their aliases, malware families, campaigns, samples and indicators,
// the sources that speak about them, and the dated claims those sources
// make, each in the source's own words and on the source's own probability
// yardstick. It fuses the claims, and the verdicts of kinship's own engine
// (analyses, the engine's machine-generated claims), into an assessment
// (Assess, AssessWith) that weighs sources by reliability, counts dependent
// sources once and states the result in PHIA and ICD 203 terms.
//
// Claims are immutable: a correction is a new version of the claim, and
// every version stays. The knowledge base is its own SQLite file, separate
// from the engine's sample store; it links to the engine's samples by hash.
//
// Interchange lives in subpackages: misp imports MISP galaxy clusters,
// stix exports and imports STIX 2.1 bundles, seed holds the knowledge that
// ships with kinship.
package knowledge

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Kind is the kind of an entity.
type Kind string

const (
	KindActor     Kind = "actor"     // threat actor or intrusion set
	KindFamily    Kind = "family"    // malware family
	KindCampaign  Kind = "campaign"  // a set of attacks over a period
	KindSample    Kind = "sample"    // one file, by hash
	KindIndicator Kind = "indicator" // a domain, URL, IP, hash, wallet or STIX pattern
)

// Kinds lists every kind in a fixed order.
var Kinds = []Kind{KindActor, KindFamily, KindCampaign, KindSample, KindIndicator}

// Actor types (Entity.Type for KindActor), named as the STIX objects.
const (
	ActorThreatActor  = "threat-actor"
	ActorIntrusionSet = "intrusion-set"
)

// Indicator types (Entity.Type for KindIndicator).
const (
	IndDomain  = "domain"
	IndURL     = "url"
	IndIPv4    = "ipv4"
	IndIPv6    = "ipv6"
	IndSHA256  = "sha256"
	IndSHA1    = "sha1"
	IndMD5     = "md5"
	IndBitcoin = "bitcoin"
	IndPattern = "pattern" // any other STIX pattern, kept verbatim
)

// Alias statuses. A shared alias (one name on several actors) is not a
// status: it is found by looking the name up, and it never merges actors.
const (
	AliasAccepted = ""         // the source of the alias uses it for this entity
	AliasDisputed = "disputed" // some sources use the name for another group
)

// Alias is another name of an entity.
type Alias struct {
	Name   string `json:"name"`
	Status string `json:"status,omitempty"`
	Origin string `json:"origin,omitempty"` // where the alias came from: "seed", "misp:threat-actor", "stix"
	Note   string `json:"note,omitempty"`   // why it is disputed
}

// ExtRef is a pointer to information outside the knowledge base.
type ExtRef struct {
	Source      string `json:"source"`
	ID          string `json:"id,omitempty"`
	URL         string `json:"url,omitempty"`
	Description string `json:"description,omitempty"`
}

// XRef identifies an entity in another system, e.g. a MISP galaxy cluster
// by its UUID. An xref belongs to one entity; importing the same cluster
// again finds it by the xref.
type XRef struct {
	System string `json:"system"` // "misp"
	ID     string `json:"id"`
	Scope  string `json:"scope,omitempty"` // e.g. the galaxy: "threat-actor"
}

// Entity is an actor, family, campaign, sample or indicator.
type Entity struct {
	// Key is the entity's natural key, unique in the knowledge base and
	// stable across exports: "seed:NAME", "misp:UUID", "stix:STIX-ID",
	// "sha256:HEX" (samples), "domain:NAME" (indicators), ...
	Key  string `json:"key"`
	Kind Kind   `json:"kind"`
	// Type refines the kind: for actors "threat-actor" or "intrusion-set",
	// for indicators one of the Ind* constants.
	Type        string   `json:"type,omitempty"`
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Aliases     []Alias  `json:"aliases,omitempty"`
	Labels      []string `json:"labels,omitempty"` // STIX threat_actor_types or malware_types
	Country     string   `json:"country,omitempty"`
	FirstSeen   string   `json:"first_seen,omitempty"` // YYYY-MM-DD or a STIX timestamp
	LastSeen    string   `json:"last_seen,omitempty"`
	// Hashes of a sample: "MD5", "SHA-1", "SHA-256" (STIX names).
	Hashes map[string]string `json:"hashes,omitempty"`
	// Value of an indicator: the domain, URL, address, hash or pattern.
	Value string   `json:"value,omitempty"`
	Refs  []ExtRef `json:"refs,omitempty"`
	XRefs []XRef   `json:"xrefs,omitempty"`
	// Created and Modified are the STIX timestamps of an entity imported
	// from STIX, kept so that it exports unchanged; empty otherwise.
	Created  string `json:"created,omitempty"`
	Modified string `json:"modified,omitempty"`
}

// Names returns the name and every alias.
func (e *Entity) Names() []string {
	out := []string{e.Name}
	for _, a := range e.Aliases {
		out = append(out, a.Name)
	}
	return out
}

// Source is an organisation or person that makes claims.
type Source struct {
	Key  string `json:"key"`
	Name string `json:"name"`
	// Class is the STIX identity class: organization, individual, group,
	// system, class, unknown.
	Class string `json:"class,omitempty"`
	// Reliability is the Admiralty source-reliability grade A-F; empty is
	// unknown and weighs as F.
	Reliability string `json:"reliability,omitempty"`
	// Parent is the key of the source this one belongs to (GCHQ and the
	// NCSC under the UK government). Sources with the same root are
	// dependent and count once.
	Parent      string `json:"parent,omitempty"`
	URL         string `json:"url,omitempty"`
	Description string `json:"description,omitempty"`
	Created     string `json:"created,omitempty"`
	Modified    string `json:"modified,omitempty"`
}

// Relations a claim can state. Claims may use others (STIX allows any
// lower-case relationship type); these are the ones kinship interprets.
const (
	RelAttributedTo   = "attributed-to"    // subject's activity is the object's
	RelAuthoredBy     = "authored-by"      // the object wrote the subject (malware)
	RelSharesCodeWith = "shares-code-with" // technical evidence: code in common
	RelVariantOf      = "variant-of"
	RelIndicates      = "indicates" // indicator → family, campaign or actor
	RelUses           = "uses"      // campaign or actor → family
	RelSampleOf       = "sample-of" // sample → family
)

// IsAttribution reports whether a relation names who is behind the subject.
func IsAttribution(rel string) bool { return rel == RelAttributedTo || rel == RelAuthoredBy }

// Quote kinds.
const (
	QuoteVerbatim   = "verbatim"
	QuotePara       = "paraphrase"
	QuoteNoneNeeded = "" // facts without words of their own (e.g. imported)
)

// Interpretation maps a free-text native term onto a yardstick. It is
// kinship's reading of the source's words, kept apart from the words.
type Interpretation struct {
	Yardstick string `json:"yardstick"`
	Term      string `json:"term"`
	Note      string `json:"note,omitempty"`
}

// Reference kinds.
const (
	RefURL          = "url"
	RefSample       = "sample"        // Sample is a hash
	RefFunctionPair = "function-pair" // Sample@Address corresponds to Other@OtherAddress
)

// Reference is evidence a claim points to.
type Reference struct {
	Kind         string `json:"kind"`
	URL          string `json:"url,omitempty"`
	Title        string `json:"title,omitempty"`
	Sample       string `json:"sample,omitempty"`
	Address      string `json:"address,omitempty"`
	Other        string `json:"other,omitempty"`
	OtherAddress string `json:"other_address,omitempty"`
}

// Claim is one dated statement by one source: Subject Relation Object.
// Claims are never changed; a correction is a new Version.
type Claim struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	// Subject and Object are entity keys.
	Subject  string `json:"subject"`
	Relation string `json:"relation"`
	Object   string `json:"object"`
	// Source is the key of who made the claim; ReportedBy, when set, is
	// who reported it (the claim is second-hand and weighs less).
	Source     string `json:"source"`
	ReportedBy string `json:"reported_by,omitempty"`
	Date       string `json:"date"` // YYYY-MM-DD: when the source said it
	Quote      string `json:"quote,omitempty"`
	QuoteKind  string `json:"quote_kind,omitempty"`
	// NativeTerm is the source's own word for its certainty ("highly
	// likely", "moderate confidence"), on Yardstick (see Yardsticks).
	NativeTerm     string          `json:"native_term,omitempty"`
	Yardstick      string          `json:"yardstick,omitempty"`
	Interpretation *Interpretation `json:"interpretation,omitempty"`
	// Confidence is the STIX 2.1 confidence (0-100) the native term maps
	// to by the STIX 2.1 Appendix A tables; nil when it maps to none.
	Confidence *int        `json:"confidence,omitempty"`
	Caveat     string      `json:"caveat,omitempty"`
	References []Reference `json:"references,omitempty"`
	// Supersedes is the version this one corrects (0 for none) and
	// Correction says why.
	Supersedes int    `json:"supersedes,omitempty"`
	Correction string `json:"correction,omitempty"`
	// Modified is the STIX modified timestamp of a claim imported from
	// STIX (versions of a STIX relationship differ by it).
	Modified string `json:"modified,omitempty"`
}

// Opinion values, the STIX 2.1 opinion-enum.
var OpinionValues = []string{"strongly-disagree", "disagree", "neutral", "agree", "strongly-agree"}

// Opinion is a source's agreement or disagreement with one claim version.
type Opinion struct {
	ID           string      `json:"id"`
	ClaimID      string      `json:"claim_id"`
	ClaimVersion int         `json:"claim_version"`
	Source       string      `json:"source"`
	ReportedBy   string      `json:"reported_by,omitempty"`
	Date         string      `json:"date"`
	Opinion      string      `json:"opinion"`
	Quote        string      `json:"quote,omitempty"`
	QuoteKind    string      `json:"quote_kind,omitempty"`
	References   []Reference `json:"references,omitempty"`
	Modified     string      `json:"modified,omitempty"`
}

// Note is an annotation on entities or claims (About holds entity keys and
// "claim:ID" for claims).
type Note struct {
	ID         string      `json:"id"`
	About      []string    `json:"about"`
	Author     string      `json:"author,omitempty"` // source key
	Date       string      `json:"date"`
	Abstract   string      `json:"abstract,omitempty"`
	Content    string      `json:"content"`
	References []Reference `json:"references,omitempty"`
	Modified   string      `json:"modified,omitempty"`
}

// RawObject is an imported STIX object kinship has no model for (reports,
// attack patterns, tools, ...), kept verbatim so nothing is lost.
type RawObject struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	JSON string `json:"json"`
}

// Document is a whole knowledge base, or a part of one to merge into it.
// The seed is a Document; Dump returns one, sorted, so that two knowledge
// bases holding the same knowledge dump equal.
type Document struct {
	Sources  []Source    `json:"sources,omitempty"`
	Entities []Entity    `json:"entities,omitempty"`
	Claims   []Claim     `json:"claims,omitempty"`
	Opinions []Opinion   `json:"opinions,omitempty"`
	Notes    []Note      `json:"notes,omitempty"`
	Raw      []RawObject `json:"raw,omitempty"`
	// Analyses are the engine's own verdicts (see Analysis).
	Analyses []Analysis `json:"analyses,omitempty"`
}

var (
	dateRe  = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	relRe   = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)
	gradeRe = regexp.MustCompile(`^[A-F]?$`)
)

func validDate(s string) bool {
	if !dateRe.MatchString(s) {
		return false
	}
	_, err := time.Parse("2006-01-02", s)
	return err == nil
}

// Limits on stored text, so that hostile imports cannot make single values
// of unbounded size.
const (
	MaxName  = 1 << 10
	MaxText  = 1 << 20
	MaxItems = 1 << 14 // aliases, refs, references per object
)

func checkText(what, s string, limit int) error {
	if len(s) > limit {
		return fmt.Errorf("%s is %d bytes, more than %d", what, len(s), limit)
	}
	return nil
}

// Validate checks an entity's own fields.
func (e *Entity) Validate() error {
	if e.Key == "" {
		return fmt.Errorf("entity %q: empty key", e.Name)
	}
	switch e.Kind {
	case KindActor, KindFamily, KindCampaign, KindSample, KindIndicator:
	default:
		return fmt.Errorf("entity %s: unknown kind %q", e.Key, e.Kind)
	}
	if strings.TrimSpace(e.Name) == "" {
		return fmt.Errorf("entity %s: empty name", e.Key)
	}
	if e.Kind == KindActor && e.Type != ActorThreatActor && e.Type != ActorIntrusionSet {
		return fmt.Errorf("entity %s: actor type %q is not threat-actor or intrusion-set", e.Key, e.Type)
	}
	for _, c := range []struct {
		what string
		s    string
		n    int
	}{{"key", e.Key, MaxName}, {"name", e.Name, MaxName}, {"description", e.Description, MaxText}, {"value", e.Value, MaxText}} {
		if err := checkText("entity "+e.Key+": "+c.what, c.s, c.n); err != nil {
			return err
		}
	}
	if len(e.Aliases) > MaxItems || len(e.Refs) > MaxItems || len(e.XRefs) > MaxItems || len(e.Labels) > MaxItems {
		return fmt.Errorf("entity %s: too many aliases, labels or references", e.Key)
	}
	for _, a := range e.Aliases {
		if strings.TrimSpace(a.Name) == "" || len(a.Name) > MaxName {
			return fmt.Errorf("entity %s: empty or overlong alias", e.Key)
		}
		if a.Status != AliasAccepted && a.Status != AliasDisputed {
			return fmt.Errorf("entity %s: alias %q: unknown status %q", e.Key, a.Name, a.Status)
		}
	}
	return nil
}

// Validate checks a source.
func (s *Source) Validate() error {
	if s.Key == "" || strings.TrimSpace(s.Name) == "" {
		return fmt.Errorf("source %q: empty key or name", s.Key)
	}
	if !gradeRe.MatchString(s.Reliability) {
		return fmt.Errorf("source %s: reliability %q is not a grade A-F", s.Key, s.Reliability)
	}
	if s.Parent == s.Key {
		return fmt.Errorf("source %s is its own parent", s.Key)
	}
	if len(s.Name) > MaxName || len(s.Description) > MaxText {
		return fmt.Errorf("source %s: overlong name or description", s.Key)
	}
	return nil
}

// Validate checks a claim's own fields and fills nothing in.
func (c *Claim) Validate() error {
	if c.ID == "" || len(c.ID) > MaxName {
		return fmt.Errorf("claim: empty or overlong id")
	}
	if c.Version < 1 {
		return fmt.Errorf("claim %s: version %d < 1", c.ID, c.Version)
	}
	if c.Supersedes < 0 || c.Supersedes >= c.Version {
		return fmt.Errorf("claim %s v%d: supersedes v%d", c.ID, c.Version, c.Supersedes)
	}
	if c.Subject == "" || c.Object == "" || c.Source == "" {
		return fmt.Errorf("claim %s: subject, object and source are required", c.ID)
	}
	if !relRe.MatchString(c.Relation) || len(c.Relation) > 64 {
		return fmt.Errorf("claim %s: relation %q is not lower-case words joined by '-'", c.ID, c.Relation)
	}
	if !validDate(c.Date) {
		return fmt.Errorf("claim %s: date %q is not YYYY-MM-DD", c.ID, c.Date)
	}
	switch c.QuoteKind {
	case QuoteVerbatim, QuotePara, QuoteNoneNeeded:
	default:
		return fmt.Errorf("claim %s: quote kind %q", c.ID, c.QuoteKind)
	}
	if err := checkText("claim "+c.ID+": quote", c.Quote, MaxText); err != nil {
		return err
	}
	if len(c.References) > MaxItems {
		return fmt.Errorf("claim %s: too many references", c.ID)
	}
	if c.NativeTerm != "" || c.Yardstick != "" {
		if _, err := TermRange(c.Yardstick, c.NativeTerm, c.Interpretation); err != nil && err != ErrNoProbability {
			return fmt.Errorf("claim %s: %w", c.ID, err)
		}
	}
	if c.Confidence != nil && (*c.Confidence < 0 || *c.Confidence > 100) {
		return fmt.Errorf("claim %s: confidence %d outside 0-100", c.ID, *c.Confidence)
	}
	return nil
}

// Validate checks an opinion.
func (o *Opinion) Validate() error {
	if o.ID == "" || o.ClaimID == "" || o.ClaimVersion < 1 || o.Source == "" {
		return fmt.Errorf("opinion %q: id, claim, claim version and source are required", o.ID)
	}
	if !validDate(o.Date) {
		return fmt.Errorf("opinion %s: date %q is not YYYY-MM-DD", o.ID, o.Date)
	}
	ok := false
	for _, v := range OpinionValues {
		ok = ok || v == o.Opinion
	}
	if !ok {
		return fmt.Errorf("opinion %s: %q is not one of %v", o.ID, o.Opinion, OpinionValues)
	}
	return checkText("opinion "+o.ID+": quote", o.Quote, MaxText)
}

// Validate checks a note.
func (n *Note) Validate() error {
	if n.ID == "" || len(n.About) == 0 || strings.TrimSpace(n.Content) == "" {
		return fmt.Errorf("note %q: id, about and content are required", n.ID)
	}
	if !validDate(n.Date) {
		return fmt.Errorf("note %s: date %q is not YYYY-MM-DD", n.ID, n.Date)
	}
	return checkText("note "+n.ID, n.Content, MaxText)
}

// Norm is the form names are compared in: case-folded, spaces trimmed and
// collapsed.
func Norm(s string) string {
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}
