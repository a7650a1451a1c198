package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// TSV writes path<TAB>family<TAB>actor<TAB>score, with "unknown" where
// there is no attribution. The score is the probability of the family when
// one is named, else of the actor, else 0.
func TSV(w io.Writer, v model.Verdict) error {
	score := 0.0
	switch {
	case v.Family.Name != model.Unknown:
		score = v.Family.Probability
	case v.Actor.Name != model.Unknown:
		score = v.Actor.Probability
	}
	fam, act := v.Family.Name, v.Actor.Name
	if fam == "" {
		fam = model.Unknown
	}
	if act == "" {
		act = model.Unknown
	}
	_, err := fmt.Fprintf(w, "%s\t%s\t%s\t%.4f\n", field(v.Path), field(fam), field(act), score)
	return err
}

func field(s string) string {
	return strings.NewReplacer("\t", " ", "\n", " ", "\r", " ").Replace(Sanitize(s))
}
