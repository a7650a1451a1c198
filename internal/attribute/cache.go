package attribute

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// cacheVersion changes whenever scoring or fitting changes, so that a
// model fitted by an older kinship is never reused.
const cacheVersion = 5

type cachedModel struct {
	Version     int    `json:"version"`
	Fingerprint string `json:"fingerprint"`
	Model       Model  `json:"model"`
}

// fingerprint identifies everything calibration depends on: the samples,
// their labels and common flags, the signature version and the options.
func (ix *Index) fingerprint() string {
	h := sha256.New()
	fmt.Fprintf(h, "v%d sig%d %v %v %d\n", cacheVersion, ix.sigVersion, ix.opts.MinSim, ix.opts.MinInstrs, ix.opts.MaxBucket)
	for _, rs := range ix.samples {
		fmt.Fprintf(h, "%s\t%s\t%s\t%v\t%s\t%d\n", rs.s.SHA256, lower(rs.s.Labels.Family), lower(rs.s.Labels.Actor), rs.common, lower(rs.s.Program), len(rs.funcs))
	}
	return hex.EncodeToString(h.Sum(nil))
}

func loadModel(path, fp string) (Model, bool) {
	if path == "" {
		return Model{}, false
	}
	b, err := os.ReadFile(path)
	if err != nil || len(b) > 1<<20 {
		return Model{}, false
	}
	var c cachedModel
	if json.Unmarshal(b, &c) != nil || c.Version != cacheVersion || c.Fingerprint != fp {
		return Model{}, false
	}
	return c.Model, true
}

// saveModel writes the cache atomically; failing to cache is not an error.
func saveModel(path, fp string, m Model) {
	if path == "" {
		return
	}
	b, err := json.Marshal(cachedModel{cacheVersion, fp, m})
	if err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".calibration-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr != nil || cerr != nil || os.Rename(tmp.Name(), path) != nil {
		os.Remove(tmp.Name())
	}
}
