// Package engine runs kinship's attribution engine for an assessment and
// turns its verdicts into the engine's own analyses (knowledge.Analysis).
//
// The samples analysed are those of the collection the knowledge base ties
// to the subject (by family label, or by hash), and any files given. The
// subject's own family labels are held out of the collection compared
// with: the engine then says whose code the subject's samples share apart
// from their own family, which is technical evidence, instead of echoing
// the label someone gave them, which is not.
package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/attribute"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/knowledge"
	"github.com/kinship-dev/kinship/internal/model"
)

// Product is the name analyses give the engine.
const Product = "kinship"

// Options tune Run.
type Options struct {
	// Collection names the store in reports.
	Collection string
	// CalibrationCache is the store's calibration cache, the one
	// `kinship attribute` uses. The index without the subject's families
	// keeps its own fitted model beside it, named by the held-out labels.
	CalibrationCache string
	// Files are analysed as samples of the subject, the way `kinship
	// attribute` analyses a file.
	Files []string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Version is the engine version analyses name (the build's module
	// version when empty).
	Version string
}

// Run analyses the subject's samples in the store and the given files
// against the rest of the collection.
func Run(ctx context.Context, kb *knowledge.KB, st model.Store, t *knowledge.Targets, opts Options) (*knowledge.EngineRun, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Version == "" {
		opts.Version = buildVersion()
	}
	samples, err := st.Samples(ctx)
	if err != nil {
		return nil, err
	}
	var targets []model.Sample
	held := map[string]string{}
	for _, s := range samples {
		if s.Common || !isTarget(t, s) {
			continue
		}
		targets = append(targets, s)
		if f := s.Labels.Family; f != "" && !strings.EqualFold(f, model.Unknown) {
			held[knowledge.Norm(f)] = f
		}
	}
	run := &knowledge.EngineRun{Collection: opts.Collection}
	if !t.Known {
		s := t.Subject
		run.Subject = &s
	}
	for _, f := range held {
		run.HeldOut = append(run.HeldOut, f)
	}
	slices.Sort(run.HeldOut)
	if len(targets) == 0 && len(opts.Files) == 0 {
		// Nothing to analyse: spare loading the collection.
		for _, s := range samples {
			if s.Unsupported == "" && (s.Common || s.Labels.Family != "" || s.Labels.Actor != "") {
				run.References++
			}
		}
		return run, nil
	}
	ix, err := index(ctx, st, samples, held, run.HeldOut, opts.CalibrationCache)
	if err != nil {
		return nil, err
	}
	run.References, _, _, _ = ix.Sizes()
	mdl := ix.Model()
	r := runner{kb: kb, ix: ix, t: t, opts: opts, run: run, calibrated: mdl.Family.Pos > 0 && mdl.Actor.Pos > 0, done: map[string]bool{}}
	for _, s := range targets {
		if s.Unsupported != "" {
			run.Failed = append(run.Failed, fmt.Sprintf("%s (%s): %s", s.Name, s.SHA256, s.Unsupported))
			continue
		}
		fns, err := st.Functions(ctx, s.SHA256)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", s.SHA256, err)
		}
		if err := r.add(ctx, s, fns, s.Name, knowledge.AnalysisFromStore); err != nil {
			return nil, err
		}
	}
	for _, p := range opts.Files {
		res, err := ingest.AnalyzeFile(ctx, p, ingest.Limits{}, analyze.Options{})
		if err != nil {
			run.Failed = append(run.Failed, err.Error())
			continue
		}
		if res.Sample.Unsupported != "" {
			run.Failed = append(run.Failed, fmt.Sprintf("%s: %s", p, res.Sample.Unsupported))
			continue
		}
		if err := r.add(ctx, res.Sample, res.Functions, filepath.Base(p), knowledge.AnalysisFromFile); err != nil {
			return nil, err
		}
	}
	return run, nil
}

func isTarget(t *knowledge.Targets, s model.Sample) bool {
	if t.MatchesFamily(s.Labels.Family) {
		return true
	}
	for _, h := range []string{s.SHA256, s.Hashes.SHA256, s.Hashes.SHA1, s.Hashes.MD5} {
		if h != "" && t.Hashes[strings.ToLower(h)] != "" {
			return true
		}
	}
	return false
}

