// Package exchange moves a whole collection between stores of any backend
// through a portable file: `kinship export` writes one, `kinship import`
// reads it.
//
// # Format (version 2)
//
// The file is gzip-compressed JSON Lines (UTF-8, one JSON value per line,
// each line ending in "\n"). The first line is the header:
//
//	{"format":"kinship-exchange","version":2,"sig_version":2,"samples":N}
//
// format is always "kinship-exchange"; version is the format version
// (Version; a reader refuses versions it does not know); sig_version is
// the signature version (model.SigVersion) of the samples, the newest when
// they differ and the writer's own for none (each sample carries its own
// too); samples is the number of sample lines that follow, which a reader
// checks.
//
// Then one line per sample, ordered by SHA-256 (bytewise):
//
//	{"sample":{...},"functions":[{...},...]}
//
// sample has the fields sha256, name, size, format, arch, hashes (md5, sha1,
// sha256, imphash, tlsh, ssdeep), labels (family, actor, source), common,
// language, program, unsupported, sig_version, stats (functions,
// instructions, code_bytes, covered_bytes), anomalies (a list) and
// ingested_at (RFC 3339 in UTC with exactly six fractional digits, absent
// for an unknown time). Empty strings, false, empty lists and absent times
// may be omitted. functions holds exactly stats.functions entries, ordered
// by address as an unsigned number, each with:
//
//	addr, exact   lower-case hexadecimal strings without 0x (64-bit values
//	              do not survive JSON numbers in many readers)
//	size, blocks, instrs   numbers (32-bit unsigned)
//	origin        number (model.Origin), omitted when 0
//	name          string, omitted when empty
//	consts        list of hexadecimal strings, omitted when empty
//	imports       list of strings, omitted when empty
//	minhash       base64 (standard alphabet, padded) of the 64 MinHash
//	              values little-endian, each as wide as the sample's
//	              sig_version keeps it (internal/store/codec): uint32
//	              (256 bytes) for version 1, uint16 (128 bytes) for
//	              versions 2 and 3
//
// Format version 1 differs only in minhash, which is always 256 bytes
// (uint32); a sample of a signature version that keeps 16 bits keeps the
// low 16 bits of each value. Version 1 files are read as before.
//
// Every string field (in sample or function) is a JSON string when its
// bytes are valid UTF-8, and otherwise an object {"base64":"..."} holding
// the exact bytes, so names taken from hostile binaries survive unchanged.
//
// Unknown fields are an error: a reader must not drop data it
// does not understand. The writer's output is canonical (fixed field order,
// no HTML escaping, gzip without name or time), so exporting the same
// collection from any backend gives byte-identical files.
package exchange

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/codec"
)

// FormatName is the header's format field.
const FormatName = "kinship-exchange"

// Version is the format version this build writes and the newest it reads.
//
//	1: first version, minhash always 256 bytes
//	2: minhash as wide as the sample's signature version keeps it
const Version = 2

// Header is the file's first line.
type Header struct {
	Format     string `json:"format"`
	Version    int    `json:"version"`
	SigVersion int    `json:"sig_version"`
	Samples    int    `json:"samples"`
}

// Str is a string that keeps its exact bytes through JSON: valid UTF-8 is
// a JSON string, anything else {"base64": "..."}.
type Str string

func (s Str) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(s)) {
		return marshal(string(s))
	}
	return marshal(struct {
		Base64 []byte `json:"base64"`
	}{[]byte(s)})
}

func (s *Str) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '{' {
		var o struct {
			Base64 *[]byte `json:"base64"`
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		if err := d.Decode(&o); err != nil || o.Base64 == nil {
			return fmt.Errorf("string object must be {\"base64\": ...}: %s", b)
		}
		*s = Str(*o.Base64)
		return nil
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = Str(v)
	return nil
}

// Hex64 is a 64-bit value written as lower-case hexadecimal.
type Hex64 uint64

func (h Hex64) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 18)
	b = append(b, '"')
	b = strconv.AppendUint(b, uint64(h), 16)
	return append(b, '"'), nil
}

