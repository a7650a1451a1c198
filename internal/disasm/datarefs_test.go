package disasm

import (
	"reflect"
	"slices"
	"testing"
)

// Data references are reported per function, sorted and distinct: lea
// [rip+x] and absolute immediates into data, never code addresses.
func TestDataRefs(t *testing.T) {
	for _, bits := range []int{64, 32} {
		im := img64
		if bits == 32 {
			im = img32
		}
		str, tab, data := im.rdata+offString, im.rdata+offTable, im.data+8
		a := newAsm(im.text)
		a.L("main")
		if bits == 64 {
			a.Rip(tab, 0x48, 0x8d, 0x15)         // lea rdx, [rip+table]
			a.Rip(str, 0x48, 0x8d, 0x0d)         // lea rcx, [rip+string]
			a.Rip(data, 0x4c, 0x8d, 0x05)        // lea r8, [rip+data]
			a.Rip(str, 0x48, 0x8d, 0x0d)         // lea rcx, [rip+string] again
			a.Rip(a.pc()+0x40, 0x48, 0x8d, 0x05) // lea rax, [rip+code]: not data
		} else {
			a.Abs(str, 0x68)                       // push string
			a.Abs(tab, 0xc7, 0x44, 0x24, 0x04)     // mov dword [esp+4], table
			a.Abs(data, 0xb9)                      // mov ecx, data
			a.Abs(im.text, 0x68)                   // push main: code, not data
			a.Abs(im.rdata+rdataSize+0x1000, 0x68) // push unloaded: nothing there
		}
		a.Call("leaf").B(0xc3)
		a.L("leaf").B(0x31, 0xc0, 0xc3)
		code := a.Code()
		f := im.file(code, a.Addr("main"))

		plain, err := Analyze(f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if plain.DataRefs != nil {
			t.Errorf("%d-bit: DataRefs without the option", bits)
		}
		r, err := Analyze(f, Options{DataRefs: true})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(plain.Funcs, r.Funcs) {
			t.Errorf("%d-bit: functions differ with DataRefs", bits)
		}
		if len(r.DataRefs) != len(r.Funcs) {
			t.Fatalf("%d-bit: %d lists for %d functions", bits, len(r.DataRefs), len(r.Funcs))
		}
		want := []uint64{tab, str, data}
		slices.Sort(want)
		for i, fn := range r.Funcs {
			switch fn.Addr {
			case a.Addr("main"):
				if !reflect.DeepEqual(r.DataRefs[i], want) {
					t.Errorf("%d-bit main: %#x, want %#x", bits, r.DataRefs[i], want)
				}
			default:
				if r.DataRefs[i] != nil {
					t.Errorf("%d-bit %#x: %#x, want none", bits, fn.Addr, r.DataRefs[i])
				}
			}
		}
	}
}

// The option changes nothing else: every snippet gives the same functions
// with and without it.
func TestDataRefsKeepSignatures(t *testing.T) {
	for _, sn := range snippets() {
		f := sn.build()
		a, err := Analyze(f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := Analyze(f, Options{DataRefs: true})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Funcs, b.Funcs) || !reflect.DeepEqual(a.Stats, b.Stats) || !reflect.DeepEqual(a.Anomalies, b.Anomalies) {
			t.Errorf("%s: result differs with DataRefs", sn.name)
		}
	}
}
