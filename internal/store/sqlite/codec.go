package sqlite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// minHashBytes is the size of an encoded MinHash vector.
const minHashBytes = 4 * model.MinHashK

// importSep separates import names; names containing it are rejected rather
// than stored ambiguously.
const importSep = "\x1f"

func putMinHash(b *[minHashBytes]byte, mh *[model.MinHashK]uint32) {
	for i, v := range mh {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
}

func getMinHash(mh *[model.MinHashK]uint32, b []byte) error {
	if len(b) != minHashBytes {
		return fmt.Errorf("minhash blob is %d bytes, want %d", len(b), minHashBytes)
	}
	for i := range mh {
		mh[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return nil
}

// appendConsts appends the varint encoding of cs to buf; nil for none, so
// that empty lists are stored as NULL.
func appendConsts(buf []byte, cs []uint64) []byte {
	if len(cs) == 0 {
		return nil
	}
	for _, c := range cs {
		buf = binary.AppendUvarint(buf, c)
	}
	return buf
}

var errBadConsts = errors.New("malformed consts blob")

func decodeConsts(b []byte) ([]uint64, error) {
	if len(b) == 0 {
		return nil, nil
	}
	// Every value ends with the one byte whose top bit is clear, so the
	// count is known before decoding and one allocation suffices.
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

// encodeImports joins names with importSep. ok is false for no imports
// (stored as NULL, unlike [""] which is stored as "").
func encodeImports(names []string) (s string, ok bool, err error) {
	if len(names) == 0 {
		return "", false, nil
	}
	for _, n := range names {
		if strings.Contains(n, importSep) {
			return "", false, fmt.Errorf("import name %q contains U+001F", n)
		}
	}
	return strings.Join(names, importSep), true, nil
}

// decodeImports splits s; the names share s's memory.
func decodeImports(s string) []string {
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
