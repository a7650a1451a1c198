package srcpath

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/model"
)

func FuzzClassify(f *testing.F) {
	for _, s := range []string{
		`/rustc/eeb90cda1969383f56a2637cbd3037bdf598841c\library\core\src\str\pattern.rs`,
		`C:\Users\runneradmin\.cargo\registry\src\index.crates.io-6f17d22bba15001f\serde_json-1.0.108\src\de.rs`,
		`/home/x/.cargo/git/checkouts/libsql-311658aa09b9a39f/6a0b2f4/libsql-sys/src/lib.rs`,
		`src/lib.rs`, `library/std/src/io/mod.rs`, `/rust/deps/hashbrown-0.14.5/src/raw/mod.rs`,
		`node_modules/@img/x/include/a.h`, `vcpkg/installed/x64/include/z/z.h`, `external/a__b-1.0.0/x.rs`,
		`C:\Program Files\Microsoft Visual Studio\2022\VC\Tools\MSVC\14.3\include\xstring`,
		`/`, ``, `a`, `registry/src/x-0123456789abcdef/`, `git/checkouts/a-0123456789abcdef/r/x.rs`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		o, crate := Classify(path)
		if o > model.OriginRuntime {
			t.Fatalf("origin %d", o)
		}
		if (o == model.OriginUnknown || o == model.OriginOwn) && crate != "" {
			t.Fatalf("%v with crate %q", o, crate)
		}
		// Windows and Unix separators say the same.
		o2, crate2 := Classify(strings.ReplaceAll(path, "/", `\`))
		if o2 != o || crate2 != crate {
			t.Fatalf("%q: %v %q with backslashes, %v %q with slashes", path, o2, crate2, o, crate)
		}
	})
}

// FuzzScan feeds arbitrary bytes as read-only data and arbitrary
// references into it.
func FuzzScan(f *testing.F) {
	im := newImage(64)
	im.location("src/lib.rs", 1, 2)
	im.str("/usr/include/c++/12/vector\x00")
	f.Add(im.data, uint16(16), uint16(0), uint16(40))
	f.Fuzz(func(t *testing.T, data []byte, a, b, c uint16) {
		const base = 0x10000
		file := &binfmt.File{
			Format: model.FormatELF, Arch: model.ArchAMD64, Bits: 64,
			Sections: []binfmt.Section{
				{Name: ".rodata", Addr: base, VSize: uint64(len(data)), Data: data},
				{Name: ".rela.dyn", Addr: base, VSize: uint64(len(data)), Data: data},
			},
		}
		refs := [][]uint64{{base + uint64(a), base + uint64(b), base + uint64(c)}, {base + uint64(a)}}
		if len(data) >= 8 {
			refs = append(refs, []uint64{binary.LittleEndian.Uint64(data)})
		}
		r := Scan(file, refs)
		if len(r.Origins) != len(refs) || len(r.Crates) != len(refs) {
			t.Fatal("result not parallel to refs")
		}
	})
}
