package ssdeep

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// readTSV returns the non-comment lines of a testdata file split on tabs.
func readTSV(t *testing.T, name string, fields int) [][]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows [][]string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		row := strings.Split(line, "\t")
		if len(row) != fields {
			t.Fatalf("%s: malformed line %q", name, line)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}

func inputsByName() map[string][]byte {
	m := map[string][]byte{}
	for _, in := range testInputs() {
		m[in.name] = in.data
	}
	return m
}

func TestVectors(t *testing.T) {
	inputs := inputsByName()
	rows := readTSV(t, "vectors.tsv", 2)
	if len(rows) != len(inputs) {
		t.Errorf("vectors.tsv has %d vectors for %d inputs; rerun testdata/gen.sh", len(rows), len(inputs))
	}
	for _, row := range rows {
		data, ok := inputs[row[0]]
		if !ok {
			t.Errorf("vectors.tsv names unknown input %s", row[0])
			continue
		}
		if got, err := Hash(data); got != row[1] || err != nil {
			t.Errorf("Hash(%s) = %s, %v; want %s", row[0], got, err, row[1])
		}
		if got, err := HashReader(bytes.NewReader(data)); got != row[1] || err != nil {
			t.Errorf("HashReader(%s) = %s, %v; want %s", row[0], got, err, row[1])
		}
		if c, err := Compare(row[1], row[1]); c != 100 || err != nil {
			t.Errorf("Compare(%s, itself) = %d, %v; want 100", row[1], c, err)
		}
	}
}

func TestPairs(t *testing.T) {
	inputs := inputsByName()
	rows := readTSV(t, "pairs.tsv", 3)
	if want := len(testPairs()); len(rows) != want {
		t.Errorf("pairs.tsv has %d pairs, want %d; rerun testdata/gen.sh", len(rows), want)
	}
	for _, row := range rows {
		a, _ := Hash(inputs[row[0]])
		b, _ := Hash(inputs[row[1]])
		checkCompare(t, a, b, row[2])
	}
}

func TestCraftedPairs(t *testing.T) {
	rows := readTSV(t, "crafted.tsv", 3)
	if want := len(craftedPairs()); len(rows) != want {
		t.Errorf("crafted.tsv has %d pairs, want %d; rerun testdata/gen.sh", len(rows), want)
	}
	for _, row := range rows {
		checkCompare(t, row[0], row[1], row[2])
	}
}

func checkCompare(t *testing.T, a, b, want string) {
	t.Helper()
	got, err := Compare(a, b)
	if err != nil || strconv.Itoa(got) != want {
		t.Errorf("Compare(%s, %s) = %d, %v; want %s", a, b, got, err, want)
	}
	if r, _ := Compare(b, a); r != got {
		t.Errorf("Compare(%s, %s) = %d, but %d the other way round", a, b, got, r)
	}
}

func TestStreamingMatchesOneShot(t *testing.T) {
	data := append(structured(42, 500_000), make([]byte, 9)...)
	want, err := Hash(data)
	if err != nil {
		t.Fatal(err)
	}
	r := rng(1)
	for trial := 0; trial < 20; trial++ {
		d := New()
		for rest := data; len(rest) > 0; {
			n := min(1+r.intn(trial*trial+1), len(rest))
			d.Write(rest[:n])
			rest = rest[n:]
		}
		if got, err := d.Sum(); got != want || err != nil {
			t.Fatalf("chunked signature = %s, %v; want %s", got, err, want)
		}
	}
	if got, _ := HashReader(iotest.OneByteReader(bytes.NewReader(data))); got != want {
		t.Fatalf("HashReader one byte at a time = %s, want %s", got, want)
	}

	// Sum does not disturb the state, and the zero Digest is usable.
	var d Digest
	if got, _ := d.Sum(); got != "3::" {
		t.Fatalf("empty signature = %q, want 3::", got)
	}
	d.Write(data[:1000])
	if _, err := d.Sum(); err != nil {
		t.Fatal(err)
	}
	d.Write(data[1000:])
	if got, _ := d.Sum(); got != want {
		t.Fatalf("signature after intermediate Sum = %s, want %s", got, want)
	}
	if d.Len() != uint64(len(data)) {
		t.Fatalf("Len = %d, want %d", d.Len(), len(data))
	}
	d.Reset()
	if got, _ := d.Sum(); got != "3::" || d.Len() != 0 {
		t.Fatalf("after Reset: %q, Len %d", got, d.Len())
	}
}

