package binfmt

import (
	"path/filepath"
	"strings"
	"testing"
)

// Oddities of the malformed suite (testdata/malformed) that loading
// handles without trouble must still be recorded, with what is odd and
// where. Overlapping instructions are the disassembler's to record.
func TestMalformedAnomalies(t *testing.T) {
	cases := []struct{ file, want string }{
		{"elf-dynamic-noterm", "dynamic array at file offset 0x2de0 (30 entries) has no DT_NULL terminator"},
		{"elf-dynamic-noterm", "DT_NEEDED names string table offset 0xfffffff0, past DT_STRSZ 0x8d"},
		{"elf-dynamic-self", "dynamic array at file offset 0x2de0: DT_STRTAB, DT_SYMTAB, DT_PLTGOT, DT_JMPREL, DT_RELA point into the dynamic array itself"},
		{"elf-dynsym-entsize-zero", ".dynsym (section header at file offset 0x32d0) has sh_entsize 0, not 24"},
		{"elf-dynsym-link-self", ".dynsym (section header at file offset 0x32d0) names itself as its string table"},
		{"elf-packed-text", `section ".text" (file offset 0x1050, 265 bytes) has byte entropy`},
		{"elf-phnum-ffff", "e_phnum is PN_XNUM (0xffff) but section 0's sh_info"},
		{"pe-export-forward-loop", `forwarded exports loop: "loop_a" -> "loop_b" -> "loop_a"`},
		{"pe-export-forward-loop", `export "self_c" is forwarded to itself`},
		{"pe-export-self", "export directory at RVA 0x8000 (file offset 0x2e00): Name, AddressOfFunctions, AddressOfNames, AddressOfNameOrdinals point into the directory's own header"},
		{"pe-import-self", "import descriptor 0 at RVA 0x8000 (file offset 0x2e00): OriginalFirstThunk, Name, FirstThunk point at the descriptor itself"},
		{"pe-numrva-max", "NumberOfRvaAndSizes is 0xffffffff (file offset 0x104)"},
		{"pe-packed-text", `section ".text" (file offset 0x400, 6056 bytes) has byte entropy 7.96 bits/byte: packed or encrypted?`},
		{"pe-pdata-garbage", "exception entry 0 at RVA 0x5000 (file offset 0x2800) has end 0x10 before begin 0xfffffff0 (and 44 more entries)"},
		{"pe-pdata-garbage", "exception entry 0 at RVA 0x5000 (file offset 0x2800) has its unwind information inside the exception directory"},
		{"pe-rawsize-max", `section ".text" (header at file offset 0x188) has SizeOfRawData 0xffffffff`},
		{"pe-section-over-headers", `section ".data" (header at file offset 0x1b0) has 0x3a00 bytes of raw data at file offset 0, over the headers`},
		{"pe-sections-4000-overlap-exec", `section ".x0000" raw data at file offset 0x27600 overlaps section ".text"`},
		{"pe-vsize-4g", `section ".text" (header at file offset 0x188) at RVA 0x1000 with VirtualSize 0xffffffff ends past 4 GB`},
	}
	for _, c := range cases {
		f, err := LoadFile(filepath.Join("..", "..", "testdata", "malformed", c.file+".bin"), Limits{})
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		found := false
		for _, a := range f.Anomalies {
			found = found || strings.HasPrefix(a, c.want)
		}
		if !found {
			t.Errorf("%s: anomalies %q lack %q", c.file, f.Anomalies, c.want)
		}
	}
}
