package cli

import (
	"io"

	"github.com/kinship-dev/kinship/internal/eval"
	"github.com/kinship-dev/kinship/internal/report"
)

func runEval(e *env, args []string) int {
	fs := newFlags(e, "eval")
	data := fs.String("data", "", "folder the manifest's relpaths are relative to (default: the manifest's folder)")
	small := fs.Bool("small", false, "only the smoke subset that fetch.sh --small downloads")
	format := fs.String("format", "", "only rows of this format (pe or elf)")
	jsonOut := fs.String("json", "", "also write the report as JSON to this file")
	preds := fs.String("predictions", "", "write path<TAB>family<TAB>actor<TAB>score for every attributed binary to this file")
	db := fs.String("db", "", "store for the references (default: a fresh temporary store)")
	workers := fs.Int("workers", 0, "files analysed at once")
	args2, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(args2) != 1 {
		return usageErr(e, fs, "eval takes one manifest")
	}
	rep, err := eval.Run(e.ctx, eval.Options{Manifest: args2[0], Data: *data, Small: *small, Format: *format, DB: *db, Workers: *workers, Logger: e.log})
	if err != nil {
		return fail(e, err)
	}
	if err := rep.Markdown(e.stdout); err != nil {
		return fail(e, err)
	}
	if *jsonOut != "" {
		if err := writeFile(*jsonOut, func(w io.Writer) { report.JSON(w, rep) }); err != nil {
			return fail(e, err)
		}
	}
	if *preds != "" {
		if err := writeFile(*preds, func(w io.Writer) { rep.TSV(w) }); err != nil {
			return fail(e, err)
		}
	}
	return ExitOK
}
