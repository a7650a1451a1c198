package knowledge

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// EngineSourceKey is the key of kinship's attribution engine as a source.
// Its verdicts are its own, machine-generated claims (analyses), never
// claims of anyone else.
const EngineSourceKey = "kinship:engine"

// The engine's reliability grades. An engine whose probabilities are
// calibrated on the collection's references (leave-one-out trials, see
// internal/attribute) is graded C, "fairly reliable": the calibration
// measures how well it tells the collection's own labels apart, not how
// right those labels are, nor how it fares on code unlike any reference.
// When the collection is too small to calibrate on, the engine falls back
// on a fixed default model and its probabilities cannot be judged: F.
const (
	EngineGrade             = "C"
	EngineGradeUncalibrated = "F"
)

// EngineSource returns the engine as a source.
func EngineSource() Source {
	return Source{Key: EngineSourceKey, Name: "kinship engine", Class: "system", Reliability: EngineGrade,
		Description: "kinship's attribution engine: code a sample shares with the labelled references of a collection, with probabilities calibrated on that collection. Its analyses are machine-generated."}
}

// Engine result names: the engine's "unknown" label.
const EngineUnknown = "unknown"

// EngineJudgment is the engine's judgment of a sample's family or actor.
type EngineJudgment struct {
	// Label is the collection's label the engine names, or "unknown".
	Label string `json:"label"`
	// Key is the knowledge-base entity the label names, when it names
	// exactly one; Note says why it names none otherwise.
	Key  string `json:"key,omitempty"`
	Note string `json:"note,omitempty"`
	// Probability is the engine's calibrated probability that Label is
	// right (for "unknown": that the best candidate is wrong).
	Probability float64 `json:"probability"`
	PHIA        string  `json:"phia"`
	ICD203      string  `json:"icd203"`
	Best        string  `json:"best,omitempty"` // the strongest candidate, even when Label is unknown
	Reason      string  `json:"reason,omitempty"`
}

// Named reports whether the judgment names a label.
func (j EngineJudgment) Named() bool {
	return j.Label != "" && !strings.EqualFold(j.Label, EngineUnknown)
}

// SharedFunction is one function of an analysed sample and the most
// similar function of a reference in the collection.
type SharedFunction struct {
	Address    string  `json:"address"` // in the sample, 0x…
	Ref        string  `json:"ref"`     // the reference's SHA-256
	RefName    string  `json:"ref_name,omitempty"`
	RefAddress string  `json:"ref_address"`
	Family     string  `json:"family,omitempty"` // the reference's labels
	Actor      string  `json:"actor,omitempty"`
	Similarity float64 `json:"similarity"`
	Weight     float64 `json:"weight"`
	Name       string  `json:"name,omitempty"`
}

// Analysis origins.
const (
	AnalysisFromStore = "store" // a sample of the collection
	AnalysisFromFile  = "file"  // a file given on the command line
)

// Analysis is one verdict of kinship's attribution engine on one sample,
// made for the assessment of one subject: the engine's own dated claim.
// It is machine-generated and credited to the engine source only. Like a
// claim it is immutable: a changed verdict is a new version.
type Analysis struct {
	// ID is "engine:SUBJECT:SHA256"; Version counts the verdicts that
	// differed, Supersedes is the version this one follows.
	ID         string `json:"id"`
	Version    int    `json:"version"`
	Supersedes int    `json:"supersedes,omitempty"`
	Source     string `json:"source"` // always EngineSourceKey
	// MachineGenerated is always true: no person chose these words.
	MachineGenerated bool `json:"machine_generated"`
	// Subject is the entity the sample was assessed for; Sample the
	// sample's entity key ("sha256:HEX", or the key the knowledge base
	// already holds for one of its hashes).
	Subject  string            `json:"subject"`
	Sample   string            `json:"sample"`
	Hashes   map[string]string `json:"hashes"` // STIX names: MD5, SHA-1, SHA-256
	FileName string            `json:"file_name,omitempty"`
	Origin   string            `json:"origin"`
	// Date is the day of the analysis; Started and Ended its STIX
	// timestamps.
	Date    string `json:"date"`
	Started string `json:"started,omitempty"`
	Ended   string `json:"ended,omitempty"`
	// Product and EngineVersion name the engine; SigVersion its
	// signature algorithm.
	Product       string `json:"product"`
	EngineVersion string `json:"engine_version,omitempty"`
	SigVersion    int    `json:"sig_version,omitempty"`
	// Collection describes what the sample was compared with: how many
	// references, which family labels were held out (the subject's own,
	// so that the verdict rests on other families' code, not on the
	// collection's label of the subject), and how the probabilities were
	// calibrated.
	References  int      `json:"references"`
	HeldOut     []string `json:"held_out,omitempty"`
	Calibration string   `json:"calibration"`
	Calibrated  bool     `json:"calibrated"`
	// Family and Actor are the engine's judgments; Functions the shared
	// functions behind them, strongest first.
	Family    EngineJudgment   `json:"family"`
	Actor     EngineJudgment   `json:"actor"`
	Functions []SharedFunction `json:"functions,omitempty"`
	// Modified is the STIX modified timestamp of an analysis imported
	// from STIX.
	Modified string `json:"modified,omitempty"`
}

