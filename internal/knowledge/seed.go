package knowledge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/kinship-dev/kinship/internal/knowledge/seed"
)

// Seed returns the seed document shipped with kinship.
func Seed() (*Document, error) {
	var doc Document
	dec := json.NewDecoder(bytes.NewReader(seed.JSON))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("seed: %w", err)
	}
	return &doc, nil
}

// ensureSeed merges the seed unless this version of it was merged before.
// Merging is idempotent, so a crash between the merge and the meta write
// only repeats a no-op.
func (kb *KB) ensureSeed(ctx context.Context) error {
	v, err := kb.Meta(ctx, "seed_version")
	if err != nil || v == seed.Version {
		return err
	}
	doc, err := Seed()
	if err != nil {
		return err
	}
	if _, err := kb.Merge(ctx, doc); err != nil {
		return err
	}
	return kb.setMeta(ctx, "seed_version", seed.Version)
}