// TestMatchesModel checks the optimised Digest against the plain
// statement of the algorithm on inputs of every kind, written in pieces.
func TestMatchesModel(t *testing.T) {
	r := rng(99)
	for i := 0; i < 300; i++ {
		s := r.next()
		n := []int{10, 300, 3000, 30_000, 300_000}[i%5] + r.intn(1000)
		var data []byte
		switch i % 7 {
		case 0:
			data = randomBytes(s, n)
		case 1:
			data = append(randomBytes(s, n), make([]byte, r.intn(10))...)
		case 2:
			data = lowAlphabet(s, 1+r.intn(6), n)
		case 3:
			data = text(s, n)
		case 4:
			data = structured(s, n+100)
		case 5:
			data = withCascades(s, n, 1+r.intn(20))
		case 6:
			data = bytes.Repeat(randomBytes(s, 1+r.intn(200)), 1+n/100)
		}
		d, m := New(), newModel()
		for rest := data; len(rest) > 0; {
			k := min(1+r.intn(5000), len(rest))
			d.Write(rest[:k])
			m.Write(rest[:k])
			rest = rest[k:]
		}
		got, err1 := d.Sum()
		want, err2 := m.Sum()
		if got != want || err1 != nil || err2 != nil {
			t.Fatalf("input %d (%d bytes): Digest %s %v, model %s %v", i, len(data), got, err1, want, err2)
		}
	}
}

func TestHashReaderError(t *testing.T) {
	boom := errors.New("boom")
	if _, err := HashReader(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("HashReader error = %v, want %v", err, boom)
	}
}

func TestCompareForms(t *testing.T) {
	a, _ := Hash(text(1, 20000))
	b, _ := Hash(mutate(2, text(1, 20000), "flip"))
	want, err := Compare(a, b)
	if err != nil {
		t.Fatal(err)
	}
	// ssdeep's CSV and signature-file lines carry a file name.
	if got, err := Compare(a+`,"/tmp/x"`, b+",y"); got != want || err != nil {
		t.Errorf("Compare with file names = %d, %v; want %d", got, err, want)
	}
	for _, bad := range []string{
		"", "3", "3:", "3:abc", ":abc:def", "x:abc:def", "-3:abc:def", " 3:abc:def",
		"3:ab c:def", "3:abc:de:f", "99999999999999999999999:a:b", "18446744073709551616:A:B",
		"3:" + strings.Repeat("A", 65) + ":B",
		"3:A:" + strings.Repeat("B", 65),
	} {
		if _, err := Compare(a, bad); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("Compare(a, %q) error = %v, want ErrInvalidDigest", bad, err)
		}
		if Valid(bad) {
			t.Errorf("Valid(%q) = true", bad)
		}
	}
	if !Valid(a) || !Valid("3::") {
		t.Errorf("Valid rejects %q or 3::", a)
	}
}

// referenceTool returns the path of the ssdeep tool. Without it the live
// comparison is skipped, except in CI, where a missing tool is a failure.
func referenceTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("ssdeep"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("ssdeep not on PATH (apt-get install -y ssdeep); required when CI=true")
	}
	t.Skip("ssdeep not on PATH; install it to compare against it")
	return ""
}

