package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
)

// TestSmoke runs the whole benchmark on a 10,000-function collection built
// from the embedded fixtures. It checks results only: timings on a shared
// CI machine mean nothing.
func TestSmoke(t *testing.T) {
	c := Config{Sizes: []int{10_000}, QueryFunctions: 2000, Command: "test",
		Repeat: -1, Options: Options{Dir: t.TempDir(), Runs: 2, TopK: 20, Seed: 1}}
	rep, err := Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Ingest) != 1 || rep.Ingest[0].Failed != 0 || rep.Ingest[0].Functions == 0 {
		t.Fatalf("ingest of the fixtures: %+v", rep.Ingest)
	}
	if rep.PoolFunctions == 0 || rep.PoolFunctions >= 10_000 {
		t.Fatalf("pool of %d functions; the test wants fewer than 10,000 so that synthetic copies are made", rep.PoolFunctions)
	}
	if len(rep.Sizes) != 1 {
		t.Fatalf("%d sizes", len(rep.Sizes))
	}
	s := rep.Sizes[0]
	if s.Functions != 10_000 || s.Real+s.Synthetic != 10_000 || s.Real != rep.PoolFunctions {
		t.Errorf("collection: %d functions, %d real, %d synthetic; pool %d", s.Functions, s.Real, s.Synthetic, rep.PoolFunctions)
	}
	if s.Clusters == 0 || s.DiskBytes == 0 || s.Samples == 0 {
		t.Errorf("empty index: %+v", s)
	}
	if s.TopKTried == 0 || s.TopKSelf != s.TopKTried {
		t.Errorf("top-10 of an indexed function found it %d times in %d", s.TopKSelf, s.TopKTried)
	}
	if len(s.Attribute) != 1 || s.Attribute[0].Functions != 2000 || s.Attribute[0].Looked != 2000 || s.Attribute[0].Latency.Runs != 2 {
		t.Errorf("attribution: %+v", s.Attribute)
	}
	if s.TopK.Runs != 20 {
		t.Errorf("top-10 runs: %d", s.TopK.Runs)
	}
	var md bytes.Buffer
	rep.Markdown(&md)
	if !strings.Contains(md.String(), "| 10k |") {
		t.Errorf("markdown lacks the 10k row:\n%s", md.String())
	}
}

func testPool() Pool {
	var samples []model.SampleFunctions
	for i, fam := range []string{"a", "a", "b", "c"} {
		s := model.Sample{SHA256: strings.Repeat(string(rune('0'+i)), 64), Labels: model.Labels{Family: fam, Actor: "x" + fam}, SigVersion: model.SigVersion}
		var fns []model.Function
		for j := 0; j < 50+10*i; j++ {
			f := model.Function{Addr: uint64(0x1000 + 16*j), Instrs: uint32(3 + j%20), Exact: uint64(j % 40)}
			for k := range f.MinHash {
				f.MinHash[k] = uint32(j*64 + k)
			}
			fns = append(fns, f)
		}
		s.Stats.Functions = len(fns)
		samples = append(samples, model.SampleFunctions{Sample: s, Functions: fns})
	}
	samples = append(samples, model.SampleFunctions{Sample: model.Sample{SHA256: strings.Repeat("f", 64)}}) // unlabelled: left out
	return NewPool(samples)
}

func TestCollection(t *testing.T) {
	p := testPool()
	if len(p.Samples) != 4 || p.Functions != 50+60+70+80 {
		t.Fatalf("pool: %d samples, %d functions", len(p.Samples), p.Functions)
	}
	// Each family's first sample comes before any family's second.
	if fams := p.Samples[0].Sample.Labels.Family + p.Samples[1].Sample.Labels.Family + p.Samples[2].Sample.Labels.Family; fams != "abc" {
		t.Errorf("pool order %q", fams)
	}
	if p.Repeat <= 0 || p.Repeat >= 1 {
		t.Errorf("repeat share %v", p.Repeat)
	}
	for _, n := range []int{1, 7, 100, 260, 261, 1000, 1234} {
		var got []model.SampleFunctions
		real, syn, err := p.Collection(n, 3, func(s model.SampleFunctions) error {
			got = append(got, s)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		shas := map[string]bool{}
		for _, s := range got {
			total += len(s.Functions)
			if s.Sample.Stats.Functions != len(s.Functions) || len(s.Functions) == 0 || shas[s.Sample.SHA256] {
				t.Fatalf("n=%d: bad sample %s with %d functions", n, s.Sample.SHA256, len(s.Functions))
			}
			shas[s.Sample.SHA256] = true
		}
		if total != n || real+syn != n || (n <= p.Functions && syn != 0) || (n > p.Functions && real != p.Functions) {
			t.Errorf("n=%d: %d functions, %d real, %d synthetic", n, total, real, syn)
		}
	}
	// Deterministic for a seed; a variant keeps at least half its values.
	one := func(seed uint64) model.SampleFunctions {
		var last model.SampleFunctions
		p.Collection(1000, seed, func(s model.SampleFunctions) error { last = s; return nil })
		return last
	}
	a, b, c := one(3), one(3), one(4)
	if a.Sample.SHA256 != b.Sample.SHA256 || a.Functions[5].MinHash != b.Functions[5].MinHash || a.Functions[5].Exact != b.Functions[5].Exact {
		t.Error("same seed, different collection")
	}
	same := 0
	for i := range a.Functions {
		if a.Functions[i].Exact == c.Functions[i].Exact {
			same++
		}
	}
	if same == len(a.Functions) {
		t.Error("another seed, same perturbation")
	}
	sy := newSynth(1, 0)
	for i := 0; i < 1000; i++ {
		f := p.Samples[0].Functions[i%50]
		g := sy.function(f, true)
		eq := 0
		for k := range f.MinHash {
			if f.MinHash[k] == g.MinHash[k] {
				eq++
			}
		}
		if g.Exact == f.Exact || eq < model.MinHashK-MaxRedraw || eq == model.MinHashK {
			t.Fatalf("variant keeps %d of %d values", eq, model.MinHashK)
		}
	}
}

func TestParseCount(t *testing.T) {
	for s, want := range map[string]int{"10k": 10_000, "1M": 1_000_000, "2.5m": 2_500_000, "123": 123} {
		if got, err := ParseCount(s); err != nil || got != want {
			t.Errorf("%s: %d, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "x", "-1", "10q", "0"} {
		if _, err := ParseCount(s); err == nil {
			t.Errorf("%q accepted", s)
		}
	}
}
