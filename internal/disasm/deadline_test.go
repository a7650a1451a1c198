package disasm

import (
	"errors"
	"testing"
	"time"
)

func TestDeadline(t *testing.T) {
	f := fuzzFile([]byte{0, 0, 0x55, 0x48, 0x89, 0xe5, 0xe8, 0x01, 0x00, 0x00, 0x00, 0xc3, 0xc3})
	if _, err := Analyze(f, Options{Deadline: time.Now().Add(-time.Second)}); !errors.Is(err, ErrDeadline) {
		t.Fatalf("past deadline: %v", err)
	}
	r, err := Analyze(f, Options{Deadline: time.Now().Add(time.Hour)})
	if err != nil || len(r.Funcs) == 0 {
		t.Fatalf("future deadline: %v, %d functions", err, len(r.Funcs))
	}
}
