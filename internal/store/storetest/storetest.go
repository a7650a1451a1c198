// Package storetest is the conformance suite every model.Store backend must
// pass, so that the SQLite store and any server-backed store behave the same
// way for the rest of kinship.
//
// A backend's test calls Run with a function that opens a new, empty store.
// Run closes each store when its subtest ends; open may register further
// cleanup (dropping a database, say) with t.Cleanup, which runs afterwards.
//
// Beyond the model.Store documentation the suite pins down these contracts:
//
//   - IngestedAt comes back in UTC, truncated to the microsecond; the zero
//     time stays zero.
//   - Empty and nil slices (Anomalies, Consts, Imports) are equivalent.
//   - Functions come back ordered by Addr as an unsigned number, so
//     addresses at or above 1<<63 (kernel code) sort last.
//   - PutSample rejects, storing nothing, a sample without SHA-256, one whose
//     Stats.Functions differs from the number of functions given, and
//     functions sharing an address: the stored count is what integrity
//     checks rely on, and a function is identified by its address.
//   - Every "not there" error wraps model.ErrNotFound.
//   - StoreStats.Labelled, Families and Actors count samples with a family
//     or an actor; a Source alone does not make a sample labelled.
//   - Strings read from binaries and file systems (the sample's Name and
//     Program, function names and imports) survive byte for byte, NUL and
//     invalid UTF-8 included; an import name containing U+001F is refused
//     with an error naming the sample.
//   - A reader never sees a sample whose functions differ in number from
//     its Stats.Functions, whatever writers and deleters do meanwhile.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/model"
)

// Run runs the conformance suite. open must return a new, empty store each
// time it is called.
func Run(t *testing.T, open func(t *testing.T) model.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s model.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"MinimalSample", testMinimalSample},
		{"ExtremeValues", testExtremeValues},
		{"UnsortedInput", testUnsortedInput},
		{"Idempotent", testIdempotent},
		{"Invalid", testInvalid},
		{"SetLabels", testSetLabels},
		{"SetCommon", testSetCommon},
		{"Delete", testDelete},
		{"Missing", testMissing},
		{"SamplesOrdered", testSamplesOrdered},
		{"Stats", testStats},
		{"SchemaVersion", testSchemaVersion},
		{"Concurrent", testConcurrent},
		{"Large", testLarge},
		{"Cancel", testCancel},
		{"HostileStrings", testHostileStrings},
		{"LabelsAndCommonIndependent", testLabelsAndCommonIndependent},
		{"ReadersSeeWholeSamples", testReadersSeeWholeSamples},
		{"PutDeleteRace", testPutDeleteRace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// MakeSample returns a deterministic, realistic sample with n functions:
// the same seed always gives the same data, and different seeds give
// different SHA-256s. Backends use it in benchmarks so that sizes and speeds
// are comparable.
func MakeSample(seed uint64, n int) (model.Sample, []model.Function) {
	rng := rand.New(rand.NewPCG(seed, 0x6b696e73))
	hex := func(nbytes int) string {
		const digits = "0123456789abcdef"
		b := make([]byte, 2*nbytes)
		for i := range b {
			b[i] = digits[rng.IntN(16)]
		}
		return string(b)
	}
	sha := fmt.Sprintf("%016x", seed) + hex(24)
	s := model.Sample{
		SHA256: sha,
		Name:   fmt.Sprintf("sample-%d.exe", seed),
		Size:   int64(100_000 + rng.IntN(10_000_000)),
		Format: model.FormatPE,
		Arch:   model.ArchAMD64,
		Hashes: model.FileHashes{
			MD5:     hex(16),
			SHA1:    hex(20),
			SHA256:  sha,
			Imphash: hex(16),
			TLSH:    "T1" + hex(35),
			Ssdeep:  "3072:" + hex(20) + ":" + hex(10),
		},
		Labels:     model.Labels{Family: "fam" + fmt.Sprint(seed%7), Actor: "actor" + fmt.Sprint(seed%3), Source: "test"},
		Language:   "c",
		Program:    "emberkit",
		SigVersion: model.SigVersion,
		Anomalies:  []string{"overlapping sections", "entry point outside code"},
		IngestedAt: time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC),
	}
	fns := make([]model.Function, n)
	addr := uint64(0x401000)
	instrs := 0
	var covered uint64
	for i := range fns {
		f := &fns[i]
		size := uint32(16 + rng.IntN(600))
		f.Addr = addr
		addr += uint64(size) + uint64(rng.IntN(32))
		f.Size = size
		f.Blocks = uint32(1 + rng.IntN(40))
		f.Instrs = size / 4
		f.Exact = rng.Uint64()
		// A MinHash value is a minimum over a function's n-grams, so real
		// values are well below 2^32; that does not matter to a fixed-size
		// blob but keeps the data honest. Only the bits the signature
		// version keeps are set.
		mask := uint32(1<<model.MinHashBits(s.SigVersion) - 1)
		for j := range f.MinHash {
			f.MinHash[j] = rng.Uint32() >> uint(rng.IntN(8)) & mask
		}
		switch rng.IntN(4) {
		case 0:
		case 1:
			f.Consts = []uint64{uint64(rng.IntN(1 << 16))}
		case 2:
			f.Consts = []uint64{0x5a827999, uint64(rng.IntN(256))}
		case 3:
			f.Consts = []uint64{rng.Uint64(), uint64(rng.IntN(1 << 20)), 0xffffffff}
		}
		if rng.IntN(3) == 0 {
			f.Imports = []string{"kernel32.dll!CreateFileW", "kernel32.dll!WriteFile"}[:1+rng.IntN(2)]
		}
		if rng.IntN(2) == 0 {
			f.Name = fmt.Sprintf("sub_%x", f.Addr)
		}
		f.Origin = model.Origin(rng.IntN(5))
		instrs += int(f.Instrs)
		covered += uint64(size)
	}
	s.Stats = model.CodeStats{
		Functions:    n,
		Instructions: instrs,
		CodeBytes:    covered + covered/8,
		CoveredBytes: covered,
	}
	return s, fns
}

