package binfmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kinship-dev/kinship/internal/model"
)

// maxAnomalies bounds the anomaly list: a hostile file can make every entry
// of a table odd, and one line per entry would only cost memory.
const maxAnomalies = 200

// catchPanics turns a panic while loading into an error, so one hostile
// file cannot take down a batch. Tests switch it off to see the bug.
var catchPanics = true

// LoadFile opens and loads the executable at path.
func LoadFile(path string, lim Limits) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	f, err := Load(fh, st.Size(), lim)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Load reads an executable of the given size from r. A recognised file whose
// code cannot be analysed is returned with Unsupported set, not an error.
func Load(r io.ReaderAt, size int64, lim Limits) (*File, error) {
	l, err := load(r, size, lim)
	if err != nil {
		return nil, err
	}
	return l.f, nil
}

func load(r io.ReaderAt, size int64, lim Limits) (l *loader, err error) {
	if catchPanics {
		defer func() {
			if p := recover(); p != nil {
				l = nil
				err = &FormatError{Msg: fmt.Sprintf("internal error while loading: %v", p)}
			}
		}()
	}
	if size < 0 {
		return nil, errors.New("negative file size")
	}
	lim = lim.withDefaults()
	l = &loader{r: r, size: size, lim: lim, f: &File{Format: model.FormatUnknown, Arch: model.ArchUnknown}}
	if size > lim.MaxFileSize {
		l.size = lim.MaxFileSize
		l.anomaly("file is %d bytes; only the first %d are read", size, lim.MaxFileSize)
	}
	head := make([]byte, 64)
	n, err := l.r.ReadAt(head[:min(int64(len(head)), l.size)], 0)
	if n < int(min(int64(len(head)), l.size)) {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read header: %w", err)
	}
	head = head[:n]
	switch {
	case len(head) >= 4 && bytes.Equal(head[:4], []byte("\x7fELF")):
		err = l.loadELF()
	case isMachO(head):
		l.loadMachO(head)
	case len(head) >= 2 && head[0] == 'M' && head[1] == 'Z' && l.peSignature() > 0:
		err = l.loadPE(l.peSignature())
	default:
		return nil, &FormatError{Off: 0, Msg: "unrecognised file format"}
	}
	if err != nil {
		return nil, err
	}
	l.finish()
	return l, nil
}

// loader carries one Load call's state.
type loader struct {
	r    io.ReaderAt
	size int64 // bytes that may be read, at most Limits.MaxFileSize
	lim  Limits
	f    *File

	// buf holds file bytes [0, len(buf)), read once; section data and
	// tables are slices of it so overlapping sections cost nothing.
	buf []byte

	hintsCapped    bool
	anomaliesMuted int

	// Counts of table entries read, for checks against other tools.
	pdataEntries int // RUNTIME_FUNCTION entries, chained ones included
	fdes         int // .eh_frame FDEs
}

func (l *loader) anomaly(format string, args ...any) {
	if len(l.f.Anomalies) >= maxAnomalies {
		l.anomaliesMuted++
		return
	}
	l.f.Anomalies = append(l.f.Anomalies, fmt.Sprintf(format, args...))
}

func (l *loader) addHint(h FuncHint) {
	if len(l.f.Hints) >= l.lim.MaxFuncHints {
		if !l.hintsCapped {
			l.hintsCapped = true
			l.anomaly("more than %d function hints; the rest are ignored", l.lim.MaxFuncHints)
		}
		return
	}
	l.f.addHint(h)
}

// readBuf reads file bytes [0, end) into l.buf once; end is clamped to the
// readable size.
func (l *loader) readBuf(end int64) error {
	end = min(end, l.size)
	if end <= int64(len(l.buf)) {
		return nil
	}
	b := make([]byte, end)
	n, err := l.r.ReadAt(b, 0)
	if int64(n) < end {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("read file: %w", err)
	}
	l.buf = b
	return nil
}

// readAt returns n bytes at off, from l.buf when it covers them, else read
// from the file. The size is checked against the file, so a count taken
// from the file can never make it allocate more than the file holds.
func (l *loader) readAt(off int64, n int) ([]byte, error) {
	if off < 0 || n < 0 || off > l.size || int64(n) > l.size-off {
		return nil, &FormatError{Off: off, Msg: fmt.Sprintf("read of %d bytes beyond end of file", n)}
	}
	if off+int64(n) <= int64(len(l.buf)) {
		return l.buf[off : off+int64(n) : off+int64(n)], nil
	}
	b := make([]byte, n)
	m, err := l.r.ReadAt(b, off)
	if m < n {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read at 0x%x: %w", off, err)
	}
	return b, nil
}

// fileBytes returns up to n bytes at off, fewer if the file ends first.
func (l *loader) fileBytes(off int64, n uint64) []byte {
	if off < 0 || off >= l.size {
		return nil
	}
	if rest := uint64(l.size - off); n > rest {
		n = rest
	}
	b, err := l.readAt(off, int(n))
	if err != nil {
		return nil
	}
	return b
}

// finish drops hints that do not point into code, then sorts and merges.
func (l *loader) finish() {
	f := l.f
	out := f.Hints[:0]
	dropped := 0
	for _, h := range f.Hints {
		if f.IsExec(h.Addr) {
			out = append(out, h)
		} else {
			dropped++
		}
	}
	f.Hints = out
	if dropped > 0 {
		l.anomaly("%d function hints outside executable sections dropped", dropped)
	}
	f.normaliseHints()
	if l.anomaliesMuted > 0 {
		f.Anomalies = append(f.Anomalies, fmt.Sprintf("%d more anomalies not recorded", l.anomaliesMuted))
	}
}

// cstring returns the NUL-terminated string at the start of b, at most max
// bytes long; ok is false when no NUL ends it within those bytes.
func cstring(b []byte, max int) (s string, ok bool) {
	if len(b) > max {
		b = b[:max]
	}
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i]), true
	}
	return string(b), false
}

// isMachO recognises thin and universal Mach-O headers. A universal header
// shares its magic with Java class files; those have a version there
// instead of a small architecture count.
func isMachO(h []byte) bool {
	if len(h) < 8 {
		return false
	}
	switch binary.BigEndian.Uint32(h) {
	case 0xfeedface, 0xfeedfacf, 0xcefaedfe, 0xcffaedfe:
		return true
	case 0xcafebabe, 0xcafebabf:
		n := binary.BigEndian.Uint32(h[4:])
		return n > 0 && n < 45
	case 0xbebafeca, 0xbfbafeca:
		n := binary.LittleEndian.Uint32(h[4:])
		return n > 0 && n < 45
	}
	return false
}

func (l *loader) loadMachO(h []byte) {
	f := l.f
	f.Format = model.FormatMachO
	f.Unsupported = "Mach-O code analysis is not supported"
	var bo binary.ByteOrder = binary.BigEndian
	magic := bo.Uint32(h)
	if magic == 0xcefaedfe || magic == 0xcffaedfe {
		bo = binary.LittleEndian
		magic = bo.Uint32(h)
	}
	switch magic {
	case 0xfeedface:
		f.Bits = 32
	case 0xfeedfacf:
		f.Bits = 64
	default:
		return // universal: several architectures
	}
	switch bo.Uint32(h[4:]) {
	case 7:
		f.Arch = model.Arch386
	case 0x01000007:
		f.Arch = model.ArchAMD64
	case 12:
		f.Arch = model.ArchARM
	case 0x0100000c:
		f.Arch = model.ArchARM64
	}
}
