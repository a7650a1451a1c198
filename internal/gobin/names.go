package gobin

import "strings"

// generatedPrefixes mark symbols the compiler or linker synthesises; they
// belong to no package. "type:" and "go:" are the Go 1.20+ spellings, the
// dotted forms are what older toolchains emitted. Plain "go." is not listed
// because real module paths start with it (go.uber.org, go.etcd.io).
var generatedPrefixes = []string{
	"type:", "go:", "type.",
	"go.buildid", "go.itab.", "go.shape.", "go.builtin.", "go.info.",
	"go.func.", "go.string.", "go.link.", "go.map.", "go.importpath.",
	"go.cuinfo.", "go.weak.",
}

// packageOf returns the import path of the package that defines the
// function called name, or "" for compiler-generated code and assembly
// stubs without a package qualifier.
//
// Examples: "github.com/foo/bar.(*X).Y" → "github.com/foo/bar",
// "pkg.Pair[go.shape.int].Swap" → "pkg", "main.main" → "main".
func packageOf(name string) string {
	for _, p := range generatedPrefixes {
		if strings.HasPrefix(name, p) {
			return ""
		}
	}
	// The package path ends before any receiver "(" or type-argument
	// list "[": those may themselves contain slashes and dots (shape
	// types name other packages).
	n := name
	if i := strings.IndexAny(n, "[("); i >= 0 {
		n = n[:i]
	}
	// Dots are legal in every path element, but the linker escapes them in
	// the last element as %2e, so the first dot after the last slash ends
	// the path.
	start := strings.LastIndexByte(n, '/') + 1
	dot := strings.IndexByte(n[start:], '.')
	if dot <= 0 {
		return ""
	}
	pkg := n[:start+dot]
	if pkg == "go" || pkg == "_" {
		// "go.(*struct { sync.Mutex; ... }).Lock": a wrapper the old
		// compiler made for an anonymous struct type; "_" shows up on
		// closures of linknamed runtime functions. Neither is a package.
		return ""
	}
	return unescapePath(pkg)
}

// unescapePath undoes the linker's %xx escaping of package paths
// (cmd/internal/objabi.PathToPrefix). Malformed escapes are kept verbatim.
func unescapePath(s string) string {
	if strings.IndexByte(s, '%') < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// dottedModules returns the module and package paths from the build info
// whose last element contains a dot (gopkg.in/yaml.v3). Symbol names from a
// toolchain that did not escape such dots are ambiguous; knowing the real
// paths resolves them.
func dottedModules(i *Info) []string {
	var out []string
	add := func(p string) {
		if strings.Contains(p[strings.LastIndexByte(p, '/')+1:], ".") {
			out = append(out, p)
		}
	}
	for _, p := range i.Deps {
		add(p)
	}
	if i.MainModule != "" {
		add(i.MainModule)
	}
	if i.MainPackage != "" {
		add(i.MainPackage)
	}
	return out
}

// refinePackage replaces pkg with a longer known path when name really
// starts with that path followed by a dot.
func refinePackage(name, pkg string, dotted []string) string {
	if strings.IndexByte(name, '%') >= 0 {
		return pkg // escaped, so packageOf was already exact
	}
	for _, m := range dotted {
		if len(m) > len(pkg) && len(name) > len(m) && name[len(m)] == '.' && strings.HasPrefix(name, m) {
			pkg = m
		}
	}
	return pkg
}
