package stix_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/kinship-dev/kinship/internal/knowledge"
	"github.com/kinship-dev/kinship/internal/knowledge/stix"
)

// sharedDir is ../shared beside the repository root: four levels up from
// this package. In CI it must be there.
func sharedDir(t testing.TB, sub string) string {
	t.Helper()
	d, err := filepath.Abs(filepath.Join("..", "..", "..", "..", "shared", sub))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: %v", d, err)
		}
		t.Skipf("%s not found", d)
	}
	return d
}

// schemaBase is the $id prefix of the OASIS schemas; their $refs are
// relative to it, so every file is registered under its $id and nothing is
// fetched.
const schemaBase = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/"

type validator struct {
	c       *jsonschema.Compiler
	schemas map[string]*jsonschema.Schema
}

func newValidator(t *testing.T) *validator {
	t.Helper()
	dir := sharedDir(t, filepath.Join("stix2-json-schemas", "schemas"))
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		doc, err := jsonschema.UnmarshalJSON(f)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		return c.AddResource(schemaBase+filepath.ToSlash(rel), doc)
	})
	if err != nil {
		t.Fatal(err)
	}
	return &validator{c: c, schemas: map[string]*jsonschema.Schema{}}
}

func (v *validator) schema(t *testing.T, rel string) *jsonschema.Schema {
	t.Helper()
	if s, ok := v.schemas[rel]; ok {
		return s
	}
	s, err := v.c.Compile(schemaBase + rel)
	if err != nil {
		t.Fatalf("compile %s: %v", rel, err)
	}
	v.schemas[rel] = s
	return s
}

// schemaFor names the OASIS schema of an object type.
func schemaFor(typ string) string {
	switch typ {
	case "relationship", "sighting":
		return "sros/" + typ + ".json"
	case "extension-definition", "marking-definition", "language-content", "bundle":
		return "common/" + typ + ".json"
	case "file", "domain-name", "ipv4-addr", "ipv6-addr", "url":
		return "observables/" + typ + ".json"
	}
	return "sdos/" + typ + ".json"
}

func (v *validator) validate(t *testing.T, rel string, raw []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return v.schema(t, rel).Validate(inst)
}

