// Package misp imports MISP galaxy cluster files (the misp-galaxy
// project's clusters/*.json) into the knowledge base: threat-actor
// clusters become actors, tool clusters (malpedia, ransomware) malware
// families, synonyms aliases. Each cluster is identified by its UUID, so
// importing a file again changes nothing, and clusters that share a synonym
// stay separate entities.
//
// Galaxy files come from partners and are treated as hostile: the reader is
// bounded in bytes, clusters and values per cluster, and every error names
// the cluster it is about.
package misp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/kinship-dev/kinship/internal/knowledge"
)

// Limits bound what a galaxy file may hold. The zero value means the
// defaults.
type Limits struct {
	MaxBytes    int64 // default 256 MiB
	MaxClusters int   // default 100,000
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = 256 << 20
	}
	if l.MaxClusters <= 0 {
		l.MaxClusters = 100_000
	}
	return l
}

// Galaxy is a parsed cluster file.
type Galaxy struct {
	Name        string    `json:"name"`
	Type        string    `json:"type"`
	Category    string    `json:"category"`
	UUID        string    `json:"uuid"`
	Version     int       `json:"version"`
	Description string    `json:"description"`
	Values      []Cluster `json:"values"`
}

// Cluster is one galaxy cluster.
type Cluster struct {
	UUID        string                     `json:"uuid"`
	Value       string                     `json:"value"`
	Description string                     `json:"description"`
	Meta        map[string]json.RawMessage `json:"meta"`
}

// Strings returns a meta field as a list of strings: MISP writes some
// fields as a string in one cluster and a list in the next.
func (c *Cluster) Strings(key string) ([]string, error) {
	raw, ok := c.Meta[key]
	if !ok || len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, nil
	}
	var l []string
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("meta %q is neither a string nor a list of strings", key)
	}
	return l, nil
}

// Parse reads a galaxy cluster file.
func Parse(r io.Reader, lim Limits) (*Galaxy, error) {
	lim = lim.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("misp: read: %w", err)
	}
	if int64(len(data)) > lim.MaxBytes {
		return nil, fmt.Errorf("misp: file larger than %d bytes", lim.MaxBytes)
	}
	// Count values before decoding them all, so that a file of millions
	// of empty clusters is refused cheaply.
	var head struct {
		Values []json.RawMessage `json:"values"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("misp: not a galaxy cluster file: %w", err)
	}
	if len(head.Values) > lim.MaxClusters {
		return nil, fmt.Errorf("misp: %d clusters, more than the limit of %d", len(head.Values), lim.MaxClusters)
	}
	var g Galaxy
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&g); err != nil {
		return nil, fmt.Errorf("misp: not a galaxy cluster file: %w", err)
	}
	if g.Type == "" {
		return nil, errors.New("misp: the file has no galaxy type")
	}
	if g.Values == nil {
		return nil, errors.New("misp: the file has no values (clusters)")
	}
	seen := map[string]bool{}
	for i := range g.Values {
		c := &g.Values[i]
		if _, err := knowledge.ParseUUID(c.UUID); err != nil {
			return nil, fmt.Errorf("misp: cluster %d (%.80q): %w", i, c.Value, err)
		}
		c.UUID = strings.ToLower(c.UUID)
		if seen[c.UUID] {
			return nil, fmt.Errorf("misp: cluster %d: uuid %s appears twice", i, c.UUID)
		}
		seen[c.UUID] = true
		if strings.TrimSpace(c.Value) == "" {
			return nil, fmt.Errorf("misp: cluster %s has no value", c.UUID)
		}
	}
	return &g, nil
}

// kindOf maps a galaxy to the kind of entity its clusters are.
func kindOf(g *Galaxy) (knowledge.Kind, error) {
	switch {
	case g.Type == "threat-actor" || g.Category == "actor":
		return knowledge.KindActor, nil
	case g.Type == "malpedia" || g.Type == "ransomware" || g.Category == "tool" || g.Category == "malware":
		return knowledge.KindFamily, nil
	}
	return "", fmt.Errorf("misp: galaxy %q (category %q) holds neither actors nor malware families", g.Type, g.Category)
}

// Document turns a galaxy into knowledge: one entity per cluster, keyed
// "misp:UUID" and carrying the cluster UUID as an xref, so that a cluster
// the knowledge base already knows (from the seed or an earlier import)
// merges into the entity it is.
func Document(g *Galaxy) (*knowledge.Document, error) {
	kind, err := kindOf(g)
	if err != nil {
		return nil, err
	}
	origin := "misp:" + g.Type
	doc := &knowledge.Document{}
	for i := range g.Values {
		c := &g.Values[i]
		e := knowledge.Entity{
			Key:         "misp:" + c.UUID,
			Kind:        kind,
			Name:        strings.TrimSpace(c.Value),
			Description: c.Description,
			XRefs:       []knowledge.XRef{{System: "misp", ID: c.UUID, Scope: g.Type}},
		}
		if kind == knowledge.KindActor {
			e.Type = knowledge.ActorThreatActor
		}
		if g.Type == "ransomware" {
			e.Labels = []string{"ransomware"}
		}
		syn, err := c.Strings("synonyms")
		if err != nil {
			return nil, fmt.Errorf("misp: cluster %s (%s): %w", c.UUID, c.Value, err)
		}
		// The cluster's own name is an alias too, for when it merges
		// into an entity known by another name.
		for _, s := range append([]string{e.Name}, syn...) {
			if s = strings.TrimSpace(s); s != "" {
				e.Aliases = append(e.Aliases, knowledge.Alias{Name: s, Origin: origin})
			}
		}
		if cc, err := c.Strings("country"); err == nil && len(cc) == 1 {
			e.Country = cc[0]
		}
		refs, err := c.Strings("refs")
		if err != nil {
			return nil, fmt.Errorf("misp: cluster %s (%s): %w", c.UUID, c.Value, err)
		}
		for _, r := range refs {
			ref := knowledge.ExtRef{Source: "misp-galaxy:" + g.Type}
			if u, err := url.Parse(r); err == nil && u.IsAbs() && u.Host != "" {
				ref.URL = r
			} else {
				ref.Description = r
			}
			if ref.URL != "" || ref.Description != "" {
				e.Refs = append(e.Refs, ref)
			}
		}
		if err := e.Validate(); err != nil {
			return nil, fmt.Errorf("misp: cluster %s: %w", c.UUID, err)
		}
		doc.Entities = append(doc.Entities, e)
	}
	return doc, nil
}

// Result says what an import did.
type Result struct {
	Galaxy   string               `json:"galaxy"`
	Version  int                  `json:"version"`
	Clusters int                  `json:"clusters"`
	Stats    knowledge.MergeStats `json:"stats"`
}

// Import reads one galaxy cluster file into the knowledge base in one
// transaction.
func Import(ctx context.Context, kb *knowledge.KB, r io.Reader, lim Limits) (Result, error) {
	g, err := Parse(r, lim)
	if err != nil {
		return Result{}, err
	}
	doc, err := Document(g)
	if err != nil {
		return Result{}, err
	}
	st, err := kb.Merge(ctx, doc)
	if err != nil {
		return Result{}, fmt.Errorf("misp: galaxy %s: %w", g.Type, err)
	}
	return Result{Galaxy: g.Type, Version: g.Version, Clusters: len(g.Values), Stats: st}, nil
}
