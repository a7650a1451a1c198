package postgres_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/postgres"
	"github.com/kinship-dev/kinship/internal/store/postgres/pgtest"
	"github.com/kinship-dev/kinship/internal/store/storetest"
)

var (
	buildOnce sync.Once
	binDir    string
	binErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// kinshipBinary builds the real command once per test run: the tests below
// run it as separate processes, the way workers share a database.
func kinshipBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "kinship-bin-"); binErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, "kinship"), "github.com/kinship-dev/kinship/cmd/kinship")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "kinship")
}

// kinship runs the binary and returns its standard output; stderr goes
// to the test log when it fails.
func kinship(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(kinshipBinary(t), args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "KINSHIP_DB=")
	if err := cmd.Run(); err != nil {
		t.Fatalf("kinship %s: %v\n%s%s%s", redactArgs(args), err, stdout.String(), stderr.String(), cliHint(stderr.String()))
	}
	return stdout.String()
}

func redactArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if postgres.IsURL(a) {
			out[i] = postgres.Redact(a)
		}
	}
	return strings.Join(out, " ")
}

// cliHint explains the failures of a kinship whose command line does not
// know PostgreSQL yet.
func cliHint(stderr string) string {
	if strings.Contains(stderr, "unknown command") || strings.Contains(stderr, "postgres:") && strings.Contains(stderr, "no such file") {
		return "\n(the CLI must route postgres:// URLs through openStoreURL and register migrate, export and import: see internal/cli/store_open.go)"
	}
	return ""
}

var ingestLine = regexp.MustCompile(`ingested (\d+) files: (\d+) added \((\d+) functions\), (\d+) already stored, (\d+) failed`)