func openKB(t *testing.T, opts knowledge.Options) *knowledge.KB {
	t.Helper()
	kb, err := knowledge.Open(context.Background(), filepath.Join(t.TempDir(), "kb.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { kb.Close() })
	return kb
}

func export(t *testing.T, kb *knowledge.KB, subject string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := stix.Export(context.Background(), kb, subject, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// engineAnalyses are verdicts of the kinship engine as assess --record
// stores them: one on the seed's WannaCry encryptor, corrected by a second
// version, and an unattributed one on a file only the engine has seen.
func engineAnalyses() *knowledge.Document {
	const wc = "ed01ebfbc9eb5bbea545af4d01bf5f1071661840480439c6e5babe8e080e41aa"
	const other = "3d6e5e7d9a1f26c1f6f0a3a2b9b1e7c4d5e6f708192a3b4c5d6e7f8091a2b3c4"
	base := knowledge.Analysis{ID: knowledge.AnalysisID("seed:wannacry", wc), Version: 1, Source: knowledge.EngineSourceKey, MachineGenerated: true,
		Subject: "seed:wannacry", Sample: "sha256:" + wc, Hashes: map[string]string{"SHA-256": wc}, FileName: "tasksche.exe", Origin: knowledge.AnalysisFromStore,
		Date: "2025-01-02", Started: "2025-01-02T10:00:00.000Z", Ended: "2025-01-02T10:00:00.250Z", Product: "kinship", EngineVersion: "(devel)", SigVersion: 1,
		References: 120, HeldOut: []string{"WannaCry"}, Calibration: "family: logistic model fitted on 40 positive and 900 negative leave-one-out trials", Calibrated: true,
		Family: knowledge.EngineJudgment{Label: "Contopee", Key: "seed:contopee", Probability: 0.93, PHIA: "highly likely", ICD203: "very likely", Best: "Contopee", Reason: "31% of the sample's distinctive code"},
		Actor:  knowledge.EngineJudgment{Label: "Lazarus", Key: "seed:lazarus-group", Probability: 0.97, PHIA: "almost certain", ICD203: "almost certain", Best: "Lazarus", Reason: "actor of family Contopee"},
		Functions: []knowledge.SharedFunction{
			{Address: "0x402560", Ref: "c0ffee" + wc[6:], RefName: "contopee.dll", RefAddress: "0x10004ba0", Family: "Contopee", Actor: "Lazarus", Similarity: 1, Weight: 0.97},
			{Address: "0x40f598", Ref: "c0ffee" + wc[6:], RefName: "contopee.dll", RefAddress: "0x10012aa4", Family: "Contopee", Actor: "Lazarus", Similarity: 0.92, Weight: 0.81},
		}}
	v2 := base
	v2.Version, v2.Supersedes, v2.Date, v2.Started, v2.Ended = 2, 1, "2025-02-03", "2025-02-03T08:00:00.000Z", "2025-02-03T08:00:01.000Z"
	v2.References = 150
	v2.Actor.Probability = 0.95
	unk := knowledge.Analysis{ID: knowledge.AnalysisID("seed:wannacry", other), Version: 1, Source: knowledge.EngineSourceKey, MachineGenerated: true,
		Subject: "seed:wannacry", Sample: "sha256:" + other, Hashes: map[string]string{"SHA-256": other, "MD5": "0123456789abcdef0123456789abcdef"}, Origin: knowledge.AnalysisFromFile,
		Date: "2025-02-03", Product: "kinship", References: 150, Calibration: "default model", Calibrated: false,
		Family: knowledge.EngineJudgment{Label: "unknown", Probability: 1, PHIA: "almost certain", ICD203: "almost certain", Reason: "no distinctive code shared with any labelled family"},
		Actor:  knowledge.EngineJudgment{Label: "unknown", Probability: 1, PHIA: "almost certain", ICD203: "almost certain", Reason: "no distinctive code shared with any labelled actor"}}
	return &knowledge.Document{
		Sources:  []knowledge.Source{knowledge.EngineSource()},
		Entities: []knowledge.Entity{{Key: "sha256:" + other, Kind: knowledge.KindSample, Name: other, Hashes: unk.Hashes}},
		Analyses: []knowledge.Analysis{base, v2, unk},
	}
}

func addAnalyses(t *testing.T, kb *knowledge.KB) {
	t.Helper()
	if _, err := kb.Merge(context.Background(), engineAnalyses()); err != nil {
		t.Fatal(err)
	}
}

// notInBundleSchema are the STIX 2.1 types common/bundle.json does not list.
var notInBundleSchema = map[string]bool{"opinion": true, "note": true, "extension-definition": true, "grouping": true, "incident": true, "location": true}

// TestExportValidates checks every exported object, and the bundle, against
// the OASIS STIX 2.1 schemas.
func TestExportValidates(t *testing.T) {
	v := newValidator(t)
	kb := openKB(t, knowledge.Options{})
	addAnalyses(t, kb)
	for _, subject := range []string{"", "WannaCry", "Lazarus Group"} {
		t.Run("subject="+subject, func(t *testing.T) {
			out := export(t, kb, subject)
			var b stix.Bundle
			if err := json.Unmarshal(out, &b); err != nil {
				t.Fatal(err)
			}
			// The OASIS bundle schema lists the types it knows and sends
			// the rest (opinion, note, extension-definition, ...) to a
			// custom-object branch that rejects every object matching both
			// core.json and cyber-observable-core.json, which any SDO does.
			// So the bundle frame is validated with the listed types only;
			// every object, listed or not, is validated against its own
			// schema below.
			frame := b
			frame.Objects = nil
			for _, raw := range b.Objects {
				var h stix.Header
				json.Unmarshal(raw, &h)
				if !notInBundleSchema[h.Type] {
					frame.Objects = append(frame.Objects, raw)
				}
			}
			fb, _ := json.Marshal(frame)
			if err := v.validate(t, "common/bundle.json", fb); err != nil {
				t.Errorf("bundle: %v", err)
			}
			types := map[string]int{}
			rels := map[string]int{}
			for _, raw := range b.Objects {
				var h stix.Header
				json.Unmarshal(raw, &h)
				types[h.Type]++
				var o stix.Object
				json.Unmarshal(raw, &o)
				if strings.HasPrefix(o.SourceRef, "malware-analysis--") {
					rels[o.RelationshipType]++
				}
				if err := v.validate(t, schemaFor(h.Type), raw); err != nil {
					t.Errorf("%s does not validate against %s: %v\n%s", h.ID, schemaFor(h.Type), err, raw)
				}
			}
			for _, want := range []string{"identity", "malware", "relationship", "extension-definition"} {
				if types[want] == 0 {
					t.Errorf("no %s exported (%v)", want, types)
				}
			}
			if subject != "Lazarus Group" {
				// Three analyses (two versions of one), each a static
				// analysis of WannaCry; the two that name Contopee
				// characterize it.
				if types["malware-analysis"] != 3 || rels[stix.RelStaticAnalysisOf] != 3 || rels[stix.RelCharacterizes] != 2 {
					t.Errorf("%d malware-analysis objects, relationships %v; want 3, 3 static-analysis-of, 2 characterizes", types["malware-analysis"], rels)
				}
			}
			if subject == "" {
				for _, want := range []string{"threat-actor", "intrusion-set", "campaign", "indicator", "file", "opinion", "note"} {
					if types[want] == 0 {
						t.Errorf("no %s exported (%v)", want, types)
					}
				}
			}
		})
	}
}

// TestRoundTrip checks import(export(x)) == x: a knowledge base exported
// and imported into an empty one holds the same knowledge, and exports
// byte for byte the same bundle.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	kb := openKB(t, knowledge.Options{})
	// Hold a corrected claim too: versions must survive.
	c, err := kb.Claim(ctx, "wannacry-comae", 1)
	if err != nil {
		t.Fatal(err)
	}
	c.Caveat = "test correction"
	if _, err := kb.Correct(ctx, c.ID, c, "a correction to test versions"); err != nil {
		t.Fatal(err)
	}
	// And the engine's analyses, with versions.
	addAnalyses(t, kb)
	// And foreign STIX content, including objects kept raw.
	for _, f := range []string{"apt1.json", "poisonivy.json"} {
		importFile(t, kb, filepath.Join(sharedDir(t, "stix2-json-schemas/examples/threat-reports"), f))
	}
	want, err := kb.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := export(t, kb, "")

	kb2 := openKB(t, knowledge.Options{NoSeed: true})
	if _, err := stix.Import(ctx, kb2, bytes.NewReader(out), stix.Limits{}); err != nil {
		t.Fatal(err)
	}
	got, err := kb2.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	compareDocs(t, want, got)
	if out2 := export(t, kb2, ""); !bytes.Equal(out, out2) {
		t.Error("re-export differs from the first export")
	}
	// Importing the same bundle again changes nothing.
	res, err := stix.Import(ctx, kb2, bytes.NewReader(out), stix.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Stats.Changed() {
		t.Errorf("re-import changed the knowledge base: %s", res.Stats)
	}
}

func compareDocs(t *testing.T, want, got *knowledge.Document) {
	t.Helper()
	parts := []struct {
		name      string
		want, got any
	}{
		{"sources", want.Sources, got.Sources}, {"entities", want.Entities, got.Entities}, {"claims", want.Claims, got.Claims},
		{"opinions", want.Opinions, got.Opinions}, {"notes", want.Notes, got.Notes}, {"raw", want.Raw, got.Raw},
		{"analyses", want.Analyses, got.Analyses},
	}
	for _, p := range parts {
		if !reflect.DeepEqual(p.want, p.got) {
			w, _ := json.MarshalIndent(p.want, "", " ")
			g, _ := json.MarshalIndent(p.got, "", " ")
			t.Errorf("%s differ after the round trip:\n%s", p.name, firstDiff(string(w), string(g)))
		}
	}
}

func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			lo := max(0, i-8)
			return "want:\n" + strings.Join(al[lo:min(len(al), i+4)], "\n") + "\ngot:\n" + strings.Join(bl[lo:min(len(bl), i+4)], "\n")
		}
	}
	return "lengths differ"
}

func importFile(t *testing.T, kb *knowledge.KB, path string) stix.Result {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := stix.Import(context.Background(), kb, f, stix.Limits{})
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(path), err)
	}
	return res
}