// want is what a store must return for a stored sample: the contract's
// normal form.
func want(s model.Sample) model.Sample {
	if s.IngestedAt.IsZero() {
		s.IngestedAt = time.Time{}
	} else {
		s.IngestedAt = s.IngestedAt.UTC().Truncate(time.Microsecond)
	}
	if len(s.Anomalies) == 0 {
		s.Anomalies = nil
	}
	return s
}

func normSample(s model.Sample) model.Sample {
	if len(s.Anomalies) == 0 {
		s.Anomalies = nil
	}
	return s
}

// wantFunctions returns fns ordered by unsigned address with empty slices
// made nil; it does not modify fns.
func wantFunctions(fns []model.Function) []model.Function {
	out := slices.Clone(fns)
	slices.SortFunc(out, func(a, b model.Function) int {
		switch {
		case a.Addr < b.Addr:
			return -1
		case a.Addr > b.Addr:
			return 1
		}
		return 0
	})
	for i := range out {
		out[i] = normFunction(out[i])
	}
	return out
}

func normFunction(f model.Function) model.Function {
	if len(f.Consts) == 0 {
		f.Consts = nil
	}
	if len(f.Imports) == 0 {
		f.Imports = nil
	}
	return f
}

func put(t *testing.T, st model.Store, s model.Sample, fns []model.Function) {
	t.Helper()
	added, err := st.PutSample(context.Background(), s, fns)
	if err != nil {
		t.Fatalf("PutSample %s: %v", s.SHA256, err)
	}
	if !added {
		t.Fatalf("PutSample %s: added = false for a new sample", s.SHA256)
	}
}

func get(t *testing.T, st model.Store, sha string) model.Sample {
	t.Helper()
	got, err := st.GetSample(context.Background(), sha)
	if err != nil {
		t.Fatalf("GetSample %s: %v", sha, err)
	}
	return got
}

func checkSample(t *testing.T, st model.Store, w model.Sample) {
	t.Helper()
	got := normSample(get(t, st, w.SHA256))
	w = want(w)
	if !reflect.DeepEqual(got, w) {
		t.Fatalf("GetSample %s:\n got %+v\nwant %+v", w.SHA256, got, w)
	}
	if loc := got.IngestedAt.Location(); !got.IngestedAt.IsZero() && loc != time.UTC {
		t.Errorf("IngestedAt location = %v, want UTC", loc)
	}
}

func checkFunctions(t *testing.T, st model.Store, sha string, fns []model.Function) {
	t.Helper()
	got, err := st.Functions(context.Background(), sha)
	if err != nil {
		t.Fatalf("Functions %s: %v", sha, err)
	}
	w := wantFunctions(fns)
	if len(got) != len(w) {
		t.Fatalf("Functions %s: got %d functions, want %d", sha, len(got), len(w))
	}
	for i := range got {
		if g := normFunction(got[i]); !reflect.DeepEqual(g, w[i]) {
			t.Fatalf("Functions %s: function %d:\n got %+v\nwant %+v", sha, i, g, w[i])
		}
	}
}

func checkNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, model.ErrNotFound) {
		t.Errorf("%s: err = %v, want one wrapping model.ErrNotFound", what, err)
	}
}

