package gobin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// The build info blob (cmd/link, read by debug/buildinfo) is a 32-byte
// header: 14 bytes of magic, pointer size, flags, then either two pointers
// to Go string headers (before Go 1.18) or padding followed by the version
// and module strings inline, each prefixed by a uvarint length.
const (
	buildInfoMagic      = "\xff Go buildinf:"
	buildInfoHeaderSize = 32
	buildInfoAlign      = 16

	flagBigEndian = 0x1
	flagInline    = 0x2

	maxVersionLen = 1 << 10
	// maxModInfoLen bounds the module info string; real ones are a few
	// tens of KiB even for binaries with hundreds of dependencies.
	maxModInfoLen = 16 << 20
	// maxBuildInfoHits bounds magic matches examined; the magic can occur
	// as a plain string in binaries that import debug/buildinfo.
	maxBuildInfoHits = 256
	maxDeps          = 1 << 16
)

var buildInfoMagicBytes = []byte(buildInfoMagic)

type buildInfo struct {
	goVersion   string
	mainModule  string
	mainPackage string
	deps        []string
}

// findBuildInfo returns the first well-formed build info blob. It returns
// an error only when an aligned blob header was found but its strings
// could not be decoded.
func findBuildInfo(secs []Section) (*buildInfo, error) {
	var firstErr error
	hits := 0
	order := make([]int, 0, len(secs))
	for i, s := range secs {
		if s.Name == ".go.buildinfo" {
			order = append(order, i)
		}
	}
	for i, s := range secs {
		if s.Name != ".go.buildinfo" {
			order = append(order, i)
		}
	}
	for _, si := range order {
		s := secs[si]
		for base := 0; base < len(s.Data); {
			i := bytes.Index(s.Data[base:], buildInfoMagicBytes)
			if i < 0 {
				break
			}
			off := base + i
			base = off + 1
			if hits++; hits > maxBuildInfoHits {
				return nil, firstErr
			}
			addr := s.Addr + uint64(off)
			// The linker aligns the blob; an unaligned match is the magic
			// appearing as data (e.g. inside debug/buildinfo itself).
			if addr%buildInfoAlign != 0 || len(s.Data)-off < buildInfoHeaderSize {
				continue
			}
			bi, err := decodeBuildInfo(secs, s.Data[off:], addr)
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			return bi, nil
		}
	}
	return nil, firstErr
}

func decodeBuildInfo(secs []Section, blob []byte, addr uint64) (*buildInfo, error) {
	errf := func(format string, args ...any) error {
		return fmt.Errorf("gobin: build info at 0x%x: "+format, append([]any{addr}, args...)...)
	}
	flags := blob[15]
	var vers, mod string
	if flags&flagInline != 0 {
		rest := blob[buildInfoHeaderSize:]
		var ok bool
		vers, rest, ok = uvarintString(rest, maxVersionLen)
		if !ok {
			return nil, errf("bad inline version string")
		}
		mod, _, ok = uvarintString(rest, maxModInfoLen)
		if !ok {
			return nil, errf("bad inline module info string")
		}
	} else {
		ps := int(blob[14])
		if ps != 4 && ps != 8 {
			return nil, errf("bad pointer size %d", ps)
		}
		var bo binary.ByteOrder = binary.LittleEndian
		if flags&flagBigEndian != 0 {
			bo = binary.BigEndian
		}
		ptr := func(b []byte) uint64 {
			if ps == 4 {
				return uint64(bo.Uint32(b))
			}
			return bo.Uint64(b)
		}
		var err error
		vers, err = goString(secs, ps, ptr, ptr(blob[16:]), maxVersionLen)
		if err != nil {
			return nil, errf("version: %v", err)
		}
		mod, err = goString(secs, ps, ptr, ptr(blob[16+ps:]), maxModInfoLen)
		if err != nil {
			return nil, errf("module info: %v", err)
		}
	}
	if !strings.HasPrefix(vers, "go") && !strings.HasPrefix(vers, "devel") {
		return nil, errf("version %q does not look like a Go version", truncate(vers, 40))
	}
	bi := &buildInfo{goVersion: vers}
	// Strip the 16-byte sentinels cmd/go wraps the module info in.
	if len(mod) >= 33 && mod[len(mod)-17] == '\n' {
		mod = mod[16 : len(mod)-16]
	} else {
		mod = ""
	}
	for line := range strings.SplitSeq(mod, "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "path":
			bi.mainPackage = f[1]
		case "mod":
			bi.mainModule = f[1]
		case "dep":
			if len(bi.deps) < maxDeps {
				bi.deps = append(bi.deps, f[1])
			}
		}
	}
	return bi, nil
}

// uvarintString reads a uvarint length and that many bytes.
func uvarintString(b []byte, max uint64) (string, []byte, bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > max || n > uint64(len(b)-k) {
		return "", nil, false
	}
	return string(b[k : k+int(n)]), b[k+int(n):], true
}

// goString reads the Go string header at addr and the bytes it points to.
func goString(secs []Section, ps int, ptr func([]byte) uint64, addr uint64, max uint64) (string, error) {
	hdr := readAt(secs, addr, uint64(2*ps))
	if hdr == nil {
		return "", fmt.Errorf("string header at 0x%x not in any section", addr)
	}
	p, n := ptr(hdr), ptr(hdr[ps:])
	if n > max {
		return "", fmt.Errorf("string at 0x%x too long (%d bytes)", p, n)
	}
	if n == 0 {
		return "", nil
	}
	data := readAt(secs, p, n)
	if data == nil {
		return "", fmt.Errorf("string data 0x%x+%d not in any section", p, n)
	}
	return string(data), nil
}

// readAt returns n bytes at virtual address addr, or nil if they are not
// all inside one section.
func readAt(secs []Section, addr, n uint64) []byte {
	for _, s := range secs {
		if addr < s.Addr {
			continue
		}
		off := addr - s.Addr
		if off < uint64(len(s.Data)) && n <= uint64(len(s.Data))-off {
			return s.Data[off : off+n]
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
