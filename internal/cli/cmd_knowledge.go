package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/kinship-dev/kinship/internal/knowledge"
	"github.com/kinship-dev/kinship/internal/knowledge/misp"
	"github.com/kinship-dev/kinship/internal/knowledge/stix"
)

type subcommand struct {
	name, args, short string
	run               func(e *env, fs *flag.FlagSet, kbPath *string, args []string) int
}

func knowledgeSubcommands() []subcommand {
	return []subcommand{
		{"import-misp", "FILE...", "import MISP galaxy cluster files (threat-actor, malpedia, ransomware, ...)", runImportMISP},
		{"import-stix", "FILE...", "import STIX 2.1 bundles", runImportSTIX},
		{"export-stix", "[--subject NAME] [-o FILE]", "export the knowledge base, or what concerns one subject, as a STIX 2.1 bundle", runExportSTIX},
		{"claims", "[--json] [SUBJECT]", "list every version of the claims about a subject (all claims without one)", reader(listClaims)},
		{"actors", "[--json] [NAME]", "list actors with their aliases, or every actor a name or alias means", reader(listActors)},
		{"analyses", "[--json] [SUBJECT]", "list every version of the engine's recorded analyses (assess --record), for one subject or all", reader(listAnalyses)},
	}
}

func knowledgeUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: kinship knowledge SUBCOMMAND [--kb PATH] [options]\n\nThe attribution knowledge base: actors, aliases, sources and their dated claims.\n\nSubcommands:\n")
	for _, s := range knowledgeSubcommands() {
		fmt.Fprintf(w, "  %-12s %-28s %s\n", s.name, s.args, s.short)
	}
	fmt.Fprintf(w, "\nThe knowledge base is $KINSHIP_KB or knowledge.db beside the store; --kb PATH selects another.\n")
}

func runKnowledge(e *env, args []string) int {
	if len(args) == 0 {
		knowledgeUsage(e.stderr)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		knowledgeUsage(e.stdout)
		return ExitOK
	}
	for _, s := range knowledgeSubcommands() {
		if s.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("kinship knowledge "+s.name, flag.ContinueOnError)
		fs.SetOutput(e.stderr)
		fs.Usage = func() {
			fmt.Fprintf(e.stderr, "Usage: kinship knowledge %s [--kb PATH] %s\n\n%s.\n\nOptions:\n", s.name, s.args, s.short)
			fs.PrintDefaults()
		}
		kbPath := kbFlag(fs)
		return s.run(e, fs, kbPath, args[1:])
	}
	fmt.Fprintf(e.stderr, "kinship knowledge: unknown subcommand %q\n\n", args[0])
	knowledgeUsage(e.stderr)
	return ExitUsage
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func runImportMISP(e *env, fs *flag.FlagSet, kbPath *string, args []string) int {
	return importFiles(e, fs, kbPath, args, "no galaxy files named",
		func(ctx context.Context, kb *knowledge.KB, r io.Reader) (misp.Result, error) {
			return misp.Import(ctx, kb, r, misp.Limits{})
		},
		func(w io.Writer, path string, res misp.Result) {
			fmt.Fprintf(w, "%s: %d clusters of galaxy %s (version %d): %s\n", path, res.Clusters, res.Galaxy, res.Version, res.Stats)
		})
}

func runImportSTIX(e *env, fs *flag.FlagSet, kbPath *string, args []string) int {
	return importFiles(e, fs, kbPath, args, "no bundles named",
		func(ctx context.Context, kb *knowledge.KB, r io.Reader) (stix.Result, error) {
			return stix.Import(ctx, kb, r, stix.Limits{})
		},
		func(w io.Writer, path string, res stix.Result) {
			fmt.Fprintf(w, "%s: %d objects (%d kept as raw STIX): %s\n", path, res.Objects, res.Raw, res.Stats)
		})
}

// importFiles runs an import subcommand: it imports each file named, in
// order, with imp, and stops at the first that fails. Each file gets a line
// as it is done or, with --json, the results are written together at the
// end. noFiles is the usage error when no file is named.
func importFiles[R any](e *env, fs *flag.FlagSet, kbPath *string, args []string, noFiles string,
	imp func(ctx context.Context, kb *knowledge.KB, r io.Reader) (R, error),
	line func(w io.Writer, path string, res R)) int {
	asJSON := fs.Bool("json", false, "JSON output")
	files, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(files) == 0 {
		return usageErr(e, fs, noFiles)
	}
	kb, err := openKnowledge(e, *kbPath)
	if err != nil {
		return fail(e, err)
	}
	defer kb.Close()
	var results []R
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return fail(e, err)
		}
		res, err := imp(e.ctx, kb, f)
		f.Close()
		if err != nil {
			return fail(e, fmt.Errorf("%s: %w", p, err))
		}
		results = append(results, res)
		if !*asJSON {
			line(e.stdout, p, res)
		}
	}
	if *asJSON {
		return printJSON(e, results)
	}
	return ExitOK
}

