// Package analyze turns one file on disk into a sample record and its
// function signatures: whole-file hashes, format loading, function
// discovery and features. It never executes anything it reads.
package analyze

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kinship-dev/kinship/internal/binfmt"
	"github.com/kinship-dev/kinship/internal/disasm"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/srcpath"
	"github.com/kinship-dev/kinship/internal/ssdeep"
	"github.com/kinship-dev/kinship/internal/tlsh"
)

// Options bound the work done on one file.
type Options struct {
	Limits binfmt.Limits
	Disasm disasm.Options
	// SHA256, when not empty, is the data's SHA-256 in hex, which the
	// caller computed already (to look the file up): Bytes then does not
	// hash the whole file a second time.
	SHA256 string
}

// Result is everything kinship learns from one file.
type Result struct {
	Sample    model.Sample
	Functions []model.Function
	File      *binfmt.File   // nil when the format was not recognised
	Disasm    *disasm.Result // nil when code was not analysed
}

// ErrTooLarge is returned for files above Limits.MaxFileSize.
var ErrTooLarge = errors.New("file too large")

// Hashes computes the whole-file digests. TLSH and ssdeep are left empty
// where their algorithms define no digest (too little input or variance).
func Hashes(data []byte) model.FileHashes { return hashes(data, "") }

// hashes is Hashes with the SHA-256 given when sum is not empty.
func hashes(data []byte, sum string) model.FileHashes {
	if sum == "" {
		s := sha256.Sum256(data)
		sum = hex.EncodeToString(s[:])
	}
	m, s1 := md5.Sum(data), sha1.Sum(data)
	h := model.FileHashes{MD5: hex.EncodeToString(m[:]), SHA1: hex.EncodeToString(s1[:]), SHA256: sum}
	if d, err := tlsh.Hash(data); err == nil {
		h.TLSH = d
	}
	if d, err := ssdeep.Hash(data); err == nil {
		h.Ssdeep = d
	}
	return h
}

// ReadFile reads a whole file, refusing anything above max bytes.
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%s: %w (%d bytes, limit %d)", path, ErrTooLarge, st.Size(), max)
	}
	// One buffer of the size the file has, and one byte more to see
	// whether it grew: reading into a growing buffer copied and cleared
	// the bytes several times over.
	buf := make([]byte, st.Size()+1)
	n, err := io.ReadFull(f, buf)
	switch {
	case err == nil:
		// The file filled the extra byte: it grew while being read.
		rest, err := io.ReadAll(io.LimitReader(f, max+1-int64(n)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		buf = append(buf, rest...)
		n = len(buf)
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
	default:
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(n) > max {
		return nil, fmt.Errorf("%s: %w (grew while reading)", path, ErrTooLarge)
	}
	return buf[:n:n], nil
}

// File analyses the file at path.
func File(path string, opts Options) (*Result, error) {
	max := opts.Limits.MaxFileSize
	if max <= 0 {
		max = binfmt.DefaultLimits.MaxFileSize
	}
	data, err := ReadFile(path, max)
	if err != nil {
		return nil, err
	}
	r, err := Bytes(data, filepath.Base(path), opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// Bytes analyses a file already in memory; name is recorded as its name.
func Bytes(data []byte, name string, opts Options) (*Result, error) {
	h := hashes(data, opts.SHA256)
	s := model.Sample{
		SHA256: h.SHA256, Name: name, Size: int64(len(data)), Hashes: h,
		Format: model.FormatUnknown, Arch: model.ArchUnknown, SigVersion: opts.Disasm.Sig(),
		IngestedAt: time.Now().UTC().Truncate(time.Second),
	}
	f, err := binfmt.LoadBytes(data, opts.Limits)
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", shortHash(h.SHA256), err)
	}
	s.Format, s.Arch = f.Format, f.Arch
	s.Anomalies = append(s.Anomalies, f.Anomalies...)
	if f.Format == model.FormatPE {
		s.Hashes.Imphash = binfmt.Imphash(f)
	}
	if f.Go != nil {
		s.Language = "go"
		s.Program = goProgram(f.Go.MainPackage)
		refineGoOrigins(f)
	}
	res := &Result{Sample: s, File: f}
	if f.Unsupported != "" {
		res.Sample.Unsupported = f.Unsupported
		res.Sample.Stats.CodeBytes = f.CodeBytes()
		return res, nil
	}
	dopts := opts.Disasm
	dopts.DataRefs = f.Go == nil
	d, err := disasm.Analyze(f, dopts)
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", shortHash(h.SHA256), err)
	}
	if f.Go == nil {
		// Without pclntab, the source paths the binary carries (Rust
		// panic locations, C assertions) are what says which code is
		// library code.
		sp := srcpath.Scan(f, d.DataRefs)
		sp.Apply(d.Funcs)
		if res.Sample.Language == "" {
			res.Sample.Language = sp.Language
		}
		PropagateLibrary(d.Funcs, d.Callees)
		d.DataRefs, d.Callees = nil, nil
	}
	res.Functions = d.Funcs
	res.Disasm = d
	res.Sample.Stats = d.Stats
	res.Sample.Anomalies = append(res.Sample.Anomalies, d.Anomalies...)
	if len(res.Sample.Anomalies) > 100 {
		n := len(res.Sample.Anomalies)
		res.Sample.Anomalies = append(res.Sample.Anomalies[:100:100], fmt.Sprintf("... %d more anomalies", n-100))
	}
	return res, nil
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}

// refineGoOrigins treats code from modules of the main module's owner as
// the program's own: an organisation's shared modules (its parsers, its
// SDKs) are as much its fingerprint as the program's main packages.
//
// Without a main module (binaries built outside the go command, e.g. by
// Bazel, carry no module lines) own code cannot be told from libraries, so
// non-standard packages are left to be judged by rarity alone.
func refineGoOrigins(f *binfmt.File) {
	if f.Go.MainModule == "" {
		for i := range f.Hints {
			if h := &f.Hints[i]; h.Origin == model.OriginLibrary {
				h.Origin = model.OriginUnknown
			}
		}
		return
	}
	owner := moduleOwner(f.Go.MainModule)
	if owner == "" {
		return
	}
	for i := range f.Hints {
		h := &f.Hints[i]
		if h.Origin == model.OriginLibrary && strings.HasPrefix(h.Pkg, owner) {
			h.Origin = model.OriginOwn
		}
	}
}

// moduleOwner returns the path prefix naming who publishes a module:
// "github.com/org/" on code hosts, the domain elsewhere.
func moduleOwner(mod string) string {
	parts := strings.Split(mod, "/")
	if len(parts) < 2 || !strings.Contains(parts[0], ".") {
		return ""
	}
	switch parts[0] {
	case "github.com", "gitlab.com", "bitbucket.org", "codeberg.org", "gitee.com", "sr.ht", "git.sr.ht":
		if len(parts) < 3 {
			return ""
		}
		return parts[0] + "/" + parts[1] + "/"
	case "golang.org", "google.golang.org", "gopkg.in", "go.opentelemetry.io", "k8s.io":
		// Shared homes of many unrelated authors.
		return ""
	}
	return parts[0] + "/"
}

// goProgram is the command name the go tool gives a binary built from the
// main package at path: its last element, skipping a major-version suffix.
func goProgram(path string) string {
	if path == "" || path == "command-line-arguments" {
		return ""
	}
	parts := strings.Split(path, "/")
	last := parts[len(parts)-1]
	if len(parts) > 1 && len(last) >= 2 && last[0] == 'v' && strings.Trim(last[1:], "0123456789") == "" {
		last = parts[len(parts)-2]
	}
	return strings.ToLower(last)
}
