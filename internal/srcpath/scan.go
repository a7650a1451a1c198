package srcpath

import (
	"encoding/binary"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/model"
)

// Result is what the source paths of one binary say about its functions.
type Result struct {
	// Origins and Crates are parallel to the refs given to Scan: each
	// function's origin (OriginUnknown when no path it references says
	// anything) and, for library, std and runtime code, the crate or
	// library named by its paths ("" when none is).
	Origins []model.Origin
	Crates  []string
	// Language is "rust", "c" or "c++" when the paths make it clear,
	// else "".
	Language string
	// Paths are the distinct source paths recognised, in the order first
	// met.
	Paths []Path
}

// Path is one source path found in the binary.
type Path struct {
	Path   string
	Origin model.Origin
	Crate  string
	Funcs  int // functions referencing it
}

var precedence = [...]model.Origin{model.OriginOwn, model.OriginLibrary, model.OriginStd, model.OriginRuntime}

// Vote decides a function's origin from the origins of the paths it
// references: any own path makes it own (generic library code
// instantiated with the program's closures is compiled as part of the
// program; library code never inlines the program's), else any library
// path makes it library (library code inlines standard library code, not
// the reverse), else std, else runtime. Scan leaves C and C++ headers
// out of the vote: their code is inlined into the program's own
// functions as much as into the library's.
func Vote(o []model.Origin) model.Origin {
	var seen [5]bool
	for _, x := range o {
		if int(x) < len(seen) {
			seen[x] = true
		}
	}
	for _, x := range precedence {
		if seen[x] {
			return x
		}
	}
	return model.OriginUnknown
}

// Scan reads, for every function, the data its refs point at (refs[i]
// holds the data addresses function i takes, as disasm.Result.DataRefs)
// and classifies the source paths found there: Rust panic Location
// records ({ptr, len, line, column}, pointing at a path string of that
// length) and NUL-terminated path strings, narrow or UTF-16 (C
// assertions). Reads are bounded: a record is a few words, a string at
// most maxPath bytes.
func Scan(f *binfmt.File, refs [][]uint64) *Result {
	s := newScanner(f)
	res := &Result{Origins: make([]model.Origin, len(refs)), Crates: make([]string, len(refs))}
	var votes []model.Origin
	var crates []string
	for i, rs := range refs {
		votes, crates = votes[:0], crates[:0]
		for _, t := range rs {
			k := s.lookup(t)
			if k < 0 {
				continue
			}
			if s.lastFn[k] != i+1 {
				s.lastFn[k] = i + 1
				s.funcs[k]++
			}
			if c := &s.classes[k]; c.origin != model.OriginUnknown && !c.header {
				votes = append(votes, c.origin)
			}
		}
		o := Vote(votes)
		res.Origins[i] = o
		if o == model.OriginUnknown || o == model.OriginOwn {
			continue
		}
		for _, t := range rs {
			if k := s.lookup(t); k >= 0 && s.classes[k].origin == o && !s.classes[k].header && s.classes[k].crate != "" {
				crates = append(crates, s.classes[k].crate)
			}
		}
		res.Crates[i] = mostCommon(crates)
	}
	res.Paths = make([]Path, len(s.paths))
	for k, p := range s.paths {
		res.Paths[k] = Path{Path: p, Origin: s.classes[k].origin, Crate: s.classes[k].crate, Funcs: s.funcs[k]}
	}
	res.Language = language(s.classes)
	return res
}

// Apply sets the origin of each function still OriginUnknown to what the
// paths say; fns must be the functions refs described. It returns how
// many functions changed.
func (r *Result) Apply(fns []model.Function) int {
	n := 0
	for i := range fns {
		if i < len(r.Origins) && fns[i].Origin == model.OriginUnknown && r.Origins[i] != model.OriginUnknown {
			fns[i].Origin = r.Origins[i]
			n++
		}
	}
	return n
}

// mostCommon returns the most frequent string, the least one on ties.
func mostCommon(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	slices.Sort(xs)
	best, bestN := "", 0
	for i := 0; i < len(xs); {
		j := i
		for j < len(xs) && xs[j] == xs[i] {
			j++
		}
		if j-i > bestN {
			best, bestN = xs[i], j-i
		}
		i = j
	}
	return best
}

