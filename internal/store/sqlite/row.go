package sqlite

import (
	"fmt"
	"time"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/codec"
)

// row scans columns into untyped values and converts them by type switch.
// Scanning into *int64 or *string makes database/sql convert through
// reflection, which costs more than reading the row from SQLite; into *any
// it only copies what the driver returned.
type row struct {
	cols []string
	vals []any
	dest []any
	err  error // first conversion error
}

func newRow(cols ...string) *row {
	r := &row{cols: cols, vals: make([]any, len(cols)), dest: make([]any, len(cols))}
	for i := range r.vals {
		r.dest[i] = &r.vals[i]
	}
	return r
}

type scanner interface{ Scan(dest ...any) error }

func (r *row) scan(sc scanner) error {
	r.err = nil
	return sc.Scan(r.dest...)
}

func (r *row) fail(i int, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("column %s holds %T, want %s", r.cols[i], r.vals[i], want)
	}
}

func (r *row) int(i int) int64 {
	if v, ok := r.vals[i].(int64); ok {
		return v
	}
	r.fail(i, "integer")
	return 0
}

func (r *row) str(i int) string {
	switch v := r.vals[i].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	r.fail(i, "text")
	return ""
}

// nullStr is str for a column that may be NULL.
func (r *row) nullStr(i int) (string, bool) {
	if r.vals[i] == nil {
		return "", false
	}
	return r.str(i), true
}

// blob returns a BLOB column, nil for NULL. The slice is the row's own
// copy, valid after the next scan.
func (r *row) blob(i int) []byte {
	switch v := r.vals[i].(type) {
	case nil:
		return nil
	case []byte:
		return v
	}
	r.fail(i, "blob")
	return nil
}

// Column lists, in the order the decoders below read them.
var (
	sampleColumns = []string{"sha256", "name", "size", "format", "arch",
		"md5", "sha1", "hash_sha256", "imphash", "tlsh", "ssdeep",
		"family", "actor", "source", "common", "language", "unsupported", "sig_version",
		"functions", "instructions", "code_bytes", "covered_bytes", "anomalies", "ingested_at", "program"}
	functionColumns = []string{"addr", "size", "blocks", "instrs", "exact", "origin", "name", "consts", "imports", "minhash"}
)

// sample decodes the sample columns starting at column off.
func (r *row) sample(off int) (model.Sample, error) {
	c := func(i int) int { return off + i }
	s := model.Sample{
		SHA256: r.str(c(0)),
		Name:   r.str(c(1)),
		Size:   r.int(c(2)),
		Format: model.Format(r.str(c(3))),
		Arch:   model.Arch(r.str(c(4))),
		Hashes: model.FileHashes{
			MD5:     r.str(c(5)),
			SHA1:    r.str(c(6)),
			SHA256:  r.str(c(7)),
			Imphash: r.str(c(8)),
			TLSH:    r.str(c(9)),
			Ssdeep:  r.str(c(10)),
		},
		Labels:      model.Labels{Family: r.str(c(11)), Actor: r.str(c(12)), Source: r.str(c(13))},
		Common:      r.int(c(14)) != 0,
		Language:    r.str(c(15)),
		Program:     r.str(c(24)),
		Unsupported: r.str(c(16)),
		SigVersion:  int(r.int(c(17))),
		Stats: model.CodeStats{
			Functions:    int(r.int(c(18))),
			Instructions: int(r.int(c(19))),
			CodeBytes:    uint64(r.int(c(20))),
			CoveredBytes: uint64(r.int(c(21))),
		},
	}
	if a, ok := r.nullStr(c(22)); ok {
		var err error
		if s.Anomalies, err = codec.Anomalies([]byte(a)); err != nil {
			return s, fmt.Errorf("sample %s: %w", s.SHA256, err)
		}
	}
	if r.vals[c(23)] != nil {
		s.IngestedAt = time.UnixMicro(r.int(c(23))).UTC()
	}
	if r.err != nil {
		return s, fmt.Errorf("sample %s: %w", s.SHA256, r.err)
	}
	return s, nil
}

// function decodes the function columns starting at column off into f,
// a function of a sample of signature version sig, setting every field so
// that f may be reused.
func (r *row) function(off, sig int, f *model.Function) error {
	c := func(i int) int { return off + i }
	f.Addr = uint64(r.int(c(0)))
	f.Size = uint32(r.int(c(1)))
	f.Blocks = uint32(r.int(c(2)))
	f.Instrs = uint32(r.int(c(3)))
	f.Exact = uint64(r.int(c(4)))
	f.Origin = model.Origin(r.int(c(5)))
	f.Name = r.str(c(6))
	var err error
	if f.Consts, err = codec.Consts(r.blob(c(7))); err != nil {
		return fmt.Errorf("function %#x: %w", f.Addr, err)
	}
	f.Imports = nil
	if s, ok := r.nullStr(c(8)); ok {
		f.Imports = codec.Imports(s)
	}
	if r.err == nil {
		if err := codec.MinHash(&f.MinHash, r.blob(c(9)), sig); err != nil {
			return fmt.Errorf("function %#x: %w", f.Addr, err)
		}
	}
	if r.err != nil {
		return fmt.Errorf("function %#x: %w", f.Addr, r.err)
	}
	return nil
}
