package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SchemaVersion is the schema this build writes. It always equals
// len(migrations).
const SchemaVersion = 2

// ErrSchemaTooNew is returned by Open for a database written by a newer
// kinship: its tables may mean things this build does not know, so neither
// reading nor writing is safe.
var ErrSchemaTooNew = errors.New("database schema is newer than this kinship supports")

// Migration is one step of the schema's history.
type Migration struct {
	Version     int
	Description string
	SQL         string
}

// migrations[i] takes a schema from version i to i+1. Entries are never
// edited once released, only appended.
//
// The layout is meant to be distributed with Citus unchanged (see
// docs/scaling.md): samples and functions are both keyed by sample_id, a
// value derived from the SHA-256 (see sampleID), so that both can be
// distributed on it and co-located, an ingest touches one shard, and no
// writer needs a sequence. There is deliberately no foreign key from
// functions to samples: it would cost a lookup per inserted function on
// the hottest path; PutSample and DeleteSample keep the two consistent in
// one transaction and Check verifies it.
var migrations = []Migration{
	{1, "samples and their function signatures", `
CREATE TABLE samples (
	sample_id     bigint PRIMARY KEY,
	sha256        text NOT NULL,
	name          bytea NOT NULL,
	size          bigint NOT NULL,
	format        text NOT NULL,
	arch          text NOT NULL,
	md5           text NOT NULL,
	sha1          text NOT NULL,
	hash_sha256   text NOT NULL,
	imphash       text NOT NULL,
	tlsh          text NOT NULL,
	ssdeep        text NOT NULL,
	family        text NOT NULL,
	actor         text NOT NULL,
	source        text NOT NULL,
	common        boolean NOT NULL,
	language      text NOT NULL,
	program       bytea NOT NULL,
	unsupported   text NOT NULL,
	sig_version   integer NOT NULL,
	functions     bigint NOT NULL,
	instructions  bigint NOT NULL,
	code_bytes    bigint NOT NULL,
	covered_bytes bigint NOT NULL,
	anomalies     text,
	ingested_at   timestamptz
);

CREATE TABLE functions (
	sample_id bigint NOT NULL,
	addr      bigint NOT NULL,
	size      integer NOT NULL,
	blocks    integer NOT NULL,
	instrs    integer NOT NULL,
	exact     bigint NOT NULL,
	origin    smallint NOT NULL,
	name      bytea NOT NULL,
	consts    bytea,
	imports   bytea,
	minhash   bytea NOT NULL,
	PRIMARY KEY (sample_id, addr)
);
`},
	// The tables do not change; the version tells an older kinship, which
	// would misread the shorter blobs, that it cannot open this schema.
	{2, "minhash width follows the signature version (version 2: 64 x uint16, 128 bytes)", `SELECT 1`},
}

// migrationsTable records applied migrations, one row each.
const migrationsTable = "kinship_migrations"

// readVersion returns the schema version of the connection's current
// schema: 0 when it holds no kinship tables, an error when it holds tables
// called samples or functions that kinship did not make.
func readVersion(ctx context.Context, q pgx.Tx) (int, error) {
	var hasMig, hasOther bool
	err := q.QueryRow(ctx, `SELECT to_regclass('`+migrationsTable+`') IS NOT NULL,
		to_regclass('samples') IS NOT NULL OR to_regclass('functions') IS NOT NULL`).Scan(&hasMig, &hasOther)
	if err != nil {
		return 0, err
	}
	if !hasMig {
		if hasOther {
			return 0, errors.New("schema holds tables samples or functions but no " + migrationsTable + ": not a kinship store")
		}
		return 0, nil
	}
	var v int
	if err := q.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+migrationsTable).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

// migrateLock serialises migrations of every kinship schema in a database:
// concurrent Opens by several processes then migrate exactly once.
const migrateLock = 0x6b696e73686970 // "kinship"

// migrate brings the schema to SchemaVersion in one transaction, so a
// failed migration leaves the previous version intact. It returns the
// version found and the version left.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) (from, to int, err error) {
	if len(migrations) != SchemaVersion {
		panic("postgres: len(migrations) != SchemaVersion")
	}
	// Most opens find the schema current: check that without a lock, and
	// without needing the right to create anything.
	if v, err := currentVersion(ctx, pool); err != nil {
		return 0, 0, err
	} else if v == SchemaVersion {
		return v, v, nil
	} else if v > SchemaVersion {
		return v, v, tooNew(schema, v)
	}

	tx, err := pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
		return 0, 0, err
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
		return 0, 0, err
	}
	if !exists {
		if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
			return 0, 0, fmt.Errorf("create schema %s: %w", schema, err)
		}
	}
	from, err = readVersion(ctx, tx)
	if err != nil {
		return 0, 0, err
	}
	if from > SchemaVersion {
		return from, from, tooNew(schema, from)
	}
	if from == SchemaVersion {
		return from, from, nil
	}
	if from == 0 {
		_, err := tx.Exec(ctx, `CREATE TABLE `+migrationsTable+` (
			version     integer PRIMARY KEY,
			description text NOT NULL,
			applied_at  timestamptz NOT NULL DEFAULT now()
		)`)
		if err != nil {
			return 0, 0, err
		}
	}
	for _, m := range migrations[from:] {
		if _, err := tx.Exec(ctx, m.SQL); err != nil {
			return 0, 0, fmt.Errorf("migrate schema %s to version %d: %w", schema, m.Version, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO `+migrationsTable+`(version, description) VALUES($1, $2)`, m.Version, m.Description); err != nil {
			return 0, 0, err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, err
	}
	return from, SchemaVersion, nil
}

func currentVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var v int
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) (err error) {
		v, err = readVersion(ctx, tx)
		return err
	})
	return v, err
}

func tooNew(schema string, v int) error {
	return fmt.Errorf("schema %s has version %d, this kinship knows up to %d; use a newer kinship: %w",
		schema, v, SchemaVersion, ErrSchemaTooNew)
}

// AppliedMigration is a row of the migrations table.
type AppliedMigration struct {
	Version     int
	Description string
	AppliedAt   time.Time
}

// Migrations lists the migrations applied to the store, oldest first.
func (db *DB) Migrations(ctx context.Context) ([]AppliedMigration, error) {
	rows, err := db.pool.Query(ctx, `SELECT version, description, applied_at FROM `+migrationsTable+` ORDER BY version`)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AppliedMigration, error) {
		var m AppliedMigration
		err := r.Scan(&m.Version, &m.Description, &m.AppliedAt)
		m.AppliedAt = m.AppliedAt.UTC()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return out, nil
}
