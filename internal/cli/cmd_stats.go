package cli

import (
	"fmt"

	"github.com/kinship-dev/kinship/internal/report"
)

func runStats(e *env, args []string) int {
	fs := newFlags(e, "stats")
	db := dbFlag(fs)
	asJSON := fs.Bool("json", false, "JSON output")
	if _, err := parse(fs, args); err != nil {
		return parseExit(err)
	}
	st, err := openStore(e, *db)
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()
	s, err := st.Stats(e.ctx)
	if err != nil {
		return fail(e, err)
	}
	if *asJSON {
		report.JSON(e.stdout, s)
		return ExitOK
	}
	fmt.Fprintf(e.stdout, "samples %d (labelled %d, common %d, not analysable %d), functions %d, schema version %d\n",
		s.Samples, s.Labelled, s.Common, s.Unsupported, s.Functions, s.SchemaVersion)
	fmt.Fprintf(e.stdout, "families (%d):\n", len(s.Families))
	for _, k := range sortedKeys(s.Families) {
		fmt.Fprintf(e.stdout, "  %-30s %d samples\n", k, s.Families[k])
	}
	fmt.Fprintf(e.stdout, "actors (%d):\n", len(s.Actors))
	for _, k := range sortedKeys(s.Actors) {
		fmt.Fprintf(e.stdout, "  %-30s %d samples\n", k, s.Actors[k])
	}
	return ExitOK
}
