// Package cli implements the kinship command line as a function, so that
// tests run the real commands in-process and snapshot their output.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// Exit statuses.
const (
	ExitOK      = 0 // success
	ExitFailure = 1 // the command could not do its work
	ExitUsage   = 2 // bad command line
	ExitPartial = 3 // some inputs failed, the rest succeeded (attribute, info, compare)
)

type command struct {
	name  string
	args  string
	short string
	run   func(e *env, args []string) int
}

// env is what every command gets: its output streams and a logger.
type env struct {
	ctx    context.Context
	stdout io.Writer
	stderr io.Writer
	log    *slog.Logger
}

func commands() []command {
	return []command{
		{"demo", "", "build a labelled collection from the embedded fixtures and attribute held-back samples", runDemo},
		{"ingest", "[--family F --actor A] [--common] [--labels FILE.tsv] PATH...", "add files (recursively) to the collection", runIngest},
		{"attribute", "[--json|--tsv] FILE...", "attribute files to a family and actor, with evidence", runAttribute},
		{"compare", "A B", "show the functions two binaries share, side by side", runCompare},
		{"info", "[--json] FILE...", "show what kinship sees in a file: format, imports, functions, coverage", runInfo},
		{"label", "[--family F] [--actor A] [--source S] [--common=true|false] SHA256...", "change a stored sample's labels without re-ingesting", runLabel},
		{"stats", "[--json]", "count what the collection holds", runStats},
		{"bench", "[--data DIR] [--sizes 10k,100k,1M,10M] [--from-db PATH] MANIFEST.tsv", "measure ingest, index size and attribution latency at scale", runBench},
		{"migrate", "[--db PATH|URL]", "bring a store's schema to this kinship's version", runMigrate},
		{"export", "[--db PATH|URL] FILE", "write the whole collection to a portable file (gzip JSON Lines)", runExport},
		{"import", "[--db PATH|URL] FILE", "read a collection written by export into the store", runImport},
		{"check", "[--db PATH]", "verify the store: database integrity and that every sample holds all its functions", runCheck},
		{"assess", "[--kb PATH] [--db PATH|URL] [--sample FILE]... [--record] [--json] SUBJECT", "fuse what sources claim and what the engine finds about who is behind a family, campaign or actor", runAssess},
		{"knowledge", "SUBCOMMAND [--kb PATH] ...", "import-misp, import-stix, export-stix, claims, actors, analyses: the attribution knowledge base", runKnowledge},
		{"eval", "[--data DIR] [--small] [--format pe|elf] [--json FILE] [--predictions FILE] MANIFEST.tsv", "measure attribution accuracy on a labelled manifest", runEval},
	}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "kinship attributes binaries to malware families and actors by the code they share.\n\nUsage: kinship COMMAND [options]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.short)
	}
	fmt.Fprintf(w, `
Global: --db PATH selects the store (default $KINSHIP_DB, else %s);
a postgres:// URL selects a PostgreSQL database.
Run 'kinship COMMAND -h' for a command's options.

Exit status: 0 success; 1 failure; 2 usage error; 3 some inputs failed.
`, defaultDBHint())
}

func defaultDBHint() string {
	p, err := sqlite.DefaultPath()
	if err != nil {
		return "~/.local/share/kinship/kinship.db"
	}
	return p
}

// Run executes the kinship command line and returns its exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	level := slog.LevelInfo
	if os.Getenv("KINSHIP_DEBUG") != "" {
		level = slog.LevelDebug
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))}
	if len(args) == 0 {
		usage(stderr)
		return ExitUsage
	}
	name := args[0]
	switch name {
	case "-h", "--help", "help":
		usage(stdout)
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(e, args[1:])
		}
	}
	fmt.Fprintf(stderr, "kinship: unknown command %q\n\n", name)
	usage(stderr)
	return ExitUsage
}

// newFlags makes a flag set that prints the command's usage on -h.
func newFlags(e *env, name string) *flag.FlagSet {
	fs := flag.NewFlagSet("kinship "+name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	for _, c := range commands() {
		if c.name == name {
			fs.Usage = func() {
				fmt.Fprintf(e.stderr, "Usage: kinship %s %s\n\n%s.\n\nOptions:\n", c.name, c.args, c.short)
				fs.PrintDefaults()
			}
		}
	}
	return fs
}

// parse parses flags, allowing them after positional arguments too
// (kinship ingest DIR --family x).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		i := 0
		for i < len(rest) && (!strings.HasPrefix(rest[i], "-") || rest[i] == "-") {
			pos = append(pos, rest[i])
			i++
		}
		if i < len(rest) && rest[i] == "--" {
			return append(pos, rest[i+1:]...), nil
		}
		args = rest[i:]
		if len(args) == 0 {
			return pos, nil
		}
	}
}

// parseExit is the exit status of a command whose flags did not parse:
// success for -h (the flag set has printed the usage), else a usage error
// (the flag set has reported it).
func parseExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	return ExitUsage
}

func dbFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "", "store path (default $KINSHIP_DB or the user data directory)")
}

// storeFlag adds --db to the commands that administer a store of either
// backend (migrate, export, import), whose help says so.
func storeFlag(fs *flag.FlagSet) *string {
	return fs.String("db", "", "store: SQLite file or postgres:// URL (default $KINSHIP_DB or the user data directory)")
}

// resolveDB turns the --db flag into a store path: the flag, else
// $KINSHIP_DB, else the user data directory.
func resolveDB(path string) (string, error) {
	if path == "" {
		path = os.Getenv("KINSHIP_DB")
	}
	if path == "" {
		return sqlite.DefaultPath()
	}
	return path, nil
}

func openStore(e *env, path string) (model.Store, error) {
	path, err := resolveDB(path)
	if err != nil {
		return nil, err
	}
	if isStoreURL(path) {
		st, err := openStoreURL(e.ctx, path)
		if err != nil {
			return nil, fmt.Errorf("open store %s: %w", storeName(path), err)
		}
		return st, nil
	}
	st, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	e.log.Debug("store opened", "path", path)
	return st, nil
}

func fail(e *env, err error) int {
	fmt.Fprintf(e.stderr, "kinship: %v\n", err)
	return ExitFailure
}

func usageErr(e *env, fs *flag.FlagSet, msg string) int {
	fmt.Fprintf(e.stderr, "kinship: %s\n", msg)
	fs.Usage()
	return ExitUsage
}

// batchExit is the exit status of a command that handles each of total
// inputs on its own: failure when every one failed, partial when some did.
func batchExit(failed, total int) int {
	switch {
	case failed == total:
		return ExitFailure
	case failed > 0:
		return ExitPartial
	}
	return ExitOK
}

// writeFile creates path and fills it with write; the error is the
// creation's or the close's.
func writeFile(path string, write func(w io.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	write(f)
	return f.Close()
}

func sortedKeys(m map[string]int) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
