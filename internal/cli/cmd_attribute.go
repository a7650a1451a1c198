package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/attribute"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/report"
)

func runAttribute(e *env, args []string) int {
	fs := newFlags(e, "attribute")
	db := dbFlag(fs)
	asJSON := fs.Bool("json", false, "JSON output")
	asTSV := fs.Bool("tsv", false, "TSV output: path<TAB>family<TAB>actor<TAB>score")
	paths, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(paths) == 0 {
		return usageErr(e, fs, "no files to attribute")
	}
	if *asJSON && *asTSV {
		return usageErr(e, fs, "--json and --tsv exclude each other")
	}
	st, err := openStore(e, *db)
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()
	t0 := time.Now()
	cache := ""
	if p, err := resolveDB(*db); err == nil {
		cache = calibrationCachePath(p)
	}
	ix, err := attribute.Load(e.ctx, st, attribute.Options{CalibrationCache: cache})
	if err != nil {
		return fail(e, err)
	}
	ns, nf, na, nc := ix.Sizes()
	e.log.Debug("index built", "samples", ns, "families", nf, "actors", na, "clusters", nc, "elapsed", time.Since(t0))
	if ns == 0 {
		fmt.Fprintf(e.stderr, "kinship: warning: the collection holds no labelled samples; every verdict will be unknown (ingest references with --family/--actor or --labels)\n")
	}
	failed := 0
	var all []model.Verdict
	for _, p := range paths {
		v := attributeOne(ix, p)
		if v.Error != "" {
			failed++
			fmt.Fprintf(e.stderr, "kinship: %s\n", v.Error)
		}
		switch {
		case *asJSON:
			all = append(all, v)
		case *asTSV:
			report.TSV(e.stdout, v)
		default:
			report.Text(e.stdout, v)
		}
	}
	if *asJSON {
		report.JSON(e.stdout, all)
	}
	return batchExit(failed, len(paths))
}

func attributeOne(ix *attribute.Index, path string) (v model.Verdict) {
	defer func() {
		if p := recover(); p != nil {
			v = model.Verdict{Path: path, Error: fmt.Sprintf("%s: internal error: %v", path, p)}
		}
	}()
	// Signed like the collection, whatever version it was ingested with.
	opts := analyze.Options{Disasm: disasm.Options{SigVersion: ix.SigVersion()}}
	res, err := ingest.AnalyzeFile(context.Background(), path, ingest.Limits{}, opts)
	if err != nil {
		return model.Verdict{Path: path, Error: err.Error(), Family: model.Judgment{Name: model.Unknown}, Actor: model.Judgment{Name: model.Unknown}}
	}
	v = ix.Attribute(res.Sample, res.Functions, false)
	v.Path = path
	return v
}