// TestOASISExamples imports every example bundle of the OASIS repository.
func TestOASISExamples(t *testing.T) {
	dir := sharedDir(t, filepath.Join("stix2-json-schemas", "examples"))
	ctx := context.Background()
	kb := openKB(t, knowledge.Options{})
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".json") {
			files = append(files, p)
		}
		return nil
	})
	imported := 0
	for _, p := range files {
		data, _ := os.ReadFile(p)
		var h struct{ Type string }
		json.Unmarshal(data, &h)
		if h.Type != "bundle" {
			continue // a lone object, not a bundle
		}
		res := importFile(t, kb, p)
		imported++
		if res.Stats.Changed() == false && res.Objects > 0 {
			t.Errorf("%s: nothing imported", filepath.Base(p))
		}
	}
	if imported < 2 {
		t.Fatalf("only %d example bundles found", imported)
	}
	// APT1: the report's intrusion set with its aliases, and its claims.
	m, err := kb.Resolve(ctx, "APT1")
	if err != nil {
		t.Fatal(err)
	}
	if m.Entity.Kind != knowledge.KindActor || len(m.Entity.Aliases) == 0 {
		t.Errorf("APT1: %+v", m.Entity)
	}
	// Poison Ivy: the family itself is only mitigated by a course of
	// action (kept raw); its variants are what indicators indicate and
	// campaigns use.
	a, err := kb.Assess(ctx, "stix:malware--61a62a6a-9a18-4758-8e52-622431c4b8ae")
	if err != nil {
		t.Fatal(err)
	}
	claims := 0
	for _, e := range a.Timeline {
		if e.Claim != nil {
			claims++
		}
	}
	if claims == 0 {
		t.Error("Poison Ivy variant: no claims imported")
	}
	raw, err := kb.Raw(ctx)
	if err != nil || len(raw) == 0 {
		t.Errorf("no objects kept raw (%v)", err)
	}
}

