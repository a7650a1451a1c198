package ssdeep

import (
	"bytes"
	"strings"
	"testing"
)

func FuzzHash(f *testing.F) {
	f.Add([]byte{})
	f.Add(randomBytes(1, 300))
	f.Add(append(randomBytes(2, 5000), make([]byte, 8)...))
	f.Add(lowAlphabet(3, 2, 3000))
	f.Add(text(4, 2000))
	f.Add(withCascades(5, 1000, 3))
	f.Fuzz(func(t *testing.T, data []byte) {
		h1, err1 := Hash(data)
		h2, err2 := Hash(data)
		if h1 != h2 || err1 != err2 {
			t.Fatalf("not deterministic: %q %v / %q %v", h1, err1, h2, err2)
		}
		if err1 != nil {
			t.Fatalf("Hash: %v", err1)
		}
		// Streaming in pieces must agree with hashing at once.
		d := New()
		cut := len(data) / 3
		d.Write(data[:cut])
		d.Write(data[cut:])
		if h3, _ := d.Sum(); h3 != h1 {
			t.Fatalf("streaming %q, one-shot %q", h3, h1)
		}
		if h4, _ := HashReader(bytes.NewReader(data)); h4 != h1 {
			t.Fatalf("HashReader %q, Hash %q", h4, h1)
		}
		m := newModel()
		m.Write(data)
		if want, _ := m.Sum(); h1 != want {
			t.Fatalf("Hash %q, model %q", h1, want)
		}
		if !Valid(h1) {
			t.Fatalf("Hash gave invalid signature %q", h1)
		}
		if s, err := Compare(h1, h1); s != 100 || err != nil {
			t.Fatalf("Compare with itself = %d, %v", s, err)
		}
	})
}

func FuzzCompare(f *testing.F) {
	a, _ := Hash(text(1, 20000))
	b, _ := Hash(mutate(2, text(1, 20000), "insert"))
	f.Add(a, b)
	f.Add(a+`,"name"`, strings.ToLower(b))
	f.Add("3::", "6::")
	f.Add("18446744073709551614:AAAAAAAAAA:BBBB", "9223372036854775807:CCCC:AAAAAAAAAAAAAA")
	f.Add("", ":")
	f.Fuzz(func(t *testing.T, a, b string) {
		s1, err1 := Compare(a, b)
		s2, err2 := Compare(b, a)
		if s1 != s2 || (err1 == nil) != (err2 == nil) {
			t.Fatalf("Compare not symmetric: %d %v / %d %v", s1, err1, s2, err2)
		}
		if err1 != nil {
			if s1 != 0 {
				t.Fatalf("Compare failed with score %d", s1)
			}
			return
		}
		if s1 < 0 || s1 > 100 {
			t.Fatalf("score %d out of range", s1)
		}
		if s, err := Compare(a, a); s != 100 || err != nil {
			t.Fatalf("Compare(a, a) = %d, %v", s, err)
		}
	})
}
