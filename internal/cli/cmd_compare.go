package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/attribute"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/report"
)

func runCompare(e *env, args []string) int {
	fs := newFlags(e, "compare")
	show := fs.Int("show", 3, "shared functions to print side by side")
	minSim := fs.Float64("min-sim", 0.6, "similarity at which two functions count as shared")
	asJSON := fs.Bool("json", false, "JSON output (the pairs, without listings)")
	sig := fs.Int("sig", model.SigVersion, fmt.Sprintf("signature version to compare with (%v)", disasm.SigVersions))
	paths, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(paths) != 2 {
		return usageErr(e, fs, "compare takes exactly two files")
	}
	if !slices.Contains(disasm.SigVersions, *sig) {
		return usageErr(e, fs, fmt.Sprintf("unknown signature version %d", *sig))
	}
	opts := analyze.Options{Disasm: disasm.Options{SigVersion: *sig}}
	ra, err := ingest.AnalyzeFile(e.ctx, paths[0], ingest.Limits{}, opts)
	if err != nil {
		return fail(e, err)
	}
	rb, err := ingest.AnalyzeFile(e.ctx, paths[1], ingest.Limits{}, opts)
	if err != nil {
		return fail(e, err)
	}
	pairs := attribute.Pairs(ra.Functions, rb.Functions, *minSim, 6)
	if *asJSON {
		type jp struct {
			A, B       uint64
			Similarity float64
			Instrs     uint32
			Name       string `json:",omitempty"`
		}
		var out []jp
		for _, p := range pairs {
			out = append(out, jp{p.A.Addr, p.B.Addr, p.Similarity, p.A.Instrs, p.A.Name})
		}
		report.JSON(e.stdout, map[string]any{"a": ra.Sample.SHA256, "b": rb.Sample.SHA256, "pairs": out})
		return ExitOK
	}
	exact := 0
	for _, p := range pairs {
		if p.Similarity == 1 {
			exact++
		}
	}
	fmt.Fprintf(e.stdout, "A %s  %s (%d functions)\nB %s  %s (%d functions)\n%d functions of A have a match in B (%d identical after normalisation)\n\n",
		ra.Sample.SHA256[:12], paths[0], len(ra.Functions), rb.Sample.SHA256[:12], paths[1], len(rb.Functions), len(pairs), exact)
	fmt.Fprintf(e.stdout, "%-12s %-12s %5s %6s  %s\n", "A addr", "B addr", "sim", "instrs", "name")
	for i, p := range pairs {
		if i == 40 {
			fmt.Fprintf(e.stdout, "... %d more\n", len(pairs)-40)
			break
		}
		fmt.Fprintf(e.stdout, "0x%-10x 0x%-10x %5.2f %6d  %s\n", p.A.Addr, p.B.Addr, p.Similarity, p.A.Instrs, firstOf(p.A.Name, p.B.Name))
	}
	// Side by side: largest shared functions first, since they are the
	// ones a human can judge.
	shown := 0
	for _, p := range pairs {
		if shown >= *show {
			break
		}
		la, err1 := ra.Disasm.Listing(ra.File, p.A.Addr)
		lb, err2 := rb.Disasm.Listing(rb.File, p.B.Addr)
		if err1 != nil || err2 != nil {
			continue
		}
		shown++
		fmt.Fprintf(e.stdout, "\n== A 0x%x  <->  B 0x%x  similarity %.2f, %d instructions\n", p.A.Addr, p.B.Addr, p.Similarity, p.A.Instrs)
		n := len(la)
		if len(lb) > n {
			n = len(lb)
		}
		if n > 60 {
			n = 60
		}
		for i := 0; i < n; i++ {
			var a, b string
			if i < len(la) {
				a = fmt.Sprintf("%08x  %s", la[i].Addr, la[i].Norm)
			}
			if i < len(lb) {
				b = fmt.Sprintf("%08x  %s", lb[i].Addr, lb[i].Norm)
			}
			mark := " "
			if i < len(la) && i < len(lb) && la[i].Norm != lb[i].Norm {
				mark = "|"
			}
			fmt.Fprintf(e.stdout, "%-50s %s %s\n", clip(a, 50), mark, clip(b, 50))
		}
		if len(la) > 60 || len(lb) > 60 {
			fmt.Fprintf(e.stdout, "... (%d and %d instructions)\n", len(la), len(lb))
		}
	}
	return ExitOK
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func clip(s string, n int) string {
	s = strings.ReplaceAll(s, "\t", " ")
	if len(s) > n {
		return s[:n-1] + "~"
	}
	return s
}
