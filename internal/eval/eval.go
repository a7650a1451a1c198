package eval

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/attribute"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/postgres"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
	"github.com/kinship-dev/kinship/internal/yardstick"
)

// Options select what to evaluate.
type Options struct {
	Manifest string
	Data     string // folder relpaths are resolved against; default the manifest's folder
	Small    bool   // only the smoke subset named in fetch.sh
	Format   string // "pe", "elf" or "" for all
	DB       string // store path; default a fresh temporary store
	Workers  int
	Logger   *slog.Logger
}

// Answer is one method's attribution of one binary.
type Answer struct {
	Family   string  `json:"family"`
	Actor    string  `json:"actor"`
	Score    float64 `json:"score"`
	FamilyOK bool    `json:"family_ok"`
	ActorOK  bool    `json:"actor_ok"`
	Detail   string  `json:"detail,omitempty"`
}

// Outcome is the evaluation of one non-reference binary.
type Outcome struct {
	RelPath     string            `json:"relpath"`
	SHA256      string            `json:"sha256"`
	Role        string            `json:"role"`
	Format      string            `json:"format"`
	TruthFamily string            `json:"truth_family"`
	TruthActor  string            `json:"truth_actor"`
	Kinship     Answer            `json:"kinship"`
	FamilyP     float64           `json:"family_probability"`
	ActorP      float64           `json:"actor_probability"`
	FamilyPHIA  string            `json:"family_phia"`
	ActorPHIA   string            `json:"actor_phia"`
	Baselines   map[string]Answer `json:"baselines"`
	Functions   int               `json:"functions"`
	Seconds     float64           `json:"seconds"`
	Error       string            `json:"error,omitempty"`
}

// Metrics are the protocol's figures for one method.
type Metrics struct {
	Queries          int     `json:"queries"`
	Unknowns         int     `json:"unknowns"`
	ActorOnly        int     `json:"actor_only"`
	FamilyTop1       float64 `json:"family_top1"`
	ActorQueries     float64 `json:"actor_top1_queries"`
	ActorOnlyActor   float64 `json:"actor_top1_actor_only"`
	ActorOnlyFamUnk  float64 `json:"actor_only_family_unknown"`
	FalseAttribution float64 `json:"false_attribution_rate"`
	Combined         float64 `json:"combined"`
	CombinedNum      int     `json:"combined_num"`
	CombinedDen      int     `json:"combined_den"`
}

// Bin is one row of a reliability table.
type Bin struct {
	Term       string  `json:"term"`
	N          int     `json:"n"`
	Confidence float64 `json:"mean_confidence"`
	Accuracy   float64 `json:"accuracy"`
}

// Report is a whole evaluation.
type Report struct {
	Manifest      string             `json:"manifest"`
	Slice         string             `json:"slice"`
	Date          string             `json:"date"`
	Machine       string             `json:"machine"`
	References    int                `json:"references"`
	RefFunctions  int                `json:"reference_functions"`
	IngestSeconds float64            `json:"ingest_seconds"`
	IngestMB      float64            `json:"ingest_mb"`
	IndexSeconds  float64            `json:"index_seconds"`
	Model         string             `json:"calibration"`
	Kinship       Metrics            `json:"kinship"`
	Baselines     map[string]Metrics `json:"baselines"`
	Thresholds    map[string]string  `json:"baseline_thresholds"`
	FamilyCal     []Bin              `json:"family_reliability"`
	FamilyECE     float64            `json:"family_ece"`
	ActorCal      []Bin              `json:"actor_reliability"`
	ActorECE      float64            `json:"actor_ece"`
	Outcomes      []Outcome          `json:"outcomes"`
	AttributeP50  float64            `json:"attribute_seconds_p50"`
	AttributeMax  float64            `json:"attribute_seconds_max"`
}

