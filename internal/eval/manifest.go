// Package eval measures attribution accuracy on a labelled manifest the
// way the corpus protocol asks: index the references, attribute every
// other binary from its content alone, and report accuracy, false
// attributions, calibration and whole-file-hash baselines side by side.
package eval

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Row is one manifest line.
type Row struct {
	RelPath  string
	SHA256   string
	Format   string
	Family   string
	Actor    string
	Role     string // reference, query, unknown, actor_only
	Language string
	Version  string
}

// Roles.
const (
	RoleReference = "reference"
	RoleQuery     = "query"
	RoleUnknown   = "unknown"
	RoleActorOnly = "actor_only"
)

// ReadManifest parses a manifest TSV with a header line naming its columns.
func ReadManifest(r io.Reader, name string) ([]Row, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var col map[string]int
	var rows []Row
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimRight(sc.Text(), "\r")
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		f := strings.Split(t, "\t")
		if col == nil {
			col = map[string]int{}
			for i, c := range f {
				col[c] = i
			}
			for _, need := range []string{"relpath", "family", "actor", "role"} {
				if _, ok := col[need]; !ok {
					return nil, fmt.Errorf("%s:%d: header lacks column %q", name, line, need)
				}
			}
			continue
		}
		get := func(c string) string {
			if i, ok := col[c]; ok && i < len(f) {
				return f[i]
			}
			return ""
		}
		row := Row{RelPath: get("relpath"), SHA256: get("sha256"), Format: get("format"), Family: get("family"),
			Actor: get("actor"), Role: get("role"), Language: get("language"), Version: get("version")}
		switch row.Role {
		case RoleReference, RoleQuery, RoleUnknown, RoleActorOnly:
		default:
			return nil, fmt.Errorf("%s:%d: unknown role %q", name, line, row.Role)
		}
		if row.RelPath == "" || filepath.IsAbs(row.RelPath) || strings.HasPrefix(filepath.Clean(row.RelPath), "..") {
			return nil, fmt.Errorf("%s:%d: bad relpath %q", name, line, row.RelPath)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if col == nil {
		return nil, fmt.Errorf("%s: empty manifest", name)
	}
	return rows, nil
}

var smallRe = regexp.MustCompile(`(?s)\nSMALL="([^"]*)"`)

// SmallSubset reads the family/version pairs of the smoke subset from the
// fetch.sh beside the manifest, so that `eval --small` runs exactly what
// `fetch.sh --small` downloads.
func SmallSubset(manifest string) (map[string]bool, error) {
	p := filepath.Join(filepath.Dir(manifest), "fetch.sh")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("--small needs the fetch.sh beside the manifest: %w", err)
	}
	m := smallRe.FindSubmatch(b)
	if m == nil {
		return nil, fmt.Errorf("%s: no SMALL=\"...\" list", p)
	}
	out := map[string]bool{}
	for _, fv := range strings.Fields(string(m[1])) {
		out[fv] = true
	}
	return out, nil
}

// InSubset says whether a row's family/version pair is in the subset.
func InSubset(r Row, subset map[string]bool) bool {
	parts := strings.SplitN(r.RelPath, "/", 3)
	if len(parts) < 2 {
		return false
	}
	return subset[parts[0]+"/"+parts[1]]
}
