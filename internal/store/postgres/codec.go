package postgres

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kinship-dev/kinship/internal/model"
)

// The column encodings are the SQLite store's, so that a value means the
// same thing in both and export/import needs no conversion rules:
// minhash is 64 little-endian uint32 (256 bytes); consts is a sequence of
// unsigned varints; imports is the names joined with U+001F; NULL is an
// empty list. uint64 and uint32 values are stored as the bit pattern of the
// signed type of the same width.

// minHashBytes is the size of an encoded MinHash vector.
const minHashBytes = 4 * model.MinHashK

// importSep separates import names; names containing it are rejected rather
// than stored ambiguously.
const importSep = "\x1f"

// sampleID is the key a sample is stored and distributed under. It is
// computed from the SHA-256 alone, so writers in any number of processes
// (or, on Citus, on any node) agree on it without asking the database: no
// sequence, no round trip. For a SHA-256 in its usual form (64 lower-case
// hex digits) it is the first 8 bytes read as a big-endian int64, which SQL
// can recompute as ('x' || left(sha256, 16))::bit(64)::bigint; any other
// string is hashed first. Two samples whose ids collide (about n²/2^65 for n
// samples) cannot both be stored: the second PutSample fails loudly.
func sampleID(sha string) int64 {
	if len(sha) == 64 && isLowerHex(sha) {
		var b [8]byte
		hex.Decode(b[:], []byte(sha[:16]))
		return int64(binary.BigEndian.Uint64(b[:]))
	}
	h := sha256.Sum256([]byte(sha))
	return int64(binary.BigEndian.Uint64(h[:8]))
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func putMinHash(b *[minHashBytes]byte, mh *[model.MinHashK]uint32) {
	for i, v := range mh {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
}

func getMinHash(mh *[model.MinHashK]uint32, b []byte) error {
	if len(b) != minHashBytes {
		return fmt.Errorf("minhash is %d bytes, want %d", len(b), minHashBytes)
	}
	for i := range mh {
		mh[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return nil
}

// appendConsts appends the varint encoding of cs to buf.
func appendConsts(buf []byte, cs []uint64) []byte {
	for _, c := range cs {
		buf = binary.AppendUvarint(buf, c)
	}
	return buf
}

var errBadConsts = errors.New("malformed consts")

func decodeConsts(b []byte) ([]uint64, error) {
	if len(b) == 0 {
		return nil, nil
	}
	n := 0
	for _, c := range b {
		if c < 0x80 {
			n++
		}
	}
	out := make([]uint64, 0, n)
	for len(b) > 0 {
		v, k := binary.Uvarint(b)
		if k <= 0 {
			return nil, errBadConsts
		}
		out = append(out, v)
		b = b[k:]
	}
	return out, nil
}

// appendImports appends names joined with importSep.
func appendImports(buf []byte, names []string) ([]byte, error) {
	for i, n := range names {
		if strings.Contains(n, importSep) {
			return nil, fmt.Errorf("import name %q contains U+001F", n)
		}
		if i > 0 {
			buf = append(buf, importSep...)
		}
		buf = append(buf, n...)
	}
	return buf, nil
}

func decodeImports(b []byte) []string {
	s := string(b)
	out := make([]string, 0, strings.Count(s, importSep)+1)
	for {
		i := strings.IndexByte(s, importSep[0])
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
}

// checkText rejects what a PostgreSQL text column cannot hold. Strings
// read from hostile binaries or file systems (names, program, symbols,
// imports) are bytea and never get here; these are kinship's own
// vocabulary, digests and analysts' labels.
func checkText(field, s string) error {
	if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%s %q is not UTF-8 text without NUL, which PostgreSQL cannot store", field, s)
	}
	return nil
}

// pgEpoch is the origin of PostgreSQL's binary timestamps.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()

// Binary wire decoders. Lengths are checked so that a column of another
// type fails instead of being misread.

func wireInt(b []byte, col string) (int64, error) {
	switch len(b) {
	case 8:
		return int64(binary.BigEndian.Uint64(b)), nil
	case 4:
		return int64(int32(binary.BigEndian.Uint32(b))), nil
	case 2:
		return int64(int16(binary.BigEndian.Uint16(b))), nil
	}
	return 0, fmt.Errorf("column %s: %d bytes is not an integer", col, len(b))
}

func wireBool(b []byte, col string) (bool, error) {
	if len(b) != 1 {
		return false, fmt.Errorf("column %s: %d bytes is not a boolean", col, len(b))
	}
	return b[0] != 0, nil
}

func wireTime(b []byte, col string) (time.Time, error) {
	if b == nil {
		return time.Time{}, nil
	}
	if len(b) != 8 {
		return time.Time{}, fmt.Errorf("column %s: %d bytes is not a timestamp", col, len(b))
	}
	return time.UnixMicro(int64(binary.BigEndian.Uint64(b)) + pgEpoch).UTC(), nil
}