func testRoundTrip(t *testing.T, st model.Store) {
	s, fns := MakeSample(1, 500)
	s.Common = true
	s.Unsupported = ""
	s.IngestedAt = time.Date(2024, 2, 29, 23, 59, 58, 123456789, time.FixedZone("CEST", 2*3600))
	put(t, st, s, fns)
	checkSample(t, st, s)
	checkFunctions(t, st, s.SHA256, fns)

	// A sample whose code was not analysed has no functions but must still
	// come back whole.
	u, _ := MakeSample(2, 0)
	u.Format, u.Arch = model.FormatUnknown, model.ArchUnknown
	u.Unsupported = "packed: no code sections"
	u.Hashes.Imphash = ""
	put(t, st, u, nil)
	checkSample(t, st, u)
	got, err := st.Functions(context.Background(), u.SHA256)
	if err != nil || len(got) != 0 {
		t.Fatalf("Functions of a sample without functions = %d, %v; want 0, nil", len(got), err)
	}
}

func testMinimalSample(t *testing.T, st model.Store) {
	// Every optional field empty: the zero time, no hashes, no anomalies.
	s := model.Sample{SHA256: "00"}
	fns := []model.Function{{}}
	s.Stats.Functions = 1
	put(t, st, s, fns)
	checkSample(t, st, s)
	checkFunctions(t, st, s.SHA256, fns)

	// Empty slices are the same as nil ones.
	e := model.Sample{SHA256: "01", Anomalies: []string{}}
	e.Stats.Functions = 1
	put(t, st, e, []model.Function{{Consts: []uint64{}, Imports: []string{}}})
	checkSample(t, st, e)
	checkFunctions(t, st, e.SHA256, []model.Function{{}})
}

func testExtremeValues(t *testing.T, st model.Store) {
	s := model.Sample{
		SHA256:     "ff",
		Size:       1<<63 - 1,
		SigVersion: 1 << 30,
		Stats: model.CodeStats{
			Functions:    3,
			Instructions: 1 << 40,
			CodeBytes:    ^uint64(0),
			CoveredBytes: 1 << 63,
		},
		Anomalies:  []string{"", "quote \" and\nnewline", "ünïcödé ✓", `back\slash`},
		IngestedAt: time.Date(1969, 7, 20, 20, 17, 40, 999, time.UTC),
	}
	// Each signature version with the widest values it keeps.
	for _, v := range []int{1, 2, 1 << 30} {
		s.SHA256 = fmt.Sprintf("ff%d", v)
		s.SigVersion = v
		var mh [model.MinHashK]uint32
		for i := range mh {
			mh[i] = uint32(1<<model.MinHashBits(v)-1) - uint32(i)
		}
		fns := []model.Function{
			{Addr: ^uint64(0), Size: ^uint32(0), Blocks: ^uint32(0), Instrs: ^uint32(0), Exact: ^uint64(0), MinHash: mh,
				Consts: []uint64{0, 1, 127, 128, 1<<63 - 1, 1 << 63, ^uint64(0)}, Origin: model.OriginRuntime},
			{Addr: 0xffffffff81000000, Exact: 1 << 63, Imports: []string{""}, Name: "ünïcödé.func·1"},
			{Addr: 0, Imports: []string{"a", "", "b", "ws2_32.dll!#23"}, Name: `quo"te`},
		}
		put(t, st, s, fns)
		checkSample(t, st, s)
		checkFunctions(t, st, s.SHA256, fns)
	}
	// A value wider than the version keeps is refused, not stored cut.
	s.SHA256, s.SigVersion, s.Stats.Functions = "fe", 2, 1
	bad := []model.Function{{MinHash: [model.MinHashK]uint32{0: 1 << 16}}}
	if _, err := st.PutSample(context.Background(), s, bad); err == nil {
		t.Error("a 17-bit MinHash value in a version 2 sample was stored")
	}
}

func testUnsortedInput(t *testing.T, st model.Store) {
	s, fns := MakeSample(3, 1000)
	rand.New(rand.NewPCG(3, 3)).Shuffle(len(fns), func(i, j int) { fns[i], fns[j] = fns[j], fns[i] })
	orig := slices.Clone(fns)
	put(t, st, s, fns)
	if !reflect.DeepEqual(fns, orig) {
		t.Errorf("PutSample modified the caller's function slice")
	}
	checkFunctions(t, st, s.SHA256, fns)
}

