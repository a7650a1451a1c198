// Package model holds kinship's domain types and the Store interface.
//
// It is a leaf package: every stage of the pipeline (load, disassemble,
// sketch, store, attribute, report) imports it, and it imports none of them,
// so the types that cross stage boundaries live here and nowhere else.
package model

import (
	"context"
	"errors"
	"time"
)

// SigVersion identifies the function-signature algorithm: instruction
// normalisation, what goes into the set a function's MinHash is computed
// over, MinHash seeds and LSH banding. Signatures made by different
// versions are not comparable, so it is stored with every sample and bumped
// whenever any of those change. A collection holds one version; a query is
// signed with the version of the collection it is compared against, so
// collections of older versions keep working until they are re-ingested.
//
//	1: normalised x86 tokens as 3-grams over contiguous runs, imports and
//	   large constants as 1-grams; 64 MinHash values, 16x4 bands.
//	2: the set of the function's normalised tokens (calls to imports and
//	   to the file's exported functions named), plus its semantic elements
//	   (imports and exported functions called, C strings referenced,
//	   immediates other than 0 and ±1 that are neither addresses nor
//	   stack-pointer arithmetic, displacements off non-stack base
//	   registers) each under three salts, plus the semantic elements of each
//	   distinct callee of at most 80 instructions (64 callees at most);
//	   one 64-value MinHash over that set, 16x4 bands. Token order is not
//	   used, so optimisation levels and compilers change it far less
//	   (bench/funcsim: XO AUC/Recall@1 0.987/0.924 against 0.827/0.508).
//	   Only the low 16 bits of each MinHash value are kept (b-bit minwise
//	   hashing, Li and König, WWW 2010): two different minima agree by
//	   chance with probability 2^-16, and a signature takes 128 bytes.
//	3: version 1's set (token 3-grams, imports and constants), with
//	   version 2's 16-bit values. On the development corpus version 2's
//	   looser matching also matched statically linked library code across
//	   programs and attributed an unknown binary that version 1 leaves
//	   unattributed (docs/benchmarks.md), so the default keeps version 1's
//	   set and takes only the smaller storage.
const SigVersion = 3

// MinHashBits is how many low bits of each MinHash value signature
// version v keeps; the rest are zero. Similarity and LSH band keys are
// computed on what is kept.
func MinHashBits(v int) int {
	if v >= 2 {
		return 16
	}
	return 32
}

// MinHashK is the number of MinHash values kept per function.
const MinHashK = 64

// Format names the container format of a file.
type Format string

const (
	FormatPE      Format = "pe"
	FormatELF     Format = "elf"
	FormatMachO   Format = "macho"
	FormatUnknown Format = "unknown"
)

// Arch names a processor architecture in Go's GOARCH vocabulary.
type Arch string

const (
	Arch386     Arch = "386"
	ArchAMD64   Arch = "amd64"
	ArchARM     Arch = "arm"
	ArchARM64   Arch = "arm64"
	ArchUnknown Arch = "unknown"
)

// Labels is what an analyst says a sample is. Empty strings mean unknown.
type Labels struct {
	Family string `json:"family,omitempty"`
	Actor  string `json:"actor,omitempty"`
	Source string `json:"source,omitempty"`
}

// FileHashes are whole-file digests, recorded for every file including
// those whose code cannot be analysed.
type FileHashes struct {
	MD5     string `json:"md5"`
	SHA1    string `json:"sha1"`
	SHA256  string `json:"sha256"`
	Imphash string `json:"imphash,omitempty"`
	TLSH    string `json:"tlsh,omitempty"`
	Ssdeep  string `json:"ssdeep,omitempty"`
}

// Sample is one ingested file.
type Sample struct {
	SHA256   string     `json:"sha256"`
	Name     string     `json:"name"` // base name when first ingested
	Size     int64      `json:"size"`
	Format   Format     `json:"format"`
	Arch     Arch       `json:"arch"`
	Hashes   FileHashes `json:"hashes"`
	Labels   Labels     `json:"labels"`
	Common   bool       `json:"common,omitempty"` // declared common code (runtime, library, clean file)
	Language string     `json:"language,omitempty"`
	// Program is the name the binary gives itself in its own metadata
	// (the last element of a Go main package path); empty when unknown.
	Program     string    `json:"program,omitempty"`
	Unsupported string    `json:"unsupported,omitempty"` // why code was not analysed; empty when it was
	SigVersion  int       `json:"sig_version"`
	Stats       CodeStats `json:"stats"`
	Anomalies   []string  `json:"anomalies,omitempty"`
	IngestedAt  time.Time `json:"ingested_at"`
}