// TestManyWriters runs four `kinship ingest` processes into one PostgreSQL
// schema at once, over overlapping sets of files, while a reader polls.
// Every sample must be stored exactly once (exactly one process reports
// adding it) with all its functions, the store must hold what a sequential
// ingest into SQLite holds, and the reader must never see a sample whose
// stored functions differ in number from its count.
func TestManyWriters(t *testing.T) {
	ctx := context.Background()
	_, u := pgtest.NewSchema(t)
	bin := kinshipBinary(t)
	// Create the schema first, as an administrator would with `kinship
	// migrate`; the writers also race to migrate in TestConcurrentOpen.
	if out := kinship(t, "migrate", "--db", u); !strings.Contains(out, "schema version "+strconv.Itoa(postgres.SchemaVersion)) {
		t.Fatalf("migrate said:\n%s", out)
	}

	dirs, err := filepath.Glob(filepath.Join(fixtures, "bin", "*"))
	if err != nil || len(dirs) < 6 {
		t.Fatalf("fixture folders: %v, %v", dirs, err)
	}
	const procs, span = 4, 5 // each process takes 5 consecutive folders, wrapping
	sets := make([][]string, procs)
	union := map[string]bool{}
	for p := range sets {
		for k := 0; k < span; k++ {
			d := dirs[(p*2+k)%len(dirs)]
			sets[p] = append(sets[p], d)
			union[d] = true
		}
	}

	db, err := postgres.Open(ctx, u, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := pgx.Connect(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(ctx)
	if _, err := raw.Exec(ctx, `SET search_path TO `+db.Schema()); err != nil {
		t.Fatal(err)
	}

	var (
		done      = make(chan struct{})
		polls     atomic.Int64
		maxSeen   atomic.Int64
		readerErr error
		rwg       sync.WaitGroup
	)
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			// One statement, one snapshot: a half-written sample would show
			// here as a count mismatch.
			var bad int
			if err := raw.QueryRow(ctx, `SELECT count(*) FROM samples s
				WHERE s.functions <> (SELECT count(*) FROM functions f WHERE f.sample_id = s.sample_id)`).Scan(&bad); err != nil {
				readerErr = err
				return
			}
			if bad != 0 {
				readerErr = fmt.Errorf("a reader saw %d samples without all their functions", bad)
				return
			}
			// And through the store's API, sample by sample.
			all, err := db.Samples(ctx)
			if err != nil {
				readerErr = err
				return
			}
			for _, s := range all {
				fns, err := db.Functions(ctx, s.SHA256)
				if err != nil && !errors.Is(err, model.ErrNotFound) {
					readerErr = err
					return
				}
				if err == nil && len(fns) != s.Stats.Functions {
					readerErr = fmt.Errorf("sample %s read with %d functions, count %d", s.SHA256, len(fns), s.Stats.Functions)
					return
				}
			}
			if int64(len(all)) > maxSeen.Load() {
				maxSeen.Store(int64(len(all)))
			}
			polls.Add(1)
			time.Sleep(20 * time.Millisecond)
		}
	}()

	start := time.Now()
	outs := make([]bytes.Buffer, procs)
	errs := make([]bytes.Buffer, procs)
	cmds := make([]*exec.Cmd, procs)
	for p := range cmds {
		args := append([]string{"ingest", "--db", u, "--quiet", "--workers", "1"}, sets[p]...)
		cmds[p] = exec.Command(bin, args...)
		cmds[p].Stdout, cmds[p].Stderr = &outs[p], &errs[p]
		if err := cmds[p].Start(); err != nil {
			t.Fatal(err)
		}
	}
	var runErrs []error
	for p, c := range cmds {
		if err := c.Wait(); err != nil {
			runErrs = append(runErrs, fmt.Errorf("process %d: %v\n%s%s%s", p, err, outs[p].String(), errs[p].String(), cliHint(errs[p].String())))
		}
	}
	elapsed := time.Since(start)
	pollsDuring := polls.Load()
	close(done)
	rwg.Wait()
	if err := errors.Join(runErrs...); err != nil {
		t.Fatal(err)
	}
	if readerErr != nil {
		t.Fatal(readerErr)
	}

	added := 0
	for p := range outs {
		m := ingestLine.FindStringSubmatch(outs[p].String())
		if m == nil {
			t.Fatalf("process %d printed no summary:\n%s", p, outs[p].String())
		}
		n, _ := strconv.Atoi(m[2])
		added += n
		t.Logf("process %d: %s", p, m[0])
	}

	if err := db.Check(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := db.Samples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if added != len(all) {
		t.Errorf("processes report %d samples added, the store holds %d: some sample was added twice or lost", added, len(all))
	}
	t.Logf("%d processes, %d samples in %v; the reader made %d passes during ingest (at most %d samples seen)",
		procs, len(all), elapsed.Round(time.Millisecond), pollsDuring, maxSeen.Load())
	if pollsDuring == 0 {
		t.Log("warning: ingest finished before the reader's first pass")
	}

	// The same files ingested one by one into SQLite give the same store,
	// ingest times aside.
	lite := openSQLite(t)
	var items []ingest.Item
	for d := range union {
		more, err := ingest.Expand([]string{d}, model.Labels{}, false)
		if err != nil {
			t.Fatal(err)
		}
		items = append(items, more...)
	}
	ingest.Run(ctx, lite, items, ingest.Options{Workers: 2}, nil)
	storetest.SameContentIgnoringTimes(t, lite, db)
}

// TestCLIExchange moves a collection between the backends with the
// commands an administrator would type: sqlite → export → import into
// PostgreSQL → export (byte-identical) → import into a new SQLite file →
// export (byte-identical).
func TestCLIExchange(t *testing.T) {
	dir := t.TempDir()
	_, u := pgtest.NewSchema(t)
	src := filepath.Join(dir, "src.db")
	s1 := openSQLiteAt(t, src)
	fillCollection(t, s1)
	s1.Close()

	f1, f2, f3 := filepath.Join(dir, "1.jsonl.gz"), filepath.Join(dir, "2.jsonl.gz"), filepath.Join(dir, "3.jsonl.gz")
	kinship(t, "export", "--db", src, f1)
	if out := kinship(t, "import", "--db", u, f1); !strings.Contains(out, "already stored") {
		t.Errorf("import said: %s", out)
	}
	kinship(t, "export", "--db", u, f2)
	dst := filepath.Join(dir, "dst.db")
	kinship(t, "import", "--db", dst, f2)
	kinship(t, "export", "--db", dst, f3)
	b1, b2, b3 := readFile(t, f1), readFile(t, f2), readFile(t, f3)
	if !bytes.Equal(b1, b2) || !bytes.Equal(b1, b3) {
		t.Fatalf("exports differ: %d, %d, %d bytes", len(b1), len(b2), len(b3))
	}
	a := openSQLiteAt(t, src)
	p, err := postgres.Open(context.Background(), u, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	storetest.SameContent(t, a, p)
	storetest.SameContent(t, a, openSQLiteAt(t, dst))

	out := kinship(t, "migrate", "--db", u)
	if !strings.Contains(out, "already current") || strings.Contains(out, ":kinship@") {
		t.Errorf("migrate said:\n%s", out)
	}
	t.Logf("kinship migrate:\n%s", out)
	if out := kinship(t, "stats", "--db", u); !strings.Contains(out, "schema version") {
		t.Errorf("stats said:\n%s", out)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