// Run performs the evaluation.
func Run(ctx context.Context, o Options) (*Report, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, err := os.Open(o.Manifest)
	if err != nil {
		return nil, err
	}
	rows, err := ReadManifest(f, o.Manifest)
	f.Close()
	if err != nil {
		return nil, err
	}
	slice := "all formats"
	if o.Format != "" {
		slice = "format=" + o.Format
	}
	if o.Small {
		sub, err := SmallSubset(o.Manifest)
		if err != nil {
			return nil, err
		}
		var keep []Row
		for _, r := range rows {
			if InSubset(r, sub) {
				keep = append(keep, r)
			}
		}
		rows = keep
		slice += ", --small subset"
	}
	if o.Format != "" {
		var keep []Row
		for _, r := range rows {
			if strings.EqualFold(r.Format, o.Format) {
				keep = append(keep, r)
			}
		}
		rows = keep
	}
	data := o.Data
	if data == "" {
		data = filepath.Dir(o.Manifest)
	}
	var refs, tests []Row
	for _, r := range rows {
		p := filepath.Join(data, r.RelPath)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: %w (fetch the corpus and pass --data)", p, err)
		}
		if r.Role == RoleReference {
			refs = append(refs, r)
		} else {
			tests = append(tests, r)
		}
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("%s: no reference rows in the selected slice", o.Manifest)
	}

	dbPath := o.DB
	if dbPath == "" {
		dir, err := os.MkdirTemp("", "kinship-eval-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		dbPath = filepath.Join(dir, "eval.db")
	}
	var st model.Store
	if postgres.IsURL(dbPath) {
		st, err = postgres.Open(ctx, dbPath, postgres.Options{})
	} else {
		st, err = sqlite.Open(dbPath, sqlite.Options{})
	}
	if err != nil {
		return nil, err
	}
	defer st.Close()

	rep := &Report{Manifest: o.Manifest, Slice: slice, Date: time.Now().UTC().Format("2006-01-02"), Machine: machine(),
		References: len(refs), Baselines: map[string]Metrics{}, Thresholds: map[string]string{}}

	// 1. Index the references: only their family and actor reach the engine.
	var items []ingest.Item
	for _, r := range refs {
		items = append(items, ingest.Item{Path: filepath.Join(data, r.RelPath), Labels: model.Labels{Family: r.Family, Actor: r.Actor, Source: "manifest"}})
	}
	var ingErr []string
	sum := ingest.Run(ctx, st, items, ingest.Options{Workers: o.Workers, Logger: log}, func(r ingest.Result) {
		if r.Err != nil {
			ingErr = append(ingErr, r.Err.Error())
		}
	})
	if sum.Failed > 0 {
		return nil, fmt.Errorf("%d references failed to ingest: %s", sum.Failed, strings.Join(ingErr, "; "))
	}
	rep.IngestSeconds = sum.Elapsed.Seconds()
	rep.IngestMB = float64(sum.Bytes) / 1e6
	rep.RefFunctions = sum.Functions
	log.Info("references ingested", "files", sum.Files, "functions", sum.Functions, "seconds", rep.IngestSeconds)

	t0 := time.Now()
	ix, err := attribute.Load(ctx, st, attribute.Options{Workers: o.Workers})
	if err != nil {
		return nil, err
	}
	rep.IndexSeconds = time.Since(t0).Seconds()
	rep.Model = ix.Model().Source

	samples, err := st.Samples(ctx)
	if err != nil {
		return nil, err
	}
	bl := newBaselines(samples)
	for name, t := range bl.thresholds() {
		rep.Thresholds[name] = t
	}

	// 2. Attribute every other binary from its content, under a neutral
	// name, signed like the references (a --db store may be older).
	aopts := analyze.Options{Disasm: disasm.Options{SigVersion: ix.SigVersion()}}
	var secs []float64
	for _, r := range tests {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		out := Outcome{RelPath: r.RelPath, Role: r.Role, Format: r.Format, TruthFamily: familyTruth(r), TruthActor: truth(r.Actor, r.Role), Baselines: map[string]Answer{}}
		b, err := analyze.ReadFile(filepath.Join(data, r.RelPath), 1<<30)
		if err != nil {
			out.Error = err.Error()
			rep.Outcomes = append(rep.Outcomes, out)
			continue
		}
		t := time.Now()
		res, err := analyze.Bytes(b, "blind", aopts)
		if err != nil {
			out.Error = err.Error()
			rep.Outcomes = append(rep.Outcomes, out)
			continue
		}
		v := ix.Attribute(res.Sample, res.Functions, false)
		out.Seconds = time.Since(t).Seconds()
		secs = append(secs, out.Seconds)
		out.SHA256 = res.Sample.SHA256
		out.Functions = len(res.Functions)
		out.Kinship = Answer{Family: v.Family.Name, Actor: v.Actor.Name, Detail: summary(v)}
		switch {
		case v.Family.Name != model.Unknown:
			out.Kinship.Score = v.Family.Probability
		case v.Actor.Name != model.Unknown:
			out.Kinship.Score = v.Actor.Probability
		}
		out.FamilyP, out.ActorP = v.Family.Probability, v.Actor.Probability
		out.FamilyPHIA, out.ActorPHIA = v.Family.PHIA, v.Actor.PHIA
		grade(&out.Kinship, out.TruthFamily, out.TruthActor)
		for name, a := range bl.answer(res.Sample.Hashes) {
			grade(&a, out.TruthFamily, out.TruthActor)
			out.Baselines[name] = a
		}
		log.Info("attributed", "path", r.RelPath, "family", v.Family.Name, "actor", v.Actor.Name, "seconds", out.Seconds)
		rep.Outcomes = append(rep.Outcomes, out)
	}
	sort.Float64s(secs)
	if n := len(secs); n > 0 {
		rep.AttributeP50 = secs[n/2]
		rep.AttributeMax = secs[n-1]
	}

	// 3. Report.
	rep.Kinship = metrics(rep.Outcomes, func(o Outcome) Answer { return o.Kinship })
	for _, name := range baselineNames {
		rep.Baselines[name] = metrics(rep.Outcomes, func(o Outcome) Answer { return o.Baselines[name] })
	}
	rep.FamilyCal, rep.FamilyECE = reliability(rep.Outcomes, func(o Outcome) (float64, bool, bool) {
		return o.FamilyP, o.Kinship.FamilyOK, o.Error == ""
	})
	rep.ActorCal, rep.ActorECE = reliability(rep.Outcomes, func(o Outcome) (float64, bool, bool) {
		return o.ActorP, o.Kinship.ActorOK, o.Error == ""
	})
	return rep, nil
}

