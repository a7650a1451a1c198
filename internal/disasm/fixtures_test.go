package disasm

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/sketch"
)

const fixtureDir = "../../testdata/fixtures/bin"

// loadFixture loads a fixture binary, skipping the test when fixtures have
// not been built.
func loadFixture(t *testing.T, rel string) *binfmt.File {
	t.Helper()
	f, err := binfmt.LoadFile(filepath.Join(fixtureDir, rel), binfmt.Limits{})
	if errors.Is(err, fs.ErrNotExist) {
		t.Skipf("fixture %s not built", rel)
	}
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// withConst returns the functions holding constant c.
func withConst(r *Result, c uint64) []model.Function {
	var out []model.Function
	for _, f := range r.Funcs {
		if slices.Contains(f.Consts, c) {
			out = append(out, f)
		}
	}
	return out
}

// tableHash returns the table-reference constant (top bit set) that all
// functions share, or 0.
func tableHash(fns []model.Function) uint64 {
	for _, c := range fns[0].Consts {
		if c>>63 == 0 {
			continue
		}
		shared := true
		for _, f := range fns[1:] {
			shared = shared && slices.Contains(f.Consts, c)
		}
		if shared {
			return c
		}
	}
	return 0
}

// emberkit and ashdrop are different programs that link the same cipher
// (redfox_cipher.c): its routines must be found in both, stripped or not,
// with near-identical signatures and the same hash of its 75-entry table.
func TestFixtureSharedCipher(t *testing.T) {
	variants := []struct {
		dir, ext string
		table    bool // the table is addressed directly (not through the GOT)
	}{
		{"elf64-O0", "", true}, {"elf64-O2", "", true}, {"elf32-O2", "", false},
		{"pe64-O0", ".exe", true}, {"pe64-O2", ".exe", true}, {"pe32-O2", ".exe", true},
	}
	// Multipliers of rf_mix and rf_next survive every compiler and level.
	markers := []uint64{0xb5a3c1e7, 0x2c9277b5}
	var tables []uint64
	for _, v := range variants {
		t.Run(v.dir, func(t *testing.T) {
			ember := loadFixture(t, v.dir+"/emberkit-v1"+v.ext)
			ash := loadFixture(t, v.dir+"/ashdrop-v1"+v.ext)
			re, err := Analyze(ember, Options{})
			if err != nil {
				t.Fatal(err)
			}
			ra, err := Analyze(ash, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range markers {
				fe, fa := withConst(re, m), withConst(ra, m)
				if len(fe) != 1 || len(fa) != 1 {
					t.Fatalf("constant %#x in %d/%d functions, want 1/1", m, len(fe), len(fa))
				}
				sim := sketch.Similarity(&fe[0].MinHash, &fa[0].MinHash)
				t.Logf("%#x: emberkit %#x (%d instrs) ~ ashdrop %#x: similarity %.2f, exact equal %v",
					m, fe[0].Addr, fe[0].Instrs, fa[0].Addr, sim, fe[0].Exact == fa[0].Exact)
				if sim < 0.9 {
					t.Errorf("cipher routine with %#x: similarity %.2f, want >= 0.9", m, sim)
				}
				if v.table {
					h := tableHash([]model.Function{fe[0], fa[0]})
					if h == 0 {
						t.Errorf("cipher routine with %#x: no shared table hash in %x / %x", m, fe[0].Consts, fa[0].Consts)
					}
					tables = append(tables, h)
				}
			}
			for name, r := range map[string]*Result{"emberkit": re, "ashdrop": ra} {
				cov := float64(r.Stats.CoveredBytes) / float64(r.Stats.CodeBytes)
				t.Logf("%s: %d functions, %d instructions, coverage %d/%d = %.3f", name, r.Stats.Functions, r.Stats.Instructions, r.Stats.CoveredBytes, r.Stats.CodeBytes, cov)
				if cov <= 0.8 {
					t.Errorf("%s: coverage %.3f, want > 0.8", name, cov)
				}
			}
		})
	}
	// The same 64 table bytes hash alike in every format and mode.
	for _, h := range tables {
		if h != tables[0] {
			t.Errorf("table hashes differ across variants: %x", tables)
			break
		}
	}
}

// A program that does not link the cipher has nothing close to it.
func TestFixtureUnrelated(t *testing.T) {
	ember := loadFixture(t, "elf64-O2/emberkit-v1")
	other := loadFixture(t, "elf64-O2/unrelated1")
	re, err := Analyze(ember, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ro, err := Analyze(other, Options{})
	if err != nil {
		t.Fatal(err)
	}
	mix := withConst(re, 0xb5a3c1e7)
	if len(mix) != 1 {
		t.Fatalf("rf_mix not found")
	}
	for _, f := range ro.Funcs {
		if s := sketch.Similarity(&mix[0].MinHash, &f.MinHash); s >= 0.5 {
			t.Errorf("unrelated1 %#x resembles rf_mix: %.2f", f.Addr, s)
		}
	}
}

// Symbols, when present, name the functions; discovery on the stripped
// build finds the same starts.
func TestFixtureStrippedMatchesSymbols(t *testing.T) {
	sym := loadFixture(t, "elf64-O2-sym/emberkit-v1")
	strip := loadFixture(t, "elf64-O2/emberkit-v1")
	rs, err := Analyze(sym, Options{})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := Analyze(strip, Options{})
	if err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, f := range rs.Funcs {
		if f.Name != "" {
			named++
		}
	}
	if named == 0 {
		t.Error("no function named from symbols")
	}
	addrs := func(r *Result) []uint64 {
		var a []uint64
		for _, f := range r.Funcs {
			a = append(a, f.Addr)
		}
		return a
	}
	if !slices.Equal(addrs(rs), addrs(rt)) {
		t.Errorf("stripped starts %x, with symbols %x", addrs(rt), addrs(rs))
	}
}