func testIdempotent(t *testing.T, st model.Store) {
	ctx := context.Background()
	s, fns := MakeSample(4, 300)
	put(t, st, s, fns)

	// Same SHA-256, different everything else: the first version stays.
	s2, fns2 := MakeSample(5, 120)
	s2.SHA256 = s.SHA256
	s2.Labels = model.Labels{Family: "other"}
	s2.Common = !s.Common
	added, err := st.PutSample(ctx, s2, fns2)
	if err != nil || added {
		t.Fatalf("second PutSample = %v, %v; want false, nil", added, err)
	}
	added, err = st.PutSample(ctx, s, fns)
	if err != nil || added {
		t.Fatalf("third PutSample = %v, %v; want false, nil", added, err)
	}
	checkSample(t, st, s)
	checkFunctions(t, st, s.SHA256, fns)
	all, err := st.Samples(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("Samples = %d, %v; want 1 sample", len(all), err)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Samples != 1 || stats.Functions != int64(len(fns)) {
		t.Errorf("Stats = %d samples, %d functions; want 1, %d", stats.Samples, stats.Functions, len(fns))
	}
}

func testInvalid(t *testing.T, st model.Store) {
	ctx := context.Background()
	s, fns := MakeSample(6, 10)

	empty := s
	empty.SHA256 = ""
	if _, err := st.PutSample(ctx, empty, fns); err == nil {
		t.Errorf("PutSample with an empty SHA-256 succeeded")
	}

	wrongCount := s
	wrongCount.Stats.Functions = len(fns) + 1
	if _, err := st.PutSample(ctx, wrongCount, fns); err == nil {
		t.Errorf("PutSample with Stats.Functions %d and %d functions succeeded", wrongCount.Stats.Functions, len(fns))
	}

	dup := slices.Clone(fns)
	dup[7].Addr = dup[2].Addr
	if _, err := st.PutSample(ctx, s, dup); err == nil {
		t.Errorf("PutSample with two functions at one address succeeded")
	}

	if _, err := st.GetSample(ctx, s.SHA256); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("a rejected sample was stored (GetSample err = %v)", err)
	}
	// Nothing half-done blocks a correct retry.
	put(t, st, s, fns)
	checkFunctions(t, st, s.SHA256, fns)
}

func testSetLabels(t *testing.T, st model.Store) {
	ctx := context.Background()
	s, fns := MakeSample(7, 200)
	put(t, st, s, fns)
	l := model.Labels{Family: "emotet", Actor: "TA542", Source: "analyst:jd"}
	if err := st.SetLabels(ctx, s.SHA256, l); err != nil {
		t.Fatalf("SetLabels: %v", err)
	}
	s.Labels = l
	checkSample(t, st, s)
	checkFunctions(t, st, s.SHA256, fns)

	// Clearing works too.
	if err := st.SetLabels(ctx, s.SHA256, model.Labels{}); err != nil {
		t.Fatalf("SetLabels: %v", err)
	}
	s.Labels = model.Labels{}
	checkSample(t, st, s)
	checkFunctions(t, st, s.SHA256, fns)
}

func testSetCommon(t *testing.T, st model.Store) {
	ctx := context.Background()
	s, fns := MakeSample(8, 50)
	put(t, st, s, fns)
	for _, c := range []bool{true, true, false} {
		if err := st.SetCommon(ctx, s.SHA256, c); err != nil {
			t.Fatalf("SetCommon(%v): %v", c, err)
		}
		s.Common = c
		checkSample(t, st, s)
	}
	checkFunctions(t, st, s.SHA256, fns)
}

func testDelete(t *testing.T, st model.Store) {
	ctx := context.Background()
	a, afns := MakeSample(9, 400)
	b, bfns := MakeSample(10, 300)
	put(t, st, a, afns)
	put(t, st, b, bfns)
	if err := st.DeleteSample(ctx, a.SHA256); err != nil {
		t.Fatalf("DeleteSample: %v", err)
	}
	_, err := st.GetSample(ctx, a.SHA256)
	checkNotFound(t, "GetSample after delete", err)
	_, err = st.Functions(ctx, a.SHA256)
	checkNotFound(t, "Functions after delete", err)
	checkNotFound(t, "second DeleteSample", st.DeleteSample(ctx, a.SHA256))

	// The other sample is untouched and the functions are really gone.
	checkSample(t, st, b)
	checkFunctions(t, st, b.SHA256, bfns)
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Samples != 1 || stats.Functions != int64(len(bfns)) {
		t.Errorf("Stats after delete = %d samples, %d functions; want 1, %d", stats.Samples, stats.Functions, len(bfns))
	}

	// A deleted sample can be stored again, with other functions.
	a2fns := afns[:100]
	a.Stats.Functions = len(a2fns)
	put(t, st, a, a2fns)
	checkFunctions(t, st, a.SHA256, a2fns)
}

func testMissing(t *testing.T, st model.Store) {
	ctx := context.Background()
	const sha = "4d1551e0000000000000000000000000000000000000000000000000000000ee"
	check := func(st model.Store) {
		_, err := st.GetSample(ctx, sha)
		checkNotFound(t, "GetSample", err)
		_, err = st.Functions(ctx, sha)
		checkNotFound(t, "Functions", err)
		checkNotFound(t, "SetLabels", st.SetLabels(ctx, sha, model.Labels{Family: "x"}))
		checkNotFound(t, "SetCommon", st.SetCommon(ctx, sha, true))
		checkNotFound(t, "DeleteSample", st.DeleteSample(ctx, sha))
	}
	check(st) // empty store
	s, fns := MakeSample(11, 5)
	put(t, st, s, fns)
	check(st)
	if all, err := st.Samples(ctx); err != nil || len(all) != 1 {
		t.Errorf("Samples = %d, %v; want 1 (a failed SetLabels must not create a sample)", len(all), err)
	}
}

