package tlsh

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

// outcome renders a Hash result the way vectors.tsv records it.
func outcome(h string, err error) string {
	switch {
	case err == nil:
		return h
	case errors.Is(err, ErrTooShort):
		return "too-short"
	case errors.Is(err, ErrTooLittleVariance):
		return "too-little-variance"
	}
	return "error: " + err.Error()
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
		if got := outcome(Hash(data)); got != row[1] {
			t.Errorf("Hash(%s) = %s, want %s", row[0], got, row[1])
		}
		if got := outcome(HashReader(bytes.NewReader(data))); got != row[1] {
			t.Errorf("HashReader(%s) = %s, want %s", row[0], got, row[1])
		}
	}
}

func TestPairs(t *testing.T) {
	inputs := inputsByName()
	rows := readTSV(t, "pairs.tsv", 4)
	if want := len(testPairs()); len(rows) != want {
		t.Errorf("pairs.tsv has %d pairs, want %d; rerun testdata/gen.sh", len(rows), want)
	}
	digest := func(name string) string {
		h, err := Hash(inputs[name])
		if err != nil {
			t.Fatalf("Hash(%s): %v", name, err)
		}
		return h
	}
	for _, row := range rows {
		a, b := digest(row[0]), digest(row[1])
		d, err := Diff(a, b)
		if err != nil || strconv.Itoa(d) != row[2] {
			t.Errorf("Diff(%s, %s) = %d, %v; want %s", row[0], row[1], d, err, row[2])
		}
		x, err := DiffNoLength(a, b)
		if err != nil || strconv.Itoa(x) != row[3] {
			t.Errorf("DiffNoLength(%s, %s) = %d, %v; want %s", row[0], row[1], x, err, row[3])
		}
		if r, _ := Diff(b, a); r != d {
			t.Errorf("Diff(%s, %s) = %d, but %d the other way round", row[0], row[1], d, r)
		}
	}
}

func TestStreamingMatchesOneShot(t *testing.T) {
	data := structured(42, 200_000)
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
			t.Fatalf("chunked digest = %s, %v; want %s", got, err, want)
		}
	}
	if got, _ := HashReader(iotest.OneByteReader(bytes.NewReader(data))); got != want {
		t.Fatalf("HashReader one byte at a time = %s, want %s", got, want)
	}

	// Sum does not disturb the state.
	d := New()
	d.Write(data[:1000])
	if _, err := d.Sum(); err != nil {
		t.Fatal(err)
	}
	d.Write(data[1000:])
	if got, _ := d.Sum(); got != want {
		t.Fatalf("digest after intermediate Sum = %s, want %s", got, want)
	}
	d.Reset()
	if _, err := d.Sum(); !errors.Is(err, ErrTooShort) {
		t.Fatalf("Sum after Reset: %v, want ErrTooShort", err)
	}
	if d.Len() != 0 {
		t.Fatalf("Len after Reset = %d", d.Len())
	}
}

func TestHashReaderError(t *testing.T) {
	boom := errors.New("boom")
	if _, err := HashReader(iotest.ErrReader(boom)); !errors.Is(err, boom) {
		t.Fatalf("HashReader error = %v, want %v", err, boom)
	}
}

func TestDigestForms(t *testing.T) {
	h, err := Hash(randomBytes(9, 5000))
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != DigestLength || !Valid(h) {
		t.Fatalf("digest %q: length %d, valid %v", h, len(h), Valid(h))
	}
	parsed, err := parse(h)
	if err != nil || parsed.String() != h {
		t.Fatalf("parse/String round trip: %q -> %q, %v", h, parsed.String(), err)
	}
	v := WithVersion(h)
	if v != "T1"+h || WithVersion(v) != v {
		t.Fatalf("WithVersion(%q) = %q", h, v)
	}
	for _, other := range []string{v, strings.ToLower(h), strings.ToLower(v)} {
		if d, err := Diff(h, other); d != 0 || err != nil {
			t.Errorf("Diff(%q, %q) = %d, %v; want 0", h, other, d, err)
		}
	}
}

