package attribute

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

// gen makes synthetic functions: a "gene" is a random shingle set; variants
// of a gene change a few shingles, as a new compiler or a small edit would.
type gen struct {
	r     *rand.Rand
	genes map[string][]uint64
}

func newGen() *gen { return &gen{r: rand.New(rand.NewPCG(1, 2)), genes: map[string][]uint64{}} }

func (g *gen) fn(gene string, mutate int, addr uint64) model.Function {
	base, ok := g.genes[gene]
	if !ok {
		base = make([]uint64, 80)
		for i := range base {
			base[i] = g.r.Uint64()
		}
		g.genes[gene] = base
	}
	sh := append([]uint64(nil), base...)
	for i := 0; i < mutate; i++ {
		sh[g.r.IntN(len(sh))] = g.r.Uint64()
	}
	var ex uint64
	for _, s := range sh {
		ex = sketch.Combine(ex, s)
	}
	return model.Function{Addr: addr, Size: 200, Instrs: 70, Blocks: 5, Exact: ex, MinHash: sketch.MinHash(sh)}
}

// sample builds a sample from gene names; prefix "rt" genes are runtime
// code shared by everyone.
func (g *gen) sample(name, fam, act string, mutate int, genes ...string) model.SampleFunctions {
	s := model.Sample{SHA256: fmt.Sprintf("%064x", len(name)*7919+int(name[0])*31+int(name[len(name)-1])), Name: name,
		Labels: model.Labels{Family: fam, Actor: act}, SigVersion: model.SigVersion}
	s.SHA256 = fmt.Sprintf("%x", sketch.Mix(uint64(len(g.genes)))) + name
	var fns []model.Function
	for i, gn := range genes {
		fns = append(fns, g.fn(gn, mutate, uint64(0x1000+i*0x100)))
	}
	return model.SampleFunctions{Sample: s, Functions: fns}
}

func genes(prefix string, n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

func cat(xs ...[]string) []string {
	var out []string
	for _, x := range xs {
		out = append(out, x...)
	}
	return out
}

func TestAttributeSynthetic(t *testing.T) {
	g := newGen()
	rt := genes("rt", 40)      // runtime: everywhere
	cipher := genes("ciph", 3) // actor X's shared routine
	// A library used by three unrelated families and the unknown: widely
	// linked code stays common under two actors even when calibration
	// leaves a third actor out.
	libY := genes("liby", 10)
	refs := refsFor(g, rt, cipher, libY)
	ix := Build(refs, Options{})
	if ix.model.Family.Pos == 0 {
		t.Fatalf("family model not fitted: %s", ix.model.Source)
	}
	cases := []struct {
		name     string
		q        model.SampleFunctions
		fam, act string
	}{
		{"new version", g.sample("a9", "", "", 8, cat(rt, cipher, genes("a", 25), genes("anew", 8))...), "alpha", "X"},
		{"other family", g.sample("b9", "", "", 8, cat(rt, libY, genes("b", 28), genes("bnew", 5))...), "beta", "Y"},
		{"new program by X", g.sample("x9", "", "", 4, cat(rt, cipher, genes("xnew", 20))...), model.Unknown, "X"},
		{"unknown sharing a library", g.sample("u9", "", "", 4, cat(rt, libY[4:8], genes("unew", 40))...), model.Unknown, model.Unknown},
		{"runtime only", g.sample("r9", "", "", 4, cat(rt, genes("rnew", 30))...), model.Unknown, model.Unknown},
	}
	for _, c := range cases {
		v := ix.Attribute(c.q.Sample, c.q.Functions, false)
		if v.Family.Name != c.fam || v.Actor.Name != c.act {
			t.Errorf("%s: got %s/%s (p=%.2f/%.2f; %s; %s), want %s/%s", c.name, v.Family.Name, v.Actor.Name,
				v.Family.Probability, v.Actor.Probability, v.Family.Reason, v.Actor.Reason, c.fam, c.act)
		}
	}
	// Same inputs, same output.
	q := cases[0].q
	a, b := ix.Attribute(q.Sample, q.Functions, false), ix.Attribute(q.Sample, q.Functions, false)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Error("attribution is not deterministic")
	}
	if len(a.Evidence) == 0 || a.Evidence[0].Families != 1 {
		t.Errorf("evidence should list rare shared functions first: %+v", a.Evidence)
	}
}

func refsFor(g *gen, rt, cipher, libY []string) []model.SampleFunctions {
	var refs []model.SampleFunctions
	for v := 0; v < 3; v++ {
		refs = append(refs,
			g.sample(fmt.Sprintf("a%d", v), "alpha", "X", 4, cat(rt, cipher, genes("xr", 1), genes("a", 30))...),
			g.sample(fmt.Sprintf("b%d", v), "beta", "Y", 4, cat(rt, libY, genes("b", 30))...),
			g.sample(fmt.Sprintf("c%d", v), "gamma", "Z", 4, cat(rt, libY, genes("c", 30))...),
			g.sample(fmt.Sprintf("d%d", v), "delta", "X", 4, cat(rt, cipher, genes("xr", 1), genes("d", 30))...),
			g.sample(fmt.Sprintf("e%d", v), "epsilon", "W", 4, cat(rt, libY, genes("e", 30))...),
			// Another actor that copied one of X's routines (xr0): what
			// a false link on little shared code looks like.
			g.sample(fmt.Sprintf("z%d", v), "zeta", "V", 4, cat(rt, genes("xr", 1), genes("z", 30))...),
		)
	}
	return refs
}

// Sibling programs of one actor that share nearly all code are told apart
// by the names they give themselves; a third program of that actor is
// neither.
func TestIdentitySiblings(t *testing.T) {
	g := newGen()
	rt := genes("rt", 30)
	core := genes("core", 40) // the project's shared packages
	var refs []model.SampleFunctions
	for v := 0; v < 3; v++ {
		lint := g.sample(fmt.Sprintf("lint%d", v), "lint", "proj", 3, cat(rt, core, genes("mainlint", 1))...)
		lint.Sample.Program = "lint"
		brk := g.sample(fmt.Sprintf("brk%d", v), "breaking", "proj", 3, cat(rt, core, genes("mainbrk", 1), genes("brkonly", 3))...)
		brk.Sample.Program = "breaking"
		other := g.sample(fmt.Sprintf("o%d", v), "other", "elsewhere", 3, cat(rt, genes("o", 40))...)
		refs = append(refs, lint, brk, other)
	}
	ix := Build(refs, Options{})
	// A new lint that now links the breaking-only packages too.
	q := g.sample("lint9", "", "", 6, cat(rt, core, genes("mainlint", 1), genes("brkonly", 3))...)
	q.Sample.Program = "lint"
	v := ix.Attribute(q.Sample, q.Functions, false)
	if v.Family.Name != "lint" || v.Actor.Name != "proj" {
		t.Errorf("lint: got %s/%s (%s)", v.Family.Name, v.Actor.Name, v.Family.Reason)
	}
	// The project's main program, holding the code of both.
	q = g.sample("cli9", "", "", 6, cat(rt, core, genes("mainlint", 1), genes("brkonly", 3), genes("cli", 20))...)
	q.Sample.Program = "cli"
	v = ix.Attribute(q.Sample, q.Functions, false)
	if v.Family.Name != model.Unknown || v.Actor.Name != "proj" {
		t.Errorf("cli: got %s/%s (%s)", v.Family.Name, v.Actor.Name, v.Family.Reason)
	}
}
