package codec

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
)

func TestMinHash(t *testing.T) {
	var mh [model.MinHashK]uint32
	for i := range mh {
		mh[i] = 0xffff - uint32(i)
	}
	for _, v := range []int{1, 2} {
		b, err := AppendMinHash(nil, &mh, v)
		if err != nil || len(b) != MinHashBytes(v) {
			t.Fatalf("v%d: %d bytes, %v", v, len(b), err)
		}
		var got [model.MinHashK]uint32
		if err := MinHash(&got, b, v); err != nil || got != mh {
			t.Errorf("v%d: round trip %v", v, err)
		}
	}
	if MinHashBytes(1) != 256 || MinHashBytes(2) != 128 {
		t.Errorf("sizes %d, %d", MinHashBytes(1), MinHashBytes(2))
	}
	wide := mh
	wide[5] = 1 << 16
	if _, err := AppendMinHash(nil, &wide, 2); err == nil {
		t.Error("a 17-bit value encoded for version 2")
	}
	// 32-bit vectors of version 2 (stored before b-bit storage) read as
	// their low 16 bits.
	b, _ := AppendMinHash(nil, &[model.MinHashK]uint32{0: 0xabcd1234, 63: 7}, 1)
	var got [model.MinHashK]uint32
	if err := MinHash(&got, b, 2); err != nil || got[0] != 0x1234 || got[63] != 7 {
		t.Errorf("32-bit vector as version 2: %x, %v", got[0], err)
	}
	for _, n := range []int{0, 64, 127, 129, 255, 257} {
		if err := MinHash(&got, make([]byte, n), 2); err == nil {
			t.Errorf("%d bytes accepted", n)
		}
	}
	if err := MinHash(&got, make([]byte, 128), 1); err == nil {
		t.Error("128 bytes accepted for version 1")
	}
}

func TestConsts(t *testing.T) {
	cases := [][]uint64{nil, {0}, {1, 127, 128, 16383, 16384}, {^uint64(0), 0, 1 << 63}}
	for _, c := range cases {
		got, err := Consts(AppendConsts(nil, c))
		if err != nil || !slices.Equal(got, c) {
			t.Errorf("%v: got %v, %v", c, got, err)
		}
	}
	for _, bad := range [][]byte{{0x80}, bytes.Repeat([]byte{0xff}, 11)} {
		if _, err := Consts(bad); err == nil {
			t.Errorf("Consts(%x) succeeded", bad)
		}
	}
}

func TestImports(t *testing.T) {
	for _, names := range [][]string{{""}, {"a"}, {"a", "", "ws2_32.dll!#23"}} {
		b, err := AppendImports(nil, names)
		if err != nil || !slices.Equal(Imports(string(b)), names) {
			t.Errorf("%q: %q, %v", names, b, err)
		}
	}
	if _, err := AppendImports(nil, []string{"a\x1fb"}); err == nil {
		t.Error("a name holding the separator was encoded")
	}
	if err := CheckImports([]string{"a", "b\x1f"}); err == nil || err.Error() != `import name "b\x1f" contains U+001F` {
		t.Errorf("CheckImports: %v", err)
	}
}

func TestAnomalies(t *testing.T) {
	b, err := AppendAnomalies(nil, []string{"a", "é\x00"})
	if err != nil || string(b) != `["a","é\u0000"]` {
		t.Fatalf("%s, %v", b, err)
	}
	got, err := Anomalies(b)
	if err != nil || !slices.Equal(got, []string{"a", "é\x00"}) {
		t.Errorf("round trip: %q, %v", got, err)
	}
	if _, err := Anomalies([]byte("[")); err == nil || !strings.HasPrefix(err.Error(), "anomalies: ") {
		t.Errorf("malformed: %v", err)
	}
}
