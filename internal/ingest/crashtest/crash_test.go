//go:build unix

package crashtest

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

func moduleRoot(t *testing.T) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			t.Fatal("go.mod not found")
		}
		d = up
	}
}

// buildKinship builds the real binary, as users run it.
func buildKinship(t *testing.T, root string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build kinship: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "kinship")
	cmd := exec.Command(gobin, "build", "-o", bin, "./cmd/kinship")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// copies writes each fixture several times, each copy with a distinct
// trailing word so that every file is a different sample.
func copies(t *testing.T, root, dst string, n int) int {
	t.Helper()
	src := filepath.Join(root, "testdata", "fixtures", "bin")
	count := 0
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		for i := range n {
			out := filepath.Join(dst, fmt.Sprintf("%d", i), rel)
			if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
				return err
			}
			tail := fmt.Appendf(nil, "kinship-crash-copy-%d-%d", i, count)
			if err := os.WriteFile(out, append(bytes.Clone(data), tail...), 0o644); err != nil {
				return err
			}
		}
		count++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return count * n
}

// countSamples reads the number of stored samples through a read-only
// connection, so polling never takes the writer's lock.
func countSamples(db string) (int, error) {
	if _, err := os.Stat(db); err != nil {
		return 0, nil
	}
	c, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return 0, err
	}
	defer c.Close()
	var n int
	err = c.QueryRow("SELECT count(*) FROM samples").Scan(&n)
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0, nil
	}
	return n, err
}

// verify checks the store as kinship check does, and again sample by
// sample: every stored sample holds exactly the functions it declares.
func verify(t *testing.T, bin, db string) int {
	t.Helper()
	if _, err := os.Stat(db); err != nil {
		t.Logf("no store yet")
		return 0
	}
	out, err := exec.Command(bin, "check", "--db", db).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "consistent") {
		t.Fatalf("kinship check: %v\n%s", err, out)
	}
	st, err := sqlite.Open(db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	samples, err := st.Samples(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		fns, err := st.Functions(ctx, s.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if len(fns) != s.Stats.Functions {
			t.Fatalf("sample %s (%s): %d functions stored, %d declared", s.SHA256, s.Name, len(fns), s.Stats.Functions)
		}
	}
	return len(samples)
}

// TestSIGKILLDuringIngest kills a real ingest at several points, by time
// and by progress, and checks after each kill that the store is
// consistent and holds only complete samples; a last run must then store
// every file.
func TestSIGKILLDuringIngest(t *testing.T) {
	start := time.Now()
	root := moduleRoot(t)
	bin := buildKinship(t, root)
	tmp := t.TempDir()
	data := filepath.Join(tmp, "samples")
	n := copies(t, root, data, 2)
	if n < 200 {
		t.Fatalf("only %d files", n)
	}
	db := filepath.Join(tmp, "store", "kinship.db")
	t.Logf("built kinship and wrote %d files in %v", n, time.Since(start).Round(time.Millisecond))

	type run struct {
		cmd  *exec.Cmd
		done chan struct{}
	}
	ingest := func() run {
		cmd := exec.Command(bin, "ingest", "--db", db, "--quiet", data)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r := run{cmd, make(chan struct{})}
		go func() {
			cmd.Wait()
			close(r.done)
		}()
		return r
	}
	kill := func(r run) {
		select {
		case <-r.done:
			t.Logf("ingest had already finished")
		default:
			r.cmd.Process.Signal(syscall.SIGKILL)
			<-r.done
		}
	}

	// Killed after a fixed time: early ones may hit opening and schema
	// creation, later ones the middle of a sample's transaction.
	mid := 0
	for _, d := range []time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second} {
		r := ingest()
		time.Sleep(d)
		kill(r)
		got := verify(t, bin, db)
		t.Logf("killed after %v: %d of %d samples stored, consistent", d, got, n)
		if got > 0 && got < n {
			mid++
		}
	}
	// Killed on progress, so that some kills land while samples are being
	// written whatever the machine's speed.
	for range 2 {
		before, err := countSamples(db)
		if err != nil {
			t.Fatal(err)
		}
		target := before + max(1, (n-before)/2)
		r := ingest()
	poll:
		for {
			select {
			case <-r.done:
				break poll
			case <-time.After(5 * time.Millisecond):
			}
			if got, err := countSamples(db); err != nil {
				t.Logf("poll: %v", err)
			} else if got >= target {
				break poll
			}
		}
		kill(r)
		got := verify(t, bin, db)
		t.Logf("killed at %d stored samples: %d of %d, consistent", target, got, n)
		if got > 0 && got < n {
			mid++
		}
	}
	if mid == 0 {
		t.Errorf("no kill interrupted the batch part-way")
	}

	// The same ingest again completes the rest.
	cmd := exec.Command(bin, "ingest", "--db", db, "--quiet", data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("final ingest: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "skipped:") {
		t.Errorf("final ingest skipped files:\n%s", out)
	}
	if got := verify(t, bin, db); got != n {
		t.Fatalf("%d samples stored after the final run, want %d\n%s", got, n, out)
	}
	t.Logf("final run: %s; whole test %v", strings.TrimSpace(string(out)), time.Since(start).Round(time.Millisecond))

	// And check does find a sample that lost its functions.
	c, err := sql.Open("sqlite", "file:"+db+"?_pragma=foreign_keys(0)")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Exec("DELETE FROM functions WHERE sample_id = (SELECT min(sample_id) FROM functions)")
	c.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(bin, "check", "--db", db).CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "problems found") || !strings.Contains(string(out), "functions are stored") {
		t.Fatalf("check of a damaged store: exit %d\n%s", code, out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}
