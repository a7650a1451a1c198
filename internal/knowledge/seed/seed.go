// Package seed holds the knowledge that ships with kinship: public facts
// and dated claims about WannaCry, Contopee and the Lazarus Group, each
// with the public source it comes from. The knowledge base loads it on
// first use (see knowledge.Open).
//
// The data is seed.json, in the knowledge.Document format. Quotes marked
// "paraphrase" are kinship's short rendering of the source, not the
// source's words.
package seed

import _ "embed"

// Version identifies the seed's content; bump it whenever seed.json
// changes, so that existing knowledge bases load the new facts.
const Version = "1"

// JSON is the seed document.
//
//go:embed seed.json
var JSON []byte