var analysisIDRe = regexp.MustCompile(`^engine:.+:[0-9a-f]{64}$`)

// AnalysisID is the id of the engine's analysis of a sample for a subject.
func AnalysisID(subject, sha256 string) string {
	return "engine:" + subject + ":" + strings.ToLower(sha256)
}

// Grade is the reliability grade of the engine for this analysis.
func (an *Analysis) Grade() string {
	if an.Calibrated {
		return EngineGrade
	}
	return EngineGradeUncalibrated
}

// Validate checks an analysis.
func (an *Analysis) Validate() error {
	if !analysisIDRe.MatchString(an.ID) || len(an.ID) > MaxName {
		return fmt.Errorf("analysis %q: id is not engine:SUBJECT:SHA256", an.ID)
	}
	if an.Version < 1 || an.Supersedes < 0 || an.Supersedes >= an.Version {
		return fmt.Errorf("analysis %s: version %d supersedes %d", an.ID, an.Version, an.Supersedes)
	}
	if an.Source != EngineSourceKey || !an.MachineGenerated {
		return fmt.Errorf("analysis %s: analyses are the kinship engine's own machine-generated claims (source %s)", an.ID, EngineSourceKey)
	}
	if an.Subject == "" || an.Sample == "" {
		return fmt.Errorf("analysis %s: subject and sample are required", an.ID)
	}
	if an.Hashes["SHA-256"] == "" || !strings.HasSuffix(an.ID, ":"+an.Hashes["SHA-256"]) {
		return fmt.Errorf("analysis %s: the SHA-256 in its hashes must end its id", an.ID)
	}
	if !validDate(an.Date) {
		return fmt.Errorf("analysis %s: date %q is not YYYY-MM-DD", an.ID, an.Date)
	}
	if an.Origin != AnalysisFromStore && an.Origin != AnalysisFromFile {
		return fmt.Errorf("analysis %s: origin %q", an.ID, an.Origin)
	}
	if an.Product == "" {
		return fmt.Errorf("analysis %s: no product", an.ID)
	}
	for _, j := range []EngineJudgment{an.Family, an.Actor} {
		if j.Label == "" || j.Probability < 0 || j.Probability > 1 || math.IsNaN(j.Probability) {
			return fmt.Errorf("analysis %s: judgment %q with probability %v", an.ID, j.Label, j.Probability)
		}
	}
	if len(an.Functions) > MaxItems || len(an.HeldOut) > MaxItems {
		return fmt.Errorf("analysis %s: too many functions or held-out labels", an.ID)
	}
	for _, s := range []string{an.FileName, an.Calibration, an.Family.Reason, an.Actor.Reason} {
		if err := checkText("analysis "+an.ID, s, MaxText); err != nil {
			return err
		}
	}
	return nil
}

// sameVerdict reports whether two analyses say the same thing: equal but
// for their version and when they ran.
func sameVerdict(a, b Analysis) bool {
	for _, x := range []*Analysis{&a, &b} {
		x.Version, x.Supersedes, x.Date, x.Started, x.Ended, x.Modified = 0, 0, "", "", "", ""
	}
	return reflect.DeepEqual(a, b)
}

// EngineRun is what one run of the engine for an assessment produced.
type EngineRun struct {
	// Collection names the store the references came from.
	Collection string `json:"collection"`
	// Subject stands in for a subject the knowledge base does not know
	// but the collection labels (a family known only to the engine).
	Subject    *Entity    `json:"subject,omitempty"`
	References int        `json:"references"`
	HeldOut    []string   `json:"held_out,omitempty"`
	Analyses   []Analysis `json:"analyses"`
	// Failed lists the files the engine could not analyse, with why.
	Failed []string `json:"failed,omitempty"`
}

