package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/postgres"
	"github.com/kinship-dev/kinship/internal/store/postgres/pgtest"
	"github.com/kinship-dev/kinship/internal/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) model.Store {
		db := pgtest.Open(t)
		_, u := schemaURL(t, db)
		// Through a new pool: the suite closes db.
		storetest.CheckAtCleanup(t, func() (storetest.Checker, error) {
			return postgres.Open(context.Background(), u, postgres.Options{MaxConns: 2})
		})
		return db
	})
}

func TestSchemaVersion(t *testing.T) {
	db := pgtest.Open(t)
	ctx := context.Background()
	v, err := db.SchemaVersion(ctx)
	if err != nil || v != postgres.SchemaVersion {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, postgres.SchemaVersion)
	}
	ms, err := db.Migrations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != postgres.SchemaVersion || ms[len(ms)-1].Version != postgres.SchemaVersion || ms[0].Description == "" {
		t.Errorf("Migrations = %+v", ms)
	}
}

func TestMigrateAndReopen(t *testing.T) {
	ctx := context.Background()
	_, u := pgtest.NewSchema(t)
	from, to, err := postgres.Migrate(ctx, u, postgres.Options{})
	if err != nil || from != 0 || to != postgres.SchemaVersion {
		t.Fatalf("Migrate of an empty schema = %d, %d, %v; want 0, %d", from, to, err, postgres.SchemaVersion)
	}
	from, to, err = postgres.Migrate(ctx, u, postgres.Options{})
	if err != nil || from != postgres.SchemaVersion || to != postgres.SchemaVersion {
		t.Fatalf("second Migrate = %d, %d, %v", from, to, err)
	}
	db, err := postgres.Open(ctx, u, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, fns := storetest.MakeSample(1, 2000)
	if _, err := db.PutSample(ctx, s, fns); err != nil {
		t.Fatal(err)
	}
	if err := db.SetLabels(ctx, s.SHA256, model.Labels{Family: "kept"}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	db, err = postgres.Open(ctx, u, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.GetSample(ctx, s.SHA256)
	if err != nil || got.Labels.Family != "kept" || got.Stats != s.Stats {
		t.Errorf("after reopen: %+v, %v", got, err)
	}
	if err := db.Check(ctx); err != nil {
		t.Error(err)
	}
}

// TestConcurrentOpen opens one fresh schema from many goroutines at once:
// the schema must be created and migrated exactly once.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	_, u := pgtest.NewSchema(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.Open(ctx, u, postgres.Options{MaxConns: 2})
			if err == nil {
				db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.Open(ctx, u, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := db.Migrations(ctx)
	if err != nil || len(ms) != postgres.SchemaVersion {
		t.Fatalf("Migrations = %+v, %v", ms, err)
	}
}

func TestNewerSchema(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	pgtest.Exec(t, db, `INSERT INTO kinship_migrations(version, description) VALUES($1, 'from the future')`, postgres.SchemaVersion+1)
	_, u := schemaURL(t, db)
	_, err := postgres.Open(ctx, u, postgres.Options{})
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("version %d", postgres.SchemaVersion+1)) {
		t.Errorf("error does not name the version: %v", err)
	}
	if strings.Contains(err.Error(), ":kinship@") {
		t.Errorf("error shows the password: %v", err)
	}
	t.Log(err)
}

func TestNotKinship(t *testing.T) {
	schema, u := pgtest.NewSchema(t)
	ctx := context.Background()
	c, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, `CREATE TABLE `+schema+`.samples(x int)`); err != nil {
		t.Fatal(err)
	}
	if db, err := postgres.Open(ctx, u, postgres.Options{}); err == nil {
		db.Close()
		t.Fatal("Open of a schema with foreign tables succeeded")
	} else {
		t.Log(err)
	}
}

// schemaURL returns a URL selecting db's schema.
func schemaURL(t *testing.T, db *postgres.DB) (string, string) {
	t.Helper()
	base := pgtest.URL(t)
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return db.Schema(), base + sep + "search_path=" + db.Schema()
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	var shas []string
	for i := uint64(0); i < 3; i++ {
		s, fns := storetest.MakeSample(i, 100)
		if _, err := db.PutSample(ctx, s, fns); err != nil {
			t.Fatal(err)
		}
		shas = append(shas, s.SHA256)
	}
	if err := db.Check(ctx); err != nil {
		t.Fatalf("Check of a sound store: %v", err)
	}
	// Damage it behind the store's back.
	id := func(sha string) string { return "('x' || left('" + sha + "', 16))::bit(64)::bigint" }
	pgtest.Exec(t, db, `DELETE FROM functions WHERE sample_id = `+id(shas[0])+` AND addr IN
		(SELECT addr FROM functions WHERE sample_id = `+id(shas[0])+` ORDER BY addr LIMIT 3)`)
	pgtest.Exec(t, db, `UPDATE functions SET minhash = '\x00' WHERE sample_id = `+id(shas[1])+` AND addr =
		(SELECT min(addr) FROM functions WHERE sample_id = `+id(shas[1])+`)`)
	pgtest.Exec(t, db, `INSERT INTO functions SELECT 42, addr, size, blocks, instrs, exact, origin, name, consts, imports, minhash
		FROM functions WHERE sample_id = `+id(shas[2])+` LIMIT 2`)
	err := db.Check(ctx)
	if err == nil {
		t.Fatal("Check missed damage")
	}
	t.Log(err)
	for _, want := range []string{"Stats.Functions is 100 but 97", "1 functions have a malformed MinHash",
		"2 functions belong to sample id 42, which does not exist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error lacks %q", want)
		}
	}
}

