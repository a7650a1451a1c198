package binfmt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

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
	l, err := load(r, size, lim, nil)
	if err != nil {
		return nil, err
	}
	return l.f, nil
}

// LoadBytes is Load of a file already in memory. The File's section data
// are slices of data, not copies, so data must not change while the File
// is in use.
func LoadBytes(data []byte, lim Limits) (*File, error) {
	l, err := load(bytes.NewReader(data), int64(len(data)), lim, data)
	if err != nil {
		return nil, err
	}
	return l.f, nil
}

// load reads the file from r; data, when not nil, holds all of it.
func load(r io.ReaderAt, size int64, lim Limits, data []byte) (l *loader, err error) {
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
	l.data = data
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
	// data is the whole file when it is in memory already (LoadBytes):
	// buf is then a slice of it rather than a copy.
	data []byte

	hintsCapped    bool
	anomaliesMuted int

	// Counts of table entries read, for checks against other tools.
	pdataEntries int // RUNTIME_FUNCTION entries, chained ones included
	fdes         int // .eh_frame FDEs
}

// anomaly records an oddity. Strings from the file must be passed through
// quote; the message is escaped once more as a safety net, so no control
// byte from a sample can reach a terminal or a log.
func (l *loader) anomaly(format string, args ...any) {
	if len(l.f.Anomalies) >= maxAnomalies {
		l.anomaliesMuted++
		return
	}
	l.f.Anomalies = append(l.f.Anomalies, escapeControls(fmt.Sprintf(format, args...)))
}

// tally counts the instances of one oddity in a table, so that it is
// recorded once, with its first instance and the number of others.
type tally struct {
	n     int
	first string
}

func (t *tally) add(format string, args ...any) {
	if t.n == 0 {
		t.first = fmt.Sprintf(format, args...)
	}
	t.n++
}

// flush records the tallied oddity, if any; what names the others
// ("entries", "sections").
func (l *loader) flush(t *tally, what string) {
	switch {
	case t.n == 1:
		l.anomaly("%s", t.first)
	case t.n > 1:
		l.anomaly("%s (and %d more %s)", t.first, t.n-1, what)
	}
	*t = tally{}
}

// maxQuoted bounds the bytes of a name from the file shown in a message.
const maxQuoted = 64

// quote renders a string taken from the file (a section, DLL, import,
// export or symbol name, a forwarder) for an anomaly or error message:
// double-quoted, with control bytes, terminal escape sequences, invisible
// format characters and invalid UTF-8 escaped Go-style, and cut at
// maxQuoted bytes with "…" after the closing quote. Names kept for
// matching are never quoted.
func quote(s string) string {
	if len(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	cut := maxQuoted
	for cut > maxQuoted-utf8.UTFMax && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// escapeControls escapes what quote would in a whole message, leaving the
// printable rest alone.
func escapeControls(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || !strconv.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n <= 1) || !strconv.IsPrint(r) {
			q := strconv.Quote(s[i : i+n])
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
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
	if int64(len(l.data)) >= end {
		l.buf = l.data[:end:end]
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
	l.entropy()
	if l.anomaliesMuted > 0 {
		f.Anomalies = append(f.Anomalies, fmt.Sprintf("%d more anomalies not recorded", l.anomaliesMuted))
	}
}

// Executable sections whose bytes are close to random are packed or
// encrypted: compiled code stays below about 6.6 bits per byte. Sections
// smaller than minEntropyBytes say too little; below about 500 bytes even
// random bytes measure under maxCodeEntropy, so there the threshold
// follows the entropy random bytes of that size are expected to show.
const (
	minEntropyBytes = 256
	maxCodeEntropy  = 7.2
)

// entropy records executable sections of near-random bytes. Each file
// range is measured once, and at most the file's size in all, however
// many sections map it.
func (l *loader) entropy() {
	budget := l.size
	seen := make(map[[2]uint64]bool)
	for i := range l.f.Sections {
		s := &l.f.Sections[i]
		n := len(s.Data)
		if !s.Exec || n < minEntropyBytes {
			continue
		}
		key := [2]uint64{s.Offset, uint64(n)}
		if seen[key] {
			continue
		}
		seen[key] = true
		if budget -= int64(n); budget < 0 {
			return
		}
		h := byteEntropy(s.Data)
		// Expected entropy of n random bytes (Miller-Madow), less a margin.
		limit := min(maxCodeEntropy, 8-255/(2*float64(n)*math.Ln2)-0.4)
		if h >= limit {
			l.anomaly("section %s (file offset 0x%x, %d bytes) has byte entropy %.2f bits/byte: packed or encrypted?", quote(s.Name), s.Offset, n, h)
		}
	}
}

// byteEntropy is the Shannon entropy of b in bits per byte.
func byteEntropy(b []byte) float64 {
	var c [256]int
	for _, x := range b {
		c[x]++
	}
	h, n := 0.0, float64(len(b))
	for _, k := range c {
		if k > 0 {
			p := float64(k) / n
			h -= p * math.Log2(p)
		}
	}
	return h
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
