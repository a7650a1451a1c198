package ingest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseLabels(t *testing.T) {
	in := "# comment\n\na/b.exe\tEmberkit\tredfox\nc.exe\t-\tbluecrane\tpartner-x\nd.exe\tunknown\tunknown\n"
	items, err := ParseLabels(strings.NewReader(in), "labels.tsv", "/data")
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 3 {
		t.Fatalf("got %d items", len(items))
	}
	if items[0].Path != filepath.Join("/data", "a/b.exe") || items[0].Labels.Family != "Emberkit" || items[0].Labels.Actor != "redfox" {
		t.Errorf("item 0: %+v", items[0])
	}
	if items[1].Labels.Family != "" || items[1].Labels.Source != "partner-x" {
		t.Errorf("item 1: %+v", items[1])
	}
	if items[2].Labels.Family != "" || items[2].Labels.Actor != "" {
		t.Errorf("unknown should clear labels: %+v", items[2])
	}
}

func TestParseLabelsRejects(t *testing.T) {
	for _, in := range []string{
		"onlypath\n",
		"/etc/passwd\tfam\tact\n",
		"../outside\tfam\tact\n",
		"a\tb\tc\td\te\n",
		"a\t" + strings.Repeat("x", 300) + "\tact\n",
		"a\tfam\t" + strings.Repeat("y", MaxLabelLine+10) + "\n",
	} {
		_, err := ParseLabels(strings.NewReader(in), "bad.tsv", "/data")
		if err == nil {
			t.Errorf("accepted %q", in[:min(len(in), 40)])
		} else if !strings.Contains(err.Error(), "bad.tsv:") {
			t.Errorf("error does not name file and line: %v", err)
		}
	}
}

func FuzzParseLabels(f *testing.F) {
	f.Add("a/b.exe\tEmberkit\tredfox\n# c\n\nx\ty\tz\tw\n")
	f.Fuzz(func(t *testing.T, s string) {
		items, err := ParseLabels(strings.NewReader(s), "f.tsv", "/d")
		if err != nil {
			return
		}
		for _, it := range items {
			if !strings.HasPrefix(it.Path, "/d") {
				t.Fatalf("path escaped: %q", it.Path)
			}
		}
	})
}

func TestLargestFirst(t *testing.T) {
	dir := t.TempDir()
	var items []Item
	for i, n := range []int{10, 300, 10, 5000, 300} {
		p := filepath.Join(dir, fmt.Sprint("f", i))
		if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
		items = append(items, Item{Path: p})
	}
	items = append(items, Item{Path: filepath.Join(dir, "missing")})
	var got []string
	for _, it := range largestFirst(items) {
		got = append(got, filepath.Base(it.Path))
	}
	if want := "f3 f1 f4 f0 f2 missing"; strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
	if filepath.Base(items[0].Path) != "f0" {
		t.Error("the caller's items were reordered")
	}
}