func TestParsePattern(t *testing.T) {
	cases := []struct{ in, typ, val string }{
		{"[domain-name:value = 'www.example.com']", knowledge.IndDomain, "www.example.com"},
		{"[file:hashes.'SHA-256' = 'ED01EB']", knowledge.IndSHA256, "ed01eb"},
		{"[file:hashes.md5 = '001dd76872d80801692ff942308c64e6']", knowledge.IndMD5, "001dd76872d80801692ff942308c64e6"},
		{"[url:value = 'http://x/it\\'s']", knowledge.IndURL, "http://x/it's"},
		{"[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']", knowledge.IndPattern, "[ipv4-addr:value = '1.2.3.4' OR ipv4-addr:value = '5.6.7.8']"},
	}
	for _, c := range cases {
		typ, val := stix.ParsePattern(c.in)
		if typ != c.typ || val != c.val {
			t.Errorf("ParsePattern(%q) = %q, %q; want %q, %q", c.in, typ, val, c.typ, c.val)
		}
		if typ != knowledge.IndPattern {
			p, err := stix.Pattern(typ, val)
			if err != nil {
				t.Fatal(err)
			}
			if t2, v2 := stix.ParsePattern(p); t2 != typ || v2 != val {
				t.Errorf("Pattern/ParsePattern round trip of %q: %q %q", c.in, t2, v2)
			}
		}
	}
}

func TestParseBundleErrors(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"not json", `{`, "not a JSON bundle"},
		{"not a bundle", `{"type":"malware","id":"malware--591f0cb7-d66f-4e14-a8e6-5927b597f920"}`, "not \"bundle\""},
		{"bad id", `{"type":"bundle","id":"bundle--x"}`, "bundle--UUID"},
		{"bad object id", `{"type":"bundle","id":"bundle--ac946f1d-6a0e-4a9d-bc83-3f1f3bfda6ba","objects":[{"type":"malware","id":"tool--591f0cb7-d66f-4e14-a8e6-5927b597f920"}]}`, "does not start with its type"},
		{"bad time", `{"type":"bundle","id":"bundle--ac946f1d-6a0e-4a9d-bc83-3f1f3bfda6ba","objects":[{"type":"malware","id":"malware--591f0cb7-d66f-4e14-a8e6-5927b597f920","created":"yesterday"}]}`, "timestamp"},
		{"object not object", `{"type":"bundle","id":"bundle--ac946f1d-6a0e-4a9d-bc83-3f1f3bfda6ba","objects":[1]}`, "not a JSON object"},
		{"too big", strings.Repeat(" ", 5000), "larger"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := stix.ParseBundle(strings.NewReader(c.in), stix.Limits{MaxBytes: 4096})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to mention %q", err, c.want)
			}
		})
	}
	many := `{"type":"bundle","id":"bundle--ac946f1d-6a0e-4a9d-bc83-3f1f3bfda6ba","objects":[{},{},{}]}`
	if _, err := stix.ParseBundle(strings.NewReader(many), stix.Limits{MaxObjects: 2}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Errorf("object limit: %v", err)
	}
}

