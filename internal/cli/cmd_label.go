package cli

import (
	"fmt"
	"strconv"

	"github.com/kinship-dev/kinship/internal/model"
)

func runLabel(e *env, args []string) int {
	fs := newFlags(e, "label")
	db := dbFlag(fs)
	family := fs.String("family", "", "new family (\"-\" clears it)")
	actor := fs.String("actor", "", "new actor (\"-\" clears it)")
	source := fs.String("source", "", "new source (\"-\" clears it)")
	common := fs.String("common", "", "true or false: mark as common code")
	shas, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(shas) == 0 {
		return usageErr(e, fs, "no samples named")
	}
	st, err := openStore(e, *db)
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()
	set := func(old, v string) string {
		switch v {
		case "":
			return old
		case "-":
			return ""
		}
		return v
	}
	for _, sha := range shas {
		s, err := st.GetSample(e.ctx, sha)
		if err != nil {
			return fail(e, fmt.Errorf("sample %s: %w", sha, err))
		}
		l := model.Labels{Family: set(s.Labels.Family, *family), Actor: set(s.Labels.Actor, *actor), Source: set(s.Labels.Source, *source)}
		if err := st.SetLabels(e.ctx, sha, l); err != nil {
			return fail(e, err)
		}
		if *common != "" {
			c, err := strconv.ParseBool(*common)
			if err != nil {
				return usageErr(e, fs, "--common takes true or false")
			}
			if err := st.SetCommon(e.ctx, sha, c); err != nil {
				return fail(e, err)
			}
		}
		fmt.Fprintf(e.stdout, "%s\tfamily=%s\tactor=%s\tsource=%s\n", sha, l.Family, l.Actor, l.Source)
	}
	return ExitOK
}