// truth is the right answer for a label given the row's role.
func truth(label, role string) string {
	switch role {
	case RoleUnknown:
		return model.Unknown
	}

	if label == "" {
		return model.Unknown
	}
	return label
}

// familyTruth is the right family: an actor_only binary is a program the
// references do not hold, so its right family answer is unknown.
func familyTruth(r Row) string {
	if r.Role == RoleActorOnly {
		return model.Unknown
	}
	return truth(r.Family, r.Role)
}

func grade(a *Answer, fam, act string) {
	if a.Family == "" {
		a.Family = model.Unknown
	}
	if a.Actor == "" {
		a.Actor = model.Unknown
	}
	a.FamilyOK = strings.EqualFold(a.Family, fam)
	a.ActorOK = strings.EqualFold(a.Actor, act)
}

func metrics(outs []Outcome, get func(Outcome) Answer) Metrics {
	var m Metrics
	var famOK, actOK, aoAct, aoFam, unkLeft, unkFalse int
	for _, o := range outs {
		a := get(o)
		failed := o.Error != ""
		switch o.Role {
		case RoleQuery:
			m.Queries++
			if !failed && a.FamilyOK {
				famOK++
			}
			if !failed && a.ActorOK {
				actOK++
			}
		case RoleUnknown:
			m.Unknowns++
			if !failed && a.FamilyOK && a.ActorOK {
				unkLeft++
			} else {
				unkFalse++
			}
		case RoleActorOnly:
			m.ActorOnly++
			if !failed && a.ActorOK {
				aoAct++
			}
			if !failed && a.FamilyOK {
				aoFam++
			}
		}
	}
	div := func(a, b int) float64 {
		if b == 0 {
			return 0
		}
		return float64(a) / float64(b)
	}
	m.FamilyTop1 = div(famOK, m.Queries)
	m.ActorQueries = div(actOK, m.Queries)
	m.ActorOnlyActor = div(aoAct, m.ActorOnly)
	m.ActorOnlyFamUnk = div(aoFam, m.ActorOnly)
	m.FalseAttribution = div(unkFalse, m.Unknowns)
	m.CombinedNum = famOK + unkLeft
	m.CombinedDen = m.Queries + m.Unknowns
	m.Combined = div(m.CombinedNum, m.CombinedDen)
	return m
}

// reliability bins verdicts by their PHIA term and compares the stated
// probability with how often the verdict was right. For an "unknown"
// verdict the stated probability is that the strongest candidate is wrong.
func reliability(outs []Outcome, get func(Outcome) (p float64, ok, valid bool)) ([]Bin, float64) {
	type acc struct {
		n       int
		sumP    float64
		correct int
	}
	bins := map[string]*acc{}
	total := 0
	for _, o := range outs {
		p, ok, valid := get(o)
		if !valid {
			continue
		}
		t := yardstick.Word(yardstick.PHIA, p)
		b := bins[t]
		if b == nil {
			b = &acc{}
			bins[t] = b
		}
		b.n++
		b.sumP += p
		if ok {
			b.correct++
		}
		total++
	}
	var out []Bin
	ece := 0.0
	for _, t := range yardstick.PHIA {
		b := bins[t.Word]
		if b == nil {
			continue
		}
		bin := Bin{Term: t.Word, N: b.n, Confidence: b.sumP / float64(b.n), Accuracy: float64(b.correct) / float64(b.n)}
		out = append(out, bin)
		d := bin.Confidence - bin.Accuracy
		if d < 0 {
			d = -d
		}
		ece += float64(b.n) / float64(total) * d
	}
	return out, ece
}

func summary(v model.Verdict) string {
	var parts []string
	if len(v.Families) > 0 {
		c := v.Families[0]
		parts = append(parts, fmt.Sprintf("best family %s p=%.2f share=%.0f%% (%d fn)", c.Name, c.Probability, 100*c.Share, c.Functions))
	}
	if len(v.Actors) > 0 {
		c := v.Actors[0]
		parts = append(parts, fmt.Sprintf("best actor %s p=%.2f share=%.0f%%", c.Name, c.Probability, 100*c.Share))
	}
	if len(parts) == 0 {
		return "no distinctive shared code"
	}
	return strings.Join(parts, "; ")
}

func machine() string {
	host, _ := os.Hostname()
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.Index(l, ":"); i >= 0 {
					cpu = strings.TrimSpace(l[i+1:])
				}
				break
			}
		}
	}
	_ = host
	return fmt.Sprintf("%s, %d CPUs, %s/%s, %s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
}
