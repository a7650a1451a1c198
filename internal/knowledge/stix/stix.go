// Package stix exports the knowledge base as STIX 2.1 bundles and imports
// STIX 2.1 bundles into it.
//
// Export writes actors as threat-actor or intrusion-set, families as
// malware, campaigns, sources as identity, samples as file observables,
// indicators with STIX patterns, claims as relationships created by their
// source, opinions and notes. What STIX has no property for (the source's
// native term and yardstick, its words, claim versions, alias status, the
// source's reliability grade and parent) travels in one property extension,
// defined by the extension-definition object the bundle carries. Every id
// is a UUIDv5 of kinship's namespace and the object's natural key, so the
// same knowledge always exports the same bundle, and importing an export
// gives back the same knowledge.
//
// Import reads any STIX 2.1 bundle. Object types kinship has no model for
// (reports, attack patterns, tools, markings, custom objects, ...) and
// relationships that involve them are kept verbatim as raw objects and
// exported again unchanged. Bundles come from partners and are treated as
// hostile: size, object count and object size are bounded, and every error
// names the object it is about.
package stix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/kinship-dev/kinship/internal/knowledge"
)

// Limits bound what a bundle may hold. The zero value means the defaults.
type Limits struct {
	MaxBytes       int64 // the whole bundle; default 256 MiB
	MaxObjects     int   // default 1,000,000
	MaxObjectBytes int   // one object; default 16 MiB
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 256 << 20
	}
	if l.MaxObjects <= 0 {
		l.MaxObjects = 1_000_000
	}
	if l.MaxObjectBytes <= 0 {
		l.MaxObjectBytes = 16 << 20
	}
	return l
}

// Bundle is a parsed STIX bundle: its objects are kept as raw JSON and
// decoded by type on import.
type Bundle struct {
	Type    string            `json:"type"`
	ID      string            `json:"id"`
	Objects []json.RawMessage `json:"objects"`
}

// Header is what every object has.
type Header struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	SpecVersion string `json:"spec_version"`
	Created     string `json:"created"`
	Modified    string `json:"modified"`
}

