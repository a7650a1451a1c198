package eval

import (
	"fmt"
	"io"
	"strings"
)

// Markdown writes the report as Markdown.
func (r *Report) Markdown(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "## kinship eval: %s (%s)\n\n", r.Manifest, r.Slice)
	fmt.Fprintf(b, "Date %s; machine: %s.\n\n", r.Date, r.Machine)
	fmt.Fprintf(b, "References: %d files, %.1f MB, %d functions, ingested in %.1f s (%.1f MB/s, %.0f functions/s); index and calibration %.1f s.\n\n",
		r.References, r.IngestMB, r.RefFunctions, r.IngestSeconds, r.IngestMB/nz(r.IngestSeconds), float64(r.RefFunctions)/nz(r.IngestSeconds), r.IndexSeconds)
	fmt.Fprintf(b, "Calibration: %s.\n\n", r.Model)
	fmt.Fprintf(b, "| method | family top-1 (queries) | actor top-1 (queries) | actor (actor_only) | family unknown (actor_only) | false attribution (unknowns) | combined |\n")
	fmt.Fprintf(b, "|---|---|---|---|---|---|---|\n")
	row := func(name string, m Metrics) {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | **%.3f** (%d/%d) |\n", name,
			frac(m.FamilyTop1, m.Queries), frac(m.ActorQueries, m.Queries), frac(m.ActorOnlyActor, m.ActorOnly),
			frac(m.ActorOnlyFamUnk, m.ActorOnly), frac(m.FalseAttribution, m.Unknowns), m.Combined, m.CombinedNum, m.CombinedDen)
	}
	row("kinship", r.Kinship)
	for _, n := range baselineNames {
		row(n+" (nearest neighbour)", r.Baselines[n])
	}
	fmt.Fprintf(b, "\nBaseline thresholds, derived from the references only:\n\n")
	for _, n := range baselineNames {
		fmt.Fprintf(b, "- %s: %s\n", n, r.Thresholds[n])
	}
	fmt.Fprintf(b, "\nAttribution time per binary (analysis + matching): median %.2f s, max %.2f s.\n\n", r.AttributeP50, r.AttributeMax)

	cal := func(title string, bins []Bin, ece float64) {
		fmt.Fprintf(b, "%s (expected calibration error %.3f):\n\n| PHIA term | n | mean stated probability | share right |\n|---|---|---|---|\n", title, ece)
		for _, x := range bins {
			fmt.Fprintf(b, "| %s | %d | %.2f | %.2f |\n", x.Term, x.N, x.Confidence, x.Accuracy)
		}
		fmt.Fprintln(b)
	}
	cal("Family reliability", r.FamilyCal, r.FamilyECE)
	cal("Actor reliability", r.ActorCal, r.ActorECE)

	fmt.Fprintf(b, "| binary | role | truth | kinship | ok | evidence | tlsh | ssdeep | imphash |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, o := range r.Outcomes {
		if o.Error != "" {
			fmt.Fprintf(b, "| %s | %s | %s / %s | error: %s | ✗ | | | | |\n", o.RelPath, o.Role, o.TruthFamily, o.TruthActor, o.Error)
			continue
		}
		ok := "✓"
		switch o.Role {
		case RoleQuery:
			if !o.Kinship.FamilyOK {
				ok = "✗"
			}
		default:
			if !o.Kinship.FamilyOK || !o.Kinship.ActorOK {
				ok = "✗"
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s / %s | %s / %s (%s) | %s | %s | %s | %s | %s |\n", o.RelPath, o.Role, o.TruthFamily, o.TruthActor,
			o.Kinship.Family, o.Kinship.Actor, phiaOf(o), ok, o.Kinship.Detail, short3(o.Baselines["tlsh"]), short3(o.Baselines["ssdeep"]), short3(o.Baselines["imphash"]))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func phiaOf(o Outcome) string {
	if o.Kinship.Family != "unknown" {
		return o.FamilyPHIA
	}
	if o.Kinship.Actor != "unknown" {
		return o.ActorPHIA
	}
	return "no attribution"
}

func short3(a Answer) string {
	mark := "✓"
	if !a.FamilyOK {
		mark = "✗"
	}
	return a.Family + " " + mark
}

func frac(x float64, n int) string {
	if n == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3f (%d/%d)", x, int(x*float64(n)+0.5), n)
}

func nz(x float64) float64 {
	if x == 0 {
		return 1
	}
	return x
}

// TSV writes path<TAB>family<TAB>actor<TAB>score for every outcome.
func (r *Report) TSV(w io.Writer) error {
	for _, o := range r.Outcomes {
		fam, act := o.Kinship.Family, o.Kinship.Actor
		if fam == "" {
			fam = "unknown"
		}
		if act == "" {
			act = "unknown"
		}
		if _, err := fmt.Fprintf(w, "%s\t%s\t%s\t%.4f\n", o.RelPath, fam, act, o.Kinship.Score); err != nil {
			return err
		}
	}
	return nil
}
