package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/postgres"
)

// isStoreURL reports whether a --db value (or $KINSHIP_DB) names a
// PostgreSQL database (postgres:// or postgresql://) rather than a SQLite
// file.
func isStoreURL(path string) bool { return postgres.IsURL(path) }

// openStoreURL opens the PostgreSQL store a URL names, creating and
// migrating its schema as needed. The URL may select a schema with
// search_path=NAME; the error names the URL without its password.
func openStoreURL(ctx context.Context, path string) (model.Store, error) {
	return postgres.Open(ctx, path, postgres.Options{})
}

// storeName is how messages and logs name a store: a URL loses its
// password.
func storeName(path string) string {
	if isStoreURL(path) {
		return postgres.Redact(path)
	}
	return path
}

// calibrationCachePath is where attribution keeps its fitted model for a
// store: beside a SQLite file, and in the user cache directory for a URL,
// named by a hash of the URL so that the password appears nowhere. ""
// (no cache) when there is no usable cache directory.
func calibrationCachePath(path string) string {
	if !isStoreURL(path) {
		return path + ".calibration.json"
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	dir = filepath.Join(dir, "kinship")
	if os.MkdirAll(dir, 0o700) != nil {
		return ""
	}
	h := sha256.Sum256([]byte(path))
	return filepath.Join(dir, "calibration-"+hex.EncodeToString(h[:8])+".json")
}
