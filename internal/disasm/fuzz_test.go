package disasm

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/binfmt"
)

// fuzzFile builds a File around arbitrary bytes: the first byte picks the
// mode, the next bytes place hints (some with ends), the rest is code;
// .rdata repeats the code so table and import-slot lookups see data.
func fuzzFile(data []byte) *binfmt.File {
	im := img64
	if len(data) > 0 && data[0]&1 == 1 {
		im = img32
	}
	var hints []binfmt.FuncHint
	if len(data) > 1 {
		n := int(data[1] % 8)
		for i := 0; i < n && 2+2*i+1 < len(data); i++ {
			off := uint64(data[2+2*i])
			h := binfmt.FuncHint{Addr: im.text + off}
			if data[2+2*i+1]&1 == 1 {
				h.End = h.Addr + uint64(data[2+2*i+1])
			}
			hints = append(hints, h)
		}
		// Hints are sorted and unique in real files, but Analyze copes
		// with any order; keep them as given.
	}
	code := data[min(len(data), 2):]
	rdata := make([]byte, rdataSize)
	copy(rdata, code)
	// Pointers into code make data-pointer seeding and jump tables work.
	for i := 0; i+8 <= len(code) && i < 64; i += 8 {
		binary.LittleEndian.PutUint32(rdata[offJumpTable+i/2:], uint32(im.text+uint64(code[i])))
	}
	f := im.fileWith(code, im.text, rdata, hints...)
	f.Imports[0].Addrs = append(f.Imports[0].Addrs, im.text+8)
	return f
}

func FuzzAnalyze(f *testing.F) {
	for _, sn := range snippets() {
		file := sn.build()
		f.Add(append([]byte{byte(file.Bits / 32 % 2), 0}, file.Sections[0].Data...))
	}
	f.Add([]byte{0, 3, 0, 1, 5, 9, 7, 0, 0xeb, 0xfe, 0xe8, 0xfb, 0xff, 0xff, 0xff, 0xc3})
	f.Add([]byte{1, 0, 0xff, 0x24, 0x85, 0x00, 0x43, 0x40, 0x00, 0x0f, 0x0b})
	f.Fuzz(func(t *testing.T, data []byte) {
		file := fuzzFile(data)
		r, err := Analyze(file, Options{Workers: 2, MaxFuncInstrs: 5000})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range r.Anomalies {
			if strings.Contains(a, "internal error") {
				t.Fatalf("anomaly: %s", a)
			}
		}
		if r.Stats.CoveredBytes > r.Stats.CodeBytes {
			t.Fatalf("covered %d > code %d", r.Stats.CoveredBytes, r.Stats.CodeBytes)
		}
		var last uint64
		for i, fn := range r.Funcs {
			if i > 0 && fn.Addr <= last {
				t.Fatalf("functions not sorted or duplicated at %#x", fn.Addr)
			}
			last = fn.Addr
			if fn.Instrs == 0 || uint64(fn.Size) > r.Stats.CodeBytes || len(fn.Consts) > maxFuncConsts {
				t.Fatalf("bad function %+v", fn)
			}
		}
		if len(r.Funcs) > 0 {
			fn := r.Funcs[len(r.Funcs)/2]
			lines, err := r.Listing(file, fn.Addr)
			if err != nil || len(lines) != int(fn.Instrs) {
				t.Fatalf("listing %#x: %d lines for %d instructions (%v)", fn.Addr, len(lines), fn.Instrs, err)
			}
		}
	})
}
