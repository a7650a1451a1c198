package bench

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Report is the outcome of `kinship bench`.
type Report struct {
	Machine string `json:"machine"`
	Date    string `json:"date"`
	Command string `json:"command"`
	// Ingest holds the kinship ingest of the real files and, when run,
	// objdump and tlsh over the same files.
	Ingest []Pass `json:"ingest,omitempty"`
	// Pool describes the real code the collections are built from.
	PoolSamples   int          `json:"pool_samples"`
	PoolFunctions int          `json:"pool_functions"`
	PoolRepeat    float64      `json:"pool_repeat"`
	SynthRepeat   float64      `json:"synthetic_repeat"` // share of synthetic functions that keep their code
	Sizes         []SizeResult `json:"sizes"`
}

// Markdown writes the report as Markdown tables.
func (r *Report) Markdown(w io.Writer) {
	fmt.Fprintf(w, "Machine: %s. Date: %s.\n\nCommand: `%s`\n\n", r.Machine, r.Date, r.Command)
	if len(r.Ingest) > 0 {
		fmt.Fprintf(w, "### Ingest speed, same files, same run\n\n")
		fmt.Fprintf(w, "| tool | command | files | MB | wall s | CPU s | MB/s (wall) | MB/s (CPU) | functions/s (wall) | kinship speed-up (wall) | (CPU) |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
		k := r.Ingest[0]
		for _, x := range r.Ingest {
			fps := "-"
			if x.Functions > 0 {
				fps = fmt.Sprintf("%.0f", float64(x.Functions)/x.Wall.Seconds())
			}
			ratioW, ratioC := "-", "-"
			if x.Tool != k.Tool && x.Err == "" && x.Wall > 0 && x.CPU > 0 {
				ratioW = fmt.Sprintf("%.2fx", x.Wall.Seconds()/k.Wall.Seconds())
				ratioC = fmt.Sprintf("%.2fx", x.CPU.Seconds()/k.CPU.Seconds())
			}
			files := fmt.Sprint(x.Files)
			if x.Failed > 0 {
				files += fmt.Sprintf(" (%d failed)", x.Failed)
			}
			fmt.Fprintf(w, "| %s | `%s` | %s | %.1f | %.1f | %.1f | %.2f | %.2f | %s | %s | %s |\n", x.Tool, x.Command, files,
				float64(x.Bytes)/1e6, x.Wall.Seconds(), x.CPU.Seconds(), x.MBps(), x.MBpsCPU(), fps, ratioW, ratioC)
			if x.Err != "" {
				fmt.Fprintf(w, "\n%s: %s\n\n", x.Tool, x.Err)
			}
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Real code: %d samples, %d functions; %.1f%% of indexed functions repeat code seen earlier in it. Synthetic functions keep their original's code at a rate of %.1f%%.\n\n",
		r.PoolSamples, r.PoolFunctions, 100*r.PoolRepeat, 100*r.SynthRepeat)
	fmt.Fprintf(w, "### Index\n\n| functions | real | synthetic | samples | clusters | store write s (CPU s) | disk B/function | open s (CPU s) | heap B/function |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Sizes {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %.1f (%.1f) | %.0f | %.2f (%.2f) | %.0f |\n", count(s.Functions), s.Real, s.Synthetic, s.Samples, s.Clusters,
			s.WriteWall.Seconds(), s.WriteCPU.Seconds(), s.DiskPerFunction(), s.OpenWall.Seconds(), s.OpenCPU.Seconds(), s.HeapPerFunction())
	}
	fmt.Fprintf(w, "\n### Queries\n\n| functions | query | query functions (looked up) | runs | p50 | p99 | max | CPU/run | first run | verdict |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for _, s := range r.Sizes {
		for _, a := range s.Attribute {
			l := a.Latency
			fmt.Fprintf(w, "| %s | attribute %s | %d (%d) | %d | %s | %s | %s | %s | %s | %s / %s |\n", count(s.Functions), a.Query, a.Functions, a.Looked,
				l.Runs, ms(l.P50), ms(l.P99), ms(l.Max), ms(l.CPU), ms(l.First), a.Family, a.Actor)
		}
		l := s.TopK
		fmt.Fprintf(w, "| %s | top-10 of one function | 1 | %d | %s | %s | %s | %s | %s | found itself %d/%d |\n", count(s.Functions),
			l.Runs, ms(l.P50), ms(l.P99), ms(l.Max), ms(l.CPU), ms(l.First), s.TopKSelf, s.TopKTried)
	}
	fmt.Fprintln(w)
}

func ms(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.0f µs", float64(d)/1e3)
}

// count writes 10000 as 10k and 10000000 as 10M.
func count(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// ParseCount reads 10k, 1M, 2.5M or a plain number.
func ParseCount(s string) (int, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := 1.0
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1e3, t[:len(t)-1]
	case strings.HasSuffix(t, "m"):
		mult, t = 1e6, t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f <= 0 || f*mult > 1<<31-1 {
		return 0, fmt.Errorf("invalid count %q (want e.g. 10k, 1M)", s)
	}
	return int(f*mult + 0.5), nil
}
