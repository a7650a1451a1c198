package postgres

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// The column encodings (minhash, consts, imports, anomalies) are
// internal/store/codec's, shared with the SQLite store, so that a value
// means the same thing in both and export/import needs no conversion rules.
// uint64 and uint32 values are stored as the bit pattern of the signed type
// of the same width.

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
