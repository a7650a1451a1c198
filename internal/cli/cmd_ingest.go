package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
)

func runIngest(e *env, args []string) int {
	fs := newFlags(e, "ingest")
	db := dbFlag(fs)
	family := fs.String("family", "", "family label for every file")
	actor := fs.String("actor", "", "actor label for every file")
	source := fs.String("source", "", "who labelled the files")
	common := fs.Bool("common", false, "declare the files common code (runtimes, libraries, clean files): shared code counts for nothing")
	labels := fs.String("labels", "", "TSV file of relpath<TAB>family<TAB>actor lines, relative to its folder")
	workers := fs.Int("workers", 0, "files analysed at once (default: number of CPUs)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	var lim ingest.Limits
	lim.AddFlags(fs)
	paths, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	var items []ingest.Item
	if *labels != "" {
		f, err := os.Open(*labels)
		if err != nil {
			return fail(e, err)
		}
		li, err := ingest.ParseLabels(f, *labels, filepath.Dir(*labels))
		f.Close()
		if err != nil {
			return fail(e, err)
		}
		for i := range li {
			li[i].Common = *common
			if *source != "" {
				li[i].Labels.Source = *source
			}
		}
		items = append(items, li...)
	}
	more, err := ingest.Expand(paths, model.Labels{Family: *family, Actor: *actor, Source: *source}, *common)
	if err != nil {
		return fail(e, err)
	}
	items = append(items, more...)
	if len(items) == 0 {
		return usageErr(e, fs, "nothing to ingest: give paths or --labels")
	}
	st, err := openStore(e, *db)
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()
	sig, err := storeSigVersion(e.ctx, st)
	if err != nil {
		return fail(e, err)
	}
	if sig != model.SigVersion {
		e.log.Info("the collection is signed with an older signature version: new samples are signed with it too; re-ingest everything into a new store to upgrade",
			"sig_version", sig, "current", model.SigVersion)
	}

	var bar *progressbar.ProgressBar
	if f, ok := e.stderr.(*os.File); ok && !*quiet && term.IsTerminal(int(f.Fd())) {
		bar = progressbar.NewOptions(len(items), progressbar.OptionSetWriter(f), progressbar.OptionSetDescription("ingest"),
			progressbar.OptionShowCount(), progressbar.OptionClearOnFinish())
	}
	sum := ingest.Run(e.ctx, st, items, ingest.Options{Workers: *workers, Logger: e.log, Limits: lim, Analyze: analyze.Options{Disasm: disasm.Options{SigVersion: sig}}}, func(r ingest.Result) {
		if bar != nil {
			bar.Add(1)
		}
		if r.Err != nil {
			if bar != nil {
				bar.Clear()
			}
			fmt.Fprintf(e.stderr, "skipped: %v\n", r.Err)
		}
	})
	if bar != nil {
		bar.Finish()
	}
	secs := sum.Elapsed.Seconds()
	rate := ""
	if secs > 0 && sum.Bytes > 0 {
		rate = fmt.Sprintf(", %.1f MB/s, %.0f functions/s", float64(sum.Bytes)/1e6/secs, float64(sum.Functions)/secs)
	}
	fmt.Fprintf(e.stdout, "ingested %d files: %d added (%d functions), %d already stored, %d failed, in %.1fs%s\n",
		sum.Files, sum.Added, sum.Functions, sum.Existing, sum.Failed, secs, rate)
	if sum.Failed == sum.Files {
		return ExitFailure
	}
	return ExitOK
}

// storeSigVersion is the signature version new samples of st must have:
// the one its samples share (model.SigVersion for an empty store, or one
// whose samples already mix versions), so that ingest never mixes a
// collection that attribution could use.
func storeSigVersion(ctx context.Context, st model.Store) (int, error) {
	samples, err := st.Samples(ctx)
	if err != nil {
		return 0, err
	}
	v := 0
	for _, s := range samples {
		switch {
		case v == 0:
			v = s.SigVersion
		case s.SigVersion != v:
			return model.SigVersion, nil
		}
	}
	if v < 1 || v > model.SigVersion {
		return model.SigVersion, nil
	}
	return v, nil
}
