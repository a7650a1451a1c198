package knowledge_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/knowledge"
)

// analysis is an engine verdict on one sample of "m" (testDoc's family)
// naming actor label with probability p.
func analysis(sha byte, label, key string, p float64, calibrated bool) knowledge.Analysis {
	h := strings.Repeat(string("0123456789abcdef"[sha%16]), 64)
	j := knowledge.EngineJudgment{Label: label, Key: key, Probability: p, PHIA: "likely", ICD203: "likely"}
	return knowledge.Analysis{ID: knowledge.AnalysisID("m", h), Version: 1, Source: knowledge.EngineSourceKey, MachineGenerated: true,
		Subject: "m", Sample: "sha256:" + h, Hashes: map[string]string{"SHA-256": h}, Origin: knowledge.AnalysisFromStore,
		Date: "2025-01-01", Product: "kinship", Calibration: "test", Calibrated: calibrated,
		Family: knowledge.EngineJudgment{Label: knowledge.EngineUnknown}, Actor: j}
}

func lg(p float64) float64 { return math.Log(p / (1 - p)) }

// TestEngineEvidence checks how the engine's verdicts enter an assessment:
// one group however many samples, the pooled probability read as shared
// code, the grade by calibration, and the verdicts that are not pooled.
func TestEngineEvidence(t *testing.T) {
	ctx := context.Background()
	kb := openKB(t, knowledge.Options{NoSeed: true})
	if _, err := kb.Merge(ctx, testDoc()); err != nil {
		t.Fatal(err)
	}
	run := &knowledge.EngineRun{Collection: "test", References: 10, Analyses: []knowledge.Analysis{
		analysis(1, "X", "x", 0.9, true),
		analysis(2, "X", "x", 0.99, true),
		analysis(3, knowledge.EngineUnknown, "", 0.7, true),
		analysis(4, "Shared", "", 0.8, true), // a label naming several actors
		analysis(5, "Mal", "m", 0.8, true),   // the subject itself
		analysis(6, "Other", knowledge.LabelKey(knowledge.KindActor, "Other"), 0.8, false),
	}}
	a, err := kb.AssessWith(ctx, "mal", run)
	if err != nil {
		t.Fatal(err)
	}
	var x, other *knowledge.Candidate
	for i, c := range a.Candidates {
		switch c.Object.Key {
		case "x":
			x = &a.Candidates[i]
		case knowledge.LabelKey(knowledge.KindActor, "Other"):
			other = &a.Candidates[i]
		}
	}
	if x == nil || other == nil || len(a.Candidates) != 2 {
		t.Fatalf("candidates %+v, want Group X and the label-only Other", a.Candidates)
	}
	if len(x.Groups) != 3 {
		t.Fatalf("Group X: %d groups, want the government, the vendor and the engine once", len(x.Groups))
	}
	g := x.Groups[2]
	if g.Root.Key != knowledge.EngineSourceKey || len(g.Used.Analyses) != 2 || g.Reliability != knowledge.EngineGrade {
		t.Fatalf("engine group %+v", g)
	}
	q := 1 / (1 + math.Exp(-(lg(0.9)+lg(0.98))/2)) // 0.99 is clamped to 0.98
	if p := 0.675*q + 0.5*(1-q); math.Abs(g.Used.Q-q) > 1e-9 || math.Abs(g.Used.P-p) > 1e-9 || math.Abs(g.Weight-0.8) > 1e-9 {
		t.Errorf("engine q %v p %v weight %v, want q %v p %v weight 0.8", g.Used.Q, g.Used.P, g.Weight, q, p)
	}
	if og := other.Groups[0]; og.Reliability != knowledge.EngineGradeUncalibrated || og.Weight != 0.5 {
		t.Errorf("uncalibrated engine: grade %s weight %v, want F 0.5", og.Reliability, og.Weight)
	}
	why := map[string]string{}
	for _, u := range a.Engine.Uses {
		why[u.Analysis.ID[len(u.Analysis.ID)-1:]] = u.For + u.NotPooled
	}
	for sha, want := range map[string]string{"1": "x", "2": "x", "3": "names no actor", "4": "does not name one actor", "5": "the subject itself"} {
		if !strings.Contains(why[sha], want) {
			t.Errorf("analysis %s: %q, want %q", sha, why[sha], want)
		}
	}
}

