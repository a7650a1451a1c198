package eval

import (
	"os"
	"strings"
	"testing"
)

const sharedManifest = "../../../shared/corpus/manifest.tsv"

func TestReadSharedManifest(t *testing.T) {
	f, err := os.Open(sharedManifest)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must have ../shared: %v", err)
		}
		t.Skip(err)
	}
	defer f.Close()
	rows, err := ReadManifest(f, sharedManifest)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]int{}
	for _, r := range rows {
		roles[r.Role]++
	}
	if roles[RoleReference] == 0 || roles[RoleQuery] == 0 || roles[RoleUnknown] == 0 {
		t.Errorf("roles: %v", roles)
	}
	sub, err := SmallSubset(sharedManifest)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if InSubset(r, sub) {
			n++
		}
	}
	if n == 0 || n >= len(rows) {
		t.Errorf("small subset selects %d of %d rows", n, len(rows))
	}
}

func TestReadManifestRejects(t *testing.T) {
	for _, in := range []string{
		"",
		"relpath\tfamily\n",
		"relpath\tfamily\tactor\trole\na\tb\tc\tnonsense\n",
		"relpath\tfamily\tactor\trole\n../x\tb\tc\tquery\n",
	} {
		if _, err := ReadManifest(strings.NewReader(in), "m.tsv"); err == nil {
			t.Errorf("accepted %q", in)
		}
	}
}

func TestMetrics(t *testing.T) {
	outs := []Outcome{
		{Role: RoleQuery, Kinship: Answer{FamilyOK: true, ActorOK: true}},
		{Role: RoleQuery, Kinship: Answer{FamilyOK: false, ActorOK: true}},
		{Role: RoleQuery, Error: "boom", Kinship: Answer{FamilyOK: true, ActorOK: true}},
		{Role: RoleUnknown, Kinship: Answer{FamilyOK: true, ActorOK: true}},
		{Role: RoleUnknown, Kinship: Answer{FamilyOK: true, ActorOK: false}},
		{Role: RoleActorOnly, Kinship: Answer{FamilyOK: true, ActorOK: true}},
	}
	m := metrics(outs, func(o Outcome) Answer { return o.Kinship })
	if m.Queries != 3 || m.FamilyTop1 != 1.0/3 || m.ActorQueries != 2.0/3 {
		t.Errorf("queries: %+v", m)
	}
	if m.FalseAttribution != 0.5 || m.CombinedNum != 2 || m.CombinedDen != 5 {
		t.Errorf("combined: %+v", m)
	}
	if m.ActorOnlyActor != 1 {
		t.Errorf("actor only: %+v", m)
	}
}

func TestReliability(t *testing.T) {
	outs := []Outcome{{FamilyP: 0.9}, {FamilyP: 0.9}, {FamilyP: 0.1}}
	bins, ece := reliability(outs, func(o Outcome) (float64, bool, bool) { return o.FamilyP, o.FamilyP > 0.5, true })
	if len(bins) != 2 {
		t.Fatalf("bins: %+v", bins)
	}
	// Right 2 of 2 at 0.9 (gap 0.1), wrong 1 of 1 at 0.1 (gap 0.1).
	if ece < 0.099 || ece > 0.101 {
		t.Errorf("ece = %v", ece)
	}
}