func (h *Hex64) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("want a hexadecimal string, got %s", b)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return fmt.Errorf("bad hexadecimal value %q", s)
	}
	*h = Hex64(v)
	return nil
}

type hashes struct {
	MD5     Str `json:"md5,omitempty"`
	SHA1    Str `json:"sha1,omitempty"`
	SHA256  Str `json:"sha256,omitempty"`
	Imphash Str `json:"imphash,omitempty"`
	TLSH    Str `json:"tlsh,omitempty"`
	Ssdeep  Str `json:"ssdeep,omitempty"`
}

type labels struct {
	Family Str `json:"family,omitempty"`
	Actor  Str `json:"actor,omitempty"`
	Source Str `json:"source,omitempty"`
}

type stats struct {
	Functions    int    `json:"functions"`
	Instructions int    `json:"instructions"`
	CodeBytes    uint64 `json:"code_bytes"`
	CoveredBytes uint64 `json:"covered_bytes"`
}

type sample struct {
	SHA256      Str    `json:"sha256"`
	Name        Str    `json:"name,omitempty"`
	Size        int64  `json:"size"`
	Format      Str    `json:"format,omitempty"`
	Arch        Str    `json:"arch,omitempty"`
	Hashes      hashes `json:"hashes"`
	Labels      labels `json:"labels"`
	Common      bool   `json:"common,omitempty"`
	Language    Str    `json:"language,omitempty"`
	Program     Str    `json:"program,omitempty"`
	Unsupported Str    `json:"unsupported,omitempty"`
	SigVersion  int    `json:"sig_version"`
	Stats       stats  `json:"stats"`
	Anomalies   []Str  `json:"anomalies,omitempty"`
	IngestedAt  string `json:"ingested_at,omitempty"`
}

type function struct {
	Addr    Hex64   `json:"addr"`
	Size    uint32  `json:"size"`
	Blocks  uint32  `json:"blocks"`
	Instrs  uint32  `json:"instrs"`
	Exact   Hex64   `json:"exact"`
	Origin  uint8   `json:"origin,omitempty"`
	Name    Str     `json:"name,omitempty"`
	Consts  []Hex64 `json:"consts,omitempty"`
	Imports []Str   `json:"imports,omitempty"`
	MinHash []byte  `json:"minhash"`
}

type record struct {
	Sample    sample     `json:"sample"`
	Functions []function `json:"functions"`
}

// timeLayout is RFC 3339 with the microseconds the stores keep.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

func fromSample(s model.Sample) (sample, error) {
	out := sample{
		SHA256: Str(s.SHA256), Name: Str(s.Name), Size: s.Size, Format: Str(s.Format), Arch: Str(s.Arch),
		Hashes: hashes{Str(s.Hashes.MD5), Str(s.Hashes.SHA1), Str(s.Hashes.SHA256), Str(s.Hashes.Imphash), Str(s.Hashes.TLSH), Str(s.Hashes.Ssdeep)},
		Labels: labels{Str(s.Labels.Family), Str(s.Labels.Actor), Str(s.Labels.Source)},
		Common: s.Common, Language: Str(s.Language), Program: Str(s.Program), Unsupported: Str(s.Unsupported),
		SigVersion: s.SigVersion,
		Stats:      stats{s.Stats.Functions, s.Stats.Instructions, s.Stats.CodeBytes, s.Stats.CoveredBytes},
	}
	for _, a := range s.Anomalies {
		out.Anomalies = append(out.Anomalies, Str(a))
	}
	if !s.IngestedAt.IsZero() {
		t := s.IngestedAt.UTC()
		if y := t.Year(); y < 1 || y > 9999 {
			return out, fmt.Errorf("sample %s: ingest time %v cannot be written in RFC 3339", s.SHA256, t)
		}
		out.IngestedAt = t.Format(timeLayout)
	}
	return out, nil
}

