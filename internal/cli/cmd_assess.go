package cli

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kinship-dev/kinship/internal/knowledge"
	"github.com/kinship-dev/kinship/internal/knowledge/engine"
)

// kbFlag adds --kb, the knowledge base path.
func kbFlag(fs *flag.FlagSet) *string {
	return fs.String("kb", "", "knowledge base path (default $KINSHIP_KB, else knowledge.db beside the store)")
}

// openKnowledge opens the knowledge base; a new one is seeded with the
// knowledge kinship ships.
func openKnowledge(e *env, path string) (*knowledge.KB, error) {
	if path == "" {
		path = os.Getenv("KINSHIP_KB")
	}
	if path == "" {
		p, err := knowledge.DefaultPath()
		if err != nil {
			return nil, err
		}
		path = p
	}
	kb, err := knowledge.Open(e.ctx, path, knowledge.Options{})
	if err != nil {
		return nil, err
	}
	e.log.Debug("knowledge base opened", "path", path)
	return kb, nil
}

// stringsFlag is a flag that may be given several times.
type stringsFlag []string

func (s *stringsFlag) String() string     { return strings.Join(*s, ", ") }
func (s *stringsFlag) Set(v string) error { *s = append(*s, v); return nil }

func runAssess(e *env, args []string) int {
	fs := newFlags(e, "assess")
	kbPath := kbFlag(fs)
	db := fs.String("db", "", "the collection whose engine verdicts count as technical evidence (default $KINSHIP_DB, else the default store when it exists)")
	var samples stringsFlag
	fs.Var(&samples, "sample", "a `FILE` of the subject to analyse with the engine (repeatable; needs a collection)")
	record := fs.Bool("record", false, "store the engine's analyses in the knowledge base as its own machine-generated claims")
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) == 0 {
		return usageErr(e, fs, "no subject named (a family, campaign, actor or sample: name, alias or key)")
	}
	name := strings.Join(pos, " ")
	kb, err := openKnowledge(e, *kbPath)
	if err != nil {
		return fail(e, err)
	}
	defer kb.Close()
	storePath, err := assessStore(*db, len(samples) > 0)
	if err != nil {
		return fail(e, err)
	}
	var run *knowledge.EngineRun
	if storePath != "" {
		if run, err = runEngine(e, kb, name, storePath, samples); err != nil {
			return fail(e, err)
		}
	} else if *record {
		return usageErr(e, fs, "--record needs a collection (--db) to run the engine on")
	}
	a, err := kb.AssessWith(e.ctx, name, run)
	if err != nil {
		return fail(e, err)
	}
	if *record && run != nil {
		if a.MatchedBy == "label" {
			return fail(e, fmt.Errorf("--record: %q is not in the knowledge base; analyses are recorded for subjects it holds", name))
		}
		st, err := kb.RecordAnalyses(e.ctx, run.Analyses)
		if err != nil {
			return fail(e, fmt.Errorf("record: %w", err))
		}
		fmt.Fprintf(e.stderr, "kinship: recorded the engine's analyses: %d new, %d new versions, %d unchanged\n", st.New, st.Versions, st.Unchanged)
	}
	if *asJSON {
		err = knowledge.WriteJSON(e.stdout, a)
	} else {
		err = knowledge.WriteText(e.stdout, a)
	}
	if err != nil {
		return fail(e, fmt.Errorf("write: %w", err))
	}
	if run != nil && len(run.Failed) > 0 {
		for _, f := range run.Failed {
			fmt.Fprintf(e.stderr, "kinship: not analysed: %s\n", f)
		}
		return ExitPartial
	}
	return ExitOK
}

// assessStore picks the collection assess consults: --db, else
// $KINSHIP_DB, else the default store if it exists (a fresh install has
// none, and assess then uses the knowledge base alone). A named SQLite
// store must exist: assess never creates one.
func assessStore(flagPath string, needed bool) (string, error) {
	explicit := flagPath != "" || os.Getenv("KINSHIP_DB") != ""
	p, err := resolveDB(flagPath)
	if err != nil {
		if needed {
			return "", err
		}
		return "", nil
	}
	if isStoreURL(p) {
		return p, nil
	}
	if _, err := os.Stat(p); err != nil {
		switch {
		case explicit:
			return "", fmt.Errorf("no store at %s: %w", p, err)
		case needed:
			return "", fmt.Errorf("--sample needs a collection to compare with: none at %s (ingest references, or name one with --db)", p)
		}
		return "", nil
	}
	return p, nil
}

// runEngine analyses the subject's samples in the store, and the files
// given, against the rest of the collection.
func runEngine(e *env, kb *knowledge.KB, name, storePath string, files []string) (*knowledge.EngineRun, error) {
	t, err := kb.EngineTargets(e.ctx, name)
	if err != nil {
		return nil, err
	}
	st, err := openStore(e, storePath)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	run, err := engine.Run(e.ctx, kb, st, t, engine.Options{
		Collection:       storeName(storePath),
		CalibrationCache: calibrationCachePath(storePath),
		Files:            files,
	})
	if err != nil {
		return nil, err
	}
	e.log.Debug("engine run", "references", run.References, "held_out", run.HeldOut, "analyses", len(run.Analyses), "failed", len(run.Failed))
	return run, nil
}
