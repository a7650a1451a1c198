package funcsim

import (
	"flag"
	"fmt"
	"slices"
	"sort"
	"testing"
)

var detail = flag.String("funcsim.detail", "", "variant to break down by build pair, with its worst queries")

// TestFuncSimDetail breaks a task down by pair of builds and prints the
// worst-ranked queries of one variant, for failure analysis.
func TestFuncSimDetail(t *testing.T) {
	if *dataDir == "" || *detail == "" {
		t.Skip("needs -funcsim=DIR -funcsim.detail=VARIANT")
	}
	specs, err := Scan(*dataDir)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := Load(specs, Options{Features: true})
	if err != nil {
		t.Fatal(err)
	}
	all := ds.All()
	vs := Variants()
	i := slices.IndexFunc(vs, func(x Variant) bool { return x.Name == *detail })
	if i < 0 {
		t.Fatalf("no variant %q", *detail)
	}
	v := vs[i]
	sc := v.Scorer(all, vs)
	for _, task := range Tasks(ds.Builds()) {
		for _, p := range task.Pairs {
			s := Draw(ds, Task{Name: p[0] + "/" + p[1], Pairs: [][2]string{p}}, 5, 1)
			r := Measure(s, sc)
			t.Logf("%-28s %-20s AUC %.3f R@1 %.3f MRR %.3f n=%d", task.Name, p[0]+"/"+p[1], r.AUC, r.Recall1, r.MRR10, r.Pos)
		}
	}
	// Worst queries of XO.
	s := Draw(ds, Tasks(ds.Builds())[0], 5, 1)
	type bad struct {
		q, m, top int
		ts, tops  float64
	}
	var bads []bad
	for _, q := range s.Queries {
		ts := sc(q.Q, q.Pool[0])
		top, tops := -1, -1.0
		for _, g := range q.Pool[1:] {
			if x := sc(q.Q, g); x > tops {
				top, tops = g, x
			}
		}
		if tops > ts {
			bads = append(bads, bad{q.Q, q.Pool[0], top, ts, tops})
		}
	}
	sort.Slice(bads, func(i, j int) bool { return bads[i].tops-bads[i].ts > bads[j].tops-bads[j].ts })
	libs := map[string]int{}
	for _, b := range bads {
		libs[all[b.q].Lib]++
	}
	t.Logf("failures by library: %v", libs)
	desc := func(f *Func) string {
		ft := f.Feat
		return fmt.Sprintf("%s %s/%s blocks=%d ins=%d imps=%d strs=%d imms=%d offs=%d calls=%d", f.Build, f.Lib, f.Name, f.Fn.Blocks, f.Fn.Instrs, len(ft.Imps), len(ft.Strs), len(ft.Imms), len(ft.Offs), ft.Calls)
	}
	for _, b := range bads[:min(40, len(bads))] {
		t.Logf("\n  q %s\n  m %s  sim %.2f\n  x %s  sim %.2f", desc(all[b.q]), desc(all[b.m]), b.ts, desc(all[b.top]), b.tops)
	}
}
