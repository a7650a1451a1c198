package funcsim

import (
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
)

// Task pairs builds: every positive pair takes its two functions from the
// two builds of one of Pairs.
type Task struct {
	Name  string
	Pairs [][2]string
}

// Cross returns the pairs a×b for every a in as and b in bs, a != b, each
// unordered pair once.
func Cross(as, bs []string) [][2]string {
	var out [][2]string
	seen := map[[2]string]bool{}
	for _, a := range as {
		for _, b := range bs {
			k := [2]string{min(a, b), max(a, b)}
			if a == b || seen[k] {
				continue
			}
			seen[k] = true
			out = append(out, [2]string{a, b})
		}
	}
	return out
}

// Query is one ranking query: Pool[0] is the true match.
type Query struct {
	Q    int
	Pool []int
}

// Sample is the fixed set of pairs and queries a task is measured on; all
// variants see the same one.
type Sample struct {
	Task      Task
	MinBlocks int
	Pos, Neg  [][2]int // indices into Dataset.All()
	Queries   []Query
}

// PoolNeg is the number of negatives a query is ranked against.
const PoolNeg = 100

// All returns every function of the dataset; Sample indices point here.
func (ds *Dataset) All() []*Func {
	var out []*Func
	for _, b := range ds.Bins {
		for i := range b.Funcs {
			out = append(out, &b.Funcs[i])
		}
	}
	return out
}

// blocks is the size filter's measure: the basic blocks disasm counted.
func blocks(f *Func) int { return int(f.Fn.Blocks) }

// Draw samples a task: every function present (with at least minBlocks
// blocks) in both builds of a pair gives one positive pair, oriented at
// random, one negative pair (the query against a random function of the
// other side's build with another name) and one ranking query against
// PoolNeg such functions. The seed fixes everything.
func Draw(ds *Dataset, t Task, minBlocks int, seed uint64) *Sample {
	all := ds.All()
	type bk struct {
		build string
		key   int
	}
	byKey := map[bk]int{}
	byBuild := map[string][]int{}
	for i, f := range all {
		if blocks(f) < minBlocks {
			continue
		}
		byKey[bk{f.Build, f.Key}] = i
		byBuild[f.Build] = append(byBuild[f.Build], i)
	}
	r := rand.New(rand.NewPCG(seed, 0x66756e6373696d))
	s := &Sample{Task: t, MinBlocks: minBlocks}
	for _, p := range t.Pairs {
		as := byBuild[p[0]]
		for _, ia := range as {
			ib, ok := byKey[bk{p[1], all[ia].Key}]
			if !ok {
				continue
			}
			q, m := ia, ib
			if r.IntN(2) == 1 {
				q, m = ib, ia
			}
			cands := byBuild[all[m].Build]
			neg := func() int {
				for range 1000 {
					c := cands[r.IntN(len(cands))]
					if all[c].Key != all[q].Key {
						return c
					}
				}
				return -1
			}
			s.Pos = append(s.Pos, [2]int{q, m})
			if g := neg(); g >= 0 {
				s.Neg = append(s.Neg, [2]int{q, g})
			}
			pool := []int{m}
			used := map[int]bool{m: true}
			want := min(PoolNeg, len(cands)-1)
			for tries := 0; len(pool) < want+1 && tries < 20*PoolNeg; tries++ {
				g := neg()
				if g < 0 || used[g] {
					continue
				}
				used[g] = true
				pool = append(pool, g)
			}
			s.Queries = append(s.Queries, Query{Q: q, Pool: pool})
		}
	}
	return s
}

// Scorer gives the similarity of two functions (indices into All).
type Scorer func(a, b int) float64

// Result is one task measured with one scorer.
type Result struct {
	AUC, Recall1, MRR10 float64
	Pos, Neg, Queries   int
}