// printJSON writes a list as the --json output of a knowledge subcommand:
// an empty one as [], never null.
func printJSON[T any](e *env, list []T) int {
	if list == nil {
		list = []T{}
	}
	if err := writeJSON(e.stdout, list); err != nil {
		return fail(e, err)
	}
	return ExitOK
}

// reader makes a subcommand that only reads the knowledge base: it takes
// --json and the words of an optional subject, and list gets the base open.
func reader(list func(e *env, kb *knowledge.KB, pos []string, asJSON bool) int) func(*env, *flag.FlagSet, *string, []string) int {
	return func(e *env, fs *flag.FlagSet, kbPath *string, args []string) int {
		asJSON := fs.Bool("json", false, "JSON output")
		pos, err := parse(fs, args)
		if err != nil {
			return parseExit(err)
		}
		kb, err := openKnowledge(e, *kbPath)
		if err != nil {
			return fail(e, err)
		}
		defer kb.Close()
		return list(e, kb, pos, *asJSON)
	}
}

func runExportSTIX(e *env, fs *flag.FlagSet, kbPath *string, args []string) int {
	subject := fs.String("subject", "", "export only what concerns this family, campaign, actor or sample")
	out := fs.String("o", "", "write the bundle to this file instead of standard output")
	rest, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(rest) > 0 {
		return usageErr(e, fs, "unexpected arguments: "+strings.Join(rest, " "))
	}
	kb, err := openKnowledge(e, *kbPath)
	if err != nil {
		return fail(e, err)
	}
	defer kb.Close()
	w := e.stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			return fail(e, err)
		}
		w = f
	}
	err = stix.Export(e.ctx, kb, *subject, w)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fail(e, err)
	}
	return ExitOK
}

// listClaims prints every version of the claims about the subject pos
// names, or of all claims.
func listClaims(e *env, kb *knowledge.KB, pos []string, asJSON bool) int {
	var keys []string
	if len(pos) > 0 {
		m, err := kb.Resolve(e.ctx, strings.Join(pos, " "))
		if err != nil {
			return fail(e, err)
		}
		keys = []string{m.Entity.Key}
	}
	cs, err := kb.Claims(e.ctx, keys...)
	if err != nil {
		return fail(e, err)
	}
	if asJSON {
		return printJSON(e, cs)
	}
	srcs, err := kb.Sources(e.ctx)
	if err != nil {
		return fail(e, err)
	}
	names := map[string]string{}
	name := func(key string) string {
		if n, ok := names[key]; ok {
			return n
		}
		n := key
		if ent, err := kb.Entity(e.ctx, key); err == nil {
			n = ent.Name
		}
		names[key] = n
		return n
	}
	latest := map[string]int{}
	for _, c := range cs {
		latest[c.ID] = max(latest[c.ID], c.Version)
	}
	for _, c := range cs {
		who := srcs[c.Source].Name
		if c.ReportedBy != "" {
			who += " (reported by " + srcs[c.ReportedBy].Name + ")"
		}
		fmt.Fprintf(e.stdout, "%s  %s v%d  %s: %s %s %s", c.Date, c.ID, c.Version, who, name(c.Subject), c.Relation, name(c.Object))
		if c.NativeTerm != "" {
			fmt.Fprintf(e.stdout, "  [%q, %s", c.NativeTerm, knowledge.YardstickTitle(c.Yardstick))
			if c.Confidence != nil {
				fmt.Fprintf(e.stdout, ", STIX %d", *c.Confidence)
			}
			fmt.Fprint(e.stdout, "]")
		}
		if c.Version < latest[c.ID] {
			fmt.Fprint(e.stdout, "  (superseded)")
		}
		fmt.Fprintln(e.stdout)
	}
	return ExitOK
}

