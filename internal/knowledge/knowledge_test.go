package knowledge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/knowledge"
)

var update = flag.Bool("update", false, "rewrite golden files")

func openKB(t *testing.T, opts knowledge.Options) *knowledge.KB {
	t.Helper()
	kb, err := knowledge.Open(context.Background(), filepath.Join(t.TempDir(), "kb.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kb.Close() })
	return kb
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test ./internal/knowledge -update creates it)", err)
	}
	if !bytes.Equal(want, got) {
		t.Errorf("%s differs from %s (go test ./internal/knowledge -update to accept):\n--- got\n%s", name, p, got)
	}
}

// TestAssessWannaCry is the golden test of `kinship assess WannaCry` on a
// fresh knowledge base: the CLI prints exactly WriteText's output.
func TestAssessWannaCry(t *testing.T) {
	kb := openKB(t, knowledge.Options{})
	a, err := kb.Assess(context.Background(), "WannaCry")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := knowledge.WriteText(&buf, a); err != nil {
		t.Fatal(err)
	}
	golden(t, "assess-wannacry.txt", buf.Bytes())
	out := buf.String()
	for _, want := range []string{"WannaCry → Lazarus Group", "WannaCry → North Korea", "Dissent", "Timeline", "premature, inconclusive and distracting", "false flag"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	var j bytes.Buffer
	if err := knowledge.WriteJSON(&j, a); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(j.Bytes()) {
		t.Error("JSON output is not valid JSON")
	}
}

// TestYardsticks pins the STIX 2.1 Appendix A mappings and keeps the PHIA
// and ICD 203 terms apart.
func TestYardsticks(t *testing.T) {
	cases := []struct {
		scale, term string
		stix        int
		hasSTIX     bool
		lo, hi      float64
	}{
		{knowledge.YPHIA, "highly likely", 90, true, 0.80, 0.90},
		{knowledge.YPHIA, "Almost Certain", 90, true, 0.95, 1},
		{knowledge.YPHIA, "realistic possibility", 50, true, 0.40, 0.50},
		{knowledge.YPHIA, "remote chance", 10, true, 0, 0.05},
		{knowledge.YICD203, "very likely", 85, true, 0.80, 0.95},
		{knowledge.YICD203, "almost certain", 95, true, 0.95, 1},
		{knowledge.YICD203, "roughly even chance", 50, true, 0.45, 0.55},
		{knowledge.YWEP, "Unlikely/Probably Not", 30, true, 0.20, 0.39},
		{knowledge.YWEP, "probably not", 30, true, 0.20, 0.39},
		{knowledge.YWEP, "highly likely", 90, true, 0.80, 0.99},
		{knowledge.YDNI, "very likely", 85, true, 0.80, 0.89},
		{knowledge.YDNI, "Almost No Chance / Remote", 5, true, 0, 0.09},
		{knowledge.YAdmiralty, "2 - Probably True", 70, true, 0.60, 0.79},
		{knowledge.YAdmiralty, "doubtful", 30, true, 0.20, 0.39},
		{knowledge.YNLMH, "Med", 50, true, 0.30, 0.69},
		{knowledge.YNLMH, "High", 85, true, 0.70, 1},
		{knowledge.YZeroTen, "7", 70, true, 0.65, 0.74},
		{knowledge.YConfidence, "moderate confidence", 50, true, 0.70, 0.85},
		{knowledge.YSTIX, "42", 42, true, 0.42, 0.42},
	}
	for _, c := range cases {
		v, ok := knowledge.STIXConfidence(c.scale, c.term, nil)
		if ok != c.hasSTIX || v != c.stix {
			t.Errorf("STIXConfidence(%s, %q) = %d, %v; want %d", c.scale, c.term, v, ok, c.stix)
		}
		r, err := knowledge.TermRange(c.scale, c.term, nil)
		if err != nil || r.Lo != c.lo || r.Hi != c.hi {
			t.Errorf("TermRange(%s, %q) = %v, %v; want %v-%v", c.scale, c.term, r, err, c.lo, c.hi)
		}
	}
	// No probability, no STIX value.
	if _, err := knowledge.TermRange(knowledge.YAdmiralty, "6 - Truth cannot be judged", nil); !errors.Is(err, knowledge.ErrNoProbability) {
		t.Errorf("Admiralty 6: %v", err)
	}
	if _, ok := knowledge.STIXConfidence(knowledge.YAdmiralty, "6", nil); ok {
		t.Error("Admiralty 6 has a STIX value")
	}
	if _, err := knowledge.TermRange(knowledge.YFreeText, "believes", nil); !errors.Is(err, knowledge.ErrNoProbability) {
		t.Errorf("free text without interpretation: %v", err)
	}
	r, err := knowledge.TermRange(knowledge.YFreeText, "believes", &knowledge.Interpretation{Yardstick: knowledge.YPHIA, Term: "likely"})
	if err != nil || r.Lo != 0.55 || r.Hi != 0.75 {
		t.Errorf("free text read as PHIA likely: %v %v", r, err)
	}
	for _, bad := range [][2]string{{knowledge.YPHIA, "very likely"}, {knowledge.YICD203, "highly likely"}, {"nope", "likely"}, {knowledge.YSTIX, "101"}} {
		if _, err := knowledge.TermRange(bad[0], bad[1], nil); err == nil {
			t.Errorf("TermRange(%s, %q) accepted a term of another scale", bad[0], bad[1])
		}
	}
	// The point of keeping native terms: STIX gives these one number,
	// kinship keeps two ranges that do not overlap.
	hl, _ := knowledge.TermRange(knowledge.YPHIA, "highly likely", nil)
	ac, _ := knowledge.TermRange(knowledge.YPHIA, "almost certain", nil)
	if hl.Hi >= ac.Lo {
		t.Error("highly likely and almost certain overlap")
	}
}

func testDoc() *knowledge.Document {
	return &knowledge.Document{
		Sources: []knowledge.Source{
			{Key: "gov", Name: "A government", Reliability: "B"},
			{Key: "agency", Name: "Agency", Reliability: "B", Parent: "gov"},
			{Key: "ministry", Name: "Ministry", Reliability: "B", Parent: "gov"},
			{Key: "vendor", Name: "Vendor", Reliability: "C"},
			{Key: "paper", Name: "Paper", Reliability: "D"},
		},
		Entities: []knowledge.Entity{
			{Key: "m", Kind: knowledge.KindFamily, Name: "Mal", Aliases: []knowledge.Alias{{Name: "Shared"}}},
			{Key: "x", Kind: knowledge.KindActor, Type: knowledge.ActorIntrusionSet, Name: "Group X", Aliases: []knowledge.Alias{{Name: "Shared"}}},
		},
		Claims: []knowledge.Claim{
			{ID: "c1", Version: 1, Subject: "m", Relation: "attributed-to", Object: "x", Source: "agency", Date: "2020-01-01", NativeTerm: "highly likely", Yardstick: knowledge.YPHIA},
			{ID: "c2", Version: 1, Subject: "m", Relation: "attributed-to", Object: "x", Source: "ministry", Date: "2020-02-01", NativeTerm: "likely", Yardstick: knowledge.YPHIA},
			{ID: "c3", Version: 1, Subject: "m", Relation: "attributed-to", Object: "x", Source: "vendor", ReportedBy: "paper", Date: "2020-01-15", NativeTerm: "very likely", Yardstick: knowledge.YICD203},
		},
	}
}

// TestFusion checks that dependent sources count once (the latest claim of
// the root is used), that reliability and second-hand reports weigh as
// documented, and that the pool is the weighted mean of log-odds.
func TestFusion(t *testing.T) {
	ctx := context.Background()
	kb := openKB(t, knowledge.Options{NoSeed: true})
	if _, err := kb.Merge(ctx, testDoc()); err != nil {
		t.Fatal(err)
	}
	a, err := kb.Assess(ctx, "mal")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Candidates) != 1 {
		t.Fatalf("%d candidates", len(a.Candidates))
	}
	c := a.Candidates[0]
	if len(c.Groups) != 2 {
		t.Fatalf("%d groups, want 2 (the government once, the vendor)", len(c.Groups))
	}
	gov := c.Groups[0]
	if gov.Root.Key != "gov" || gov.Used.Claim.ID != "c2" || len(gov.Others) != 1 {
		t.Errorf("government group uses %s (others %d), want the later c2", gov.Used.Claim.ID, len(gov.Others))
	}
	ven := c.Groups[1]
	if !ven.SecondHand || math.Abs(ven.Weight-0.8*0.8) > 1e-9 {
		t.Errorf("vendor weight %v second-hand %v, want 0.64", ven.Weight, ven.SecondHand)
	}
	lg := func(p float64) float64 { return math.Log(p / (1 - p)) }
	want := (0.9*lg(0.65) + 0.64*lg(0.875)) / (0.9 + 0.64)
	if math.Abs(c.LogOdds-want) > 1e-9 {
		t.Errorf("pooled log-odds %v, want %v", c.LogOdds, want)
	}
	// "Shared" is an alias of both: ambiguous, never merged.
	if _, err := kb.Resolve(ctx, "shared"); !errors.Is(err, knowledge.ErrAmbiguous) {
		t.Errorf("Resolve(shared) = %v, want ErrAmbiguous", err)
	}
	if n, _ := kb.Count(ctx, knowledge.KindActor); n != 1 {
		t.Errorf("%d actors", n)
	}
}

