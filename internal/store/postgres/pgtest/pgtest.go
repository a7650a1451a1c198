// Package pgtest gives tests a PostgreSQL store of their own.
//
// The server is named by $KINSHIP_TEST_POSTGRES (.ci/postgres.sh sets one up
// and prints the URL). Without it the tests skip, except under CI=true,
// where a missing URL or an unreachable server fails them: CI must never
// pass by skipping the PostgreSQL backend.
//
// Each store lives in a schema of its own, created for the test and dropped
// when it ends, so tests and packages run in parallel against one database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kinship-dev/kinship/internal/store/postgres"
)

// Env names the variable holding the test server's URL.
const Env = "KINSHIP_TEST_POSTGRES"

var (
	reachOnce sync.Once
	reachErr  error
)

// URL returns the test server's URL, or skips (fails under CI=true) when
// there is none or it cannot be reached.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: under CI=true the PostgreSQL tests must run (bash .ci/postgres.sh prints the URL)", Env)
		}
		t.Skipf("%s not set: PostgreSQL tests skipped (bash .ci/postgres.sh prints a URL)", Env)
	}
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, u)
		if err != nil {
			reachErr = err
			return
		}
		reachErr = c.Ping(ctx)
		c.Close(ctx)
	})
	if reachErr != nil {
		// The URL was given: an unreachable server is a failure, never a skip.
		t.Fatalf("PostgreSQL at %s (from %s) is unreachable: %v", postgres.Redact(u), Env, reachErr)
	}
	return u
}

// NewSchema creates an empty schema with a unique name, drops it when the
// test ends, and returns its name and a URL whose search_path selects it.
func NewSchema(t testing.TB) (schema, schemaURL string) {
	t.Helper()
	base := URL(t)
	var b [6]byte
	rand.Read(b[:])
	schema = "kt_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("KINSHIP_TEST_KEEP_SCHEMA") != "" {
			t.Logf("kept schema %s", schema)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return schema, u.String()
}

// Open returns a new, empty store in a schema of its own. The store is
// closed before the schema is dropped.
func Open(t testing.TB) *postgres.DB {
	t.Helper()
	schema, u := NewSchema(t)
	db, err := postgres.Open(context.Background(), u, postgres.Options{MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	if db.Schema() != schema {
		t.Fatalf("store opened in schema %q, want %q", db.Schema(), schema)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Exec runs a statement in the store's schema, behind the store's back.
func Exec(t testing.TB, db *postgres.DB, sql string, args ...any) {
	t.Helper()
	base := URL(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `SET search_path TO `+pgx.Identifier{db.Schema()}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}
