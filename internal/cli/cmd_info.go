package cli

import (
	"fmt"
	"sort"

	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/report"
)

// infoJSON is the machine-readable form of `kinship info`.
type infoJSON struct {
	Path     string         `json:"path"`
	Sample   model.Sample   `json:"sample"`
	Sections []sectionJSON  `json:"sections"`
	Imports  int            `json:"imports"`
	Exports  int            `json:"exports"`
	Symbols  int            `json:"symbols"`
	Hints    map[string]int `json:"function_starts_by_source"`
	Go       *binfmt.GoInfo `json:"go,omitempty"`
	Origins  map[string]int `json:"functions_by_origin"`
	Coverage float64        `json:"coverage"`
}

type sectionJSON struct {
	Name  string `json:"name"`
	Addr  uint64 `json:"addr"`
	Size  uint64 `json:"size"`
	Exec  bool   `json:"exec"`
	Bytes int    `json:"bytes"`
}

func runInfo(e *env, args []string) int {
	fs := newFlags(e, "info")
	asJSON := fs.Bool("json", false, "JSON output")
	paths, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(paths) == 0 {
		return usageErr(e, fs, "no files given")
	}
	failed := 0
	for _, p := range paths {
		res, err := ingest.AnalyzeFile(e.ctx, p, ingest.Limits{}, analyze.Options{})
		if err != nil {
			failed++
			fmt.Fprintf(e.stderr, "kinship: %v\n", err)
			continue
		}
		in := describe(p, res)
		if *asJSON {
			report.JSON(e.stdout, in)
			continue
		}
		printInfo(e, in)
	}
	return batchExit(failed, len(paths))
}

func describe(path string, res *analyze.Result) infoJSON {
	f := res.File
	in := infoJSON{Path: path, Sample: res.Sample, Hints: map[string]int{}, Origins: map[string]int{}, Go: f.Go,
		Imports: len(f.Imports), Exports: len(f.Exports), Symbols: len(f.Symbols)}
	for _, s := range f.Sections {
		in.Sections = append(in.Sections, sectionJSON{s.Name, s.Addr, s.VSize, s.Exec, len(s.Data)})
	}
	for _, h := range f.Hints {
		in.Hints[h.Source.String()]++
	}
	for _, fn := range res.Functions {
		in.Origins[fn.Origin.String()]++
	}
	if st := res.Sample.Stats; st.CodeBytes > 0 {
		in.Coverage = float64(st.CoveredBytes) / float64(st.CodeBytes)
	}
	return in
}

func printInfo(e *env, in infoJSON) {
	s := in.Sample
	w := e.stdout
	fmt.Fprintf(w, "%s\n  format %s, arch %s, %d bytes\n", in.Path, s.Format, s.Arch, s.Size)
	fmt.Fprintf(w, "  md5 %s\n  sha1 %s\n  sha256 %s\n", s.Hashes.MD5, s.Hashes.SHA1, s.Hashes.SHA256)
	if s.Hashes.Imphash != "" {
		fmt.Fprintf(w, "  imphash %s\n", s.Hashes.Imphash)
	}
	fmt.Fprintf(w, "  tlsh %s\n  ssdeep %s\n", orDash(s.Hashes.TLSH), orDash(s.Hashes.Ssdeep))
	if s.Unsupported != "" {
		fmt.Fprintf(w, "  code analysis: not supported (%s)\n", s.Unsupported)
	}
	fmt.Fprintf(w, "  sections (%d):\n", len(in.Sections))
	for _, sec := range in.Sections {
		x := ""
		if sec.Exec {
			x = " exec"
		}
		fmt.Fprintf(w, "    %-12s 0x%-10x %10d bytes%s\n", report.Sanitize(sec.Name), sec.Addr, sec.Size, x)
	}
	fmt.Fprintf(w, "  imports %d, exports %d, symbols %d\n", in.Imports, in.Exports, in.Symbols)
	if in.Go != nil {
		fmt.Fprintf(w, "  go: %s, main module %s (%s), %d dependencies\n", in.Go.GoVersion, orDash(in.Go.MainModule), orDash(in.Go.MainPackage), len(in.Go.Deps))
	}
	keys := make([]string, 0, len(in.Hints))
	for k := range in.Hints {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(w, "  function starts from metadata:")
	for _, k := range keys {
		fmt.Fprintf(w, " %s %d", k, in.Hints[k])
	}
	fmt.Fprintln(w)
	st := s.Stats
	fmt.Fprintf(w, "  functions %d, instructions %d; coverage %.1f%% of %d bytes of executable code\n", st.Functions, st.Instructions, 100*in.Coverage, st.CodeBytes)
	if len(in.Origins) > 1 || in.Go != nil {
		fmt.Fprintf(w, "  functions by origin: own %d, library %d, std %d, runtime %d, unknown %d\n", in.Origins["own"], in.Origins["library"], in.Origins["std"], in.Origins["runtime"], in.Origins["unknown"])
	}
	for i, a := range s.Anomalies {
		if i == 10 {
			fmt.Fprintf(w, "  ... %d more anomalies\n", len(s.Anomalies)-10)
			break
		}
		fmt.Fprintf(w, "  anomaly: %s\n", report.Sanitize(a))
	}
	fmt.Fprintln(w)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