// TestReferenceTool compares against the installed tool on inputs that
// change every run, to catch cases the fixed vectors miss.
func TestReferenceTool(t *testing.T) {
	tool := referenceTool(t)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rng(seed)
	dir := t.TempDir()
	var names []string
	for i := 0; i < 30; i++ {
		s := r.next()
		var data []byte
		switch i % 6 {
		case 0:
			data = randomBytes(s, r.intn(2000))
		case 1:
			data = append(randomBytes(s, r.intn(400_000)), make([]byte, r.intn(12))...)
		case 2:
			if r.intn(2) == 0 {
				data = lowAlphabet(s, 1+r.intn(5), r.intn(40_000))
			} else {
				data = withCascades(s, 7+r.intn(300_000), 1+r.intn(8))
			}
		case 3:
			data = text(s, r.intn(100_000))
		case 4, 5:
			// Pairs of related inputs, so scores are not all zero.
			if len(names)%2 == 0 {
				data = structured(s, 2000+r.intn(100_000))
			} else {
				prev, _ := os.ReadFile(filepath.Join(dir, names[len(names)-1]))
				data = mutate(s, prev, mutations[r.intn(len(mutations))])
			}
		}
		name := fmt.Sprintf("in%02d", i)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	cmd := exec.Command(tool, append([]string{"-s", "-b", "-c", "--"}, names...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ssdeep: %v", err)
	}
	sigFile := filepath.Join(dir, "sigs")
	if err := os.WriteFile(sigFile, out, 0o644); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n")[1:] {
		sig, name, _ := strings.Cut(line, ",")
		want[strings.Trim(name, `"`)] = sig
	}
	for _, name := range names {
		data, _ := os.ReadFile(filepath.Join(dir, name))
		if got, _ := Hash(data); got != want[name] {
			t.Errorf("seed %d, %s (%d bytes): Hash = %s, ssdeep = %s", seed, name, len(data), got, want[name])
		}
	}
	out, err = exec.Command(tool, "-a", "-k", sigFile, sigFile).Output()
	if err != nil {
		t.Fatalf("ssdeep -a -k: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(string(out), "\n") {
		// sigs:inNN matches sigs:inMM (score)
		f := strings.Fields(line)
		if len(f) != 4 || f[1] != "matches" {
			continue
		}
		a := f[0][strings.LastIndexByte(f[0], ':')+1:]
		b := f[2][strings.LastIndexByte(f[2], ':')+1:]
		score, err := strconv.Atoi(strings.Trim(f[3], "()"))
		if err != nil {
			t.Fatalf("unexpected ssdeep line %q", line)
		}
		if got, _ := Compare(want[a], want[b]); got != score {
			t.Errorf("Compare(%s, %s) = %d, ssdeep = %d", want[a], want[b], got, score)
		}
		checked++
	}
	if checked != len(names)*len(names) {
		t.Errorf("ssdeep reported %d comparisons, want %d", checked, len(names)*len(names))
	}
}

func BenchmarkHash(b *testing.B) {
	data := randomBytes(1, 10<<20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		if _, err := Hash(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHashCorpus hashes real files: those KINSHIP_CORPUS names
// (files or directories, space-separated), up to about 16 MB in all, each
// on its own as ingestion does.
func BenchmarkHashCorpus(b *testing.B) {
	spec := os.Getenv("KINSHIP_CORPUS")
	if spec == "" {
		b.Skip("KINSHIP_CORPUS not set")
	}
	var files [][]byte
	total := 0
	for _, root := range strings.Fields(spec) {
		filepath.WalkDir(root, func(path string, e os.DirEntry, err error) error {
			if err != nil || !e.Type().IsRegular() || total >= 16<<20 {
				return nil
			}
			data, err := os.ReadFile(path)
			if err == nil && len(data) > 0 {
				files = append(files, data)
				total += len(data)
			}
			return nil
		})
	}
	if total == 0 {
		b.Skip("no files in KINSHIP_CORPUS")
	}
	b.SetBytes(int64(total))
	for b.Loop() {
		for _, data := range files {
			if _, err := Hash(data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkCompare(b *testing.B) {
	x, _ := Hash(text(1, 100_000))
	y, _ := Hash(mutate(2, text(1, 100_000), "insert"))
	for b.Loop() {
		Compare(x, y)
	}
}

// TestEditDistance checks the bit-parallel edit distance and the
// common-substring test against plain definitions, on strings from small
// alphabets so that matches are common.
func TestEditDistance(t *testing.T) {
	r := rng(7)
	for i := 0; i < 20000; i++ {
		alpha := b64[:1+r.intn(4)]
		if i%4 == 0 {
			alpha = b64
		}
		s := func() []byte {
			b := make([]byte, r.intn(spamSumLength+1))
			for j := range b {
				b[j] = alpha[r.intn(len(alpha))]
			}
			return b
		}
		a, b := s(), s()
		if got, want := editDistance(a, b), modelEditDistance(a, b); got != want {
			t.Fatalf("editDistance(%s, %s) = %d, want %d", a, b, got, want)
		}
		want := false
		for x := 0; x+rollingWindow <= len(a) && !want; x++ {
			want = bytes.Contains(b, a[x:x+rollingWindow])
		}
		if got := hasCommonSubstring(a, b); got != want {
			t.Fatalf("hasCommonSubstring(%s, %s) = %v, want %v", a, b, got, want)
		}
	}
}
