// Package codec holds the column encodings every store backend shares, so
// that a value means the same thing in SQLite, PostgreSQL and the exchange
// format, and export/import needs no conversion rules:
//
//   - minhash: the 64 MinHash values little-endian, each as wide as the
//     sample's signature version keeps it (model.MinHashBits): 64 x uint32
//     (256 bytes) for version 1, 64 x uint16 (128 bytes) for versions 2
//     and 3;
//   - consts: a sequence of unsigned varints;
//   - imports: the names joined with U+001F;
//   - anomalies: a JSON array of strings.
//
// An empty list is stored by each backend as NULL.
package codec

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// MaxMinHashBytes is the largest encoded MinHash vector.
const MaxMinHashBytes = 4 * model.MinHashK

// MinHashBytes is the size of an encoded MinHash vector of a sample of
// signature version v.
func MinHashBytes(v int) int { return model.MinHashBits(v) / 8 * model.MinHashK }

// AppendMinHash appends the encoding of mh for signature version v. A
// value wider than the version keeps is an error: storing it cut would
// make a different signature.
func AppendMinHash(buf []byte, mh *[model.MinHashK]uint32, v int) ([]byte, error) {
	if model.MinHashBits(v) == 16 {
		for _, x := range mh {
			if x > 0xffff {
				return nil, fmt.Errorf("minhash value %#x is wider than the 16 bits signature version %d keeps", x, v)
			}
			buf = binary.LittleEndian.AppendUint16(buf, uint16(x))
		}
		return buf, nil
	}
	for _, x := range mh {
		buf = binary.LittleEndian.AppendUint32(buf, x)
	}
	return buf, nil
}

// MinHash decodes an encoded vector of signature version v into mh. A
// 32-bit vector is also read for a version that keeps fewer bits (as
// written before b-bit storage): its values are cut to the bits the
// version keeps, which is exactly the b-bit signature.
func MinHash(mh *[model.MinHashK]uint32, b []byte, v int) error {
	switch bits := model.MinHashBits(v); {
	case len(b) == MaxMinHashBytes:
		mask := uint32(1<<bits - 1)
		for i := range mh {
			mh[i] = binary.LittleEndian.Uint32(b[4*i:]) & mask
		}
	case bits == 16 && len(b) == 2*model.MinHashK:
		for i := range mh {
			mh[i] = uint32(binary.LittleEndian.Uint16(b[2*i:]))
		}
	default:
		return fmt.Errorf("minhash is %d bytes, want %d for signature version %d", len(b), MinHashBytes(v), v)
	}
	return nil
}

// ValidMinHashLen reports whether n bytes can be a MinHash vector of
// signature version v (what MinHash accepts).
func ValidMinHashLen(n, v int) bool {
	return n == MaxMinHashBytes || n == MinHashBytes(v)
}

// AppendConsts appends the varint encoding of cs to buf.
func AppendConsts(buf []byte, cs []uint64) []byte {
	for _, c := range cs {
		buf = binary.AppendUvarint(buf, c)
	}
	return buf
}

// ErrBadConsts reports a consts value that is not a sequence of varints.
var ErrBadConsts = errors.New("malformed consts")

// Consts decodes a consts value; nil for an empty one.
func Consts(b []byte) ([]uint64, error) {
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
			return nil, ErrBadConsts
		}
		out = append(out, v)
		b = b[k:]
	}
	return out, nil
}

// ImportSep separates import names; names containing it are rejected
// rather than stored ambiguously.
const ImportSep = "\x1f"

// CheckImports rejects names AppendImports cannot encode.
func CheckImports(names []string) error {
	for _, n := range names {
		if strings.Contains(n, ImportSep) {
			return fmt.Errorf("import name %q contains U+001F", n)
		}
	}
	return nil
}

// AppendImports appends names joined with ImportSep.
func AppendImports(buf []byte, names []string) ([]byte, error) {
	if err := CheckImports(names); err != nil {
		return nil, err
	}
	for i, n := range names {
		if i > 0 {
			buf = append(buf, ImportSep...)
		}
		buf = append(buf, n...)
	}
	return buf, nil
}

// Imports splits an imports value; the names share s's memory.
func Imports(s string) []string {
	out := make([]string, 0, strings.Count(s, ImportSep)+1)
	for {
		i := strings.IndexByte(s, ImportSep[0])
		if i < 0 {
			return append(out, s)
		}
		out = append(out, s[:i])
		s = s[i+1:]
	}
}

// AppendAnomalies appends the JSON encoding of a sample's anomalies, text
// that both SQLite and PostgreSQL store as it is.
func AppendAnomalies(buf []byte, anomalies []string) ([]byte, error) {
	b, err := json.Marshal(anomalies)
	if err != nil {
		return nil, err
	}
	return append(buf, b...), nil
}

// Anomalies decodes an anomalies value.
func Anomalies(b []byte) ([]string, error) {
	var out []string
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("anomalies: %w", err)
	}
	return out, nil
}