func (s sample) model() (model.Sample, error) {
	out := model.Sample{
		SHA256: string(s.SHA256), Name: string(s.Name), Size: s.Size, Format: model.Format(s.Format), Arch: model.Arch(s.Arch),
		Hashes: model.FileHashes{MD5: string(s.Hashes.MD5), SHA1: string(s.Hashes.SHA1), SHA256: string(s.Hashes.SHA256),
			Imphash: string(s.Hashes.Imphash), TLSH: string(s.Hashes.TLSH), Ssdeep: string(s.Hashes.Ssdeep)},
		Labels:   model.Labels{Family: string(s.Labels.Family), Actor: string(s.Labels.Actor), Source: string(s.Labels.Source)},
		Common:   s.Common,
		Language: string(s.Language), Program: string(s.Program), Unsupported: string(s.Unsupported),
		SigVersion: s.SigVersion,
		Stats:      model.CodeStats{Functions: s.Stats.Functions, Instructions: s.Stats.Instructions, CodeBytes: s.Stats.CodeBytes, CoveredBytes: s.Stats.CoveredBytes},
	}
	for _, a := range s.Anomalies {
		out.Anomalies = append(out.Anomalies, string(a))
	}
	if s.IngestedAt != "" {
		t, err := time.Parse(time.RFC3339Nano, s.IngestedAt)
		if err != nil {
			return out, fmt.Errorf("ingested_at: %w", err)
		}
		out.IngestedAt = t.UTC()
	}
	if out.SHA256 == "" {
		return out, errors.New("sample without sha256")
	}
	return out, nil
}

// fromFunction converts a function of a sample of signature version sig.
func fromFunction(f *model.Function, sig int) (function, error) {
	out := function{Addr: Hex64(f.Addr), Size: f.Size, Blocks: f.Blocks, Instrs: f.Instrs, Exact: Hex64(f.Exact),
		Origin: uint8(f.Origin), Name: Str(f.Name)}
	for _, c := range f.Consts {
		out.Consts = append(out.Consts, Hex64(c))
	}
	for _, n := range f.Imports {
		out.Imports = append(out.Imports, Str(n))
	}
	var err error
	if out.MinHash, err = codec.AppendMinHash(make([]byte, 0, codec.MinHashBytes(sig)), &f.MinHash, sig); err != nil {
		return out, fmt.Errorf("function %#x: %w", f.Addr, err)
	}
	return out, nil
}

// model converts a function of a sample of signature version sig read
// from a file of format version format.
func (f *function) model(sig, format int) (model.Function, error) {
	out := model.Function{Addr: uint64(f.Addr), Size: f.Size, Blocks: f.Blocks, Instrs: f.Instrs, Exact: uint64(f.Exact),
		Origin: model.Origin(f.Origin), Name: string(f.Name)}
	if format == 1 && len(f.MinHash) != codec.MaxMinHashBytes {
		return out, fmt.Errorf("function %#x: minhash is %d bytes, want %d", f.Addr, len(f.MinHash), codec.MaxMinHashBytes)
	}
	if format > 1 && len(f.MinHash) != codec.MinHashBytes(sig) {
		return out, fmt.Errorf("function %#x: minhash is %d bytes, want %d for signature version %d", f.Addr, len(f.MinHash), codec.MinHashBytes(sig), sig)
	}
	if err := codec.MinHash(&out.MinHash, f.MinHash, sig); err != nil {
		return out, fmt.Errorf("function %#x: %w", f.Addr, err)
	}
	for _, c := range f.Consts {
		out.Consts = append(out.Consts, uint64(c))
	}
	for _, n := range f.Imports {
		out.Imports = append(out.Imports, string(n))
	}
	return out, nil
}

// Stats counts what Export or Import moved.
type Stats struct {
	Samples   int   // sample lines written or read
	Added     int   // Import: samples the store did not hold
	Existing  int   // Import: samples already stored, left unchanged
	Functions int64 // functions written or read
}

