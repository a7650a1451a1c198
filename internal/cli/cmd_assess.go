package cli

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/kinship-dev/kinship/internal/knowledge"
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

func runAssess(e *env, args []string) int {
	fs := newFlags(e, "assess")
	kbPath := kbFlag(fs)
	asJSON := fs.Bool("json", false, "JSON output")
	pos, err := parse(fs, args)
	if err != nil {
		if isHelp(err) {
			return ExitOK
		}
		return ExitUsage
	}
	if len(pos) == 0 {
		return usageErr(e, fs, "no subject named (a family, campaign, actor or sample: name, alias or key)")
	}
	kb, err := openKnowledge(e, *kbPath)
	if err != nil {
		return fail(e, err)
	}
	defer kb.Close()
	a, err := kb.Assess(e.ctx, strings.Join(pos, " "))
	if err != nil {
		return fail(e, err)
	}
	if *asJSON {
		err = knowledge.WriteJSON(e.stdout, a)
	} else {
		err = knowledge.WriteText(e.stdout, a)
	}
	if err != nil {
		return fail(e, fmt.Errorf("write: %w", err))
	}
	return ExitOK
}
