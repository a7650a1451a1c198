package sqlite

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/storetest"
)

// childEnv makes the test binary act as one of several writer processes in
// TestMultiProcess.
const childEnv = "KINSHIP_STORE_TEST_CHILD"

func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(child(v))
	}
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

func openTemp(t testing.TB) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "kinship.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) model.Store {
		db := openTemp(t)
		storetest.CheckAtCleanup(t, func() (storetest.Checker, error) { return Open(db.Path(), Options{}) })
		return db
	})
}

func TestSchemaVersion(t *testing.T) {
	if len(migrations) != SchemaVersion {
		t.Fatalf("len(migrations) = %d, SchemaVersion = %d", len(migrations), SchemaVersion)
	}
	db := openTemp(t)
	defer db.Close()
	v, err := db.SchemaVersion(context.Background())
	if err != nil || v != SchemaVersion {
		t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, SchemaVersion)
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "kinship.db")
	db, err := Open(path, Options{})
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
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got, err := db.GetSample(ctx, s.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got.Labels.Family != "kept" || got.Stats != s.Stats || got.Name != s.Name {
		t.Errorf("after reopen: %+v", got)
	}
	gfns, err := db.Functions(ctx, s.SHA256)
	if err != nil || len(gfns) != len(fns) || !reflect.DeepEqual(gfns[1234].MinHash, fns[1234].MinHash) {
		t.Errorf("after reopen: %d functions, %v", len(gfns), err)
	}
	if err := db.Check(ctx); err != nil {
		t.Error(err)
	}
}

func rawOpen(t *testing.T, path string) *sql.DB {
	t.Helper()
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	return raw
}

func TestNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kinship.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	raw := rawOpen(t, path)
	if _, err := raw.Exec(`UPDATE meta SET value = ? WHERE key = 'schema_version'`, strconv.Itoa(SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	_, err = Open(path, Options{})
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: err = %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "schema version "+strconv.Itoa(SchemaVersion+1)) {
		t.Errorf("error does not name the version: %v", err)
	}
	t.Log(err)
}

func TestNotKinship(t *testing.T) {
	path := filepath.Join(t.TempDir(), "other.db")
	raw := rawOpen(t, path)
	if _, err := raw.Exec(`CREATE TABLE t(x)`); err != nil {
		t.Fatal(err)
	}
	raw.Close()
	if db, err := Open(path, Options{}); err == nil {
		db.Close()
		t.Fatal("Open of a foreign database succeeded")
	} else {
		t.Log(err)
	}
}

// TestV1Format writes a version 1 database by hand, the way the first
// release laid it out, and reads it through the current code. It pins the
// on-disk encoding: if it fails, released databases would be misread.
func TestV1Format(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v1.db")
	raw := rawOpen(t, path)
	stmts := []string{
		migrations[0],
		`INSERT INTO meta(key, value) VALUES('schema_version', '1')`,
		`INSERT INTO samples VALUES(7, 'abc', 'a.exe', 1234, 'pe', 'amd64', 'm', 's1', 's256', 'imp', 't', 'ss',
			'fam', 'act', 'src', 1, 'go', '', 1, 2, 99, 4096, 2048, '["x","y"]', 1700000000123456, 'prog')`,
	}
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	mh := make([]byte, 256)
	for i := 0; i < 64; i++ {
		binary.LittleEndian.PutUint32(mh[4*i:], uint32(i)*0x01010101)
	}
	consts := []byte{0x01, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01} // 1, 300, 2^64-1
	ins := `INSERT INTO functions(sample_id, addr, size, blocks, instrs, exact, origin, name, consts, imports, minhash)
		VALUES(?,?,?,?,?,?,?,?,?,?,?)`
	if _, err := raw.Exec(ins, 7, -1, 10, 2, 3, -2, 4, "main.f", consts, "a\x1fb", mh); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(ins, 7, 0x401000, 5, 1, 1, 42, 0, "", nil, nil, mh); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	s, err := db.GetSample(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	want := model.Sample{
		SHA256: "abc", Name: "a.exe", Size: 1234, Format: model.FormatPE, Arch: model.ArchAMD64,
		Hashes: model.FileHashes{MD5: "m", SHA1: "s1", SHA256: "s256", Imphash: "imp", TLSH: "t", Ssdeep: "ss"},
		Labels: model.Labels{Family: "fam", Actor: "act", Source: "src"},
		Common: true, Language: "go", Program: "prog", SigVersion: 1,
		Stats:      model.CodeStats{Functions: 2, Instructions: 99, CodeBytes: 4096, CoveredBytes: 2048},
		Anomalies:  []string{"x", "y"},
		IngestedAt: time.Date(2023, 11, 14, 22, 13, 20, 123456000, time.UTC),
	}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("sample:\n got %+v\nwant %+v", s, want)
	}
	fns, err := db.Functions(ctx, "abc")
	if err != nil {
		t.Fatal(err)
	}
	var wmh [64]uint32
	for i := range wmh {
		wmh[i] = uint32(i) * 0x01010101
	}
	wantFns := []model.Function{
		{Addr: 0x401000, Size: 5, Blocks: 1, Instrs: 1, Exact: 42, MinHash: wmh},
		{Addr: ^uint64(0), Size: 10, Blocks: 2, Instrs: 3, Exact: ^uint64(0) - 1, MinHash: wmh,
			Consts: []uint64{1, 300, ^uint64(0)}, Imports: []string{"a", "b"}, Name: "main.f", Origin: model.OriginRuntime},
	}
	if !reflect.DeepEqual(fns, wantFns) {
		t.Errorf("functions:\n got %+v\nwant %+v", fns, wantFns)
	}
	if err := db.Check(ctx); err != nil {
		t.Error(err)
	}
}

