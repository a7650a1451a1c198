package binfmt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad checks that no input makes Load panic or break its promises.
// The seeds are whole binaries, so minimising a new input at the default
// 60s per attempt stalls the run; use e.g.
//
//	go test -run '^$' -fuzz FuzzLoad -fuzztime 2m -fuzzminimizetime 50x
func FuzzLoad(f *testing.F) {
	for _, fx := range fixtures {
		data, err := os.ReadFile(filepath.Join("testdata", fx.name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lim := Limits{MaxSections: 64, MaxImports: 1000, MaxExports: 1000, MaxSymbols: 10000, MaxFuncHints: 10000}
		file, err := Load(bytes.NewReader(data), int64(len(data)), lim)
		if (file == nil) == (err == nil) {
			t.Fatalf("file %v, error %v", file != nil, err)
		}
		// A file in memory loads to the same, without copying it.
		if f2, err2 := LoadBytes(data, lim); !reflect.DeepEqual(file, f2) || fmt.Sprint(err) != fmt.Sprint(err2) {
			t.Fatalf("LoadBytes differs from Load: error %v, %v", err, err2)
		}
		if file == nil {
			return
		}
		for i, h := range file.Hints {
			if !file.IsExec(h.Addr) {
				t.Fatalf("hint 0x%x outside code", h.Addr)
			}
			if i > 0 && file.Hints[i-1].Addr >= h.Addr {
				t.Fatalf("hints unsorted at 0x%x", h.Addr)
			}
		}
		if len(file.Imports) > lim.MaxImports || len(file.Hints) > lim.MaxFuncHints || len(file.Symbols) > lim.MaxSymbols {
			t.Fatalf("limits exceeded")
		}
		if len(file.Anomalies) > maxAnomalies+1 {
			t.Fatalf("%d anomalies", len(file.Anomalies))
		}
		for _, s := range file.Sections {
			if uint64(len(s.Data)) > s.VSize && s.VSize != 0 {
				t.Fatalf("section %q has more data than size", s.Name)
			}
		}
		Imphash(file)
	})
}
