package attribute

import (
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
)

func TestSigVersionOf(t *testing.T) {
	refs := func(vs ...int) []model.SampleFunctions {
		var out []model.SampleFunctions
		for _, v := range vs {
			out = append(out, model.SampleFunctions{Sample: model.Sample{SigVersion: v}})
		}
		return out
	}
	if v, err := sigVersionOf(nil); err != nil || v != model.SigVersion {
		t.Errorf("empty: %d, %v", v, err)
	}
	if v, err := sigVersionOf(refs(1, 1)); err != nil || v != 1 {
		t.Errorf("version 1 only: %d, %v", v, err)
	}
	if _, err := sigVersionOf(refs(1, 2, 1)); err == nil || !strings.Contains(err.Error(), "2 of version 1, 1 of version 2") || !strings.Contains(err.Error(), "re-ingest") {
		t.Errorf("mixed: %v", err)
	}
	if _, err := sigVersionOf(refs(model.SigVersion + 1)); err == nil || !strings.Contains(err.Error(), "newer kinship") {
		t.Errorf("unknown version: %v", err)
	}
	ix := Build(refs(1), Options{Model: new(Model)})
	if ix.SigVersion() != 1 {
		t.Errorf("index of version 1 samples: version %d", ix.SigVersion())
	}
}