// FuzzImport feeds hostile bundles through parsing, conversion and a merge
// into a knowledge base: errors are fine, panics are not.
func FuzzImport(f *testing.F) {
	f.Add([]byte(`{"type":"bundle","id":"bundle--ac946f1d-6a0e-4a9d-bc83-3f1f3bfda6ba","objects":[{"type":"malware","spec_version":"2.1","id":"malware--591f0cb7-d66f-4e14-a8e6-5927b597f920","created":"2015-05-15T09:12:16.432Z","modified":"2015-05-15T09:12:16.432Z","name":"Poison Ivy","is_family":true},{"type":"identity","spec_version":"2.1","id":"identity--81cade27-7df8-4730-836b-62d880e6d9d3","created":"2015-05-15T09:12:16.432Z","modified":"2015-05-15T09:12:16.432Z","name":"FireEye"},{"type":"threat-actor","spec_version":"2.1","id":"threat-actor--6d179234-61fc-40d4-ae86-3d53308d8e65","created":"2015-05-15T09:12:16.432Z","modified":"2015-05-15T09:12:16.432Z","name":"Ugly Gorilla","aliases":["Greenfield"]},{"type":"relationship","spec_version":"2.1","id":"relationship--70dc6b5c-c524-429e-a6ab-0dd40f0482c1","created":"2015-05-15T09:12:16.432Z","modified":"2015-05-15T09:12:16.432Z","created_by_ref":"identity--81cade27-7df8-4730-836b-62d880e6d9d3","relationship_type":"authored-by","source_ref":"malware--591f0cb7-d66f-4e14-a8e6-5927b597f920","target_ref":"threat-actor--6d179234-61fc-40d4-ae86-3d53308d8e65","confidence":85},{"type":"indicator","spec_version":"2.1","id":"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f","created":"2015-05-15T09:12:16.432Z","modified":"2015-05-15T09:12:16.432Z","pattern":"[file:hashes.'SHA-256' = 'ab']","pattern_type":"stix","valid_from":"2015-05-15T09:12:16.432Z"},{"type":"x-custom","id":"x-custom--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"}]}`))
	f.Add([]byte(`{"type":"bundle","id":"bundle--ac946f1d-6a0e-4a9d-bc83-3f1f3bfda6ba","objects":[{"type":"identity","id":"identity--81cade27-7df8-4730-836b-62d880e6d9d3","name":"a","extensions":{"` + stix.ExtensionID + `":{"extension_type":"property-extension","key":"k","parent_ref":"identity--81cade27-7df8-4730-836b-62d880e6d9d3"}}}]}`))
	f.Add([]byte(`{"type":"bundle","id":"bundle--ac946f1d-6a0e-4a9d-bc83-3f1f3bfda6ba","objects":[{"type":"file","id":"file--81cade27-7df8-4730-836b-62d880e6d9d3","hashes":{"MD5":1}}]}`))
	f.Add([]byte(`[]`))
	dir := f.TempDir()
	kb, err := knowledge.Open(context.Background(), filepath.Join(dir, "kb.db"), knowledge.Options{NoSeed: true})
	if err != nil {
		f.Fatal(err)
	}
	defer kb.Close()
	f.Fuzz(func(t *testing.T, data []byte) {
		stix.Import(context.Background(), kb, bytes.NewReader(data), stix.Limits{MaxBytes: 1 << 20, MaxObjects: 1000})
	})
}
