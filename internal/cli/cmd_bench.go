package cli

import (
	"io"
	"os"
	"strings"

	"github.com/kinship-dev/kinship/internal/bench"
	"github.com/kinship-dev/kinship/internal/report"
)

func runBench(e *env, args []string) int {
	fs := newFlags(e, "bench")
	data := fs.String("data", "", "folder the manifest's relpaths are relative to (default: the manifest's folder)")
	format := fs.String("format", "", "only manifest rows of this format (pe or elf)")
	role := fs.String("role", "reference", "only manifest rows of this role (all: every row)")
	fromDB := fs.String("from-db", "", "take the real functions from this store instead of ingesting files")
	sizes := fs.String("sizes", "10k,100k,1M,10M", "collection sizes in functions, comma-separated")
	var queries []string
	fs.Func("query", "a binary to attribute at every size (repeatable)", func(s string) error {
		queries = append(queries, s)
		return nil
	})
	qfuncs := fs.Int("query-functions", 20000, "functions of the synthetic query (0: none)")
	repeat := fs.Float64("repeat", -1, "share of synthetic functions that keep their original's code (default: the share measured on the real code; 0: every one distinct)")
	runs := fs.Int("runs", 10, "timed attributions per query and size")
	topk := fs.Int("topk", 1000, "timed one-function top-10 searches per size")
	workers := fs.Int("workers", 2, "ingest workers and parallel jobs of objdump and tlsh; index build and lookup goroutines")
	baselines := fs.Bool("baselines", true, "time objdump -d and tlsh -f over the ingested files in the same run")
	seed := fs.Uint64("seed", 1, "seed of the synthetic functions")
	dir := fs.String("dir", "", "working folder for the stores (default: a temporary folder, removed afterwards)")
	keep := fs.Bool("keep", false, "keep the stores in --dir")
	jsonOut := fs.String("json", "", "also write the results as JSON to this file")
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) > 1 {
		return usageErr(e, fs, "bench takes at most one manifest")
	}
	c := bench.Config{Data: *data, Format: *format, Role: *role, FromDB: *fromDB, Baselines: *baselines,
		QueryFiles: queries, QueryFunctions: *qfuncs, Repeat: *repeat, Command: "kinship bench " + strings.Join(args, " "),
		Options: bench.Options{Keep: *keep, Seed: *seed, Runs: *runs, TopK: *topk, Workers: *workers, Log: e.stderr}}
	if len(pos) == 1 {
		c.Manifest = pos[0]
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := bench.ParseCount(s)
		if err != nil {
			return usageErr(e, fs, err.Error())
		}
		c.Sizes = append(c.Sizes, n)
	}
	c.Dir = *dir
	if c.Dir == "" {
		d, err := os.MkdirTemp("", "kinship-bench-")
		if err != nil {
			return fail(e, err)
		}
		defer os.RemoveAll(d)
		c.Dir = d
	} else if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fail(e, err)
	}
	rep, err := bench.Run(e.ctx, c)
	if rep != nil {
		rep.Markdown(e.stdout)
		if *jsonOut != "" {
			if ferr := writeFile(*jsonOut, func(w io.Writer) { report.JSON(w, rep) }); ferr != nil {
				return fail(e, ferr)
			}
		}
	}
	if err != nil {
		return fail(e, err)
	}
	return ExitOK
}
