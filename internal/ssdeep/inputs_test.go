package ssdeep

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The test inputs are generated here rather than committed; only the
// results the reference tool gave for them live in testdata.
// testdata/gen.sh runs `go test -args -write-inputs DIR` to get the very
// same bytes and feed them to the tool.
var writeInputs = flag.String("write-inputs", "", "write the generated test inputs, pair list and crafted signatures to this directory and exit")

func TestMain(m *testing.M) {
	flag.Parse()
	if *writeInputs != "" {
		if err := writeTestInputs(*writeInputs); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func writeTestInputs(dir string) error {
	in := filepath.Join(dir, "in")
	if err := os.MkdirAll(in, 0o755); err != nil {
		return err
	}
	for _, t := range testInputs() {
		if err := os.WriteFile(filepath.Join(in, t.name), t.data, 0o644); err != nil {
			return err
		}
	}
	var b strings.Builder
	for _, p := range testPairs() {
		fmt.Fprintf(&b, "%s\t%s\n", p[0], p[1])
	}
	if err := os.WriteFile(filepath.Join(dir, "pairs.list"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	// A signature file in ssdeep's own format, so the tool compares them.
	b.Reset()
	b.WriteString("ssdeep,1.1--blocksize:hash:hash,filename\n")
	sigs := craftedSignatures()
	for i, s := range sigs {
		fmt.Fprintf(&b, "%s,\"c%03d\"\n", s, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "crafted.sig"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	b.Reset()
	for _, p := range craftedPairs() {
		fmt.Fprintf(&b, "c%03d\tc%03d\n", p[0], p[1])
	}
	return os.WriteFile(filepath.Join(dir, "crafted.list"), []byte(b.String()), 0o644)
}

// rng is splitmix64: tiny, and its output is fixed forever, unlike library
// generators whose streams may change between releases.
type rng uint64

func (r *rng) next() uint64 {
	*r += 0x9e3779b97f4a7c15
	z := uint64(*r)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

func (r *rng) intn(n int) int { return int(r.next() % uint64(n)) }

func randomBytes(seed uint64, n int) []byte {
	r := rng(seed)
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.next()
		for j := i; j < i+8 && j < n; j++ {
			b[j] = byte(v)
			v >>= 8
		}
	}
	return b
}

// lowAlphabet draws n bytes uniformly from k random byte values.
func lowAlphabet(seed uint64, k, n int) []byte {
	r := rng(seed)
	alpha := make([]byte, k)
	for i := range alpha {
		alpha[i] = byte(r.next())
	}
	b := make([]byte, n)
	for i := range b {
		b[i] = alpha[r.intn(k)]
	}
	return b
}

var words = strings.Fields(`the of and to in is was for on that with as by at
from this be are it an or which not have has had but were been their one all
can more its other new also some file data value return error buffer length
section header table string symbol address offset kernel module driver`)

// text is pseudo-English with line breaks, like source files or logs.
func text(seed uint64, n int) []byte {
	r := rng(seed)
	b := make([]byte, 0, n+16)
	for len(b) < n {
		b = append(b, words[r.intn(len(words))]...)
		if r.intn(12) == 0 {
			b = append(b, ".\n"...)
		} else {
			b = append(b, ' ')
		}
	}
	return b[:n]
}

// structured imitates an executable: a header, a table of fixed-size
// records, code-like bytes with a skewed distribution and zero padding.
func structured(seed uint64, n int) []byte {
	r := rng(seed)
	b := make([]byte, 0, n)
	b = append(b, 0x7f, 'E', 'L', 'F', 2, 1, 1)
	for len(b) < 64 {
		b = append(b, 0)
	}
	for i := 0; len(b) < n/4; i++ {
		rec := [16]byte{byte(i), byte(i >> 8), 0, 0, 0x10, 0, 0, 0}
		v := r.next()
		for j := 8; j < 16; j++ {
			rec[j] = byte(v)
			v >>= 8
		}
		b = append(b, rec[:]...)
	}
	ops := []byte{0x48, 0x89, 0x8b, 0xe8, 0xc3, 0x55, 0x5d, 0x31, 0xc0, 0x0f, 0x85, 0x74, 0xff}
	for len(b) < n*7/8 {
		if r.intn(3) == 0 {
			b = append(b, byte(r.next()))
		} else {
			b = append(b, ops[r.intn(len(ops))])
		}
	}
	for len(b) < n {
		b = append(b, 0)
	}
	return b[:n]
}

var mutations = []string{"flip", "insert", "delete", "truncate", "append", "shuffle"}

// mutate applies a small, seed-determined edit so pairs have known
// similarity relations.
func mutate(seed uint64, src []byte, kind string) []byte {
	r := rng(seed)
	b := append([]byte(nil), src...)
	n := len(b)
	switch kind {
	case "flip":
		for i := 0; i < 16; i++ {
			b[r.intn(n)] ^= byte(1 + r.intn(255))
		}
	case "insert":
		p := r.intn(n)
		ins := randomBytes(seed+1, n/20+1)
		b = append(b[:p:p], append(ins, src[p:]...)...)
	case "delete":
		p := r.intn(n - n/10)
		b = append(b[:p:p], src[p+n/10:]...)
	case "truncate":
		b = b[:n*3/4]
	case "append":
		b = append(b, randomBytes(seed+2, n/3)...)
	case "shuffle": // swap the two halves
		b = append(append([]byte(nil), src[n/2:]...), src[:n/2]...)
	default:
		panic("unknown mutation " + kind)
	}
	return b
}

// cascade is a rolling-hash window whose sum, 0xBFFFFFFF, is -1 modulo
// every block size, so it ends a piece for all 31 block sizes at once and
// starts the largest ones early.
var cascade = []byte{0, 94, 59, 158, 61, 254, 235}

// withCascades is random data with k copies of cascade, one at the end.
func withCascades(seed uint64, n, k int) []byte {
	r := rng(seed)
	b := randomBytes(r.next(), n)
	for i := 1; i < k; i++ {
		copy(b[r.intn(n-len(cascade)):], cascade)
	}
	return append(b, cascade...)
}

type testInput struct {
	name string
	data []byte
}

func testInputs() []testInput {
	var in []testInput
	add := func(name string, data []byte) { in = append(in, testInput{name, data}) }

	// Around the rolling window and the first block-size steps (3*64,
	// 6*64, ...), where the chosen block size changes.
	for _, n := range []int{0, 1, 2, 6, 7, 8, 63, 64, 65, 100, 191, 192, 193,
		383, 384, 385, 767, 768, 769, 1000} {
		add(fmt.Sprintf("random_%07d", n), randomBytes(1, n))
	}
	for _, n := range []int{4 << 10, 64 << 10, 1 << 20, 3 << 20} {
		add(fmt.Sprintf("random_%07d", n), randomBytes(2, n))
	}
	// Inputs ending in seven or more zero bytes leave the rolling hash at
	// zero, which changes how the last piece is emitted.
	r := rng(3)
	for i := 0; i < 24; i++ {
		n := []int{50, 500, 3000, 20000, 150000}[i%5] + r.intn(5000)
		b := append(randomBytes(r.next(), n), make([]byte, r.intn(16))...)
		add(fmt.Sprintf("zerotail_%02d", i), b)
	}
	for _, n := range []int{7, 100, 4096, 100000} {
		add(fmt.Sprintf("zeros_%07d", n), make([]byte, n))
	}
	for i, p := range []struct{ k, n int }{{1, 5000}, {2, 300}, {2, 5000}, {3, 40000}, {5, 2000}, {16, 70000}} {
		add(fmt.Sprintf("alphabet_%02d_k%d", i, p.k), lowAlphabet(uint64(10+i), p.k, p.n))
	}
	pattern := []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz")
	for _, period := range []int{1, 3, 7, 13, 29, 61} {
		b := make([]byte, 100000)
		for i := range b {
			b[i] = pattern[i%period]
		}
		add(fmt.Sprintf("period_%02d", period), b)
	}
	for _, n := range []int{100, 1 << 10, 10 << 10, 100 << 10} {
		add(fmt.Sprintf("text_%07d", n), text(4, n))
	}
	add("cascade_0000007", cascade)
	add("cascade_0001007", append(append([]byte(nil), cascade...), randomBytes(11, 1000)...))
	add("cascade_0200007", withCascades(12, 200000, 10))
	add("structured_0065536", structured(5, 65536))
	add("structured_0300000", structured(6, 300000))

	// Families of related inputs for the comparison vectors.
	for i, base := range familyBases() {
		add(base.name, base.data)
		for j, kind := range mutations {
			add(base.name+"_"+kind, mutate(uint64(100*i+j), base.data, kind))
		}
	}
	return in
}

func familyBases() []testInput {
	return []testInput{
		{"fam_random", randomBytes(7, 32<<10)},
		{"fam_text", text(8, 48<<10)},
		{"fam_struct", structured(9, 64<<10)},
		{"fam_small", text(10, 2000)},
	}
}

// testPairs lists input pairs whose match score the vectors record: every
// pair within and across the families plus a few other inputs.
func testPairs() [][2]string {
	names := []string{"random_0001000", "text_0010240", "structured_0065536", "period_61"}
	for _, base := range familyBases() {
		names = append(names, base.name)
		for _, kind := range mutations {
			names = append(names, base.name+"_"+kind)
		}
	}
	var pairs [][2]string
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			pairs = append(pairs, [2]string{names[i], names[j]})
		}
	}
	return pairs
}

const craftedFamilySize = 6

// craftedSignatures returns hand-made signatures probing the comparison
// rules: block sizes equal, doubled, halved or unrelated (including ones
// near the 64-bit limit), short parts, runs of repeated characters and
// small alphabets that force common substrings.
func craftedSignatures() []string {
	r := rng(5)
	randPart := func(n int, alpha string) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = alpha[r.intn(len(alpha))]
		}
		if n > 0 && r.intn(3) == 0 { // a run that must be shortened
			p := r.intn(n)
			run := strings.Repeat(string(alpha[r.intn(len(alpha))]), 2+r.intn(8))
			b = append(b[:p:p], append([]byte(run), b[p:]...)...)
		}
		return b
	}
	edit := func(s []byte, alpha string, max int) []byte {
		s = append([]byte(nil), s...)
		for k := r.intn(max + 1); k > 0; k-- {
			switch p := r.intn(len(s) + 1); r.intn(3) {
			case 0:
				if p < len(s) {
					s[p] = alpha[r.intn(len(alpha))]
				}
			case 1:
				s = append(s[:p:p], append([]byte{alpha[r.intn(len(alpha))]}, s[p:]...)...)
			case 2:
				if p < len(s) {
					s = append(s[:p:p], s[p+1:]...)
				}
			}
		}
		return s
	}
	clip := func(s []byte, n int) string { return string(s[:min(len(s), n)]) }
	blockSizes := []uint64{3, 6, 12, 24, 48, 96, 192, 1536, 3 << 20,
		1<<63 + 2, 1<<64 - 2, 1<<64 - 1}
	var sigs []string
	for fam := 0; fam < 24; fam++ {
		alpha := b64
		if fam%3 == 1 {
			start := r.intn(60)
			alpha = b64[start : start+2+r.intn(4)]
		}
		bs := blockSizes[r.intn(len(blockSizes))]
		h1 := randPart(r.intn(65), alpha)
		h2 := randPart(r.intn(33), alpha)
		sigs = append(sigs, fmt.Sprintf("%d:%s:%s", bs, clip(h1, 64), clip(h2, 32)))
		for v := 1; v < craftedFamilySize; v++ {
			b, p1, p2 := bs, edit(h1, alpha, 6), edit(h2, alpha, 4)
			switch r.intn(4) {
			case 0: // twice the block size: its first part continues our second
				if bs <= 1<<63-1 {
					b, p1, p2 = bs*2, edit(h2, alpha, 4), randPart(r.intn(33), alpha)
				}
			case 1: // half the block size: its second part is our first
				if bs%2 == 0 {
					b, p1, p2 = bs/2, randPart(r.intn(65), alpha), edit(h1, alpha, 4)
				}
			}
			sigs = append(sigs, fmt.Sprintf("%d:%s:%s", b, clip(p1, 64), clip(p2, 32)))
		}
	}
	return sigs
}

// craftedPairs pairs every signature with the others of its family and
// with the first of the next family.
func craftedPairs() [][2]int {
	n := len(craftedSignatures())
	var pairs [][2]int
	for i := 0; i < n; i++ {
		fam := i / craftedFamilySize * craftedFamilySize
		for j := i; j < fam+craftedFamilySize; j++ {
			pairs = append(pairs, [2]int{i, j})
		}
		if next := fam + craftedFamilySize; next < n {
			pairs = append(pairs, [2]int{i, next})
		}
	}
	return pairs
}
