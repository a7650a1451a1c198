package exchange_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"testing"

	"github.com/kinship-dev/kinship/internal/store/exchange"
)

// FuzzRead feeds arbitrary JSON Lines, gzipped as an exchange file is, to
// the reader a partner's file goes through before anything is stored. The
// seeds are the committed fixtures of every format version.
func FuzzRead(f *testing.F) {
	for _, p := range []string{"testdata/v1.jsonl.gz", "testdata/v2.jsonl.gz"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			f.Fatal(err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(plain)
	}
	f.Add([]byte(`{"format":"kinship-exchange","version":2,"sig_version":2,"samples":1}` + "\n{}\n"))
	f.Fuzz(func(t *testing.T, plain []byte) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(plain)
		zw.Close()
		r, err := exchange.NewReader(&buf)
		if err != nil {
			return
		}
		for i := 0; i < 1000; i++ {
			sf, err := r.Next()
			if err != nil {
				return
			}
			if len(sf.Functions) != sf.Sample.Stats.Functions {
				t.Fatalf("sample %s: %d functions, stats say %d", sf.Sample.SHA256, len(sf.Functions), sf.Sample.Stats.Functions)
			}
		}
	})
}
