// Package funcsim measures function similarity the way Marcelli et al.
// ("How Machine Learning Is Solving the Binary Function Similarity
// Problem", USENIX Security 2022) do: the same source function compiled
// with different options must score higher than two different functions.
//
// A dataset is a set of binaries, each built from one library with one
// build configuration, with ground truth (function names) taken from an
// unstripped twin of the same build; code is analysed on the stripped file.
// Tasks pair builds (XO: optimisation levels of one compiler; XC: gcc
// against clang, or ELF against PE); metrics are the paper's: AUC over
// equal numbers of positive and negative pairs, and Recall@1 and MRR@10 of
// one true match ranked among 100 negatives.
//
// The package also holds an experimental copy of feature extraction
// (features.go) so that other shingles and tokens can be measured without
// touching internal/disasm.
package funcsim

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/model"
)

// Spec names one binary of a dataset.
type Spec struct {
	Build    string // build configuration, e.g. "gcc-O2"
	Lib      string // library or program
	Stripped string // path analysed
	Symbols  string // unstripped twin: same code addresses, with a symbol table
}

// Func is one named function of one binary.
type Func struct {
	Build, Lib, Name string
	Key              int // index of lib/name in Dataset.Keys
	Fn               model.Function
	// Sigs holds the function's signature of every version disasm
	// computes, by version (Fn.MinHash is model.SigVersion's).
	Sigs map[int]*[model.MinHashK]uint32
	Feat *Features // nil unless extracted
	// Callees are the features of the functions this one calls directly
	// (or through the PLT when the callee is exported by the same file).
	Callees []*Features
}

// Binary is one analysed binary.
type Binary struct {
	Spec
	Funcs   []Func // named functions only, by address
	Found   int    // functions disasm found
	Unnamed int    // found but no symbol at that address
	Clones  int    // compiler clones (name.isra.0, name.cold...) left out
}

// Dataset is every binary with its functions.
type Dataset struct {
	Bins []*Binary
	Keys []string // "lib/name"
}

// Scan lists the binaries of a dataset folder laid out as build.sh makes
// it: stripped/<build>/<file> with unstripped/<build>/<file> beside it.
func Scan(dir string) ([]Spec, error) {
	builds, err := os.ReadDir(filepath.Join(dir, "stripped"))
	if err != nil {
		return nil, err
	}
	var out []Spec
	for _, b := range builds {
		if !b.IsDir() {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, "stripped", b.Name()))
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			name := f.Name()
			lib := strings.TrimSuffix(strings.TrimSuffix(name, ".so"), ".dll")
			sym := filepath.Join(dir, "unstripped", b.Name(), name)
			if _, err := os.Stat(sym); err != nil {
				continue
			}
			out = append(out, Spec{Build: b.Name(), Lib: lib, Stripped: filepath.Join(dir, "stripped", b.Name(), name), Symbols: sym})
		}
	}
	return out, nil
}

// Options control loading.
type Options struct {
	Features bool // also run the experimental feature extraction
	// KeepShared keeps names found in several libraries of one build
	// (each library's copy is its own function).
	KeepShared bool
}

// Load analyses every binary. Names that occur in more than one library of
// a build (C runtime start-up code, mingw's static CRT) are dropped: they
// are the same code everywhere and would make false negatives.
func Load(specs []Spec, opts Options) (*Dataset, error) {
	ds := &Dataset{}
	for _, sp := range specs {
		b, err := loadBinary(sp, opts)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sp.Stripped, err)
		}
		ds.Bins = append(ds.Bins, b)
	}
	// name -> libraries per build
	libsOf := map[string]map[string]bool{}
	for _, b := range ds.Bins {
		for _, f := range b.Funcs {
			k := b.Build + "\x00" + f.Name
			if libsOf[k] == nil {
				libsOf[k] = map[string]bool{}
			}
			libsOf[k][b.Lib] = true
		}
	}
	shared := map[string]bool{}
	for k, libs := range libsOf {
		if len(libs) > 1 {
			shared[k[strings.IndexByte(k, 0)+1:]] = true
		}
	}
	keys := map[string]int{}
	for _, b := range ds.Bins {
		kept := b.Funcs[:0]
		for _, f := range b.Funcs {
			if shared[f.Name] && !opts.KeepShared {
				continue
			}
			k := b.Lib + "/" + f.Name
			id, ok := keys[k]
			if !ok {
				id = len(ds.Keys)
				keys[k] = id
				ds.Keys = append(ds.Keys, k)
			}
			f.Key = id
			kept = append(kept, f)
		}
		b.Funcs = kept
	}
	return ds, nil
}

