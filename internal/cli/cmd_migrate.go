package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"github.com/kinship-dev/kinship/internal/store/postgres"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// runMigrate brings a store's schema to the version this kinship writes
// and says which versions it found and left. Every command migrates on
// open anyway; this one does it on purpose, for an administrator who wants
// to see it happen (or fail) before workers start.
func runMigrate(e *env, args []string) int {
	fs := newFlags(e, "migrate")
	db := storeFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) > 0 {
		return usageErr(e, fs, "migrate takes no arguments")
	}
	path, err := resolveDB(*db)
	if err != nil {
		return fail(e, err)
	}
	if isStoreURL(path) {
		return migratePostgres(e, path)
	}
	return migrateSQLite(e, path)
}

func migratePostgres(e *env, u string) int {
	from, to, err := postgres.Migrate(e.ctx, u, postgres.Options{})
	if err != nil {
		return fail(e, err)
	}
	st, err := postgres.Open(e.ctx, u, postgres.Options{MaxConns: 1})
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()
	ms, err := st.Migrations(e.ctx)
	if err != nil {
		return fail(e, err)
	}
	fmt.Fprintf(e.stdout, "store %s (PostgreSQL, schema %s)\n", postgres.Redact(u), st.Schema())
	printVersions(e, from, to, postgres.SchemaVersion)
	for _, m := range ms {
		fmt.Fprintf(e.stdout, "  %3d  %s  %s\n", m.Version, m.AppliedAt.Format("2006-01-02 15:04:05Z"), m.Description)
	}
	return ExitOK
}

func migrateSQLite(e *env, path string) int {
	from, err := sqliteVersion(e.ctx, path)
	if err != nil {
		return fail(e, err)
	}
	st, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()
	to, err := st.SchemaVersion(e.ctx)
	if err != nil {
		return fail(e, err)
	}
	fmt.Fprintf(e.stdout, "store %s (SQLite)\n", st.Path())
	printVersions(e, from, to, sqlite.SchemaVersion)
	return ExitOK
}

func printVersions(e *env, from, to, writes int) {
	switch {
	case from == 0:
		fmt.Fprintf(e.stdout, "schema version %d: created (this kinship writes %d)\n", to, writes)
	case from < to:
		fmt.Fprintf(e.stdout, "schema version %d: migrated from %d (this kinship writes %d)\n", to, from, writes)
	default:
		fmt.Fprintf(e.stdout, "schema version %d: already current (this kinship writes %d)\n", to, writes)
	}
}

// sqliteVersion reads a SQLite store's schema version without changing
// the file (sqlite.Open would migrate it first): 0 when there is no file
// or it holds no kinship tables yet. sqlite.Open judges anything odd.
func sqliteVersion(ctx context.Context, path string) (int, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return 0, err
	}
	if _, err := os.Stat(abs); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: "mode=ro"}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var s string
	err = db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'schema_version'`).Scan(&s)
	if err != nil {
		return 0, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, nil
	}
	return v, nil
}
