package model

// Unknown is the label printed when kinship makes no attribution.
const Unknown = "unknown"

// Judgment is one attribution decision (family or actor) with its
// probability and the estimative terms analysts use for it.
type Judgment struct {
	Name        string  `json:"name"`           // attributed label, or Unknown
	Probability float64 `json:"probability"`    // calibrated probability that Name is right
	PHIA        string  `json:"phia"`           // UK Professional Head of Intelligence Assessment yardstick term
	ICD203      string  `json:"icd203"`         // US ICD 203 term
	Best        string  `json:"best,omitempty"` // strongest candidate even when Name is Unknown
	Reason      string  `json:"reason"`
}

// Candidate is one family or actor with the evidence for it.
type Candidate struct {
	Name        string  `json:"name"`
	Actor       string  `json:"actor,omitempty"` // for family candidates
	Share       float64 `json:"share"`           // share of the sample's weighted distinctive code found only under this label
	Evidence    float64 `json:"evidence"`        // weighted evidence units behind Share
	Functions   int     `json:"functions"`       // query functions counted
	Probability float64 `json:"probability"`
}

// SampleMatch is one reference sample sharing code with the query.
type SampleMatch struct {
	SHA256    string  `json:"sha256"`
	Name      string  `json:"name"`
	Family    string  `json:"family,omitempty"`
	Actor     string  `json:"actor,omitempty"`
	Functions int     `json:"functions"` // query functions with a match in it
	Evidence  float64 `json:"evidence"`  // rarity-weighted
}

// FunctionMatch is one query function matched in a reference sample.
type FunctionMatch struct {
	QueryAddr  uint64  `json:"query_addr"`
	RefSHA256  string  `json:"ref_sha256"`
	RefName    string  `json:"ref_name"`
	RefAddr    uint64  `json:"ref_addr"`
	Family     string  `json:"family,omitempty"`
	Actor      string  `json:"actor,omitempty"`
	Similarity float64 `json:"similarity"`
	Size       uint32  `json:"size"`
	Instrs     uint32  `json:"instrs"`
	Families   int     `json:"families"` // labelled families holding a similar function: 1 is rare
	Weight     float64 `json:"weight"`
	Name       string  `json:"name,omitempty"`
}

// CodeShare splits a sample's code (in weighted instructions) by where else it is found.
type CodeShare struct {
	Unique float64            `json:"unique"` // found nowhere in the collection
	Common float64            `json:"common"` // runtime, libraries, code across unrelated labels
	Shared map[string]float64 `json:"shared"` // found only under one family
	Multi  float64            `json:"multi"`  // found under several families of one actor
}

// Verdict is the attribution of one file.
type Verdict struct {
	Path       string          `json:"path"`
	Sample     Sample          `json:"sample"`
	Family     Judgment        `json:"family"`
	Actor      Judgment        `json:"actor"`
	Families   []Candidate     `json:"families,omitempty"`
	Actors     []Candidate     `json:"actors,omitempty"`
	Samples    []SampleMatch   `json:"samples,omitempty"`
	Evidence   []FunctionMatch `json:"evidence,omitempty"`
	Share      CodeShare       `json:"share"`
	Calibrated string          `json:"calibration"` // how the probability model was obtained
	Error      string          `json:"error,omitempty"`
}
