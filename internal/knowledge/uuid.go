package knowledge

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"strings"
)

// Namespace is kinship's UUID namespace. Every identifier kinship makes
// (STIX ids of exported objects, claim ids) is a UUIDv5 of this namespace
// and the object's natural key, so the same knowledge always exports with
// the same ids. It must never change.
var Namespace = MustParseUUID("6b696e73-6869-5000-8000-6b6e6f776c65")

// UUID is an RFC 9562 UUID.
type UUID [16]byte

// MustParseUUID parses the canonical 8-4-4-4-12 form and panics on error;
// for constants only.
func MustParseUUID(s string) UUID {
	u, err := ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

// ParseUUID parses the canonical 8-4-4-4-12 hexadecimal form.
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("uuid %q: not in 8-4-4-4-12 form", s)
	}
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 {
		return u, fmt.Errorf("uuid %q: not hexadecimal", s)
	}
	copy(u[:], b)
	return u, nil
}

// NewUUIDv5 returns the name-based (SHA-1) UUID of name in namespace ns.
func NewUUIDv5(ns UUID, name string) UUID {
	h := sha1.New()
	h.Write(ns[:])
	h.Write([]byte(name))
	var u UUID
	copy(u[:], h.Sum(nil))
	u[6] = u[6]&0x0f | 0x50
	u[8] = u[8]&0x3f | 0x80
	return u
}

func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}
