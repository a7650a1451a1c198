package cli

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/knowledge"
)

// fixtureStore ingests the fixtures' common programs and labelled
// references into a new store, as TestCLI does.
func fixtureStore(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "k.db")
	out, errs, code := run(t, "ingest", "--db", db, "--common", filepath.Join(fixtures, "bin/elf64-O2/hello"), filepath.Join(fixtures, "bin/pe64-O2/hello.exe"), filepath.Join(fixtures, "bin/pe64-O2/common_stdio.exe"), filepath.Join(fixtures, "bin/elf64-O2/common_stdio"))
	if code != 0 {
		t.Fatalf("ingest --common: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, "ingest", "--db", db, "--labels", filepath.Join(fixtures, "labels.tsv"))
	if code != 0 {
		t.Fatalf("ingest --labels: %d\n%s\n%s", code, out, errs)
	}
	return db
}

// fixtureKnowledge is what a knowledge base might hold about the fixtures'
// fictional actor: the families, the actor, and a vendor's hedged claim
// that redfox wrote cinderloop.
func fixtureKnowledge() *knowledge.Document {
	return &knowledge.Document{
		Sources: []knowledge.Source{{Key: "test:vendor", Name: "Example Vendor", Class: "organization", Reliability: "B"}},
		Entities: []knowledge.Entity{
			{Key: "test:redfox", Kind: knowledge.KindActor, Type: knowledge.ActorIntrusionSet, Name: "redfox", Aliases: []knowledge.Alias{{Name: "Red Fox"}}},
			{Key: "test:cinderloop", Kind: knowledge.KindFamily, Name: "cinderloop"},
			{Key: "test:ashdrop", Kind: knowledge.KindFamily, Name: "ashdrop"},
			{Key: "test:emberkit", Kind: knowledge.KindFamily, Name: "emberkit"},
		},
		Claims: []knowledge.Claim{{ID: "test:cinderloop-redfox", Version: 1, Subject: "test:cinderloop", Relation: knowledge.RelAuthoredBy, Object: "test:redfox",
			Source: "test:vendor", Date: "2024-03-01", Quote: "cinderloop may be a redfox tool", QuoteKind: knowledge.QuotePara,
			NativeTerm: "realistic possibility", Yardstick: knowledge.YPHIA}},
	}
}

// assessScrub makes assess output independent of the day and the
// temporary paths.
func assessScrub(s, db string) string {
	now := time.Now().UTC()
	for _, d := range []time.Time{now, now.Add(-time.Hour)} {
		s = strings.ReplaceAll(s, d.Format("2006-01-02"), "TODAY")
	}
	s = strings.ReplaceAll(s, db, "STORE")
	return strings.ReplaceAll(s, fixtures, "FIXTURES")
}

// TestAssessEngine runs `kinship assess` with a collection built from the
// fixtures: the engine's verdicts on files given with --sample, and on the
// collection's own samples of the subject, are technical evidence from one
// source, the kinship engine, explained beside the claims.
func TestAssessEngine(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", filepath.Join(home, "data"))
	t.Setenv("KINSHIP_DB", "")
	t.Setenv("KINSHIP_KB", "")
	db := fixtureStore(t)
	kbPath := filepath.Join(t.TempDir(), "kb.db")
	kb, err := knowledge.Open(context.Background(), kbPath, knowledge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kb.Merge(context.Background(), fixtureKnowledge()); err != nil {
		t.Fatal(err)
	}
	kb.Close()

	// Files given with --sample: cinderloop, the fixtures' WannaCry, shares
	// only a cipher routine with emberkit, which the collection labels
	// redfox.
	samples := []string{"--sample", filepath.Join(fixtures, "bin/pe64-O2/cinderloop.exe"), "--sample", filepath.Join(fixtures, "bin/elf64-O2/cinderloop")}
	out, errs, code := run(t, append([]string{"assess", "--db", db, "--kb", kbPath, "cinderloop"}, samples...)...)
	if code != ExitOK {
		t.Fatalf("assess: exit %d\n%s\n%s", code, out, errs)
	}
	golden(t, "assess-engine-samples", assessScrub(out+"--- stderr\n"+errs, db))
	for _, want := range []string{"kinship engine: reliability C", "cinderloop → redfox", "from 2 independent sources", "pooled for redfox"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}

	// The collection's own samples of the subject, found by their family
	// label, with the subject's family held out of the comparison.
	out, errs, code = run(t, "assess", "--db", db, "--kb", kbPath, "ashdrop")
	if code != ExitOK {
		t.Fatalf("assess ashdrop: exit %d\n%s\n%s", code, out, errs)
	}
	golden(t, "assess-engine-store", assessScrub(out+"--- stderr\n"+errs, db))
	if !strings.Contains(out, "held out, as the subject's own: ashdrop") || strings.Count(out, "), in the collection") != 6 {
		t.Errorf("ashdrop: the six stored ashdrop samples are not all analysed with ashdrop held out:\n%s", out)
	}

	// JSON carries the same evidence, marked as the engine's.
	out, _, code = run(t, append([]string{"assess", "--json", "--db", db, "--kb", kbPath, "cinderloop"}, samples...)...)
	if code != ExitOK {
		t.Fatalf("assess --json: exit %d", code)
	}
	var a knowledge.Assessment
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Candidates) != 1 || len(a.Candidates[0].Groups) != 2 {
		t.Fatalf("want one candidate with two groups (vendor, engine): %+v", a.Candidates)
	}
	var eng *knowledge.Group
	for i, g := range a.Candidates[0].Groups {
		if g.Root.Key == knowledge.EngineSourceKey {
			eng = &a.Candidates[0].Groups[i]
		}
	}
	if eng == nil || eng.Used.Kind != "engine" || len(eng.Used.Analyses) != 2 || eng.Reliability != knowledge.EngineGrade {
		t.Fatalf("engine group: %+v", eng)
	}
	if a.Engine == nil || len(a.Engine.Uses) != 2 || !a.Engine.Uses[0].Analysis.MachineGenerated || a.Engine.Uses[0].Analysis.Source != knowledge.EngineSourceKey {
		t.Fatalf("engine section: %+v", a.Engine)
	}

	// Without --record nothing is stored; with it, the analyses are the
	// engine's own claims, recorded once while the verdict is the same.
	kb, err = knowledge.Open(context.Background(), kbPath, knowledge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if as, _ := kb.Analyses(context.Background()); len(as) != 0 {
		t.Errorf("assess without --record stored %d analyses", len(as))
	}
	kb.Close()
	for i, want := range []string{"2 new, 0 new versions, 0 unchanged", "0 new, 0 new versions, 2 unchanged"} {
		_, errs, code = run(t, append([]string{"assess", "--record", "--db", db, "--kb", kbPath, "cinderloop"}, samples...)...)
		if code != ExitOK || !strings.Contains(errs, want) {
			t.Errorf("record #%d: exit %d, stderr %q, want %q", i+1, code, errs, want)
		}
	}
	kb, err = knowledge.Open(context.Background(), kbPath, knowledge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	as, err := kb.Analyses(context.Background())
	kb.Close()
	if err != nil || len(as) != 2 {
		t.Fatalf("%d analyses recorded (%v)", len(as), err)
	}
	for _, an := range as {
		if an.Source != knowledge.EngineSourceKey || !an.MachineGenerated || an.Version != 1 {
			t.Errorf("recorded analysis %s: source %s, machine-generated %v, version %d", an.ID, an.Source, an.MachineGenerated, an.Version)
		}
	}
	out, _, code = run(t, "knowledge", "analyses", "--kb", kbPath, "cinderloop")
	if code != ExitOK || strings.Count(out, "kinship engine (machine-generated)") != 2 {
		t.Errorf("knowledge analyses: exit %d\n%s", code, out)
	}
	// Recorded analyses count without a collection.
	out, errs, code = run(t, "assess", "--kb", kbPath, "cinderloop")
	if code != ExitOK || !strings.Contains(out, "analyses recorded earlier") || !strings.Contains(out, "kinship engine: reliability C") {
		t.Errorf("assess from recorded analyses: exit %d\n%s\n%s", code, out, errs)
	}

	// A fresh install: no collection, the knowledge base alone.
	out, errs, code = run(t, "assess", "--kb", filepath.Join(t.TempDir(), "fresh.db"), "WannaCry")
	if code != ExitOK || !strings.Contains(out, "Engine\n  not consulted") {
		t.Errorf("assess WannaCry without a collection: exit %d\n%s\n%s", code, out, errs)
	}
	// --sample needs a collection; a named store must exist.
	if _, _, code := run(t, "assess", "--kb", kbPath, "--sample", filepath.Join(fixtures, "bin/pe64-O2/cinderloop.exe"), "cinderloop"); code != ExitFailure {
		t.Errorf("--sample without a collection: exit %d", code)
	}
	if _, _, code := run(t, "assess", "--kb", kbPath, "--db", filepath.Join(t.TempDir(), "none.db"), "cinderloop"); code != ExitFailure {
		t.Errorf("--db naming no store: exit %d", code)
	}
}