// TestRecordAnalyses checks that the engine's analyses are its own
// immutable claims: stored once per verdict, a changed verdict is a new
// version, and nothing else may claim as the engine.
func TestRecordAnalyses(t *testing.T) {
	ctx := context.Background()
	kb := openKB(t, knowledge.Options{NoSeed: true})
	if _, err := kb.Merge(ctx, testDoc()); err != nil {
		t.Fatal(err)
	}
	an := analysis(1, "X", "x", 0.9, true)
	for i, want := range []knowledge.RecordStats{{New: 1}, {Unchanged: 1}} {
		an.Date = "2025-01-0" + string(rune('1'+i)) // a later run, same verdict
		st, err := kb.RecordAnalyses(ctx, []knowledge.Analysis{an})
		if err != nil || st != want {
			t.Fatalf("record #%d: %+v %v, want %+v", i+1, st, err, want)
		}
	}
	an.Actor.Probability = 0.8
	if st, err := kb.RecordAnalyses(ctx, []knowledge.Analysis{an}); err != nil || st.Versions != 1 {
		t.Fatalf("changed verdict: %+v %v", st, err)
	}
	as, err := kb.Analyses(ctx)
	if err != nil || len(as) != 2 || as[1].Version != 2 || as[1].Supersedes != 1 {
		t.Fatalf("analyses %+v %v", as, err)
	}
	// Recorded analyses count when no run is given; the latest version.
	a, err := kb.Assess(ctx, "mal")
	if err != nil {
		t.Fatal(err)
	}
	if a.Engine == nil || a.Engine.Ran || len(a.Engine.Uses) != 1 || a.Engine.Uses[0].Analysis.Version != 2 {
		t.Errorf("engine section from recorded analyses: %+v", a.Engine)
	}
	// Immutable, like claims.
	old := as[0]
	old.Actor.Probability = 0.1
	if _, err := kb.Merge(ctx, &knowledge.Document{Analyses: []knowledge.Analysis{old}}); err == nil {
		t.Error("an analysis version was overwritten")
	}
	// The engine makes analyses, never claims; analyses are the engine's.
	c := knowledge.Claim{ID: "c9", Version: 1, Subject: "m", Relation: "attributed-to", Object: "x", Source: knowledge.EngineSourceKey, Date: "2025-01-01"}
	if _, err := kb.Merge(ctx, &knowledge.Document{Claims: []knowledge.Claim{c}}); err == nil {
		t.Error("a claim credited to the engine was stored")
	}
	bad := analysis(2, "X", "x", 0.9, true)
	bad.Source = "vendor"
	if _, err := kb.Merge(ctx, &knowledge.Document{Analyses: []knowledge.Analysis{bad}}); err == nil {
		t.Error("an analysis credited to another source was stored")
	}
	bad = analysis(2, "X", "x", 0.9, true)
	bad.MachineGenerated = false
	if _, err := kb.Merge(ctx, &knowledge.Document{Analyses: []knowledge.Analysis{bad}}); err == nil {
		t.Error("an analysis not marked machine-generated was stored")
	}
}

// TestEngineTargets checks what the engine is asked to analyse: samples
// labelled with the subject's names or aliases, and the hashes the
// knowledge base ties to it.
func TestEngineTargets(t *testing.T) {
	ctx := context.Background()
	kb := openKB(t, knowledge.Options{})
	tg, err := kb.EngineTargets(ctx, "WannaCry")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"wannacry", "WCry", "wana decrypt0r"} {
		if !tg.MatchesFamily(l) {
			t.Errorf("label %q does not match WannaCry", l)
		}
	}
	if tg.MatchesFamily("Contopee") {
		t.Error("Contopee matches WannaCry")
	}
	for _, h := range []string{"ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa", "24d004a104d4d54034dbcffc2a4b19a11f39008a575aa614ea04703480b1022c", "9c7c7149387a1c79679a87dd1ba755bc"} {
		if tg.Hashes[h] == "" {
			t.Errorf("hash %s is not a WannaCry target", h)
		}
	}
	if tg, err = kb.EngineTargets(ctx, "emberkit"); err != nil || tg.Known || !tg.MatchesFamily("EmberKit") {
		t.Errorf("a name the knowledge base does not know: %+v %v", tg, err)
	}
}