func testSamplesOrdered(t *testing.T, st model.Store) {
	ctx := context.Background()
	all, err := st.Samples(ctx)
	if err != nil || len(all) != 0 {
		t.Fatalf("Samples of an empty store = %d, %v", len(all), err)
	}
	var shas []string
	rng := rand.New(rand.NewPCG(12, 12))
	for i := 0; i < 30; i++ {
		s, fns := MakeSample(rng.Uint64(), 3)
		put(t, st, s, fns)
		shas = append(shas, s.SHA256)
	}
	slices.Sort(shas)
	all, err = st.Samples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range all {
		got = append(got, s.SHA256)
	}
	if !slices.Equal(got, shas) {
		t.Errorf("Samples order:\n got %v\nwant %v", got, shas)
	}
	// Samples returns whole samples, not just keys.
	checkSampleEqual(t, all[0], get(t, st, all[0].SHA256))
}

func checkSampleEqual(t *testing.T, got, w model.Sample) {
	t.Helper()
	if g, w := normSample(got), normSample(w); !reflect.DeepEqual(g, w) {
		t.Errorf("sample mismatch:\n got %+v\nwant %+v", g, w)
	}
}

func testStats(t *testing.T, st model.Store) {
	ctx := context.Background()
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Samples != 0 || stats.Functions != 0 || len(stats.Families) != 0 || len(stats.Actors) != 0 {
		t.Errorf("Stats of an empty store = %+v", stats)
	}
	type spec struct {
		family, actor string
		common        bool
		unsupported   string
		n             int
	}
	specs := []spec{
		{"emotet", "TA542", false, "", 10},
		{"emotet", "", false, "", 20},
		{"", "APT28", false, "", 5},
		{"trickbot", "TA542", true, "", 7},
		{"", "", true, "", 100},
		{"", "", false, "not an executable", 0},
		{"", "", false, "", 1},
	}
	var fnTotal int64
	for i, sp := range specs {
		s, fns := MakeSample(uint64(100+i), sp.n)
		s.Labels = model.Labels{Family: sp.family, Actor: sp.actor}
		if sp.family == "" && sp.actor == "" {
			s.Labels.Source = "ignored without a family or actor"
		}
		s.Common = sp.common
		s.Unsupported = sp.unsupported
		put(t, st, s, fns)
		fnTotal += int64(sp.n)
	}
	stats, err = st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Samples != 7 || stats.Labelled != 4 || stats.Common != 2 || stats.Unsupported != 1 || stats.Functions != fnTotal {
		t.Errorf("Stats = %d samples, %d labelled, %d common, %d unsupported, %d functions; want 7, 4, 2, 1, %d",
			stats.Samples, stats.Labelled, stats.Common, stats.Unsupported, stats.Functions, fnTotal)
	}
	if w := map[string]int{"emotet": 2, "trickbot": 1}; !reflect.DeepEqual(stats.Families, w) {
		t.Errorf("Families = %v, want %v", stats.Families, w)
	}
	if w := map[string]int{"TA542": 2, "APT28": 1}; !reflect.DeepEqual(stats.Actors, w) {
		t.Errorf("Actors = %v, want %v", stats.Actors, w)
	}
	v, err := st.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.SchemaVersion != v {
		t.Errorf("Stats.SchemaVersion = %d, SchemaVersion() = %d", stats.SchemaVersion, v)
	}
}

func testSchemaVersion(t *testing.T, st model.Store) {
	// The exact number belongs to the backend, whose own tests compare it
	// with its current version; here it must be a real, stable version.
	v, err := st.SchemaVersion(context.Background())
	if err != nil {
		t.Fatalf("SchemaVersion: %v", err)
	}
	if v < 1 {
		t.Errorf("SchemaVersion = %d, want >= 1", v)
	}
	s, fns := MakeSample(13, 5)
	put(t, st, s, fns)
	if v2, err := st.SchemaVersion(context.Background()); err != nil || v2 != v {
		t.Errorf("SchemaVersion after a write = %d, %v; want %d", v2, err, v)
	}
}