// Measure computes the paper's metrics. Ties are resolved as a random
// order would on average: in AUC a tied pair counts one half, in ranking a
// true match tied with t negatives is at each of its t+1 possible ranks
// with equal chance.
func Measure(s *Sample, sim Scorer) Result {
	res := Result{Pos: len(s.Pos), Neg: len(s.Neg), Queries: len(s.Queries)}
	pos := make([]float64, len(s.Pos))
	for i, p := range s.Pos {
		pos[i] = sim(p[0], p[1])
	}
	neg := make([]float64, len(s.Neg))
	for i, p := range s.Neg {
		neg[i] = sim(p[0], p[1])
	}
	res.AUC = auc(pos, neg)
	if len(s.Queries) == 0 {
		return res
	}
	var r1, mrr float64
	for _, q := range s.Queries {
		t := sim(q.Q, q.Pool[0])
		above, tied := 0, 0
		for _, g := range q.Pool[1:] {
			switch v := sim(q.Q, g); {
			case v > t:
				above++
			case v == t:
				tied++
			}
		}
		if above == 0 {
			r1 += 1 / float64(tied+1)
		}
		var rr float64
		for k := above + 1; k <= above+tied+1; k++ {
			if k <= 10 {
				rr += 1 / float64(k)
			}
		}
		mrr += rr / float64(tied+1)
	}
	res.Recall1 = r1 / float64(len(s.Queries))
	res.MRR10 = mrr / float64(len(s.Queries))
	return res
}

// auc is the Mann-Whitney estimate with ties counting one half.
func auc(pos, neg []float64) float64 {
	if len(pos) == 0 || len(neg) == 0 {
		return 0
	}
	type sv struct {
		v   float64
		pos bool
	}
	all := make([]sv, 0, len(pos)+len(neg))
	for _, v := range pos {
		all = append(all, sv{v, true})
	}
	for _, v := range neg {
		all = append(all, sv{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	var rankSum float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		mid := float64(i+j+1) / 2 // mean 1-based rank of the tie group
		for k := i; k < j; k++ {
			if all[k].pos {
				rankSum += mid
			}
		}
		i = j
	}
	np, nn := float64(len(pos)), float64(len(neg))
	return (rankSum - np*(np+1)/2) / (np * nn)
}

// Row is one line of a results table.
type Row struct {
	Task, Variant string
	MinBlocks     int
	Result
}

// WriteTable writes rows as a Markdown table.
func WriteTable(w io.Writer, rows []Row) {
	fmt.Fprintln(w, "| task | variant | min blocks | AUC | Recall@1 | MRR@10 | positive pairs | negative pairs | queries |")
	fmt.Fprintln(w, "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %d | %.3f | %.3f | %.3f | %d | %d | %d |\n",
			r.Task, r.Variant, r.MinBlocks, r.AUC, r.Recall1, r.MRR10, r.Pos, r.Neg, r.Queries)
	}
}

// Builds lists the distinct builds of a dataset, sorted.
func (ds *Dataset) Builds() []string {
	var out []string
	for _, b := range ds.Bins {
		if !slices.Contains(out, b.Build) {
			out = append(out, b.Build)
		}
	}
	slices.Sort(out)
	return out
}

// Match returns the builds whose name starts with prefix.
func Match(builds []string, prefix string) []string {
	var out []string
	for _, b := range builds {
		if strings.HasPrefix(b, prefix) {
			out = append(out, b)
		}
	}
	return out
}

// WriteSummary writes one line per variant with AUC / Recall@1 / MRR@10
// for each task, at one size filter.
func WriteSummary(w io.Writer, rows []Row, minBlocks int, desc map[string]string) {
	var tasks, vars []string
	cell := map[[2]string]Result{}
	for _, r := range rows {
		if r.MinBlocks != minBlocks {
			continue
		}
		if !slices.Contains(tasks, r.Task) {
			tasks = append(tasks, r.Task)
		}
		if !slices.Contains(vars, r.Variant) {
			vars = append(vars, r.Variant)
		}
		cell[[2]string{r.Task, r.Variant}] = r.Result
	}
	fmt.Fprintf(w, "| variant (functions with >= %d blocks) |", minBlocks)
	for _, t := range tasks {
		fmt.Fprintf(w, " %s AUC / R@1 / MRR@10 |", t)
	}
	fmt.Fprintln(w, " what it is |")
	fmt.Fprint(w, "| --- |")
	for range tasks {
		fmt.Fprint(w, " --- |")
	}
	fmt.Fprintln(w, " --- |")
	for _, v := range vars {
		fmt.Fprintf(w, "| %s |", v)
		for _, t := range tasks {
			r := cell[[2]string{t, v}]
			fmt.Fprintf(w, " %.3f / %.3f / %.3f |", r.AUC, r.Recall1, r.MRR10)
		}
		fmt.Fprintf(w, " %s |\n", desc[v])
	}
}
