package ingest

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// MaxLabelLine bounds one line of a labels file; longer lines are an error,
// not a reason to buffer without limit.
const MaxLabelLine = 64 << 10

// ParseLabels reads a labels file: one line per sample,
// relpath<TAB>family<TAB>actor[<TAB>source], '#' comments and blank lines
// ignored. Paths are relative to dir (the file's folder); absolute paths
// and paths escaping dir are refused, since a labels file from a partner
// must not make kinship read files elsewhere.
func ParseLabels(r io.Reader, name, dir string) ([]Item, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), MaxLabelLine)
	var out []Item
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Split(text, "\t")
		if len(f) < 2 || len(f) > 4 {
			return nil, fmt.Errorf("%s:%d: want relpath<TAB>family<TAB>actor[<TAB>source], got %d fields", name, line, len(f))
		}
		rel := f[0]
		if rel == "" || filepath.IsAbs(rel) || strings.HasPrefix(filepath.Clean(rel), "..") {
			return nil, fmt.Errorf("%s:%d: path %q must be relative to the labels file's folder", name, line, rel)
		}
		l := model.Labels{Family: strings.TrimSpace(f[1])}
		if len(f) > 2 {
			l.Actor = strings.TrimSpace(f[2])
		}
		if len(f) > 3 {
			l.Source = strings.TrimSpace(f[3])
		}
		for _, v := range []string{l.Family, l.Actor, l.Source} {
			if len(v) > 256 || strings.ContainsAny(v, "\x00\n") {
				return nil, fmt.Errorf("%s:%d: label too long or with control characters", name, line)
			}
		}
		if strings.EqualFold(l.Family, model.Unknown) || l.Family == "-" {
			l.Family = ""
		}
		if strings.EqualFold(l.Actor, model.Unknown) || l.Actor == "-" {
			l.Actor = ""
		}
		out = append(out, Item{Path: filepath.Join(dir, rel), Labels: l})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	return out, nil
}