// CodeStats summarises function discovery on one sample.
type CodeStats struct {
	Functions    int    `json:"functions"`
	Instructions int    `json:"instructions"`
	CodeBytes    uint64 `json:"code_bytes"`    // bytes in executable sections
	CoveredBytes uint64 `json:"covered_bytes"` // bytes inside discovered functions
}

// Origin says where a function's code comes from, when the binary says so
// (Go's pclntab names the package of every function).
type Origin uint8

const (
	OriginUnknown Origin = iota // nothing known: judged by rarity alone
	OriginOwn                   // the program's own code (Go: main module)
	OriginLibrary               // third-party library linked in
	OriginStd                   // language standard library
	OriginRuntime               // language runtime or compiler-generated code
)

func (o Origin) String() string {
	switch o {
	case OriginOwn:
		return "own"
	case OriginLibrary:
		return "library"
	case OriginStd:
		return "std"
	case OriginRuntime:
		return "runtime"
	}
	return "unknown"
}

// Function is the signature of one function of a sample.
type Function struct {
	Addr    uint64           `json:"addr"`
	Size    uint32           `json:"size"`   // bytes of decoded instructions
	Blocks  uint32           `json:"blocks"` // basic blocks
	Instrs  uint32           `json:"instrs"`
	Exact   uint64           `json:"exact"`             // hash of the normalised instruction sequence
	MinHash [MinHashK]uint32 `json:"-"`                 // MinHash over normalised token n-grams
	Consts  []uint64         `json:"consts,omitempty"`  // distinctive immediates and hashes of referenced constant tables
	Imports []string         `json:"imports,omitempty"` // imported functions it calls
	Name    string           `json:"name,omitempty"`    // symbol, when the binary names it (a hint only)
	Origin  Origin           `json:"origin,omitempty"`
}

// SampleFunctions pairs a sample with its functions, as the store yields them.
type SampleFunctions struct {
	Sample    Sample
	Functions []Function
}

// StoreStats are counts over a whole store.
type StoreStats struct {
	Samples       int            `json:"samples"`
	Labelled      int            `json:"labelled"`
	Common        int            `json:"common"`
	Unsupported   int            `json:"unsupported"`
	Functions     int64          `json:"functions"`
	Families      map[string]int `json:"families"`
	Actors        map[string]int `json:"actors"`
	SchemaVersion int            `json:"schema_version"`
}

// ErrNotFound is returned when a sample is not in the store.
var ErrNotFound = errors.New("not found")

// Store persists samples, their labels and function signatures.
//
// Implementations must make PutSample atomic (a reader never sees a sample
// without all its functions) and idempotent by SHA-256.
type Store interface {
	// PutSample stores a sample and its functions. If a sample with the same
	// SHA-256 exists it is left unchanged and added is false.
	PutSample(ctx context.Context, s Sample, fns []Function) (added bool, err error)
	// GetSample returns one sample by SHA-256 (or ErrNotFound).
	GetSample(ctx context.Context, sha256 string) (Sample, error)
	// SetLabels replaces a sample's labels without touching its functions.
	SetLabels(ctx context.Context, sha256 string, l Labels) error
	// SetCommon marks a sample as common code or not.
	SetCommon(ctx context.Context, sha256 string, common bool) error
	// DeleteSample removes a sample and its functions.
	DeleteSample(ctx context.Context, sha256 string) error
	// Samples lists all samples ordered by SHA-256.
	Samples(ctx context.Context) ([]Sample, error)
	// Functions returns one sample's functions ordered by address.
	Functions(ctx context.Context, sha256 string) ([]Function, error)
	// Stats counts what the store holds.
	Stats(ctx context.Context) (StoreStats, error)
	// SchemaVersion is the version of the schema the store holds.
	SchemaVersion(ctx context.Context) (int, error)
	// Close releases the store.
	Close() error
}
