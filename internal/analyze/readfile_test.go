package analyze

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	data := bytes.Repeat([]byte("kinship\x00"), 1000)
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		max      int64
		tooLarge bool
	}{
		{int64(len(data)), false},
		{int64(len(data)) + 1, false},
		{int64(len(data)) - 1, true},
	} {
		got, err := ReadFile(p, tc.max)
		if tc.tooLarge {
			if !errors.Is(err, ErrTooLarge) {
				t.Errorf("max %d: err %v, want ErrTooLarge", tc.max, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(got, data) || cap(got) != len(data) {
			t.Errorf("max %d: %d bytes (cap %d), err %v", tc.max, len(got), cap(got), err)
		}
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if got, err := ReadFile(empty, 10); err != nil || len(got) != 0 {
		t.Errorf("empty file: %d bytes, err %v", len(got), err)
	}
	if _, err := ReadFile(dir, 10); err == nil {
		t.Error("a folder was read as a file")
	}
	if _, err := ReadFile(filepath.Join(dir, "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}
