package attribute

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

func TestTopK(t *testing.T) {
	g := newGen()
	var refs []model.SampleFunctions
	for v := 0; v < 4; v++ {
		refs = append(refs, g.sample(fmt.Sprintf("a%d", v), "alpha", "X", 6, genes("a", 40)...))
	}
	m := DefaultModel()
	ix := Build(refs, Options{Model: &m})
	if ix.Model().Source != m.Source {
		t.Fatalf("fixed model not used: %s", ix.Model().Source)
	}
	for si := range refs {
		for _, f := range refs[si].Functions {
			ms := ix.TopK(&f, 10)
			if len(ms) == 0 || ms[0].Similarity != 1 {
				t.Fatalf("%s %#x: top match %+v", refs[si].Sample.Name, f.Addr, ms)
			}
			self := false
			for i, x := range ms {
				self = self || (x.SHA256 == refs[si].Sample.SHA256 && x.Addr == f.Addr)
				if i > 0 && x.Similarity > ms[i-1].Similarity {
					t.Fatalf("not sorted: %+v", ms)
				}
			}
			if !self || len(ms) > 10 {
				t.Fatalf("%s %#x: itself not among %d matches", refs[si].Sample.Name, f.Addr, len(ms))
			}
		}
	}
	// A variant of a gene finds the four versions, most similar first.
	q := g.fn("a7", 10, 0x9000)
	ms := ix.TopK(&q, 3)
	if len(ms) != 3 || ms[0].Family != "alpha" || ms[0].Similarity >= 1 || ms[0].Similarity < 0.6 {
		t.Errorf("variant: %+v", ms)
	}
	if ix.TopK(&q, 0) != nil {
		t.Error("k=0 returns matches")
	}
}

// The band arrays are sorted by key then cluster, the directory finds every
// key, and lookups return what an exhaustive scan of the buckets returns.
func TestBandsAndLookup(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{0, 1, 2, 5, 100, 5000} {
		bd := band{keys: make([]uint64, n), ids: make([]int32, n)}
		for i := range bd.keys {
			bd.keys[i] = r.Uint64() >> (r.IntN(4) * 20) // small keys and repeats too
			if i > 0 && r.IntN(4) == 0 {
				bd.keys[i] = bd.keys[r.IntN(i)]
			}
			bd.ids[i] = int32(i)
		}
		type kv struct {
			k  uint64
			id int32
		}
		want := make([]kv, n)
		for i := range want {
			want[i] = kv{bd.keys[i], bd.ids[i]}
		}
		sort.Slice(want, func(i, j int) bool {
			if want[i].k != want[j].k {
				return want[i].k < want[j].k
			}
			return want[i].id < want[j].id
		})
		var tmp band
		radixSort(&bd, &tmp)
		bd.buildDir()
		for i := range want {
			if bd.keys[i] != want[i].k || bd.ids[i] != want[i].id {
				t.Fatalf("n=%d: entry %d is %x/%d, want %x/%d", n, i, bd.keys[i], bd.ids[i], want[i].k, want[i].id)
			}
			p := bd.keys[i] >> bd.shift
			if lo, hi := int(bd.dir[p]), int(bd.dir[p+1]); i < lo || i >= hi {
				t.Fatalf("n=%d: directory slot %d is [%d,%d), misses entry %d", n, p, lo, hi, i)
			}
		}
	}

	g := newGen()
	var refs []model.SampleFunctions
	for v := 0; v < 6; v++ {
		refs = append(refs, g.sample(fmt.Sprintf("s%d", v), fmt.Sprintf("f%d", v%3), "X", 20, genes("g", 60)...))
	}
	m := DefaultModel()
	ix := Build(refs, Options{Model: &m, MaxBucket: 3})
	sc := ix.newScratch()
	for i := 0; i < 300; i++ {
		q := g.fn(fmt.Sprintf("g%d", i%70), 5+i%30, 0)
		got := ix.lookup(&q, sc)
		// Exhaustive: the exact cluster, then every cluster in a small
		// enough bucket of a shared band, in band and cluster order.
		var want []match
		seen := map[int32]bool{}
		if id, ok := ix.exact[q.Exact]; ok {
			want, seen[id] = append(want, match{id, 1}), true
		}
		keys := sketch.BandKeys(&q.MinHash)
		for b := range ix.bands {
			var ids []int32
			for id := range ix.sigs {
				if sketch.BandKeys(&ix.sigs[id])[b] == keys[b] {
					ids = append(ids, int32(id))
				}
			}
			if len(ids) > ix.opts.MaxBucket {
				continue
			}
			for _, id := range ids {
				if !seen[id] {
					seen[id] = true
					if s := sketch.Similarity(&q.MinHash, &ix.sigs[id]); s >= ix.opts.MinSim {
						want = append(want, match{id, s})
					}
				}
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("query %d: lookup %v, exhaustive %v", i, got, want)
		}
	}
}

func TestIDSet(t *testing.T) {
	var s idSet
	r := rand.New(rand.NewPCG(1, 1))
	for round := 0; round < 50; round++ {
		s.reset()
		in := map[int32]bool{}
		for i := 0; i < 3000; i++ {
			id := int32(r.IntN(4000))
			if s.add(id) == in[id] {
				t.Fatalf("round %d: add(%d) disagrees with the map", round, id)
			}
			in[id] = true
		}
	}
}