// Targets is what the engine should analyse for a subject: the samples of
// the collection whose family label is one of Families, or whose hash is
// one of Hashes.
type Targets struct {
	Subject Entity `json:"subject"`
	// Known is false when the knowledge base does not know the subject.
	Known bool `json:"known"`
	// Families holds the names and aliases of the families in the
	// subject's scope: the labels a collection may give their samples.
	Families []string `json:"families"`
	// Hashes maps lower-case MD5, SHA-1 and SHA-256 values the knowledge
	// base ties to the subject (its samples, and hash indicators that
	// indicate it) to the entity key they come from.
	Hashes map[string]string `json:"hashes"`
}

// MatchesFamily reports whether a collection's family label names a family
// in the subject's scope.
func (t *Targets) MatchesFamily(label string) bool {
	n := Norm(label)
	if n == "" {
		return false
	}
	for _, f := range t.Families {
		if Norm(f) == n {
			return true
		}
	}
	return false
}

// EngineTargets returns what the engine should analyse for the assessment
// of name. A name the knowledge base does not know is taken as a family
// label of the collection (Known false).
func (kb *KB) EngineTargets(ctx context.Context, name string) (*Targets, error) {
	m, err := kb.Resolve(ctx, name)
	if err != nil {
		if !isNotFound(err) {
			return nil, err
		}
		n := strings.Join(strings.Fields(name), " ")
		e := Entity{Key: "label:family:" + Norm(n), Kind: KindFamily, Name: n}
		return &Targets{Subject: e, Families: []string{n}, Hashes: map[string]string{}}, nil
	}
	t := &Targets{Subject: m.Entity, Known: true, Hashes: map[string]string{}}
	scope, _, err := kb.scope(ctx, m.Entity)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(scope))
	for k, e := range scope {
		keys = append(keys, k)
		switch e.Kind {
		case KindFamily:
			for _, n := range e.Names() {
				if !slices.Contains(t.Families, n) {
					t.Families = append(t.Families, n)
				}
			}
		case KindSample:
			for _, h := range e.Hashes {
				t.Hashes[strings.ToLower(h)] = e.Key
			}
		}
	}
	slices.Sort(keys)
	cs, err := kb.Claims(ctx, keys...)
	if err != nil {
		return nil, err
	}
	for _, c := range latest(cs) {
		if c.Relation != RelIndicates || scope[c.Object].Key == "" || scope[c.Subject].Key != "" {
			continue
		}
		ind, err := kb.Entity(ctx, c.Subject)
		if err != nil {
			return nil, err
		}
		if ind.Kind == KindIndicator && (ind.Type == IndSHA256 || ind.Type == IndSHA1 || ind.Type == IndMD5) {
			t.Hashes[strings.ToLower(ind.Value)] = ind.Key
		}
	}
	return t, nil
}

// ResolveLabel finds the entity of kind a collection's label names: its
// own name first, then a single alias. A label that names nothing gets
// LabelKey(kind, label) and why; one that names several gets "" and why.
func (kb *KB) ResolveLabel(ctx context.Context, label string, kind Kind) (key, why string, err error) {
	ms, err := kb.Find(ctx, label, kind)
	if err != nil {
		return "", "", err
	}
	var own []Match
	for _, m := range ms {
		if m.By == "name" {
			own = append(own, m)
		}
	}
	switch {
	case len(own) == 1:
		return own[0].Entity.Key, "", nil
	case len(own) == 0 && len(ms) == 1:
		return ms[0].Entity.Key, "", nil
	case len(ms) == 0:
		return LabelKey(kind, label), fmt.Sprintf("no %s in the knowledge base is called %q", kind, label), nil
	}
	list := own
	if len(list) == 0 {
		list = ms
	}
	var names []string
	for _, m := range list {
		names = append(names, fmt.Sprintf("%s (%s)", m.Entity.Name, m.Entity.Key))
	}
	return "", fmt.Sprintf("%q names several: %s", label, strings.Join(names, "; ")), nil
}

