package tlsh

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The test inputs are generated here rather than committed; only the
// digests the reference tool gave for them live in testdata.
// testdata/gen.sh runs `go test -args -write-inputs DIR` to get the very
// same bytes and feed them to the tool.
var writeInputs = flag.String("write-inputs", "", "write the generated test inputs and pair list to this directory and exit")

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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, in := range testInputs() {
		if err := os.WriteFile(filepath.Join(dir, in.name), in.data, 0o644); err != nil {
			return err
		}
	}
	var b strings.Builder
	for _, p := range testPairs() {
		fmt.Fprintf(&b, "%s\t%s\n", p[0], p[1])
	}
	return os.WriteFile(filepath.Join(dir, "pairs.list"), []byte(b.String()), 0o644)
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

// lowAlphabet draws n bytes uniformly from k random byte values, which
// populates only some TLSH buckets.
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

type testInput struct {
	name string
	data []byte
}

// lvalueSteps are lengths at which the length byte of the digest steps
// up (plus 3200, where the scale changes); inputs of these lengths and one
// less pin down the rounding used.
var lvalueSteps = []int{
	292, 438, 657, 855, 1111, 1444, 1877, 2440, 3172, 3200, 3476, 3824,
	4206, 4627, 5089, 5598, 6158, 6773, 7451, 8196, 9015, 9917, 10908,
	11999, 13199, 14519, 15971, 17568, 19324, 21257, 23383, 25721, 28293,
	31122, 34234, 37657, 41423, 45565, 50122, 55134, 60647, 66712, 73383,
	80722, 88794, 97673, 107440, 118184, 130003, 143003, 157303, 173033,
	190336, 209370, 230307, 253338, 278671, 306539, 337192, 370912, 408003,
	448803, 493683, 543051, 597357, 657092, 722801, 795082, 874590, 962049,
	1058253, 1164079, 1280487,
}

func testInputs() []testInput {
	var in []testInput
	add := func(name string, data []byte) { in = append(in, testInput{name, data}) }

	for _, n := range []int{0, 1, 4, 5, 50, 255, 256, 257, 300, 511, 512, 1000} {
		add(fmt.Sprintf("random_%07d", n), randomBytes(1, n))
	}
	for _, n := range []int{1 << 10, 4 << 10, 64 << 10, 1 << 20} {
		add(fmt.Sprintf("random_%07d", n), randomBytes(2, n))
	}
	long := randomBytes(3, lvalueSteps[len(lvalueSteps)-1])
	for _, n := range lvalueSteps {
		add(fmt.Sprintf("length_%07d", n-1), long[:n-1])
		add(fmt.Sprintf("length_%07d", n), long[:n])
	}
	for _, n := range []int{256, 1024, 65536} {
		add(fmt.Sprintf("zeros_%07d", n), make([]byte, n))
	}
	for _, p := range lowParams {
		add(fmt.Sprintf("alphabet_k%d_n%05d_s%d", p.k, p.n, p.seed), lowAlphabet(p.seed, p.k, p.n))
	}
	pattern := []byte("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz")
	for _, period := range []int{3, 8, 13, 29, 61} {
		b := make([]byte, 4096)
		for i := range b {
			b[i] = pattern[i%period]
		}
		add(fmt.Sprintf("period_%02d", period), b)
	}
	for _, n := range []int{256, 1 << 10, 10 << 10, 100 << 10} {
		add(fmt.Sprintf("text_%07d", n), text(4, n))
	}
	add("structured_0065536", structured(5, 65536))
	add("structured_0300000", structured(6, 300000))

	// Families of related inputs for the distance vectors.
	bases := []testInput{
		{"fam_random", randomBytes(7, 32<<10)},
		{"fam_text", text(8, 48<<10)},
		{"fam_struct", structured(9, 64<<10)},
	}
	for i, base := range bases {
		add(base.name, base.data)
		for j, kind := range mutations {
			add(base.name+"_"+kind, mutate(uint64(100*i+j), base.data, kind))
		}
	}
	return in
}

var mutations = []string{"flip", "insert", "delete", "truncate", "append", "shuffle"}

// lowParams were picked so that the number of populated buckets falls on
// both sides of the variance threshold (64 of 128 buckets).
var lowParams = []struct {
	seed uint64
	k, n int
}{
	{7, 2, 1000},   // 18 buckets populated
	{50, 3, 3000},  // 43
	{15, 3, 300},   // 57
	{22, 3, 1000},  // 62
	{113, 3, 3000}, // 63
	{57, 3, 300},   // 64
	{260, 3, 3000}, // 64
	{64, 3, 1000},  // 65
	{253, 3, 1000}, // 65
	{71, 3, 3000},  // 66
	{288, 3, 300},  // 67
	{5, 5, 2000},
	{6, 8, 5000},
}

// testPairs lists input pairs whose distance the vectors record: every pair
// within and across the families plus a few unrelated inputs.
func testPairs() [][2]string {
	names := []string{"random_0001024", "text_0010240", "structured_0065536", "period_61"}
	for _, base := range []string{"fam_random", "fam_text", "fam_struct"} {
		names = append(names, base)
		for _, kind := range mutations {
			names = append(names, base+"_"+kind)
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
