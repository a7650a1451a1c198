package tlsh

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzHash(f *testing.F) {
	f.Add([]byte{})
	f.Add(randomBytes(1, 300))
	f.Add(lowAlphabet(64, 3, 1000))
	f.Add(text(4, 2000))
	f.Fuzz(func(t *testing.T, data []byte) {
		h1, err1 := Hash(data)
		h2, err2 := Hash(data)
		if h1 != h2 || err1 != err2 {
			t.Fatalf("not deterministic: %q %v / %q %v", h1, err1, h2, err2)
		}
		// Streaming in two pieces must agree with hashing at once.
		d := New()
		cut := len(data) / 3
		d.Write(data[:cut])
		d.Write(data[cut:])
		if h3, err3 := d.Sum(); h3 != h1 || err3 != err1 {
			t.Fatalf("streaming %q %v, one-shot %q %v", h3, err3, h1, err1)
		}
		if h4, err4 := HashReader(bytes.NewReader(data)); h4 != h1 || err4 != err1 {
			t.Fatalf("HashReader %q %v, Hash %q %v", h4, err4, h1, err1)
		}
		if err1 != nil {
			return
		}
		if len(h1) != DigestLength || !Valid(h1) {
			t.Fatalf("malformed digest %q", h1)
		}
		if d, err := Diff(h1, WithVersion(h1)); d != 0 || err != nil {
			t.Fatalf("Diff with itself = %d, %v", d, err)
		}
	})
}

func FuzzDiff(f *testing.F) {
	a, _ := Hash(randomBytes(1, 1000))
	b, _ := Hash(text(4, 2000))
	f.Add(a, b)
	f.Add("T1"+a, strings.ToLower(b))
	f.Add("", "T1")
	f.Add(a[:DigestLength-1]+"Z", b)
	f.Fuzz(func(t *testing.T, a, b string) {
		d1, err1 := Diff(a, b)
		d2, err2 := Diff(b, a)
		if d1 != d2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("Diff not symmetric: %d %v / %d %v", d1, err1, d2, err2)
		}
		x, errx := DiffNoLength(a, b)
		if (err1 == nil) != (errx == nil) {
			t.Fatalf("Diff error %v, DiffNoLength error %v", err1, errx)
		}
		if err1 != nil {
			return
		}
		if d1 < 0 || x < 0 || x > d1 {
			t.Fatalf("Diff = %d, DiffNoLength = %d", d1, x)
		}
		if d, err := Diff(a, a); d != 0 || err != nil {
			t.Fatalf("Diff(a, a) = %d, %v", d, err)
		}
	})
}