// Export writes every sample of st, with its functions, to w.
func Export(ctx context.Context, st model.Store, w io.Writer) (Stats, error) {
	var n Stats
	all, err := st.Samples(ctx)
	if err != nil {
		return n, err
	}
	zw, err := gzip.NewWriterLevel(w, gzip.DefaultCompression)
	if err != nil {
		return n, err
	}
	bw := bufio.NewWriterSize(zw, 1<<16)
	enc := json.NewEncoder(bw)
	enc.SetEscapeHTML(false)
	sig := model.SigVersion
	if len(all) > 0 {
		sig = 0
		for _, s := range all {
			sig = max(sig, s.SigVersion)
		}
	}
	if err := enc.Encode(Header{FormatName, Version, sig, len(all)}); err != nil {
		return n, err
	}
	for _, s := range all {
		fns, err := st.Functions(ctx, s.SHA256)
		if err != nil {
			return n, err
		}
		if len(fns) != s.Stats.Functions {
			return n, fmt.Errorf("sample %s: store returned %d functions, Stats.Functions is %d", s.SHA256, len(fns), s.Stats.Functions)
		}
		rec := record{Functions: make([]function, len(fns))}
		if rec.Sample, err = fromSample(s); err != nil {
			return n, err
		}
		for i := range fns {
			if rec.Functions[i], err = fromFunction(&fns[i], s.SigVersion); err != nil {
				return n, fmt.Errorf("sample %s: %w", s.SHA256, err)
			}
		}
		if err := enc.Encode(rec); err != nil {
			return n, fmt.Errorf("sample %s: %w", s.SHA256, err)
		}
		n.Samples++
		n.Functions += int64(len(fns))
	}
	if err := bw.Flush(); err != nil {
		return n, err
	}
	return n, zw.Close()
}

// Bounds on what one exchange file can make the reader hold: the JSON of
// the header, of a sample object or of one function, and the functions of
// one sample (the analysis's own bound, disasm's MaxFuncs). A file is
// hostile input like any other; a record is read element by element so
// that one long line cannot take the memory of a whole file.
const (
	maxElement   = 1 << 20
	maxFunctions = 2_000_000
)

var errElement = fmt.Errorf("a JSON element longer than %d bytes", maxElement)

// budget lets the JSON decoder read at most n more bytes; the reader
// grants a new budget before each element.
type budget struct {
	r io.Reader
	n int64
}

func (b *budget) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, errElement
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	n, err := b.r.Read(p)
	b.n -= int64(n)
	return n, err
}

// Reader reads an exchange file one sample at a time.
type Reader struct {
	Header Header
	zr     *gzip.Reader
	lim    *budget
	dec    *json.Decoder
	read   int
}

// NewReader reads and checks the header.
func NewReader(r io.Reader) (*Reader, error) {
	zr, err := gzip.NewReader(bufio.NewReaderSize(r, 1<<16))
	if err != nil {
		return nil, fmt.Errorf("not a kinship exchange file (gzip: %w)", err)
	}
	zr.Multistream(false)
	lim := &budget{r: zr, n: maxElement}
	dec := json.NewDecoder(lim)
	dec.DisallowUnknownFields()
	var h Header
	if err := dec.Decode(&h); err != nil {
		return nil, fmt.Errorf("not a kinship exchange file (header: %w)", err)
	}
	if h.Format != FormatName {
		return nil, fmt.Errorf("not a kinship exchange file (format %q)", h.Format)
	}
	if h.Version < 1 || h.Version > Version {
		return nil, fmt.Errorf("exchange format version %d; this kinship reads up to %d", h.Version, Version)
	}
	if h.Samples < 0 {
		return nil, fmt.Errorf("header: %d samples", h.Samples)
	}
	return &Reader{Header: h, zr: zr, lim: lim, dec: dec}, nil
}