var (
	idRe   = regexp.MustCompile(`^([a-z][a-z0-9-]+[a-z0-9])--[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[1-5][0-9a-fA-F]{3}-[89abAB][0-9a-fA-F]{3}-[0-9a-fA-F]{12}$`)
	typeRe = regexp.MustCompile(`^([a-z][a-z0-9]*)+(-[a-z0-9]+)*-?$`)
	tsRe   = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[012])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9]|60)(\.[0-9]+)?Z$`)
)

// ParseBundle reads and checks a bundle's frame: its type and id, the
// number and size of its objects, and each object's type, id and
// timestamps. Properties are checked when the objects are imported.
func ParseBundle(r io.Reader, lim Limits) (*Bundle, error) {
	lim = lim.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("stix: read: %w", err)
	}
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("stix: bundle larger than %d bytes", lim.MaxBytes)
	}
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("stix: not a JSON bundle: %w", err)
	}
	if b.Type != "bundle" {
		return nil, fmt.Errorf("stix: type is %q, not \"bundle\"", b.Type)
	}
	if !idRe.MatchString(b.ID) || !strings.HasPrefix(b.ID, "bundle--") {
		return nil, fmt.Errorf("stix: bundle id %q is not bundle--UUID", b.ID)
	}
	if len(b.Objects) > lim.MaxObjects {
		return nil, fmt.Errorf("stix: %d objects, more than the limit of %d", len(b.Objects), lim.MaxObjects)
	}
	for i, raw := range b.Objects {
		if len(raw) > lim.MaxObjectBytes {
			return nil, fmt.Errorf("stix: object %d is %d bytes, more than the limit of %d", i, len(raw), lim.MaxObjectBytes)
		}
		if _, err := header(raw); err != nil {
			return nil, fmt.Errorf("stix: object %d: %w", i, err)
		}
	}
	return &b, nil
}

func header(raw json.RawMessage) (Header, error) {
	var h Header
	if err := json.Unmarshal(raw, &h); err != nil {
		return h, fmt.Errorf("not a JSON object: %w", err)
	}
	if !typeRe.MatchString(h.Type) || len(h.Type) < 3 || len(h.Type) > 250 {
		return h, fmt.Errorf("type %q is not a STIX type name", h.Type)
	}
	m := idRe.FindStringSubmatch(h.ID)
	if m == nil {
		return h, fmt.Errorf("%s: id %q is not TYPE--UUID", h.Type, h.ID)
	}
	if m[1] != h.Type {
		return h, fmt.Errorf("%s: id %q does not start with its type", h.Type, h.ID)
	}
	for _, ts := range []string{h.Created, h.Modified} {
		if ts != "" && !tsRe.MatchString(ts) {
			return h, fmt.Errorf("%s: timestamp %q is not RFC 3339 in UTC", h.ID, ts)
		}
	}
	return h, nil
}

// Object is the union of the STIX properties kinship reads and writes.
// Field order is the order properties are written in.
type Object struct {
	Type               string                     `json:"type"`
	SpecVersion        string                     `json:"spec_version,omitempty"`
	ID                 string                     `json:"id"`
	CreatedByRef       string                     `json:"created_by_ref,omitempty"`
	Created            string                     `json:"created,omitempty"`
	Modified           string                     `json:"modified,omitempty"`
	Name               string                     `json:"name,omitempty"`
	Description        string                     `json:"description,omitempty"`
	IdentityClass      string                     `json:"identity_class,omitempty"`
	ThreatActorTypes   []string                   `json:"threat_actor_types,omitempty"`
	MalwareTypes       []string                   `json:"malware_types,omitempty"`
	IsFamily           *bool                      `json:"is_family,omitempty"`
	Aliases            []string                   `json:"aliases,omitempty"`
	FirstSeen          string                     `json:"first_seen,omitempty"`
	LastSeen           string                     `json:"last_seen,omitempty"`
	Hashes             map[string]string          `json:"hashes,omitempty"`
	IndicatorTypes     []string                   `json:"indicator_types,omitempty"`
	Pattern            string                     `json:"pattern,omitempty"`
	PatternType        string                     `json:"pattern_type,omitempty"`
	ValidFrom          string                     `json:"valid_from,omitempty"`
	RelationshipType   string                     `json:"relationship_type,omitempty"`
	SourceRef          string                     `json:"source_ref,omitempty"`
	TargetRef          string                     `json:"target_ref,omitempty"`
	Abstract           string                     `json:"abstract,omitempty"`
	Content            string                     `json:"content,omitempty"`
	Explanation        string                     `json:"explanation,omitempty"`
	Opinion            string                     `json:"opinion,omitempty"`
	ObjectRefs         []string                   `json:"object_refs,omitempty"`
	Confidence         *int                       `json:"confidence,omitempty"`
	Schema             string                     `json:"schema,omitempty"`
	Product            string                     `json:"product,omitempty"`
	Version            string                     `json:"version,omitempty"`
	AnalysisStarted    string                     `json:"analysis_started,omitempty"`
	AnalysisEnded      string                     `json:"analysis_ended,omitempty"`
	ResultName         string                     `json:"result_name,omitempty"`
	Result             string                     `json:"result,omitempty"`
	SampleRef          string                     `json:"sample_ref,omitempty"`
	ExtensionTypes     []string                   `json:"extension_types,omitempty"`
	ExternalReferences []ExternalReference        `json:"external_references,omitempty"`
	Extensions         map[string]json.RawMessage `json:"extensions,omitempty"`
}

// ExternalReference is the STIX external-reference type.
type ExternalReference struct {
	SourceName  string `json:"source_name"`
	Description string `json:"description,omitempty"`
	URL         string `json:"url,omitempty"`
	ExternalID  string `json:"external_id,omitempty"`
}

// Ext is kinship's property extension: what STIX has no property for.
type Ext struct {
	ExtensionType string `json:"extension_type"`
	// Entities and sources.
	Key          string            `json:"key,omitempty"`
	EntityKind   string            `json:"entity_kind,omitempty"`
	EntityType   string            `json:"entity_type,omitempty"`
	EntityName   string            `json:"entity_name,omitempty"`
	Text         string            `json:"text,omitempty"` // description of an observable
	Value        string            `json:"value,omitempty"`
	Labels       []string          `json:"labels,omitempty"`
	AliasDetails []knowledge.Alias `json:"alias_details,omitempty"`
	XRefs        []knowledge.XRef  `json:"xrefs,omitempty"`
	Country      string            `json:"country,omitempty"`
	Seen         []string          `json:"seen,omitempty"` // first and last seen as kinship holds them
	Reliability  string            `json:"reliability,omitempty"`
	ParentRef    string            `json:"parent_ref,omitempty"`
	SourceURL    string            `json:"source_url,omitempty"`
	// Claims, opinions, notes.
	ClaimID        string                    `json:"claim_id,omitempty"`
	ClaimVersion   int                       `json:"claim_version,omitempty"`
	Supersedes     int                       `json:"supersedes,omitempty"`
	Correction     string                    `json:"correction,omitempty"`
	Date           string                    `json:"date,omitempty"`
	Quote          string                    `json:"quote,omitempty"`
	QuoteKind      string                    `json:"quote_kind,omitempty"`
	NativeTerm     string                    `json:"native_term,omitempty"`
	Yardstick      string                    `json:"yardstick,omitempty"`
	Interpretation *knowledge.Interpretation `json:"interpretation,omitempty"`
	Caveat         string                    `json:"caveat,omitempty"`
	References     []knowledge.Reference     `json:"evidence,omitempty"`
	ReportedByRef  string                    `json:"reported_by_ref,omitempty"`
	About          []string                  `json:"about,omitempty"`
	Modified       string                    `json:"stix_modified,omitempty"`
	// Analysis is the engine's whole verdict on a malware-analysis: its
	// family and actor judgments with calibrated probability and PHIA and
	// ICD 203 terms, the shared functions with their addresses, what it
	// was compared with, and its id and version.
	Analysis *knowledge.Analysis `json:"analysis,omitempty"`
}

// ExtensionID is the id of kinship's extension-definition.
var ExtensionID = "extension-definition--" + knowledge.NewUUIDv5(knowledge.Namespace, "extension-definition:kinship-attribution-knowledge").String()

// KinshipIdentity is the id of the identity that defines the extension.
var KinshipIdentity = "identity--" + knowledge.NewUUIDv5(knowledge.Namespace, "identity:kinship").String()

// Epoch is written for created and modified when kinship holds no date:
// STIX requires both on every domain object.
const Epoch = "1970-01-01T00:00:00.000Z"

func compactJSON(raw []byte) (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return "", err
	}
	return buf.String(), nil
}
