package misp_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/knowledge"
	"github.com/kinship-dev/kinship/internal/knowledge/misp"
)

// galaxyDir is the misp-galaxy clone beside the repository (../shared).
func galaxyDir(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "shared", "misp-galaxy", "clusters"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("misp-galaxy clusters missing at %s: %v", d, err)
		}
		t.Skipf("misp-galaxy clusters not found at %s", d)
	}
	return d
}

func openKB(t *testing.T) *knowledge.KB {
	t.Helper()
	kb, err := knowledge.Open(context.Background(), filepath.Join(t.TempDir(), "kb.db"), knowledge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kb.Close() })
	return kb
}

func importFile(t *testing.T, kb *knowledge.KB, path string) misp.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := misp.Import(context.Background(), kb, f, misp.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestThreatActorGalaxy imports the whole threat-actor galaxy: every
// cluster becomes an actor (the seed's Lazarus Group absorbs its own
// cluster), every synonym is kept, shared synonyms do not merge actors,
// and importing again changes nothing.
func TestThreatActorGalaxy(t *testing.T) {
	dir := galaxyDir(t)
	ctx := context.Background()
	kb := openKB(t)
	path := filepath.Join(dir, "threat-actor.json")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	g, err := misp.Parse(f, misp.Limits{})
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	if g.Version == 349 && len(g.Values) != 1041 {
		t.Errorf("galaxy version 349 has %d clusters, want 1041", len(g.Values))
	}
	before, _ := kb.Count(ctx, knowledge.KindActor)
	res := importFile(t, kb, path)
	if res.Clusters != len(g.Values) {
		t.Errorf("imported %d clusters, file has %d", res.Clusters, len(g.Values))
	}
	n, err := kb.CountXRefs(ctx, "misp", "threat-actor")
	if err != nil {
		t.Fatal(err)
	}
	if n != len(g.Values) {
		t.Errorf("%d actors carry a threat-actor cluster uuid, want %d", n, len(g.Values))
	}
	after, _ := kb.Count(ctx, knowledge.KindActor)
	// The seed knows one of the clusters (Lazarus Group) already.
	if after-before != len(g.Values)-1 {
		t.Errorf("actors grew by %d, want %d", after-before, len(g.Values)-1)
	}
	// Every synonym is an alias of its cluster's entity.
	missing := 0
	for _, c := range g.Values {
		syn, _ := c.Strings("synonyms")
		ms, err := kb.Find(ctx, c.Value, knowledge.KindActor)
		if err != nil {
			t.Fatal(err)
		}
		var e *knowledge.Entity
		for i := range ms {
			for _, x := range ms[i].Entity.XRefs {
				if x.ID == c.UUID {
					e = &ms[i].Entity
				}
			}
		}
		if e == nil {
			t.Fatalf("cluster %s (%s) not found by its value", c.UUID, c.Value)
		}
		names := map[string]bool{}
		for _, n := range e.Names() {
			names[n] = true
		}
		for _, s := range syn {
			if !names[strings.TrimSpace(s)] {
				missing++
			}
		}
	}
	if missing > 0 {
		t.Errorf("%d synonyms not kept as aliases", missing)
	}
	// Shared aliases: "Andariel" is a synonym of Lazarus Group and of Silent
	// Chollima; both actors stay, and the name is ambiguous rather than
	// silently one of them.
	ms, err := kb.Find(ctx, "andariel", knowledge.KindActor)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 2 {
		t.Errorf("andariel names %d actors, want the Andariel cluster and Lazarus Group", len(ms))
	}
	if _, err := kb.Resolve(ctx, "Andariel"); !errors.Is(err, knowledge.ErrAmbiguous) {
		t.Errorf("Resolve(Andariel): %v, want ErrAmbiguous", err)
	}
	// Re-import: nothing changes.
	d1, err := kb.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res2 := importFile(t, kb, path)
	if res2.Stats.Changed() {
		t.Errorf("second import changed the knowledge base: %s", res2.Stats)
	}
	d2, _ := kb.Dump(ctx)
	if len(d1.Entities) != len(d2.Entities) {
		t.Errorf("entities %d → %d on re-import", len(d1.Entities), len(d2.Entities))
	}
}

// TestToolGalaxies imports malpedia and ransomware: WannaCry's clusters in
// both merge into the seed's WannaCry.
func TestToolGalaxies(t *testing.T) {
	dir := galaxyDir(t)
	ctx := context.Background()
	kb := openKB(t)
	for _, name := range []string{"malpedia.json", "ransomware.json"} {
		res := importFile(t, kb, filepath.Join(dir, name))
		if res.Clusters == 0 || res.Stats.Created["family"] == 0 {
			t.Errorf("%s: %+v", name, res)
		}
	}
	m, err := kb.Resolve(ctx, "wannacry")
	if err != nil {
		t.Fatal(err)
	}
	if m.Entity.Key != "seed:wannacry" || len(m.Entity.XRefs) != 2 {
		t.Errorf("WannaCry resolves to %s with xrefs %v", m.Entity.Key, m.Entity.XRefs)
	}
	for _, name := range []string{"malpedia.json", "ransomware.json"} {
		if res := importFile(t, kb, filepath.Join(dir, name)); res.Stats.Changed() {
			t.Errorf("%s: re-import changed %s", name, res.Stats)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"not json", `{`, "not a galaxy"},
		{"no type", `{"values": []}`, "no galaxy type"},
		{"no values", `{"type": "threat-actor"}`, "no values"},
		{"bad uuid", `{"type": "threat-actor", "values": [{"uuid": "x", "value": "A"}]}`, "uuid"},
		{"twice", `{"type": "threat-actor", "values": [{"uuid": "68391641-859f-4a9a-9a1e-3e5cf71ec376", "value": "A"}, {"uuid": "68391641-859f-4a9a-9a1e-3e5cf71ec376", "value": "B"}]}`, "twice"},
		{"no value", `{"type": "threat-actor", "values": [{"uuid": "68391641-859f-4a9a-9a1e-3e5cf71ec376"}]}`, "no value"},
		{"too big", strings.Repeat(" ", 2000), "larger"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := misp.Parse(strings.NewReader(c.in), misp.Limits{MaxBytes: 1000})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	_, err := misp.Parse(strings.NewReader(`{"type":"threat-actor","values":[{},{},{}]}`), misp.Limits{MaxClusters: 2})
	if err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("cluster limit: %v", err)
	}
}

// FuzzParse feeds hostile galaxy files to the parser and the converter:
// they must return an error or a document, never panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"type":"threat-actor","values":[{"uuid":"68391641-859f-4a9a-9a1e-3e5cf71ec376","value":"A","meta":{"synonyms":["B","C"],"refs":["https://x/","not a url"],"country":"KP"}}]}`))
	f.Add([]byte(`{"type":"ransomware","category":"tool","values":[{"uuid":"d62ab8d5-4ba1-4c45-8a63-13fdb099b33c","value":"W","meta":{"synonyms":"one"}}]}`))
	f.Add([]byte(`{"type":"x","values":[{"uuid":"d62ab8d5-4ba1-4c45-8a63-13fdb099b33c","value":"W","meta":{"synonyms":[1,2]}}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := misp.Parse(bytes.NewReader(data), misp.Limits{MaxBytes: 1 << 20, MaxClusters: 1000})
		if err != nil {
			return
		}
		doc, err := misp.Document(g)
		if err != nil {
			return
		}
		for i := range doc.Entities {
			if err := doc.Entities[i].Validate(); err != nil {
				t.Fatalf("Document returned an invalid entity: %v", err)
			}
		}
	})
}