// Next returns the next sample and its functions, or io.EOF after the
// last one, once the file has been checked to end there.
func (r *Reader) Next() (model.SampleFunctions, error) {
	if r.read == r.Header.Samples {
		r.lim.n = maxElement
		if r.dec.More() {
			return model.SampleFunctions{}, fmt.Errorf("more than the %d samples the header announces", r.Header.Samples)
		}
		// Reading to the end makes gzip verify its checksum and length.
		if _, err := io.Copy(io.Discard, io.MultiReader(r.dec.Buffered(), r.zr)); err != nil {
			return model.SampleFunctions{}, err
		}
		return model.SampleFunctions{}, io.EOF
	}
	rec, err := r.record()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return model.SampleFunctions{}, fmt.Errorf("sample line %d of %d, at byte %d of the decompressed stream: %w", r.read+1, r.Header.Samples, r.dec.InputOffset(), err)
	}
	r.read++
	s, err := rec.Sample.model()
	if err != nil {
		return model.SampleFunctions{}, fmt.Errorf("sample line %d: %w", r.read, err)
	}
	if len(rec.Functions) != s.Stats.Functions {
		return model.SampleFunctions{}, fmt.Errorf("sample %s: %d functions, stats.functions is %d", s.SHA256, len(rec.Functions), s.Stats.Functions)
	}
	fns := make([]model.Function, len(rec.Functions))
	for i := range rec.Functions {
		if fns[i], err = rec.Functions[i].model(s.SigVersion, r.Header.Version); err != nil {
			return model.SampleFunctions{}, fmt.Errorf("sample %s: %w", s.SHA256, err)
		}
	}
	return model.SampleFunctions{Sample: s, Functions: fns}, nil
}

// record reads one sample line {"sample": ..., "functions": [...]}, each
// element under its own budget.
func (r *Reader) record() (record, error) {
	var rec record
	if err := r.delim('{'); err != nil {
		return rec, err
	}
	var haveSample, haveFunctions bool
	for r.dec.More() {
		r.lim.n = maxElement
		t, err := r.dec.Token()
		if err != nil {
			return rec, err
		}
		switch t {
		case "sample":
			if haveSample {
				return rec, errors.New("two \"sample\" fields")
			}
			haveSample = true
			r.lim.n = maxElement
			if err := r.dec.Decode(&rec.Sample); err != nil {
				return rec, fmt.Errorf("sample: %w", err)
			}
		case "functions":
			if haveFunctions {
				return rec, errors.New("two \"functions\" fields")
			}
			haveFunctions = true
			r.lim.n = maxElement
			t, err := r.dec.Token()
			if err != nil {
				return rec, fmt.Errorf("functions: %w", err)
			}
			if t == nil {
				continue // null: no functions
			}
			if t != json.Delim('[') {
				return rec, fmt.Errorf("functions: %v where '[' was expected", t)
			}
			for r.dec.More() {
				if len(rec.Functions) >= maxFunctions {
					return rec, fmt.Errorf("more than %d functions", maxFunctions)
				}
				var f function
				r.lim.n = maxElement
				if err := r.dec.Decode(&f); err != nil {
					return rec, fmt.Errorf("function %d: %w", len(rec.Functions)+1, err)
				}
				rec.Functions = append(rec.Functions, f)
			}
			if err := r.delim(']'); err != nil {
				return rec, fmt.Errorf("functions: %w", err)
			}
		default:
			return rec, fmt.Errorf("unknown field %q", t)
		}
	}
	if err := r.delim('}'); err != nil {
		return rec, err
	}
	if !haveSample {
		return rec, errors.New("no \"sample\" field")
	}
	return rec, nil
}

// delim reads the next token, which must be d.
func (r *Reader) delim(d json.Delim) error {
	r.lim.n = maxElement
	t, err := r.dec.Token()
	if err != nil {
		return err
	}
	if t != d {
		return fmt.Errorf("%v where '%v' was expected", t, d)
	}
	return nil
}

// Import stores every sample of the file read from r in st. Samples the
// store already holds (by SHA-256) are left as they are, as ingest does.
// The whole file is checked as it is read; on an error, the samples
// before it stay stored and importing the file again completes the rest.
func Import(ctx context.Context, st model.Store, r io.Reader) (Stats, error) {
	var n Stats
	xr, err := NewReader(r)
	if err != nil {
		return n, err
	}
	for {
		sf, err := xr.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		added, err := st.PutSample(ctx, sf.Sample, sf.Functions)
		if err != nil {
			return n, err
		}
		n.Samples++
		n.Functions += int64(len(sf.Functions))
		if added {
			n.Added++
		} else {
			n.Existing++
		}
	}
}

// marshal is json.Marshal without HTML escaping, as the file's encoder.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