// index builds the attribution index: the whole collection, as `kinship
// attribute` loads it, when nothing is held out; else every reference but
// the held-out families'.
func index(ctx context.Context, st model.Store, samples []model.Sample, held map[string]string, heldList []string, cache string) (*attribute.Index, error) {
	if len(held) == 0 {
		return attribute.Load(ctx, st, attribute.Options{CalibrationCache: cache})
	}
	var refs []model.SampleFunctions
	for _, s := range samples {
		if !s.Common && s.Labels.Family == "" && s.Labels.Actor == "" {
			continue
		}
		if s.Unsupported != "" || (!s.Common && held[knowledge.Norm(s.Labels.Family)] != "") {
			continue
		}
		if s.SigVersion != model.SigVersion {
			return nil, fmt.Errorf("sample %s has signature version %d, this kinship uses %d: re-ingest it", s.SHA256, s.SigVersion, model.SigVersion)
		}
		fns, err := st.Functions(ctx, s.SHA256)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", s.SHA256, err)
		}
		for j := range fns {
			fns[j].Consts, fns[j].Imports = nil, nil
		}
		refs = append(refs, model.SampleFunctions{Sample: s, Functions: fns})
	}
	if cache != "" {
		h := sha256.Sum256([]byte(strings.Join(heldList, "\x00")))
		cache = strings.TrimSuffix(cache, ".json") + "-without-" + hex.EncodeToString(h[:6]) + ".json"
	}
	return attribute.Build(refs, attribute.Options{CalibrationCache: cache}), nil
}

type runner struct {
	kb         *knowledge.KB
	ix         *attribute.Index
	t          *knowledge.Targets
	opts       Options
	run        *knowledge.EngineRun
	calibrated bool
	done       map[string]bool
}

// add attributes one sample and records the analysis. A panic in the
// engine fails this sample only.
func (r *runner) add(ctx context.Context, s model.Sample, fns []model.Function, name, origin string) error {
	sha := strings.ToLower(s.SHA256)
	if r.done[sha] {
		return nil
	}
	r.done[sha] = true
	start := r.opts.Now().UTC()
	v, err := attributeSafely(r.ix, s, fns)
	end := r.opts.Now().UTC()
	if err != nil {
		r.run.Failed = append(r.run.Failed, fmt.Sprintf("%s (%s): %v", name, sha, err))
		return nil
	}
	hashes := map[string]string{"SHA-256": sha}
	if h := s.Hashes.SHA1; h != "" {
		hashes["SHA-1"] = strings.ToLower(h)
	}
	if h := s.Hashes.MD5; h != "" {
		hashes["MD5"] = strings.ToLower(h)
	}
	key, err := r.kb.SampleKey(ctx, hashes)
	if err != nil {
		return err
	}
	an := knowledge.Analysis{
		ID: knowledge.AnalysisID(r.t.Subject.Key, sha), Version: 1, Source: knowledge.EngineSourceKey, MachineGenerated: true,
		Subject: r.t.Subject.Key, Sample: key, Hashes: hashes, FileName: name, Origin: origin,
		Date: start.Format("2006-01-02"), Started: stamp(start), Ended: stamp(end),
		Product: Product, EngineVersion: r.opts.Version, SigVersion: model.SigVersion,
		References: r.run.References, HeldOut: r.run.HeldOut, Calibration: v.Calibrated, Calibrated: r.calibrated,
	}
	if an.Family, err = r.judgment(ctx, v.Family, knowledge.KindFamily); err != nil {
		return err
	}
	if an.Actor, err = r.judgment(ctx, v.Actor, knowledge.KindActor); err != nil {
		return err
	}
	for _, f := range v.Evidence {
		an.Functions = append(an.Functions, knowledge.SharedFunction{
			Address: fmt.Sprintf("0x%x", f.QueryAddr), Ref: f.RefSHA256, RefName: f.RefName, RefAddress: fmt.Sprintf("0x%x", f.RefAddr),
			Family: f.Family, Actor: f.Actor, Similarity: f.Similarity, Weight: f.Weight, Name: f.Name,
		})
	}
	r.run.Analyses = append(r.run.Analyses, an)
	return nil
}

func attributeSafely(ix *attribute.Index, s model.Sample, fns []model.Function) (v model.Verdict, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error: %v", p)
		}
	}()
	// A sample the collection also holds as a reference is judged on
	// the others, not on itself.
	return ix.Attribute(s, fns, true), nil
}

// judgment turns the engine's judgment into the analysis's, naming the
// knowledge-base entity its label stands for.
func (r *runner) judgment(ctx context.Context, j model.Judgment, kind knowledge.Kind) (knowledge.EngineJudgment, error) {
	ej := knowledge.EngineJudgment{Label: j.Name, Probability: j.Probability, PHIA: j.PHIA, ICD203: j.ICD203, Best: j.Best, Reason: j.Reason}
	if ej.Label == "" {
		ej.Label = knowledge.EngineUnknown
	}
	if !ej.Named() {
		ej.Label = knowledge.EngineUnknown
		return ej, nil
	}
	var err error
	ej.Key, ej.Note, err = r.kb.ResolveLabel(ctx, j.Name, kind)
	return ej, err
}

// stamp is a STIX timestamp, to the millisecond.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}