func loadBinary(sp Spec, opts Options) (*Binary, error) {
	f, err := binfmt.LoadFile(sp.Stripped, binfmt.Limits{})
	if err != nil {
		return nil, err
	}
	res, err := disasm.Analyze(f, disasm.Options{})
	if err != nil {
		return nil, err
	}
	sigs := map[int]map[uint64]*[model.MinHashK]uint32{}
	for _, v := range disasm.SigVersions {
		rv := res
		if v != model.SigVersion {
			if rv, err = disasm.Analyze(f, disasm.Options{SigVersion: v}); err != nil {
				return nil, err
			}
		}
		sigs[v] = make(map[uint64]*[model.MinHashK]uint32, len(rv.Funcs))
		for i := range rv.Funcs {
			sigs[v][rv.Funcs[i].Addr] = &rv.Funcs[i].MinHash
		}
	}
	names, err := symbolNames(sp.Symbols)
	if err != nil {
		return nil, err
	}
	b := &Binary{Spec: sp, Found: len(res.Funcs)}
	seen := map[string]int{}
	for _, fn := range res.Funcs {
		name, ok := names[fn.Addr]
		switch {
		case !ok:
			b.Unnamed++
			continue
		case strings.Contains(name, "."):
			// gcc's partial copies (.part, .isra, .constprop, .cold) are
			// not the source function; in some builds they are all there is.
			b.Clones++
			continue
		}
		seen[name]++
		fn.Name = "" // the stripped file's own hints must not leak into scoring
		x := Func{Build: sp.Build, Lib: sp.Lib, Name: name, Fn: fn, Sigs: map[int]*[model.MinHashK]uint32{}}
		for v, m := range sigs {
			if s := m[fn.Addr]; s != nil {
				x.Sigs[v] = s
			}
		}
		b.Funcs = append(b.Funcs, x)
	}
	// A name twice in one binary (static functions of different files)
	// has no single ground truth.
	b.Funcs = slices.DeleteFunc(b.Funcs, func(x Func) bool { return seen[x.Name] > 1 })
	if opts.Features {
		exports := map[string]uint64{}
		byAddr := map[uint64]string{}
		for _, e := range f.Exports {
			n := strings.ToLower(e.Name)
			exports[n] = e.Addr
			if e.Addr != 0 {
				byAddr[e.Addr] = n
			}
		}
		slots := ownSlots(sp.Stripped)
		name := func(t uint64) string { return calleeName(f, t, byAddr, slots) }
		// Every function, named or not: callees may be clones.
		feats := make(map[uint64]*Features, len(res.Funcs))
		for _, fn := range res.Funcs {
			lines, err := res.Listing(f, fn.Addr)
			if err != nil {
				continue
			}
			feats[fn.Addr] = Extract(f, lines, name)
		}
		for i := range b.Funcs {
			ft := feats[b.Funcs[i].Fn.Addr]
			b.Funcs[i].Feat = ft
			if ft == nil {
				continue
			}
			for _, c := range ft.Callees {
				if cf := feats[c]; cf != nil && cf != ft {
					b.Funcs[i].Callees = append(b.Funcs[i].Callees, cf)
				}
			}
			for _, n := range ft.ImpNames {
				if cf := feats[exports[n]]; cf != nil && cf != ft {
					b.Funcs[i].Callees = append(b.Funcs[i].Callees, cf)
				}
			}
		}
	}
	return b, nil
}

// symbolNames maps code addresses to function names from the unstripped
// file's symbol table. Aliases at one address keep the first name in
// sorted order, so the choice does not depend on table order.
func symbolNames(path string) (map[uint64]string, error) {
	f, err := binfmt.LoadFile(path, binfmt.Limits{})
	if err != nil {
		return nil, err
	}
	syms := slices.Clone(f.Symbols)
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].Name < syms[j].Name })
	out := map[uint64]string{}
	for _, s := range syms {
		if s.Name == "" || s.Addr == 0 {
			continue
		}
		if _, dup := out[s.Addr]; !dup {
			out[s.Addr] = s.Name
		}
	}
	return out, nil
}

// Counts summarises a dataset for the report.
func (ds *Dataset) Counts() (bins, funcs int, perBuild map[string]int) {
	perBuild = map[string]int{}
	for _, b := range ds.Bins {
		funcs += len(b.Funcs)
		perBuild[b.Build] += len(b.Funcs)
	}
	return len(ds.Bins), funcs, perBuild
}
