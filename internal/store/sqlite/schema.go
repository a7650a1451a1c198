package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
)

// SchemaVersion is the schema this build writes. It always equals
// len(migrations).
const SchemaVersion = 2

// ErrSchemaTooNew is returned by Open for a database written by a newer
// kinship: its tables may mean things this build does not know, so neither
// reading nor writing is safe.
var ErrSchemaTooNew = errors.New("database schema is newer than this kinship supports")

// migrations[i] takes a database from schema version i to i+1. Entries are
// never edited once released, only appended, because databases of every
// released version must keep opening (see testdata/README.md).
var migrations = []string{
	// 1: samples and their function signatures.
	//
	// functions is WITHOUT ROWID with the primary key (sample_id, addr): the
	// key is the index every read uses, so rows are stored in that order and
	// there is no separate rowid b-tree or index to pay for. addr and the
	// other uint64 values are stored as their int64 bit pattern; the code
	// reorders addresses at or above 1<<63 when reading.
	//
	// minhash is 64 little-endian uint32 (256 bytes); consts is a sequence
	// of unsigned varints; imports is the names joined with U+001F. NULL
	// means an empty list. ingested_at is Unix microseconds, NULL for the
	// zero time. anomalies is a JSON array, NULL when empty.
	`
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE samples (
	id            INTEGER PRIMARY KEY,
	sha256        TEXT NOT NULL UNIQUE,
	name          TEXT NOT NULL,
	size          INTEGER NOT NULL,
	format        TEXT NOT NULL,
	arch          TEXT NOT NULL,
	md5           TEXT NOT NULL,
	sha1          TEXT NOT NULL,
	hash_sha256   TEXT NOT NULL,
	imphash       TEXT NOT NULL,
	tlsh          TEXT NOT NULL,
	ssdeep        TEXT NOT NULL,
	family        TEXT NOT NULL,
	actor         TEXT NOT NULL,
	source        TEXT NOT NULL,
	common        INTEGER NOT NULL,
	language      TEXT NOT NULL,
	unsupported   TEXT NOT NULL,
	sig_version   INTEGER NOT NULL,
	functions     INTEGER NOT NULL,
	instructions  INTEGER NOT NULL,
	code_bytes    INTEGER NOT NULL,
	covered_bytes INTEGER NOT NULL,
	anomalies     TEXT,
	ingested_at   INTEGER,
	program       TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE TABLE functions (
	sample_id INTEGER NOT NULL REFERENCES samples(id) ON DELETE CASCADE,
	addr      INTEGER NOT NULL,
	size      INTEGER NOT NULL,
	blocks    INTEGER NOT NULL,
	instrs    INTEGER NOT NULL,
	exact     INTEGER NOT NULL,
	origin    INTEGER NOT NULL,
	name      TEXT NOT NULL,
	consts    BLOB,
	imports   TEXT,
	minhash   BLOB NOT NULL,
	PRIMARY KEY (sample_id, addr)
) STRICT, WITHOUT ROWID;
`,
	// 2: the minhash blob's width follows the sample's signature version
	// (internal/store/codec): 64 little-endian uint32 (256 bytes) for
	// version 1, 64 little-endian uint16 (128 bytes) for version 2, which
	// keeps the low 16 bits of each value. The tables do not change; the
	// version tells an older kinship, which would misread the shorter
	// blobs, that it cannot open this database.
	`SELECT 1`,
}

// migrate brings the database to SchemaVersion in one write transaction,
// so concurrent Opens by several processes migrate exactly once and a
// failed migration leaves the previous version intact.
func migrate(ctx context.Context, db *sql.DB, path string) error {
	if len(migrations) != SchemaVersion {
		panic("sqlite: len(migrations) != SchemaVersion")
	}
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: see dsn
	if err != nil {
		return err
	}
	defer tx.Rollback()
	v, err := readVersion(ctx, tx)
	if err != nil {
		return err
	}
	if v > SchemaVersion {
		return fmt.Errorf("%s has schema version %d, this kinship knows up to %d; use a newer kinship: %w",
			path, v, SchemaVersion, ErrSchemaTooNew)
	}
	if v == SchemaVersion {
		return nil
	}
	for i := v; i < SchemaVersion; i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate %s to schema version %d: %w", path, i+1, err)
		}
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO meta(key, value) VALUES('schema_version', ?)
		 ON CONFLICT(key) DO UPDATE SET value = excluded.value`, strconv.Itoa(SchemaVersion))
	if err != nil {
		return err
	}
	return tx.Commit()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readVersion returns the schema version, 0 for an empty database, and an
// error for a database that holds tables but is not a kinship store.
func readVersion(ctx context.Context, q querier) (int, error) {
	var hasMeta, tables int
	err := q.QueryRowContext(ctx,
		`SELECT count(*) FILTER (WHERE name = 'meta'), count(*)
		 FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'`).Scan(&hasMeta, &tables)
	if err != nil {
		return 0, err
	}
	if hasMeta == 0 {
		if tables > 0 {
			return 0, errors.New("not a kinship database (no meta table)")
		}
		return 0, nil
	}
	var s string
	err = q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&s)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		return 0, fmt.Errorf("bad schema version %q", s)
	}
	return v, nil
}