func testConcurrent(t *testing.T, st model.Store) {
	ctx := context.Background()
	const (
		workers  = 8
		distinct = 4 // per worker
		shared   = 4 // put by every worker
		nfn      = 150
	)
	type entry struct {
		s   model.Sample
		fns []model.Function
	}
	var sharedSamples []entry
	for i := 0; i < shared; i++ {
		s, fns := MakeSample(uint64(1000+i), nfn)
		sharedSamples = append(sharedSamples, entry{s, fns})
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		adds   = map[string]int{}
		mine   []entry
		errs   []error
		record = func(sha string, added bool, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if added {
				adds[sha]++
			}
		}
	)
	for w := 0; w < workers; w++ {
		var own []entry
		for i := 0; i < distinct; i++ {
			s, fns := MakeSample(uint64(2000+w*distinct+i), nfn+w)
			own = append(own, entry{s, fns})
		}
		mine = append(mine, own...)
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Interleave shared and own samples, starting at a different
			// shared sample in each worker.
			for i := 0; i < shared || i < distinct; i++ {
				if i < shared {
					e := sharedSamples[(i+w)%shared]
					added, err := st.PutSample(ctx, e.s, e.fns)
					record(e.s.SHA256, added, err)
				}
				if i < distinct {
					added, err := st.PutSample(ctx, own[i].s, own[i].fns)
					record(own[i].s.SHA256, added, err)
				}
				// Readers run alongside the writers.
				if _, err := st.Samples(ctx); err != nil {
					record("", false, err)
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		t.Errorf("concurrent: %v", err)
	}
	for _, e := range append(sharedSamples, mine...) {
		if n := adds[e.s.SHA256]; n != 1 {
			t.Errorf("sample %s reported added %d times, want 1", e.s.SHA256, n)
		}
		checkSample(t, st, e.s)
		checkFunctions(t, st, e.s.SHA256, e.fns)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w := shared + workers*distinct; stats.Samples != w {
		t.Errorf("Stats.Samples = %d, want %d", stats.Samples, w)
	}
}

func testLarge(t *testing.T, st model.Store) {
	const n = 50_000
	s, fns := MakeSample(14, n)
	start := time.Now()
	put(t, st, s, fns)
	t.Logf("PutSample of %d functions: %v", n, time.Since(start))
	start = time.Now()
	checkFunctions(t, st, s.SHA256, fns)
	t.Logf("Functions + compare of %d functions: %v", n, time.Since(start))
	stats, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Functions != n {
		t.Errorf("Stats.Functions = %d, want %d", stats.Functions, n)
	}
}

// cancelFns is large enough that an ingest takes several milliseconds, so
// that the timeouts below land part-way through some of them.
const cancelFns = 5000

func testCancel(t *testing.T, st model.Store) {
	// An already cancelled context stores nothing.
	s, fns := MakeSample(15, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if added, err := st.PutSample(ctx, s, fns); !errors.Is(err, context.Canceled) || added {
		t.Errorf("PutSample with a cancelled context = %v, %v; want an error wrapping context.Canceled", added, err)
	}
	if _, err := st.GetSample(context.Background(), s.SHA256); !errors.Is(err, model.ErrNotFound) {
		t.Fatalf("sample stored despite a cancelled context (GetSample err = %v)", err)
	}
	if _, err := st.Samples(ctx); err == nil {
		t.Errorf("Samples with a cancelled context succeeded")
	}
	if _, err := st.Functions(ctx, s.SHA256); err == nil {
		t.Errorf("Functions with a cancelled context succeeded")
	}

	// Cancellation part-way through an ingest leaves the sample either
	// absent or complete, never half there.
	delays := []time.Duration{0, 50 * time.Microsecond, 200 * time.Microsecond, time.Millisecond, 3 * time.Millisecond,
		10 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond, time.Second}
	var samples []model.Sample
	var lists [][]model.Function
	for i, d := range delays {
		s, fns := MakeSample(uint64(200+i), cancelFns)
		samples, lists = append(samples, s), append(lists, fns)
		ctx, cancel := context.WithTimeout(context.Background(), d)
		added, err := st.PutSample(ctx, s, fns)
		cancel()
		_, gerr := st.GetSample(context.Background(), s.SHA256)
		present := gerr == nil
		if gerr != nil && !errors.Is(gerr, model.ErrNotFound) {
			t.Fatalf("GetSample after cancelled PutSample: %v", gerr)
		}
		if err == nil && (!added || !present) {
			t.Errorf("delay %v: PutSample = %v, nil but present = %v", d, added, present)
		}
		if err != nil && present {
			t.Errorf("delay %v: PutSample failed (%v) but the sample is present", d, err)
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("delay %v: PutSample err = %v, want one wrapping context.DeadlineExceeded", d, err)
		}
		if present {
			checkFunctions(t, st, s.SHA256, fns)
		} else {
			_, ferr := st.Functions(context.Background(), s.SHA256)
			checkNotFound(t, "Functions of a sample whose ingest was cancelled", ferr)
		}
		t.Logf("delay %v: added=%v err=%v", d, added, err)
	}

	// The store still works and every sample can be completed.
	for i, s := range samples {
		if _, err := st.PutSample(context.Background(), s, lists[i]); err != nil {
			t.Fatalf("PutSample after cancellations: %v", err)
		}
		checkSample(t, st, s)
		checkFunctions(t, st, s.SHA256, lists[i])
	}
	stats, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Samples != len(samples) || stats.Functions != int64(len(samples)*cancelFns) {
		t.Errorf("Stats after cancellations = %d samples, %d functions", stats.Samples, stats.Functions)
	}
}

func testHostileStrings(t *testing.T, st model.Store) {
	ctx := context.Background()
	s, fns := MakeSample(16, 3)
	s.Name = "nul\x00in\xff\xfename.exe"
	s.Program = "prog\x00\xc3"
	fns[0].Name = "nul\x00inside\xff\xfe"
	fns[0].Imports = []string{"\x00", "bad\xc3utf8", ""}
	fns[1].Name = "\u202eevil·func"
	put(t, st, s, fns)
	checkSample(t, st, s)
	checkFunctions(t, st, s.SHA256, fns)

	s2, fns2 := MakeSample(17, 2)
	fns2[1].Imports = []string{"a\x1fb"}
	if _, err := st.PutSample(ctx, s2, fns2); err == nil || !strings.Contains(err.Error(), s2.SHA256) {
		t.Errorf("import with U+001F: err = %v, want an error naming the sample", err)
	}
	if _, err := st.GetSample(ctx, s2.SHA256); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("a refused sample was stored (GetSample err = %v)", err)
	}
}

func testLabelsAndCommonIndependent(t *testing.T, st model.Store) {
	ctx := context.Background()
	s, fns := MakeSample(18, 20)
	put(t, st, s, fns)
	if err := st.SetCommon(ctx, s.SHA256, true); err != nil {
		t.Fatal(err)
	}
	l := model.Labels{Family: "ünïcödé family", Actor: "APT-∞", Source: "tab\tand\nnewline"}
	if err := st.SetLabels(ctx, s.SHA256, l); err != nil {
		t.Fatal(err)
	}
	s.Common, s.Labels = true, l
	checkSample(t, st, s)
	// Setting the same values again is not an error and changes nothing.
	if err := st.SetLabels(ctx, s.SHA256, l); err != nil {
		t.Errorf("SetLabels to the same labels: %v", err)
	}
	if err := st.SetCommon(ctx, s.SHA256, true); err != nil {
		t.Errorf("SetCommon to the same value: %v", err)
	}
	checkSample(t, st, s)
	checkFunctions(t, st, s.SHA256, fns)
}

// checkWhole reads every sample and its functions and reports any whose
// function count differs from Stats.Functions. A sample deleted between
// the two reads is fine; a partial one is not.
func checkWhole(ctx context.Context, st model.Store) (int, error) {
	all, err := st.Samples(ctx)
	if err != nil {
		return 0, err
	}
	for _, s := range all {
		fns, err := st.Functions(ctx, s.SHA256)
		if errors.Is(err, model.ErrNotFound) {
			continue
		}
		if err != nil {
			return 0, err
		}
		if len(fns) != s.Stats.Functions {
			return 0, fmt.Errorf("sample %s: read %d functions, Stats.Functions is %d", s.SHA256, len(fns), s.Stats.Functions)
		}
	}
	return len(all), nil
}

func testReadersSeeWholeSamples(t *testing.T, st model.Store) {
	ctx := context.Background()
	const writers, each, nfn = 3, 4, 4000
	done := make(chan struct{})
	var readerErr error
	reads := 0
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := checkWhole(ctx, st); err != nil {
				readerErr = err
				return
			}
			reads++
		}
	}()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				s, fns := MakeSample(uint64(3000+w*each+i), nfn+i)
				if _, err := st.PutSample(ctx, s, fns); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(done)
	rwg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	if readerErr != nil {
		t.Fatalf("reader during ingest: %v", readerErr)
	}
	if n, err := checkWhole(ctx, st); err != nil || n != writers*each {
		t.Fatalf("after ingest: %d samples, %v; want %d", n, err, writers*each)
	}
	t.Logf("%d full reads during ingest", reads)
}

func testPutDeleteRace(t *testing.T, st model.Store) {
	ctx := context.Background()
	s, fns := MakeSample(19, 2000)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				var err error
				if (g+i)%2 == 0 {
					_, err = st.PutSample(ctx, s, fns)
				} else if err = st.DeleteSample(ctx, s.SHA256); errors.Is(err, model.ErrNotFound) {
					err = nil
				}
				if err == nil {
					_, err = checkWhole(ctx, st)
				}
				if err != nil {
					errs[g] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	// Whatever the interleaving, the sample is whole or absent, and can be
	// stored.
	if _, err := st.PutSample(ctx, s, fns); err != nil {
		t.Fatal(err)
	}
	checkSample(t, st, s)
	checkFunctions(t, st, s.SHA256, fns)
}

// Checker is a store that verifies its own invariants, as every backend's
// store does.
type Checker interface {
	model.Store
	Check(ctx context.Context) error
}

// CheckAtCleanup has t, when it ends, open the store again with reopen and
// fail unless its Check passes: whatever a test did, the store must still
// be sound. Reopening sees the store as a new process would.
func CheckAtCleanup(t testing.TB, reopen func() (Checker, error)) {
	t.Cleanup(func() {
		st, err := reopen()
		if err != nil {
			t.Errorf("reopen: %v", err)
			return
		}
		defer st.Close()
		if err := st.Check(context.Background()); err != nil {
			t.Errorf("Check after subtest: %v", err)
		}
	})
}

// SameContent fails t unless stores a and b hold the same samples with the
// same functions, in the contract's normal form. Export/import round trips
// and cross-backend tests use it.
func SameContent(t testing.TB, a, b model.Store) {
	t.Helper()
	sameContent(t, a, b, normSample)
}

// SameContentIgnoringTimes is SameContent for stores filled at different
// times: ingest times are not compared.
func SameContentIgnoringTimes(t testing.TB, a, b model.Store) {
	t.Helper()
	sameContent(t, a, b, func(s model.Sample) model.Sample {
		s.IngestedAt = time.Time{}
		return normSample(s)
	})
}

func sameContent(t testing.TB, a, b model.Store, norm func(model.Sample) model.Sample) {
	t.Helper()
	ctx := context.Background()
	as, err := a.Samples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := b.Samples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != len(bs) {
		t.Fatalf("stores hold %d and %d samples", len(as), len(bs))
	}
	for i := range as {
		if x, y := norm(as[i]), norm(bs[i]); !reflect.DeepEqual(x, y) {
			t.Fatalf("sample %d differs:\n%+v\n%+v", i, x, y)
		}
		af, err := a.Functions(ctx, as[i].SHA256)
		if err != nil {
			t.Fatal(err)
		}
		bf, err := b.Functions(ctx, bs[i].SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if len(af) != len(bf) {
			t.Fatalf("sample %s: %d and %d functions", as[i].SHA256, len(af), len(bf))
		}
		for j := range af {
			if x, y := normFunction(af[j]), normFunction(bf[j]); !reflect.DeepEqual(x, y) {
				t.Fatalf("sample %s: function %d differs:\n%+v\n%+v", as[i].SHA256, j, x, y)
			}
		}
	}
}

// Collection returns a small collection exercising every field: labelled,
// unlabelled, common and unsupported samples, extreme values, kernel
// addresses, hostile bytes in names and imports. Exchange and
// cross-backend tests store it.
func Collection() []model.SampleFunctions {
	var out []model.SampleFunctions
	add := func(s model.Sample, fns []model.Function) {
		s.Stats.Functions = len(fns)
		out = append(out, model.SampleFunctions{Sample: s, Functions: fns})
	}
	for i := uint64(0); i < 4; i++ {
		s, fns := MakeSample(40+i, int(5+7*i))
		if i == 1 {
			s.Labels = model.Labels{}
			s.Common = true
		}
		if i == 2 {
			fns[len(fns)-1].Addr = 0xffffffff81000000
			s.Anomalies = nil
		}
		add(s, fns)
	}
	u, _ := MakeSample(50, 0)
	u.Format, u.Arch, u.Unsupported = model.FormatMachO, model.ArchUnknown, "Mach-O code analysis is not supported"
	u.Labels = model.Labels{Family: "ünïcödé", Actor: "<actor & co>", Source: "tab\there"}
	u.IngestedAt = time.Time{}
	add(u, nil)
	var mh [model.MinHashK]uint32
	for i := range mh {
		mh[i] = ^uint32(0) - uint32(i)
	}
	h, _ := MakeSample(51, 0)
	h.SigVersion = 1 // 32-bit values
	h.Name = "nul\x00in\xff\xfename.exe"
	h.Program = "prog\xc3"
	h.Size = 1<<63 - 1
	h.Stats = model.CodeStats{Instructions: 1 << 40, CodeBytes: ^uint64(0), CoveredBytes: 1 << 63}
	h.IngestedAt = time.Date(1969, 7, 20, 20, 17, 40, 123456000, time.UTC)
	add(h, []model.Function{
		{Addr: 0, Imports: []string{"a", "", "ws2_32.dll!#23"}, Name: `quo"te<&>`, MinHash: mh},
		{Addr: 0x401000, Size: ^uint32(0), Blocks: ^uint32(0), Instrs: ^uint32(0), Exact: ^uint64(0), MinHash: mh,
			Consts: []uint64{0, 1, 127, 128, 1<<63 - 1, 1 << 63, ^uint64(0)}, Origin: model.OriginRuntime,
			Name: "nul\x00inside\xff\xfe", Imports: []string{"\x00", "bad\xc3utf8"}},
		{Addr: ^uint64(0), Exact: 1 << 63, Imports: []string{""}, Name: "ünïcödé.func·1"},
	})
	return out
}
