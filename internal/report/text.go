package report

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// Text writes a verdict for a person to read.
func Text(w io.Writer, v model.Verdict) error {
	b := &strings.Builder{}
	s := v.Sample
	fmt.Fprintf(b, "%s\n", Sanitize(v.Path))
	if v.Error != "" {
		fmt.Fprintf(b, "  error: %s\n\n", Sanitize(v.Error))
		_, err := io.WriteString(w, b.String())
		return err
	}
	cov := ""
	if s.Stats.CodeBytes > 0 {
		cov = fmt.Sprintf(", %.0f%% of code covered", 100*float64(s.Stats.CoveredBytes)/float64(s.Stats.CodeBytes))
	}
	fmt.Fprintf(b, "  sha256 %s  %s %s, %d bytes, %d functions%s\n", s.SHA256, s.Format, s.Arch, s.Size, s.Stats.Functions, cov)
	if s.Unsupported != "" {
		fmt.Fprintf(b, "  not analysed: %s\n\n", Sanitize(s.Unsupported))
		_, err := io.WriteString(w, b.String())
		return err
	}
	judgment(b, "family", v.Family)
	judgment(b, "actor", v.Actor)

	total := v.Share.Unique + v.Share.Common + v.Share.Multi
	for _, x := range v.Share.Shared {
		total += x
	}
	fmt.Fprintf(b, "  code:   %s unique, %s common (runtime, libraries, code across unrelated labels)", pct(v.Share.Unique, total), pct(v.Share.Common, total))
	names := make([]string, 0, len(v.Share.Shared))
	for n := range v.Share.Shared {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		if v.Share.Shared[names[i]] != v.Share.Shared[names[j]] {
			return v.Share.Shared[names[i]] > v.Share.Shared[names[j]]
		}
		return names[i] < names[j]
	})
	for i, n := range names {
		if i == 5 {
			fmt.Fprintf(b, ", ...")
			break
		}
		fmt.Fprintf(b, ", %s only in %s", pct(v.Share.Shared[n], total), Sanitize(n))
	}
	if v.Share.Multi > 0 {
		fmt.Fprintf(b, ", %s in several families of one actor", pct(v.Share.Multi, total))
	}
	fmt.Fprintln(b)
	candidates(b, "families", v.Families)
	candidates(b, "actors", v.Actors)
	if len(v.Samples) > 0 {
		fmt.Fprintf(b, "  closest samples:\n")
		for i, m := range v.Samples {
			if i == 5 {
				break
			}
			fmt.Fprintf(b, "    %-12s %-28s %-16s %-14s %5d functions, evidence %.1f\n", short(m.SHA256), Sanitize(trim(m.Name, 28)), Sanitize(trim(or(m.Family, "-"), 16)), Sanitize(trim(or(m.Actor, "-"), 14)), m.Functions, m.Evidence)
		}
	}
	if len(v.Evidence) > 0 {
		fmt.Fprintf(b, "  strongest shared functions (families = labelled families holding it; 1 is rare):\n")
		fmt.Fprintf(b, "    %-12s %-28s %-12s %5s %6s %8s %6s  %s\n", "query", "reference", "ref addr", "sim", "instrs", "families", "weight", "name")
		for _, e := range v.Evidence {
			fmt.Fprintf(b, "    %-12s %-28s %-12s %5.2f %6d %8d %6.2f  %s\n", fmt.Sprintf("0x%x", e.QueryAddr), Sanitize(trim(e.RefName, 28)), fmt.Sprintf("0x%x", e.RefAddr), e.Similarity, e.Instrs, e.Families, e.Weight, Sanitize(trim(e.Name, 40)))
		}
	}
	fmt.Fprintf(b, "  calibration: %s\n\n", v.Calibrated)
	_, err := io.WriteString(w, b.String())
	return err
}

func judgment(b *strings.Builder, what string, j model.Judgment) {
	if j.Name == model.Unknown {
		fmt.Fprintf(b, "  %-7s unknown: no attribution (%s)\n", what+":", Sanitize(j.Reason))
		return
	}
	fmt.Fprintf(b, "  %-7s %s: %s (PHIA) / %s (ICD 203), p=%.2f\n          %s\n", what+":", Sanitize(j.Name), j.PHIA, j.ICD203, j.Probability, Sanitize(j.Reason))
}

func candidates(b *strings.Builder, what string, cs []model.Candidate) {
	if len(cs) == 0 {
		return
	}
	fmt.Fprintf(b, "  candidate %s:", what)
	for i, c := range cs {
		if i == 4 {
			fmt.Fprintf(b, " ...")
			break
		}
		fmt.Fprintf(b, " %s p=%.2f (%.0f%%, %d fn)", Sanitize(c.Name), c.Probability, 100*c.Share, c.Functions)
		if i < len(cs)-1 && i < 3 {
			b.WriteString(";")
		}
	}
	b.WriteString("\n")
}

func trim(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "~"
}

func or(a, b string) string {
	if a == "" {
		return b
	}
	return a
}
