package binfmt

import (
	"crypto/md5"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// pefilePython returns a Python interpreter that has pefile, or "".
func pefilePython() string {
	for _, p := range []string{os.Getenv("PYTHON"), "python3", "/usr/bin/python3"} {
		if p == "" {
			continue
		}
		if exec.Command(p, "-c", "import pefile").Run() == nil {
			return p
		}
	}
	return ""
}

// Imphash must agree with pefile itself, not only with the values build.sh
// recorded. CI must have pefile (python3-pefile) so this check runs there.
func TestImphashMatchesPefile(t *testing.T) {
	py := pefilePython()
	if py == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("pefile is not installed (apt-get install -y python3-pefile)")
		}
		t.Skip("pefile is not installed")
	}
	var paths []string
	for _, fx := range fixtures {
		if strings.HasSuffix(fx.name, ".exe") || strings.HasSuffix(fx.name, ".dll") {
			paths = append(paths, filepath.Join("testdata", fx.name))
		}
	}
	script := `import sys, pefile
for p in sys.argv[1:]:
    pe = pefile.PE(p, fast_load=True)
    pe.parse_data_directories(directories=[pefile.DIRECTORY_ENTRY["IMAGE_DIRECTORY_ENTRY_IMPORT"]])
    print(p, pe.get_imphash() or "-")
`
	out, err := exec.Command(py, append([]string{"-c", script}, paths...)...).Output()
	if err != nil {
		t.Fatalf("pefile: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, want, _ := strings.Cut(line, " ")
		f, err := LoadFile(path, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		got := Imphash(f)
		if got == "" {
			got = "-"
		}
		if got != want {
			t.Errorf("%s: imphash %s, pefile %s", path, got, want)
		}
	}
}
