package knowledge

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kinship-dev/kinship/internal/yardstick"
)

// EngineSection is what the engine's verdicts contributed to an
// assessment.
type EngineSection struct {
	// Ran is true for the verdicts of this run, false for verdicts the
	// knowledge base recorded earlier.
	Ran        bool     `json:"ran"`
	Collection string   `json:"collection,omitempty"`
	References int      `json:"references,omitempty"`
	HeldOut    []string `json:"held_out,omitempty"`
	Failed     []string `json:"failed,omitempty"`
	// Uses lists every analysis read and what it counted for.
	Uses []AnalysisUse `json:"analyses"`
}

// AnalysisUse is one analysis an assessment read: the candidate it counts
// for, or why it is not pooled.
type AnalysisUse struct {
	Analysis  Analysis `json:"analysis"`
	For       string   `json:"for,omitempty"`
	NotPooled string   `json:"not_pooled,omitempty"`
}

// LabelKeyPrefix starts the key of an actor or family known only from the
// collection's labels, not from the knowledge base.
const LabelKeyPrefix = "label:"

// LabelKey is the key standing for a collection's label the knowledge base
// does not know.
func LabelKey(kind Kind, label string) string {
	return LabelKeyPrefix + string(kind) + ":" + Norm(label)
}

type engineItem struct {
	key string
	it  Item
}

// engineItems turns the engine's analyses into one evidence item per actor
// the engine names. All analyses come from one source, the engine, however
// many samples there are: the actor's item pools the calibrated
// probabilities of the analyses naming it (the mean of their log-odds, q),
// read like any shared code: p = SharedCodeReading·q + 0.5·(1−q).
func engineItems(a *Assessment, as []Analysis, inScope map[string]bool, ents map[string]Entity) []engineItem {
	as = slices.Clone(as)
	slices.SortStableFunc(as, func(x, y Analysis) int { return strings.Compare(x.ID, y.ID) })
	byKey := map[string][]Analysis{}
	var order []string
	for _, an := range as {
		use := AnalysisUse{Analysis: an}
		j := an.Actor
		switch {
		case !j.Named():
			use.NotPooled = "the engine names no actor"
			if j.Reason != "" {
				use.NotPooled += ": " + j.Reason
			}
		case j.Key == "":
			use.NotPooled = "the collection's label does not name one actor: " + j.Note
		case inScope[j.Key]:
			use.NotPooled = "the engine names the subject itself"
		default:
			use.For = j.Key
			if strings.HasPrefix(j.Key, LabelKeyPrefix) {
				if _, ok := ents[j.Key]; !ok {
					ents[j.Key] = Entity{Key: j.Key, Kind: KindActor, Name: j.Label,
						Description: "an actor label of the collection the knowledge base does not know"}
				}
			}
			if _, ok := byKey[j.Key]; !ok {
				order = append(order, j.Key)
			}
			byKey[j.Key] = append(byKey[j.Key], an)
		}
		a.Engine.Uses = append(a.Engine.Uses, use)
	}
	rel := RelAttributedTo
	if a.Subject.Kind == KindFamily || a.Subject.Kind == KindSample {
		rel = RelAuthoredBy
	}
	r, _ := TermRange(SharedCodeReading.Yardstick, SharedCodeReading.Term, nil)
	var out []engineItem
	for _, key := range order {
		group := byKey[key]
		var sl float64
		calibrated := true
		date := ""
		var ids []string
		for _, an := range group {
			sl += logit(clampP(an.Actor.Probability))
			calibrated = calibrated && an.Calibrated
			date = max(date, an.Date)
			ids = append(ids, fmt.Sprintf("%s#%d", an.ID, an.Version))
		}
		q := 1 / (1 + math.Exp(-sl/float64(len(group))))
		src := EngineSource()
		why := "calibrated on the collection's references"
		if !calibrated {
			src.Reliability = EngineGradeUncalibrated
			why = "not calibrated: the collection was too small to fit on, the default model was used"
		}
		cl := Claim{ID: "engine:" + a.Subject.Key + ":" + key, Version: 1, Subject: a.Subject.Key, Relation: rel, Object: key,
			Source: EngineSourceKey, Date: date, NativeTerm: yardstick.Word(yardstick.PHIA, q), Yardstick: YPHIA}
		rr := r
		out = append(out, engineItem{key: key, it: Item{Kind: "engine", Claim: cl, Source: src, Range: &rr,
			P: clampP(r.Mid()*q + 0.5*(1-q)), HasP: true, Q: q, Analyses: ids, GradeWhy: why}})
	}
	return out
}