// TestSampleIDInSQL pins the documented rule that SQL can compute a
// sample's id from its SHA-256.
func TestSampleIDInSQL(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	s, fns := storetest.MakeSample(7, 3)
	if _, err := db.PutSample(ctx, s, fns); err != nil {
		t.Fatal(err)
	}
	pgtest.Exec(t, db, `DO $$ BEGIN
		IF (SELECT count(*) FROM samples WHERE sample_id = ('x' || left(sha256, 16))::bit(64)::bigint) <> 1 THEN
			RAISE EXCEPTION 'sample_id is not the first 8 bytes of the SHA-256';
		END IF; END $$`)
}

// TestSampleIDCollision stores a sample under the id another SHA-256 maps
// to: storing that other sample must fail, not report it as present.
func TestSampleIDCollision(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	a, afns := storetest.MakeSample(1, 3)
	if _, err := db.PutSample(ctx, a, afns); err != nil {
		t.Fatal(err)
	}
	b, bfns := storetest.MakeSample(2, 3)
	b.SHA256 = a.SHA256[:16] + strings.Repeat("0", 48)
	added, err := db.PutSample(ctx, b, bfns)
	if err == nil || added {
		t.Fatalf("PutSample of a colliding sample = %v, %v; want an error", added, err)
	}
	t.Log(err)
	if _, err := db.GetSample(ctx, b.SHA256); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("GetSample of the rejected sample: %v", err)
	}
	if _, err := db.Functions(ctx, b.SHA256); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("Functions of the rejected sample: %v", err)
	}
	if err := db.DeleteSample(ctx, b.SHA256); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("DeleteSample of the rejected sample: %v", err)
	}
	if got, err := db.Functions(ctx, a.SHA256); err != nil || len(got) != 3 {
		t.Errorf("the first sample lost its functions: %d, %v", len(got), err)
	}
}

// TestText: strings PostgreSQL text cannot hold are refused with the field
// named, and nothing is stored.
func TestText(t *testing.T) {
	ctx := context.Background()
	db := pgtest.Open(t)
	s, fns := storetest.MakeSample(3, 5)
	bad := s
	bad.Labels.Family = "caf\xe9"
	if _, err := db.PutSample(ctx, bad, fns); err == nil || !strings.Contains(err.Error(), "family") {
		t.Errorf("PutSample with a Latin-1 family: %v", err)
	}
	if _, err := db.GetSample(ctx, s.SHA256); !errors.Is(err, model.ErrNotFound) {
		t.Errorf("refused sample was stored: %v", err)
	}
	if _, err := db.PutSample(ctx, s, fns); err != nil {
		t.Fatal(err)
	}
	if err := db.SetLabels(ctx, s.SHA256, model.Labels{Actor: "nul\x00"}); err == nil || !strings.Contains(err.Error(), "actor") {
		t.Errorf("SetLabels with NUL: %v", err)
	}
}

func TestSchemaOption(t *testing.T) {
	ctx := context.Background()
	schema, _ := pgtest.NewSchema(t)
	db, err := postgres.Open(ctx, pgtest.URL(t), postgres.Options{Schema: schema})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Schema() != schema {
		t.Errorf("Schema = %q, want %q", db.Schema(), schema)
	}
	s, fns := storetest.MakeSample(1, 10)
	if _, err := db.PutSample(ctx, s, fns); err != nil {
		t.Fatal(err)
	}
	c, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	var n int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.functions`).Scan(&n); err != nil || n != 10 {
		t.Errorf("functions in schema %s: %d, %v", schema, n, err)
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgresql://h/db?password=secret&user=u":      "postgresql://h/db?password=xxxxx&user=u",
		"postgres://u@h/db":                             "postgres://u@h/db",
	} {
		if got := postgres.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
	if !postgres.IsURL("postgresql://x") || !postgres.IsURL("postgres://x") || postgres.IsURL("/tmp/postgres://x") {
		t.Error("IsURL")
	}
}

func TestBadURL(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://u:secret@h:notaport/db", postgres.Options{})
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Errorf("Open of a malformed URL: %v", err)
	}
}

// sortedSHAs lists a store's samples' SHA-256s.
func sortedSHAs(t *testing.T, st model.Store) []string {
	t.Helper()
	all, err := st.Samples(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range all {
		out = append(out, s.SHA256)
	}
	if !slices.IsSorted(out) {
		t.Errorf("Samples not ordered by SHA-256")
	}
	return out
}
