package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

const fixtures = "../../testdata/fixtures"

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(args, &out, &errb)
	return out.String(), errb.String(), code
}

// scrub removes what changes from run to run (timings, temp paths).
var scrubRe = []*regexp.Regexp{
	regexp.MustCompile(`in [0-9.]+s(, [0-9.]+ MB/s, [0-9]+ functions/s)?`),
	// The default store path depends on $HOME, which may itself be under
	// /tmp: scrub it before temporary paths.
	regexp.MustCompile(`else [^\s]+kinship\.db`),
	regexp.MustCompile(`/tmp/[^\s]+`),
}

func scrub(s string) string {
	for _, re := range scrubRe {
		s = re.ReplaceAllString(s, "<scrubbed>")
	}
	return s
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name+".golden")
	if *update {
		os.MkdirAll("testdata", 0o755)
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from golden file (go test ./internal/cli -update to accept):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// TestCLI runs the real commands against a store built from the fixtures.
func TestCLI(t *testing.T) {
	db := filepath.Join(t.TempDir(), "k.db")
	out, errs, code := run(t, "ingest", "--db", db, "--common", filepath.Join(fixtures, "bin/elf64-O2/hello"), filepath.Join(fixtures, "bin/pe64-O2/hello.exe"), filepath.Join(fixtures, "bin/pe64-O2/common_stdio.exe"), filepath.Join(fixtures, "bin/elf64-O2/common_stdio"))
	if code != 0 {
		t.Fatalf("ingest --common: %d %s %s", code, out, errs)
	}
	out, errs, code = run(t, "ingest", "--db", db, "--labels", filepath.Join(fixtures, "labels.tsv"))
	if code != 0 || !strings.Contains(out, "30 added") {
		t.Fatalf("ingest --labels: %d\n%s\n%s", code, out, errs)
	}
	// Idempotent: nothing new the second time.
	out, _, code = run(t, "ingest", "--db", db, "--labels", filepath.Join(fixtures, "labels.tsv"))
	if code != 0 || !strings.Contains(out, "0 added") || !strings.Contains(out, "30 already stored") {
		t.Fatalf("second ingest not idempotent: %d %s", code, out)
	}
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"attribute-tsv", []string{"attribute", "--tsv",
			filepath.Join(fixtures, "bin/elf64-O2/emberkit-v2"),
			filepath.Join(fixtures, "bin/pe64-O2/ashdrop-v2.exe"),
			filepath.Join(fixtures, "bin/pe64-O2/tidewatch-v2.exe"),
			filepath.Join(fixtures, "bin/pe64-O2/cinderloop.exe"),
			filepath.Join(fixtures, "bin/pe64-O2/driftwood.exe")}, 0},
		{"stats", []string{"stats"}, 0},
		{"info-elf", []string{"info", filepath.Join(fixtures, "bin/elf64-O2/emberkit-v1")}, 0},
		{"info-pe", []string{"info", filepath.Join(fixtures, "bin/pe64-O2/emberkit-v1.exe")}, 0},
		{"attribute-bad", []string{"attribute", filepath.Join(fixtures, "labels.tsv")}, ExitFailure},
		{"unknown-command", []string{"frobnicate"}, ExitUsage},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.name != "unknown-command" && c.name != "info-elf" && c.name != "info-pe" {
				args = append([]string{args[0], "--db", db}, args[1:]...)
			}
			out, errs, code := run(t, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, c.code, out, errs)
			}
			golden(t, c.name, scrub(strings.ReplaceAll(out+"--- stderr\n"+errs, fixtures, "FIXTURES")))
		})
	}
}

// TestDemo runs the README's main command.
func TestDemo(t *testing.T) {
	out, errs, code := run(t, "demo")
	if code != 0 {
		t.Fatalf("demo: exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{"held-back samples", "family:", "actor:", "strongest shared functions"} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(\d+) of (\d+) held-back samples attributed as expected`).MatchString(out) {
		t.Errorf("no summary line:\n%s", out)
	}
}