func TestDiffInvalid(t *testing.T) {
	good, _ := Hash(randomBytes(9, 5000))
	for _, bad := range []string{
		"", "T1", good[:DigestLength-1], good + "0", "T2" + good, "T1" + good[2:],
		strings.Replace(good, good[:1], "G", 1), "  " + good[2:],
	} {
		if _, err := Diff(good, bad); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("Diff(good, %q) error = %v, want ErrInvalidDigest", bad, err)
		}
		if _, err := DiffNoLength(bad, good); !errors.Is(err, ErrInvalidDigest) {
			t.Errorf("DiffNoLength(%q, good) error = %v, want ErrInvalidDigest", bad, err)
		}
	}
}

// referenceTool returns the path of the tlsh tool. Without it the live
// comparison is skipped, except in CI, where a missing tool is a failure.
func referenceTool(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"tlsh", "tlsh_unittest"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("tlsh not on PATH (apt-get install -y tlsh-tools); required when CI=true")
	}
	t.Skip("tlsh not on PATH; install tlsh-tools to compare against it")
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
	for i := 0; i < 24; i++ {
		s := r.next()
		var data []byte
		switch i % 6 {
		case 0:
			data = randomBytes(s, 200+r.intn(600))
		case 1:
			data = randomBytes(s, r.intn(300_000))
		case 2:
			data = lowAlphabet(s, 2+r.intn(5), 256+r.intn(4000))
		case 3:
			data = text(s, 256+r.intn(50_000))
		case 4:
			data = structured(s, 1000+r.intn(100_000))
		case 5:
			base := structured(s, 5000+r.intn(50_000))
			data = mutate(s, base, mutations[r.intn(len(mutations))])
		}
		name := fmt.Sprintf("in%02d", i)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	digests := map[string]string{}
	for _, name := range names {
		path := filepath.Join(dir, name)
		data, _ := os.ReadFile(path)
		got := outcome(Hash(data))
		var stderr bytes.Buffer
		cmd := exec.Command(tool, "-f", path)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s -f %s: %v: %s", tool, path, err, stderr.String())
		}
		want, _, _ := strings.Cut(string(out), "\t")
		switch {
		case want != "":
			digests[name] = want
		case strings.Contains(stderr.String(), "too small"):
			want = "too-short"
		case strings.Contains(stderr.String(), "cannot hash"):
			want = "too-little-variance"
		default:
			t.Fatalf("unexpected tlsh output for %s: %q %q", name, out, stderr.String())
		}
		if got != want {
			t.Errorf("seed %d, %s (%d bytes): Hash = %s, tlsh = %s", seed, name, len(data), got, want)
		}
	}
	for i := 0; i+1 < len(names); i += 2 {
		a, b := digests[names[i]], digests[names[i+1]]
		if a == "" || b == "" {
			continue
		}
		out, err := exec.Command(tool, "-c", a, "-d", b).Output()
		if err != nil {
			t.Fatalf("tlsh -c -d: %v", err)
		}
		want, err := strconv.Atoi(strings.Fields(string(out) + " x")[0])
		if err != nil {
			t.Fatalf("tlsh -c %s -d %s printed %q", a, b, out)
		}
		if got, _ := Diff(a, b); got != want {
			t.Errorf("Diff(%s, %s) = %d, tlsh = %d", a, b, got, want)
		}
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

// BenchmarkHashFile hashes the file KINSHIP_CORPUS names, e.g. a PE file of
// about 10 MB from the corpus: real executables hit the buckets less
// uniformly than random bytes do.
func BenchmarkHashFile(b *testing.B) {
	path := os.Getenv("KINSHIP_CORPUS")
	if path == "" {
		b.Skip("KINSHIP_CORPUS not set")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Hash(data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDiff(b *testing.B) {
	x, _ := Hash(randomBytes(1, 10000))
	y, _ := Hash(randomBytes(2, 10000))
	for b.Loop() {
		Diff(x, y)
	}
}
