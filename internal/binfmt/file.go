// Package binfmt loads executable files (PE and ELF) into one format-neutral
// view for code analysis: sections with their bytes, the entry point,
// imports, exports, symbols and every other source of function starts the
// format offers (PE exception directory, ELF .eh_frame, Go's pclntab).
//
// Every file is treated as hostile: reads, counts and allocations are
// bounded by Limits, structural errors carry the file offset, and oddities
// that do not stop analysis are recorded as anomalies instead of failing.
package binfmt

import (
	"fmt"
	"sort"

	"github.com/kinship-dev/kinship/internal/model"
)

// Limits bound what one file may make the loader do.
type Limits struct {
	MaxFileSize  int64 // bytes read from the file; default 512 MiB
	MaxSections  int   // default 4096
	MaxImports   int   // default 100_000
	MaxExports   int   // default 100_000
	MaxSymbols   int   // default 2_000_000
	MaxFuncHints int   // default 5_000_000
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{
	MaxFileSize:  512 << 20,
	MaxSections:  4096,
	MaxImports:   100_000,
	MaxExports:   100_000,
	MaxSymbols:   2_000_000,
	MaxFuncHints: 5_000_000,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxFileSize > 0 {
		d.MaxFileSize = l.MaxFileSize
	}
	if l.MaxSections > 0 {
		d.MaxSections = l.MaxSections
	}
	if l.MaxImports > 0 {
		d.MaxImports = l.MaxImports
	}
	if l.MaxExports > 0 {
		d.MaxExports = l.MaxExports
	}
	if l.MaxSymbols > 0 {
		d.MaxSymbols = l.MaxSymbols
	}
	if l.MaxFuncHints > 0 {
		d.MaxFuncHints = l.MaxFuncHints
	}
	return d
}

// FormatError reports a structural problem that stops analysis, with the
// file offset where it was found.
type FormatError struct {
	Off int64
	Msg string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("offset 0x%x: %s", e.Off, escapeControls(e.Msg))
}

// Section is one loaded section.
type Section struct {
	Name     string
	Addr     uint64 // virtual address
	VSize    uint64 // size in memory
	Offset   uint64 // file offset
	Exec     bool
	Writable bool
	Data     []byte // file bytes, at most min(VSize, raw size), bounded
}

// Import is one imported function.
type Import struct {
	Library string
	Name    string // "#123" for PE imports by ordinal
	// Addrs are the addresses through which code reaches the import: the
	// IAT slot (PE), the GOT slot and the PLT stub (ELF).
	Addrs []uint64
	// Delayed marks PE delay-load imports, which the loader resolves on
	// first call; the imphash leaves them out.
	Delayed bool
}

// Export is one exported symbol.
type Export struct {
	Name      string
	Ordinal   uint32
	Addr      uint64 // 0 for forwarders
	Forwarder string
}

// Symbol is a function symbol from a symbol table.
type Symbol struct {
	Name string
	Addr uint64
	Size uint64
}

// HintSource says where a function start came from.
type HintSource uint8

const (
	HintEntry HintSource = iota
	HintExport
	HintPdata
	HintEhFrame
	HintPclntab
	HintSymbol
)

func (h HintSource) String() string {
	return [...]string{"entry", "export", "pdata", "eh_frame", "pclntab", "symbol"}[h]
}

// FuncHint is a function start (and end, when known) from file metadata.
type FuncHint struct {
	Addr   uint64
	End    uint64 // 0 when unknown
	Name   string
	Pkg    string // Go package, from pclntab
	Origin model.Origin
	Source HintSource
}

// GoInfo is what a Go binary says about itself.
type GoInfo struct {
	GoVersion   string
	MainModule  string
	MainPackage string
	Deps        []string
}

// File is the format-neutral view of one executable.
type File struct {
	Format    model.Format
	Arch      model.Arch
	Bits      int // 32 or 64
	ImageBase uint64
	Entry     uint64 // virtual address, 0 if none
	Sections  []Section
	Imports   []Import
	Exports   []Export
	Symbols   []Symbol
	Hints     []FuncHint // sorted by Addr, one per address
	Go        *GoInfo    // nil unless a Go binary
	// Unsupported is non-empty when the file was recognised but its code
	// cannot be analysed (other architecture, .NET IL-only, Mach-O...).
	Unsupported string
	Anomalies   []string

	importAt map[uint64]*Import
}

// SectionAt returns the section holding virtual address va, or nil.
func (f *File) SectionAt(va uint64) *Section {
	for i := range f.Sections {
		s := &f.Sections[i]
		if va >= s.Addr && va-s.Addr < uint64(len(s.Data)) {
			return s
		}
	}
	return nil
}

// BytesAt returns the loaded bytes from va to the end of its section, or nil.
func (f *File) BytesAt(va uint64) []byte {
	s := f.SectionAt(va)
	if s == nil {
		return nil
	}
	return s.Data[va-s.Addr:]
}

// IsExec reports whether va lies in loaded bytes of an executable section.
func (f *File) IsExec(va uint64) bool {
	s := f.SectionAt(va)
	return s != nil && s.Exec
}

// ImportAt returns the import reached through address a (IAT/GOT slot or
// PLT stub), or nil.
func (f *File) ImportAt(a uint64) *Import {
	if f.importAt == nil {
		f.importAt = make(map[uint64]*Import)
		for i := range f.Imports {
			for _, x := range f.Imports[i].Addrs {
				f.importAt[x] = &f.Imports[i]
			}
		}
	}
	return f.importAt[a]
}

// CodeBytes is the number of loaded bytes in executable sections.
func (f *File) CodeBytes() uint64 {
	var n uint64
	for _, s := range f.Sections {
		if s.Exec {
			n += uint64(len(s.Data))
		}
	}
	return n
}

// addHint records a function start; normalise sorts and merges them.
func (f *File) addHint(h FuncHint) { f.Hints = append(f.Hints, h) }

// normaliseHints sorts hints by address and keeps one per address,
// preferring the most informative source (pclntab and symbols carry names).
func (f *File) normaliseHints() {
	sort.SliceStable(f.Hints, func(i, j int) bool { return f.Hints[i].Addr < f.Hints[j].Addr })
	out := f.Hints[:0]
	for _, h := range f.Hints {
		if n := len(out); n > 0 && out[n-1].Addr == h.Addr {
			p := &out[n-1]
			if p.Name == "" {
				p.Name = h.Name
			}
			if p.Pkg == "" {
				p.Pkg = h.Pkg
			}
			// Keep the first known origin: a later source without
			// metadata (pdata, eh_frame) must not erase what pclntab said.
			if p.Origin == model.OriginUnknown {
				p.Origin = h.Origin
			}
			if p.End == 0 {
				p.End = h.End
			}
			continue
		}
		out = append(out, h)
	}
	f.Hints = out
}