// TestV2Format pins schema version 2's encoding: a sample of signature
// version 2 stores 64 uint16 (128 bytes), one of version 1 still 64 uint32.
func TestV2Format(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v2.db")
	raw := rawOpen(t, path)
	stmts := []string{
		migrations[0], migrations[1],
		`INSERT INTO meta(key, value) VALUES('schema_version', '2')`,
		`INSERT INTO samples VALUES(7, 'abc', 'a.exe', 1234, 'pe', 'amd64', 'm', 's1', 's256', 'imp', 't', 'ss',
			'fam', 'act', 'src', 0, 'c', '', 2, 1, 1, 16, 16, NULL, NULL, '')`,
		`INSERT INTO samples VALUES(8, 'def', 'b.exe', 1234, 'pe', 'amd64', 'm', 's1', 's256', 'imp', 't', 'ss',
			'fam', 'act', 'src', 0, 'c', '', 1, 1, 1, 16, 16, NULL, NULL, '')`,
	}
	for _, s := range stmts {
		if _, err := raw.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	mh16 := make([]byte, 128)
	mh32 := make([]byte, 256)
	var want16, want32 [64]uint32
	for i := 0; i < 64; i++ {
		binary.LittleEndian.PutUint16(mh16[2*i:], uint16(i)*0x0101)
		binary.LittleEndian.PutUint32(mh32[4*i:], uint32(i)*0x01010101)
		want16[i], want32[i] = uint32(i)*0x0101, uint32(i)*0x01010101
	}
	ins := `INSERT INTO functions(sample_id, addr, size, blocks, instrs, exact, origin, name, consts, imports, minhash)
		VALUES(?,?,?,?,?,?,?,?,?,?,?)`
	if _, err := raw.Exec(ins, 7, 0x401000, 5, 1, 1, 42, 0, "", nil, nil, mh16); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(ins, 8, 0x401000, 5, 1, 1, 42, 0, "", nil, nil, mh32); err != nil {
		t.Fatal(err)
	}
	raw.Close()

	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for sha, want := range map[string][64]uint32{"abc": want16, "def": want32} {
		fns, err := db.Functions(ctx, sha)
		if err != nil || len(fns) != 1 || fns[0].MinHash != want {
			t.Errorf("%s: %+v, %v", sha, fns, err)
		}
	}
	n := 0
	err = db.ForEachSample(ctx, func(sf model.SampleFunctions) error {
		n++
		if sf.Functions[0].MinHash != map[int][64]uint32{1: want32, 2: want16}[sf.Sample.SigVersion] {
			t.Errorf("ForEachSample %s: %x", sf.Sample.SHA256, sf.Functions[0].MinHash[:4])
		}
		return nil
	})
	if err != nil || n != 2 {
		t.Errorf("ForEachSample: %d samples, %v", n, err)
	}
	if err := db.Check(ctx); err != nil {
		t.Error(err)
	}
	// A 128-byte vector in a version 1 sample is malformed.
	if _, err := db.w.Exec(`UPDATE functions SET minhash = ? WHERE sample_id = 8`, mh16); err != nil {
		t.Fatal(err)
	}
	if err := db.Check(ctx); err == nil || !strings.Contains(err.Error(), "malformed MinHash") {
		t.Errorf("Check of a short version 1 vector: %v", err)
	}
}

// TestFixtures opens every database in testdata (one per released schema
// version, see testdata/README.md) through a copy, since Open migrates.
func TestFixtures(t *testing.T) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "*.db"))
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), filepath.Base(p))
			copyFile(t, p, dst)
			db, err := Open(dst, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			ctx := context.Background()
			if err := db.Check(ctx); err != nil {
				t.Fatal(err)
			}
			n := 0
			err = db.ForEachSample(ctx, func(sf model.SampleFunctions) error {
				n++
				if len(sf.Functions) != sf.Sample.Stats.Functions {
					return fmt.Errorf("%s: %d functions, stats say %d", sf.Sample.SHA256, len(sf.Functions), sf.Sample.Stats.Functions)
				}
				return nil
			})
			if err != nil || n == 0 {
				t.Fatalf("read %d samples: %v", n, err)
			}
		})
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	for i := uint64(0); i < 3; i++ {
		s, fns := storetest.MakeSample(i, 100)
		if _, err := db.PutSample(ctx, s, fns); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Check(ctx); err != nil {
		t.Fatalf("Check of a sound store: %v", err)
	}
	// Damage it behind the store's back.
	raw := rawOpen(t, db.Path())
	if _, err := raw.Exec(`DELETE FROM functions WHERE sample_id = 1 AND addr IN (SELECT addr FROM functions WHERE sample_id = 1 LIMIT 3)`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`UPDATE functions SET minhash = x'00' WHERE sample_id = 2 AND addr = (SELECT min(addr) FROM functions WHERE sample_id = 2)`); err != nil {
		t.Fatal(err)
	}
	err := db.Check(ctx)
	if err == nil {
		t.Fatal("Check missed damage")
	}
	t.Log(err)
	for _, want := range []string{"Stats.Functions is 100 but 97", "1 functions have a malformed MinHash"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error lacks %q", want)
		}
	}
}