// language names the binary's language from its distinct paths: Rust
// when Rust paths are at least as many as C and C++ ones (a Rust program
// links C libraries; the reverse is rare), else C++ when any C++ source
// or C++ standard header is named, else C when at least two C sources
// are. The C runtime's own paths say nothing about the program.
func language(cs []class) string {
	var rs, c, cxx int
	for _, x := range cs {
		if x.origin == model.OriginRuntime {
			continue
		}
		switch x.lang {
		case langRust:
			rs++
		case langC:
			c++
		case langCXX:
			cxx++
		}
	}
	switch {
	case rs > 0 && rs >= c+cxx:
		return "rust"
	case cxx > 0 && cxx+c >= 2:
		return "c++"
	case c >= 2:
		return "c"
	}
	return ""
}

// scanner resolves data addresses to paths, once per address.
type scanner struct {
	f       *binfmt.File
	ptr     int // pointer size
	secs    []*binfmt.Section
	memo    map[uint64]int32 // address -> index in classes, -1 none
	byPath  map[string]int32
	paths   []string
	classes []class
	funcs   []int // functions referencing each path
	lastFn  []int // 1+last function counted for each path

	relocs     []reloc // ELF RELA R_*_RELATIVE, sorted by place
	relocsRead bool
}

type reloc struct{ place, value uint64 }

func newScanner(f *binfmt.File) *scanner {
	s := &scanner{f: f, ptr: 8, memo: map[uint64]int32{}, byPath: map[string]int32{}}
	if f.Bits == 32 {
		s.ptr = 4
	}
	for i := range f.Sections {
		if sec := &f.Sections[i]; len(sec.Data) > 0 && sec.Addr+uint64(len(sec.Data)) > sec.Addr {
			s.secs = append(s.secs, sec)
		}
	}
	slices.SortStableFunc(s.secs, func(a, b *binfmt.Section) int {
		switch {
		case a.Addr < b.Addr:
			return -1
		case a.Addr > b.Addr:
			return 1
		}
		return 0
	})
	return s
}

// bytesAt returns the loaded bytes from va to the end of its section.
func (s *scanner) bytesAt(va uint64) []byte {
	i := sort.Search(len(s.secs), func(i int) bool { return s.secs[i].Addr > va }) - 1
	// Overlapping sections in a hostile file: look back a little.
	for j := i; j >= 0 && j > i-4; j-- {
		sec := s.secs[j]
		if va >= sec.Addr && va-sec.Addr < uint64(len(sec.Data)) {
			return sec.Data[va-sec.Addr:]
		}
	}
	return nil
}

// lookup returns the index of the path at address t, or -1.
func (s *scanner) lookup(t uint64) int32 {
	if k, ok := s.memo[t]; ok {
		return k
	}
	k := int32(-1)
	if p, ok := s.pathAt(t); ok {
		c := classify(p)
		if c.lang != langNone {
			var seen bool
			if k, seen = s.byPath[p]; !seen {
				k = int32(len(s.paths))
				s.byPath[p] = k
				s.paths = append(s.paths, p)
				s.classes = append(s.classes, c)
				s.funcs = append(s.funcs, 0)
				s.lastFn = append(s.lastFn, 0)
			}
		}
	}
	s.memo[t] = k
	return k
}

// pathAt reads a source path at t: a Location record or a NUL-terminated
// string.
func (s *scanner) pathAt(t uint64) (string, bool) {
	b := s.bytesAt(t)
	if b == nil {
		return "", false
	}
	if p, ok := s.location(t, b); ok {
		return p, true
	}
	// Rust never ends its strings with NUL, so a NUL-terminated ".rs"
	// string is another string running into a path and the padding
	// after it ("AccessErrorlibrary\std\src\thread\local.rs\0").
	if p, ok := cString(b); ok && fileLang(p) != langRust {
		return p, true
	}
	return "", false
}

// location recognises a Rust panic Location at t: a pointer to the path,
// its length, a line and a column, both counted from 1.
func (s *scanner) location(t uint64, b []byte) (string, bool) {
	if t%uint64(s.ptr) != 0 || len(b) < 2*s.ptr+8 {
		return "", false
	}
	var ptr, n uint64
	if s.ptr == 8 {
		ptr, n = binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[8:])
	} else {
		ptr, n = uint64(binary.LittleEndian.Uint32(b)), uint64(binary.LittleEndian.Uint32(b[4:]))
	}
	line := binary.LittleEndian.Uint32(b[2*s.ptr:])
	col := binary.LittleEndian.Uint32(b[2*s.ptr+4:])
	if n < 3 || n > maxPath || line == 0 || line >= 1<<22 || col == 0 || col >= 1<<16 {
		return "", false
	}
	if ptr == 0 {
		// Linkers that do not write RELA addends into the section leave
		// the pointer to the dynamic relocation.
		ptr = s.relocated(t)
	}
	if ptr == 0 {
		return "", false
	}
	str := s.bytesAt(ptr)
	if uint64(len(str)) < n || !isPath(str[:n]) {
		return "", false
	}
	return string(str[:n]), true
}