// TestClaimsImmutable checks that a claim cannot be changed, only
// corrected by a new version that supersedes it, and that the assessment
// uses the latest version while the timeline keeps both.
func TestClaimsImmutable(t *testing.T) {
	ctx := context.Background()
	kb := openKB(t, knowledge.Options{NoSeed: true})
	doc := testDoc()
	if _, err := kb.Merge(ctx, doc); err != nil {
		t.Fatal(err)
	}
	changed := *doc
	changed.Claims = []knowledge.Claim{doc.Claims[2]}
	changed.Claims[0].NativeTerm = "likely"
	if _, err := kb.Merge(ctx, &changed); err == nil || !strings.Contains(err.Error(), "immutable") {
		t.Errorf("changing a claim: %v, want an immutability error", err)
	}
	fix := doc.Claims[2]
	fix.NativeTerm = "almost certain"
	v2, err := kb.Correct(ctx, "c3", fix, "the report misquoted the vendor")
	if err != nil {
		t.Fatal(err)
	}
	if v2.Version != 2 || v2.Supersedes != 1 || v2.Confidence == nil || *v2.Confidence != 95 {
		t.Errorf("correction: %+v", v2)
	}
	v1, err := kb.Claim(ctx, "c3", 1)
	if err != nil || v1.NativeTerm != "very likely" {
		t.Errorf("version 1 after correction: %+v %v", v1, err)
	}
	a, err := kb.Assess(ctx, "Mal")
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Candidates[0].Groups[1].Used.Claim; got.Version != 2 {
		t.Errorf("assessment uses c3 v%d, want v2", got.Version)
	}
	n := 0
	for _, e := range a.Timeline {
		if e.Claim != nil && e.Claim.ID == "c3" {
			n++
			if e.Claim.Version == 1 && !e.Superseded {
				t.Error("v1 not marked superseded")
			}
		}
	}
	if n != 2 {
		t.Errorf("timeline holds %d versions of c3, want 2", n)
	}
	// Dangling references are refused with names.
	bad := &knowledge.Document{Claims: []knowledge.Claim{{ID: "c9", Version: 1, Subject: "m", Relation: "attributed-to", Object: "nobody", Source: "vendor", Date: "2020-01-01"}}}
	if _, err := kb.Merge(ctx, bad); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Errorf("dangling object: %v", err)
	}
}