func TestForEachSample(t *testing.T) {
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	var want []model.SampleFunctions
	for i := uint64(0); i < 6; i++ {
		n := int(i * 37)
		s, fns := storetest.MakeSample(i+50, n)
		if i == 3 {
			fns[n-1].Addr = 0xffffffff81000000 // kernel address
		}
		if _, err := db.PutSample(ctx, s, fns); err != nil {
			t.Fatal(err)
		}
		want = append(want, model.SampleFunctions{Sample: s, Functions: fns})
	}
	i := 0
	err := db.ForEachSample(ctx, func(sf model.SampleFunctions) error {
		w := want[i]
		i++
		if sf.Sample.SHA256 != w.Sample.SHA256 {
			return fmt.Errorf("sample %d is %s, want %s", i, sf.Sample.SHA256, w.Sample.SHA256)
		}
		got, err := db.Functions(ctx, w.Sample.SHA256)
		if err != nil {
			return err
		}
		if len(got) == 0 && len(sf.Functions) == 0 {
			return nil
		}
		if !reflect.DeepEqual(sf.Functions, got) {
			return fmt.Errorf("sample %s: ForEachSample and Functions differ", w.Sample.SHA256)
		}
		if got[len(got)-1].Addr != w.Functions[len(w.Functions)-1].Addr {
			return fmt.Errorf("sample %s: last address %#x", w.Sample.SHA256, got[len(got)-1].Addr)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(want) {
		t.Fatalf("ForEachSample visited %d samples, want %d", i, len(want))
	}
	stop := errors.New("stop")
	if err := db.ForEachSample(ctx, func(model.SampleFunctions) error { return stop }); err != stop {
		t.Errorf("ForEachSample returned %v, want fn's error", err)
	}
}

func TestArbitraryStrings(t *testing.T) {
	// Symbol and import names come from hostile binaries: any bytes must
	// survive, except U+001F in an import name, which is refused.
	ctx := context.Background()
	db := openTemp(t)
	defer db.Close()
	s, fns := storetest.MakeSample(1, 2)
	fns[0].Name = "nul\x00inside\xff\xfe"
	fns[0].Imports = []string{"\x00", "bad\xc3utf8", ""}
	if _, err := db.PutSample(ctx, s, fns); err != nil {
		t.Fatal(err)
	}
	got, err := db.Functions(ctx, s.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Name != fns[0].Name || !slices.Equal(got[0].Imports, fns[0].Imports) {
		t.Errorf("got %q %q, want %q %q", got[0].Name, got[0].Imports, fns[0].Name, fns[0].Imports)
	}

	s2, fns2 := storetest.MakeSample(2, 2)
	fns2[1].Imports = []string{"a\x1fb"}
	if _, err := db.PutSample(ctx, s2, fns2); err == nil || !strings.Contains(err.Error(), s2.SHA256) {
		t.Errorf("import with U+001F: err = %v, want an error naming the sample", err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/xdg/data")
	if p, err := DefaultPath(); err != nil || p != "/xdg/data/kinship/kinship.db" {
		t.Errorf("with XDG_DATA_HOME: %q, %v", p, err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, xdg := range []string{"", "relative/ignored"} {
		t.Setenv("XDG_DATA_HOME", xdg)
		if p, err := DefaultPath(); err != nil || p != filepath.Join(home, ".local/share/kinship/kinship.db") {
			t.Errorf("XDG_DATA_HOME=%q: %q, %v", xdg, p, err)
		}
	}
	// Open creates the directory.
	p, _ := DefaultPath()
	db, err := Open(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.Path() != p {
		t.Errorf("Path = %q, want %q", db.Path(), p)
	}
	if _, err := os.Stat(p); err != nil {
		t.Error(err)
	}
}

func TestOddPath(t *testing.T) {
	// Characters that mean something in a URI must be taken literally.
	dir := filepath.Join(t.TempDir(), "a dir?with#odd%20chars&_txlock=x")
	db, err := Open(filepath.Join(dir, "k.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := os.Stat(filepath.Join(dir, "k.db")); err != nil {
		t.Errorf("database not where asked: %v", err)
	}
}

// TestMultiProcess runs several processes that write to one database at
// once, with overlapping samples.
func TestMultiProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "shared.db")
	const procs = 4
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s|%d", childEnv, path, p))
			outs[p], errs[p] = cmd.CombinedOutput()
		}()
	}
	wg.Wait()
	added := map[string]int{}
	for p := 0; p < procs; p++ {
		if errs[p] != nil {
			t.Fatalf("process %d: %v\n%s", p, errs[p], outs[p])
		}
		for _, line := range strings.Fields(string(outs[p])) {
			if sha, ok := strings.CutPrefix(line, "added:"); ok {
				added[sha]++
			}
		}
	}
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	all, err := db.Samples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := childShared + procs*childOwn; len(all) != want {
		t.Errorf("%d samples, want %d", len(all), want)
	}
	for _, s := range all {
		if added[s.SHA256] != 1 {
			t.Errorf("sample %s added %d times", s.SHA256, added[s.SHA256])
		}
	}
	if err := db.Check(ctx); err != nil {
		t.Error(err)
	}
}

const (
	childShared = 6
	childOwn    = 6
)

func child(arg string) int {
	path, n, _ := strings.Cut(arg, "|")
	p, _ := strconv.Atoi(n)
	// SQLite's lock is not fair: on a loaded machine one process can wait
	// through many of the others' transactions.
	db, err := Open(path, Options{BusyTimeout: 2 * time.Minute})
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer db.Close()
	ctx := context.Background()
	for i := 0; i < childShared+childOwn; i++ {
		var seed uint64
		if i%2 == 0 {
			seed = uint64(1000 + (i/2+p)%childShared)
		} else {
			seed = uint64(2000 + p*childOwn + i/2)
		}
		s, fns := storetest.MakeSample(seed, 3000)
		added, err := db.PutSample(ctx, s, fns)
		if err != nil {
			fmt.Println(err)
			return 1
		}
		if added {
			fmt.Println("added:" + s.SHA256)
		}
	}
	return 0
}

// BenchmarkPutSample stores samples of 20,000 functions each and reports
// the ingest rate and the database size per function.
func BenchmarkPutSample(b *testing.B) {
	const n = 20_000
	ctx := context.Background()
	db := openTemp(b)
	defer db.Close()
	samples := make([]model.Sample, b.N)
	lists := make([][]model.Function, b.N)
	for i := range samples {
		samples[i], lists[i] = storetest.MakeSample(uint64(i), n)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.PutSample(ctx, samples[i], lists[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "functions/s")
	b.ReportMetric(bytesPerFunction(b, db), "disk-bytes/function")
}

func bytesPerFunction(b *testing.B, db *DB) float64 {
	ctx := context.Background()
	if _, err := db.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		b.Fatal(err)
	}
	var pages, free, size, fns int64
	row := db.w.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count),
		(SELECT page_size FROM pragma_page_size), (SELECT count(*) FROM functions)`)
	if err := row.Scan(&pages, &free, &size, &fns); err != nil {
		b.Fatal(err)
	}
	fi, err := os.Stat(db.Path())
	if err != nil {
		b.Fatal(err)
	}
	if fns == 0 {
		return 0
	}
	b.Logf("%d functions, file %d bytes, %d pages of %d (%d free): %.1f bytes/function",
		fns, fi.Size(), pages, size, free, float64(fi.Size())/float64(fns))
	return float64(fi.Size()) / float64(fns)
}

var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

const (
	benchSamples = 50
	benchFns     = 20_000
)

// benchStore builds, once per test binary run, a store of 50 samples of
// 20,000 functions (a million in all).
func benchStore(b *testing.B) string {
	benchOnce.Do(func() {
		if benchDir, benchErr = os.MkdirTemp("", "kinship-bench"); benchErr != nil {
			return
		}
		var db *DB
		if db, benchErr = Open(filepath.Join(benchDir, "bench.db"), Options{}); benchErr != nil {
			return
		}
		defer db.Close()
		for i := 0; i < benchSamples; i++ {
			s, fns := storetest.MakeSample(uint64(i), benchFns)
			if _, benchErr = db.PutSample(context.Background(), s, fns); benchErr != nil {
				return
			}
		}
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return filepath.Join(benchDir, "bench.db")
}

// BenchmarkFunctions loads every function of a million-function store,
// sample by sample through Functions.
func BenchmarkFunctions(b *testing.B) {
	path := benchStore(b)
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	all, err := db.Samples(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		for _, s := range all {
			fns, err := db.Functions(ctx, s.SHA256)
			if err != nil {
				b.Fatal(err)
			}
			total += len(fns)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "functions/s")
	b.ReportMetric(bytesPerFunction(b, db), "disk-bytes/function")
}

// BenchmarkForEachSample loads the same store in one pass.
func BenchmarkForEachSample(b *testing.B) {
	path := benchStore(b)
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	b.ResetTimer()
	total := 0
	for i := 0; i < b.N; i++ {
		err := db.ForEachSample(ctx, func(sf model.SampleFunctions) error {
			total += len(sf.Functions)
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "functions/s")
}

// TestNewStorePages: a new store gets 16 KiB pages in WAL mode; the page
// size must be set before WAL mode fixes it.
func TestNewStorePages(t *testing.T) {
	db := openTemp(t)
	defer db.Close()
	ctx := context.Background()
	var size int
	var mode string
	if err := db.w.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&size); err != nil {
		t.Fatal(err)
	}
	if err := db.w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if size != 16384 || mode != "wal" {
		t.Errorf("page size %d, journal mode %q; want 16384, wal", size, mode)
	}
}