// cString recognises a NUL-terminated path, narrow or UTF-16LE (MSVC's
// assert takes wide strings).
func cString(b []byte) (string, bool) {
	if len(b) >= 2 && b[1] == 0 && b[0] != 0 {
		var buf [maxPath]byte
		n := 0
		for i := 0; i+1 < len(b) && n < maxPath; i += 2 {
			c, hi := b[i], b[i+1]
			if c == 0 && hi == 0 {
				if isPath(buf[:n]) {
					return string(buf[:n]), true
				}
				return "", false
			}
			if hi != 0 || c >= 0x80 || !pathByte(c) {
				return "", false
			}
			buf[n] = c
			n++
		}
		return "", false
	}
	for i := 0; i < len(b) && i <= maxPath; i++ {
		if b[i] == 0 {
			if isPath(b[:i]) {
				return string(b[:i]), true
			}
			return "", false
		}
		if !pathByte(b[i]) {
			return "", false
		}
	}
	return "", false
}

// pathByte reports bytes that may appear in a source path.
func pathByte(c byte) bool {
	if c < 0x20 || c == 0x7f {
		return false
	}
	switch c {
	case '"', '<', '>', '|', '*':
		return false
	}
	return true
}

// isPath reports whether b looks like a source path: printable, valid
// UTF-8, with a directory separator, a colon only after a drive letter, a
// source file extension.
func isPath(b []byte) bool {
	if len(b) < 3 || len(b) > maxPath || !utf8.Valid(b) {
		return false
	}
	sep := false
	comp := 0 // length of the current component
	for i, c := range b {
		if comp++; comp > 255 {
			// No file system allows a longer name.
			return false
		}
		if !pathByte(c) {
			return false
		}
		switch c {
		case '/', '\\':
			sep, comp = true, 0
		case ':':
			// C:\ and \\?\C:\ only.
			if i != 1 && !(i == 5 && b[0] == '\\' && b[2] == '?') {
				return false
			}
		case '?':
			if i != 2 || b[0] != '\\' {
				return false
			}
		case ' ':
			if i > 0 && b[i-1] == ' ' {
				return false
			}
		}
	}
	return sep && fileLang(string(b)) != langNone
}

// fileLang is the language of the file name ending path.
func fileLang(path string) lang {
	return langOf(asciiLower(path[strings.LastIndexAny(path, "/\\")+1:]))
}

// relocated returns the value an ELF RELATIVE relocation stores at place,
// or 0.
func (s *scanner) relocated(place uint64) uint64 {
	if !s.relocsRead {
		s.relocsRead = true
		s.relocs = readRelative(s.f)
	}
	i := sort.Search(len(s.relocs), func(i int) bool { return s.relocs[i].place >= place })
	if i < len(s.relocs) && s.relocs[i].place == place {
		return s.relocs[i].value
	}
	return 0
}

// readRelative reads the R_X86_64_RELATIVE entries of an ELF64 .rela.dyn.
// (REL and RELR keep the value in place, so only RELA needs this.)
func readRelative(f *binfmt.File) []reloc {
	if f.Format != model.FormatELF || f.Bits != 64 {
		return nil
	}
	const relative = 8 // R_X86_64_RELATIVE
	var out []reloc
	for i := range f.Sections {
		sec := &f.Sections[i]
		if sec.Name != ".rela.dyn" {
			continue
		}
		b := sec.Data
		for len(b) >= 24 {
			if uint32(binary.LittleEndian.Uint64(b[8:])) == relative {
				out = append(out, reloc{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint64(b[16:])})
			}
			b = b[24:]
		}
	}
	slices.SortFunc(out, func(a, b reloc) int {
		switch {
		case a.place < b.place:
			return -1
		case a.place > b.place:
			return 1
		}
		return 0
	})
	return out
}