// RecordStats says what RecordAnalyses did.
type RecordStats struct {
	New       int `json:"new"`       // analyses recorded for the first time
	Versions  int `json:"versions"`  // new versions of analyses held before
	Unchanged int `json:"unchanged"` // the same verdict as the latest version held
}

// RecordAnalyses stores the engine's analyses as its own claims: an
// analysis whose verdict equals the latest version held is not stored
// again; a different one becomes the next version. The engine source and
// the analysed samples are added as needed. The subject of every analysis
// must be in the knowledge base.
func (kb *KB) RecordAnalyses(ctx context.Context, as []Analysis) (RecordStats, error) {
	var st RecordStats
	doc := &Document{Sources: []Source{EngineSource()}}
	for _, an := range as {
		if _, err := kb.Entity(ctx, an.Subject); err != nil {
			return st, fmt.Errorf("record analysis %s: the subject is not in the knowledge base: %w", an.ID, err)
		}
		prev, err := kb.Analyses(ctx, an.ID)
		if err != nil {
			return st, err
		}
		an.Version, an.Supersedes = 1, 0
		if n := len(prev); n > 0 {
			last := prev[n-1]
			if sameVerdict(last, an) {
				st.Unchanged++
				continue
			}
			an.Version, an.Supersedes = last.Version+1, last.Version
			st.Versions++
		} else {
			st.New++
		}
		doc.Entities = append(doc.Entities, sampleEntity(an))
		doc.Analyses = append(doc.Analyses, an)
	}
	if len(doc.Analyses) == 0 {
		return st, nil
	}
	if _, err := kb.Merge(ctx, doc); err != nil {
		return RecordStats{}, err
	}
	return st, nil
}

// sampleEntity is the sample entity an analysis names. It is named by its
// SHA-256, like every sample: a file name ("cinderloop") would make the
// family of the same name ambiguous.
func sampleEntity(an Analysis) Entity {
	e := Entity{Key: an.Sample, Kind: KindSample, Name: an.Hashes["SHA-256"], Hashes: an.Hashes}
	if an.FileName != "" {
		e.Description = "analysed by the kinship engine as " + an.FileName
	}
	return e
}

// SampleKey is the entity key for a sample with these hashes: the key the
// knowledge base already holds for one of them, else "sha256:HEX".
func (kb *KB) SampleKey(ctx context.Context, hashes map[string]string) (string, error) {
	for _, k := range []string{"sha256:" + hashes["SHA-256"], "sha1:" + hashes["SHA-1"], "md5:" + hashes["MD5"]} {
		if strings.HasSuffix(k, ":") {
			continue
		}
		e, err := kb.Entity(ctx, strings.ToLower(k))
		if err == nil && e.Kind == KindSample {
			return e.Key, nil
		}
		if err != nil && !isNotFound(err) {
			return "", err
		}
	}
	return "sha256:" + strings.ToLower(hashes["SHA-256"]), nil
}

// Analyses returns every version of the analyses with the given ids (all
// if none given), ordered by id and version.
func (kb *KB) Analyses(ctx context.Context, ids ...string) ([]Analysis, error) {
	return kb.queryAnalyses(ctx, "id", ids)
}

// AnalysesFor returns every version of the analyses made for the given
// subjects.
func (kb *KB) AnalysesFor(ctx context.Context, keys ...string) ([]Analysis, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	return kb.queryAnalyses(ctx, "subject", keys)
}

func (kb *KB) queryAnalyses(ctx context.Context, by string, keys []string) ([]Analysis, error) {
	q := "SELECT body FROM analyses"
	var args []any
	ph := strings.TrimSuffix(strings.Repeat("?,", len(keys)), ",")
	switch {
	case len(keys) == 0:
	case by == "id":
		q += " WHERE id IN (" + ph + ")"
		for _, k := range keys {
			args = append(args, k)
		}
	default:
		q += " WHERE subject IN (" + ph + ")"
		for _, k := range keys {
			args = append(args, k)
		}
	}
	q += " ORDER BY id, version"
	rows, err := kb.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Analysis
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var an Analysis
		if err := unmarshalBody(body, &an); err != nil {
			return nil, fmt.Errorf("analysis: stored body: %w", err)
		}
		out = append(out, an)
	}
	return out, rows.Err()
}

// latestAnalyses keeps the highest version of each analysis.
func latestAnalyses(as []Analysis) []Analysis {
	return latestVersions(as, func(a Analysis) (string, int) { return a.ID, a.Version })
}
