package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// checker is a store that can verify its own consistency; the SQLite store
// is one. It is asserted at run time so that model.Store stays small.
type checker interface {
	Check(ctx context.Context) error
}

// runCheck verifies the store: the database engine's own integrity checks
// and kinship's invariants (every sample holds exactly the functions it
// says it has). Exit 0 when consistent, 1 when problems were found or the
// check could not run.
func runCheck(e *env, args []string) int {
	fs := newFlags(e, "check")
	db := dbFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) > 0 {
		return usageErr(e, fs, "check takes no arguments")
	}
	path, err := resolveDB(*db)
	if err != nil {
		return fail(e, err)
	}
	// Opening creates a missing store; a mistyped --db must not come out
	// "consistent" as a new empty file.
	name := storeName(path)
	if !isStoreURL(path) {
		if _, err := os.Stat(path); err != nil {
			return fail(e, fmt.Errorf("no store at %s", name))
		}
	}
	st, err := openStore(e, path)
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()
	c, ok := st.(checker)
	if !ok {
		return fail(e, errors.New("this store cannot check its integrity"))
	}
	if err := c.Check(e.ctx); err != nil {
		if e.ctx.Err() != nil {
			return fail(e, e.ctx.Err())
		}
		fmt.Fprintf(e.stdout, "%s: problems found\n", name)
		for _, p := range problems(err) {
			for _, line := range strings.Split(p.Error(), "\n") {
				fmt.Fprintf(e.stdout, "  %s\n", line)
			}
		}
		return ExitFailure
	}
	stats, err := st.Stats(e.ctx)
	if err != nil {
		return fail(e, err)
	}
	fmt.Fprintf(e.stdout, "%s: consistent (%d samples, %d functions)\n", name, stats.Samples, stats.Functions)
	return ExitOK
}

// problems lists the separate findings inside a Check error, which wraps
// them (joined) under the store's path.
func problems(err error) []error {
	inner := errors.Unwrap(err)
	if inner == nil {
		return []error{err}
	}
	if j, ok := inner.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{inner}
}