// listActors prints every actor the name pos gives may mean, or all actors
// with their aliases.
func listActors(e *env, kb *knowledge.KB, pos []string, asJSON bool) int {
	if len(pos) > 0 {
		ms, err := kb.Find(e.ctx, strings.Join(pos, " "), knowledge.KindActor)
		if err != nil {
			return fail(e, err)
		}
		if len(ms) == 0 {
			return fail(e, fmt.Errorf("no actor is called %q", strings.Join(pos, " ")))
		}
		if asJSON {
			return printJSON(e, ms)
		}
		for _, m := range ms {
			how := "its name"
			if m.Alias != nil {
				how = "alias " + m.Alias.Name
				if m.Alias.Status != "" {
					how += " (" + m.Alias.Status + ": " + m.Alias.Note + ")"
				}
			}
			fmt.Fprintf(e.stdout, "%s (%s, %s), by %s\n", m.Entity.Name, m.Entity.Type, m.Entity.Key, how)
		}
		return ExitOK
	}
	as, err := kb.Entities(e.ctx, knowledge.KindActor)
	if err != nil {
		return fail(e, err)
	}
	if asJSON {
		return printJSON(e, as)
	}
	for _, a := range as {
		fmt.Fprintf(e.stdout, "%s (%s, %s)", a.Name, a.Type, a.Key)
		if len(a.Aliases) > 0 {
			var n []string
			for _, al := range a.Aliases {
				if al.Name != a.Name {
					n = append(n, al.Name)
				}
			}
			if len(n) > 0 {
				fmt.Fprintf(e.stdout, ": %s", strings.Join(n, ", "))
			}
		}
		fmt.Fprintln(e.stdout)
	}
	return ExitOK
}

// listAnalyses prints every version of the engine's recorded analyses of
// the subject pos names, or of all subjects.
func listAnalyses(e *env, kb *knowledge.KB, pos []string, asJSON bool) int {
	var (
		as  []knowledge.Analysis
		err error
	)
	if len(pos) > 0 {
		m, err := kb.Resolve(e.ctx, strings.Join(pos, " "))
		if err != nil {
			return fail(e, err)
		}
		as, err = kb.AnalysesFor(e.ctx, m.Entity.Key)
		if err != nil {
			return fail(e, err)
		}
	} else if as, err = kb.Analyses(e.ctx); err != nil {
		return fail(e, err)
	}
	if asJSON {
		return printJSON(e, as)
	}
	latest := map[string]int{}
	for _, an := range as {
		latest[an.ID] = max(latest[an.ID], an.Version)
	}
	for _, an := range as {
		name := an.FileName
		if name == "" {
			name = an.Hashes["SHA-256"]
		}
		family := "family"
		if len(an.HeldOut) > 0 {
			family = "closest other family"
		}
		fmt.Fprintf(e.stdout, "%s  %s v%d  kinship engine (machine-generated): %s: %s %s, actor %s (p = %.2f, %s)", an.Date, an.ID, an.Version, name,
			family, an.Family.Label, an.Actor.Label, an.Actor.Probability, an.Actor.PHIA)
		if an.Version < latest[an.ID] {
			fmt.Fprint(e.stdout, "  (superseded)")
		}
		fmt.Fprintln(e.stdout)
	}
	return ExitOK
}