// TestSeed checks the shipped knowledge: it loads once, loading again
// changes nothing, every claim cites a public URL, and the claims the
// issue lists are there with their dates.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kb.db")
	kb, err := knowledge.Open(ctx, path, knowledge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := kb.Dump(ctx)
	seed, err := knowledge.Seed()
	if err != nil {
		t.Fatal(err)
	}
	st, err := kb.Merge(ctx, seed)
	if err != nil || st.Changed() {
		t.Errorf("merging the seed again: %s, %v", st, err)
	}
	kb.Close()
	kb, err = knowledge.Open(ctx, path, knowledge.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer kb.Close()
	d2, _ := kb.Dump(ctx)
	j1, _ := json.Marshal(d1)
	j2, _ := json.Marshal(d2)
	if !bytes.Equal(j1, j2) {
		t.Error("reopening changed the knowledge base")
	}
	for _, c := range d1.Claims {
		hasURL := false
		for _, r := range c.References {
			hasURL = hasURL || (r.Kind == knowledge.RefURL && strings.HasPrefix(r.URL, "http"))
		}
		if !hasURL {
			t.Errorf("claim %s cites no public URL", c.ID)
		}
		if c.Quote != "" && c.QuoteKind == "" {
			t.Errorf("claim %s: quote neither verbatim nor paraphrase", c.ID)
		}
	}
	want := map[string]string{
		"wannacry-contopee-overlap": "2017-05-15", "wannacry-kaspersky": "2017-05-15", "wannacry-symantec": "2017-05-22",
		"wannacry-nsa": "2017-06-14", "wannacry-ncsc-2017-06": "2017-06-16", "wannacry-us-2017-12": "2017-12-19",
		"wannacry-uk-2017-12": "2017-12-19", "wannacry-doj-2018-09": "2018-09-06",
	}
	for id, date := range want {
		c, err := kb.Claim(ctx, id, 0)
		if err != nil || c.Date != date {
			t.Errorf("claim %s: %v (date %s, want %s)", id, err, c.Date, date)
		}
	}
	// The UK claims share a root, as do the US ones.
	srcs, _ := kb.Sources(ctx)
	rootOf := func(k string) string {
		for srcs[k].Parent != "" {
			k = srcs[k].Parent
		}
		return k
	}
	if rootOf("seed:uk-ncsc") != rootOf("seed:uk-fco") || rootOf("seed:us-nsa") != rootOf("seed:us-doj") || rootOf("seed:uk-ncsc") == rootOf("seed:us-nsa") {
		t.Error("seed source parents do not group the UK and US sources")
	}
	for _, alias := range []string{"WannaCryptor", "wannacrypt", "Wana Decrypt0r", "WCRY"} {
		if m, err := kb.Resolve(ctx, alias); err != nil || m.Entity.Key != "seed:wannacry" {
			t.Errorf("Resolve(%q) = %v, %v", alias, m.Entity.Key, err)
		}
	}
}

func TestUUIDv5(t *testing.T) {
	// RFC 9562 Appendix A.4: UUIDv5 of "www.example.com" in the DNS namespace.
	dns := knowledge.MustParseUUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	if got := knowledge.NewUUIDv5(dns, "www.example.com").String(); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Errorf("UUIDv5 = %s", got)
	}
}
