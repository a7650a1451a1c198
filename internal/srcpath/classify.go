// Package srcpath says where functions of binaries without Go's pclntab
// come from, using the source paths the binary itself carries.
//
// Rust embeds a panic Location record (path, line, column) for every
// place that can panic, and the code that can panic there points at it;
// C and C++ assertions embed __FILE__. The path names the file the code
// was compiled from, and its shape says whose code that is: the compiler's
// standard library (/rustc/<commit>/library/core/...), a crate from
// Cargo's registry (.cargo/registry/src/<index>/serde_json-1.0.108/...),
// a vendored C library (third_party/, vcpkg, node_modules/...), the C
// runtime (vctools\crt, /build/glibc-...), or the program's own sources
// (Cargo passes workspace members to rustc by relative path).
package srcpath

import (
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// maxPath bounds the paths considered: real source paths are far shorter,
// and anything longer is text that happens to contain slashes.
const maxPath = 1024

// lang is the language a path's extension names.
type lang uint8

const (
	langNone lang = iota
	langRust
	langC   // .c
	langH   // .h: C or C++
	langCXX // .cc, .cpp, .hpp...
)

// class is what one path says.
type class struct {
	origin model.Origin
	crate  string
	lang   lang
	// header marks C and C++ headers: their code is inlined into
	// whatever includes them, so they say what a function contains, not
	// what it is.
	header bool
}

// Classify says whose code the source file at path is, and for libraries,
// standard libraries and runtimes the crate or library it belongs to
// (serde_json, zstd-sys, core, glibc; "" when the path does not name it).
//
// Rust paths: /rustc/<commit>/..., library/core/src/..., rustup
// toolchains and std's vendored dependencies (/rust/deps/...) are
// OriginStd; Cargo registry sources, git checkouts and vendored crates are
// OriginLibrary; any other relative path is OriginOwn, because Cargo names
// exactly the workspace's own members by relative path. Other absolute
// Rust paths (path dependencies outside the workspace) and relative ones
// that may be std's with library/ stripped (core/src/...) are
// OriginUnknown.
//
// C and C++ paths are classified only where the path clearly says so:
// system, vcpkg and vendored headers and sources are OriginLibrary, the
// C++ standard library's headers OriginStd, the C runtime (MSVC CRT,
// glibc, MinGW, libgcc) OriginRuntime. Their own sources are never called
// own: C builds of vendored libraries use paths relative to the library's
// own tree, so a relative C path proves nothing.
func Classify(path string) (model.Origin, string) {
	c := classify(path)
	return c.origin, c.crate
}

func classify(path string) class {
	c := classifyPath(path)
	if c.lang != langRust {
		c.header = isHeader(path)
	}
	return c
}

func classifyPath(path string) class {
	if len(path) < 3 || len(path) > maxPath {
		return class{}
	}
	p := strings.ReplaceAll(path, "\\", "/")
	if strings.HasSuffix(p, "/") {
		return class{} // a directory
	}
	lp := asciiLower(p)
	abs := isAbs(lp)
	orig, low := components(p), components(lp)
	if len(low) == 0 {
		return class{}
	}
	lg := langOf(low[len(low)-1])
	if lg == langNone {
		// C++ standard headers have no extension (<vector>, <xstring>).
		if c, ok := cxxStd(low); ok && !strings.Contains(low[len(low)-1], ".") {
			return c
		}
		return class{}
	}
	if lg == langRust {
		if c, ok := rustStd(low, orig); ok {
			return c
		}
	}
	if c, ok := library(low, orig, abs); ok {
		c.lang = lg
		return c
	}
	if lg != langRust {
		if c, ok := cRuntime(low); ok {
			c.lang = lg
			return c
		}
		if c, ok := cxxStd(low); ok {
			return c // C++ even in its .h files
		}
		if c, ok := systemHeaders(low, orig, abs); ok {
			c.lang = lg
			return c
		}
		return class{lang: lg}
	}
	// Some toolchains build std with library/ stripped (core/src/fmt/num.rs);
	// a workspace crate may be called core too, so such a path says
	// nothing.
	if !abs && !(len(low) > 2 && low[1] == "src" && stdCrates[low[0]]) {
		return class{origin: model.OriginOwn, lang: langRust}
	}
	return class{lang: langRust}
}

// langOf returns the language of a file name's extension.
func langOf(name string) lang {
	i := strings.LastIndexByte(name, '.')
	if i <= 0 {
		return langNone
	}
	switch name[i+1:] {
	case "rs":
		return langRust
	case "c":
		return langC
	case "h":
		return langH
	case "cc", "cpp", "cxx", "c++", "hpp", "hh", "hxx", "inl", "ipp", "tcc":
		return langCXX
	}
	return langNone
}

// isHeader reports C and C++ header names, including the C++ standard
// headers without extension.
func isHeader(path string) bool {
	name := asciiLower(path[strings.LastIndexAny(path, "/\\")+1:])
	i := strings.LastIndexByte(name, '.')
	if i < 0 {
		return true
	}
	switch name[i+1:] {
	case "h", "hpp", "hh", "hxx", "inl", "ipp", "tcc":
		return true
	}
	return false
}

// stdCrates are the crates of Rust's library/ tree.
var stdCrates = map[string]bool{
	"core": true, "alloc": true, "std": true, "proc_macro": true, "panic_unwind": true,
	"panic_abort": true, "test": true, "unwind": true, "backtrace": true, "stdarch": true,
	"portable-simd": true, "compiler-builtins": true, "profiler_builtins": true,
	"rtstartup": true, "sysroot": true, "std_detect": true, "rustc-std-workspace-core": true,
	"rustc-std-workspace-alloc": true, "rustc-std-workspace-std": true,
}

// rustStd recognises the paths of Rust's standard library.
func rustStd(low, orig []string) (class, bool) {
	std := func(crate string) (class, bool) {
		return class{origin: model.OriginStd, crate: crate, lang: langRust}, true
	}
	for i, c := range low {
		switch {
		case c == "rustc" && i+1 < len(low)-1 && isHex(low[i+1], 40):
			// /rustc/<commit>/library/<crate>/... or, before 2020,
			// /rustc/<commit>/src/lib<crate>/...
			return std(stdCrateAfter(low[i+1:]))
		case c == "rust" && i+2 < len(low) && low[i+1] == "deps":
			// std's own dependencies (hashbrown, addr2line, gimli...).
			return std(crateName(orig[i+2]))
		case c == "rustlib" && i+2 < len(low) && low[i+1] == "src" && low[i+2] == "rust":
			return std(stdCrateAfter(low[i+3:]))
		case c == "library" && i+2 < len(low) && stdCrates[low[i+1]]:
			return std(low[i+1])
		}
	}
	return class{}, false
}

// stdCrateAfter finds the crate in the rest of a std path.
func stdCrateAfter(rest []string) string {
	for i, c := range rest {
		if c == "library" && i+1 < len(rest)-1 {
			return rest[i+1]
		}
		if strings.HasPrefix(c, "lib") && stdCrates[c[3:]] {
			return c[3:]
		}
	}
	return "std"
}

// vendorDirs hold third-party code, one library per subdirectory.
var vendorDirs = map[string]bool{
	"vendor": true, "vendored": true, "third_party": true, "third-party": true,
	"thirdparty": true, "3rdparty": true, "deps": true, "node_modules": true,
	"cargo-vendor-dir": true, "subprojects": true, "_deps": true,
}

// library recognises third-party code: Cargo's registry and git checkouts,
// vendored trees, vcpkg, Bazel external repositories.
func library(low, orig []string, abs bool) (class, bool) {
	lib := func(crate string) (class, bool) {
		return class{origin: model.OriginLibrary, crate: crate}, true
	}
	n := len(low)
	for i, c := range low {
		rest := n - i - 1 // components after c
		switch c {
		case "registry":
			// .cargo/registry/src/<index>-<16 hex>/<crate>-<version>/...,
			// or remapped as /cargo/registry/<16 hex>/<crate>-<version>/...
			if rest >= 4 && low[i+1] == "src" && hexSuffix(low[i+2], 16) {
				return lib(crateName(orig[i+3]))
			}
			if rest >= 3 && isHex(low[i+1], 16) {
				return lib(crateName(orig[i+2]))
			}
		case "checkouts":
			// .cargo/git/checkouts/<repo>-<16 hex>/<rev>/...
			if i > 0 && low[i-1] == "git" && rest >= 3 && hexSuffix(low[i+1], 16) {
				return lib(trimHexSuffix(orig[i+1]))
			}
		case "vcpkg":
			if rest >= 3 && (low[i+1] == "buildtrees" || low[i+1] == "packages") {
				name := orig[i+2]
				if j := strings.IndexByte(name, '_'); j > 0 && low[i+1] == "packages" {
					name = name[:j]
				}
				return lib(name)
			}
			if rest >= 3 && low[i+1] == "installed" {
				return lib(includeLib(low[i+2:], orig[i+2:]))
			}
		case "vcpkg_installed":
			if rest >= 2 {
				return lib(includeLib(low[i+1:], orig[i+1:]))
			}
		case "external":
			// Bazel: external/<repository>/... relative to the execroot.
			if i == 0 && !abs && rest >= 2 {
				name := orig[1]
				if j := strings.LastIndex(name, "__"); j >= 0 {
					name = name[j+2:]
				}
				return lib(crateName(name))
			}
		}
		if vendorDirs[c] && rest >= 1 {
			if rest == 1 {
				return lib("")
			}
			name := orig[i+1]
			if name[0] == '@' && rest >= 3 {
				name += "/" + orig[i+2]
			}
			if c == "_deps" {
				name = strings.TrimSuffix(name, "-src")
			}
			return lib(crateName(name))
		}
	}
	return class{}, false
}

// includeLib names the library of a path under <triplet>/include/<lib>/...
func includeLib(low, orig []string) string {
	for i, c := range low {
		if c == "include" && i+2 < len(low) {
			return orig[i+1]
		}
	}
	return ""
}

// cRuntime recognises C runtime sources: MSVC's CRT, glibc, musl, MinGW,
// libgcc and compiler-rt.
func cRuntime(low []string) (class, bool) {
	rt := func(crate string) (class, bool) { return class{origin: model.OriginRuntime, crate: crate}, true }
	for i, c := range low {
		next := ""
		if i+1 < len(low)-1 {
			next = low[i+1]
		}
		switch {
		case c == "vctools" && next == "crt", c == "crt" && i > 2 && low[i-2] == "msvc" && low[i-3] == "tools":
			return rt("vcruntime")
		case c == "minkernel" && next == "crts":
			return rt("ucrt")
		case (strings.HasPrefix(c, "glibc-") || c == "glibc") && i < len(low)-1:
			return rt("glibc")
		case strings.HasPrefix(c, "musl-") && i+1 < len(low)-1:
			return rt("musl")
		case c == "mingw-w64-crt" || strings.HasPrefix(c, "mingw-w64-v") && next == "mingw-w64-crt":
			return rt("mingw-w64")
		case c == "libgcc" && i+1 < len(low):
			return rt("libgcc")
		case c == "compiler-rt" && i+1 < len(low)-1:
			return rt("compiler-rt")
		}
	}
	return class{}, false
}

// cxxStd recognises the C++ standard library's headers and sources:
// MSVC's STL, libstdc++ and libc++.
func cxxStd(low []string) (class, bool) {
	std := func(crate string) (class, bool) {
		return class{origin: model.OriginStd, crate: crate, lang: langCXX}, true
	}
	for i, c := range low {
		switch {
		case c == "msvc" && i > 1 && low[i-1] == "tools" && low[i-2] == "vc" && i+2 < len(low)-1 && low[i+2] == "include":
			return std("msvc-stl")
		case c == "libstdc++-v3":
			return std("libstdc++")
		case c == "include" && i+2 < len(low) && low[i+1] == "c++":
			if low[i+2] == "v1" {
				return std("libc++")
			}
			return std("libstdc++")
		case c == "libcxx" && i+1 < len(low)-1:
			return std("libc++")
		}
	}
	return class{}, false
}

// systemHeaders recognises absolute paths of installed headers:
// /usr/include, /usr/local/include, Homebrew, the Windows SDK, MinGW's
// sysroot.
func systemHeaders(low, orig []string, abs bool) (class, bool) {
	if !abs {
		return class{}, false
	}
	lib := func(crate string) (class, bool) { return class{origin: model.OriginLibrary, crate: crate}, true }
	under := func(i int) string {
		if i+1 < len(low)-1 {
			return orig[i+1]
		}
		return ""
	}
	for i, c := range low {
		switch {
		case c == "include" && i == 1 && low[0] == "usr",
			c == "include" && i == 2 && (low[0] == "usr" && low[1] == "local" || low[0] == "opt" && low[1] == "homebrew"),
			c == "include" && i == 2 && low[0] == "usr" && strings.HasSuffix(low[1], "-mingw32"):
			return lib(under(i))
		case c == "windows kits":
			return lib("windows-sdk")
		}
	}
	return class{}, false
}

// crateName strips the version from a Cargo source directory name
// ("serde_json-1.0.108" → "serde_json", "zstd-sys-2.0.9+zstd.1.5.5" →
// "zstd-sys", "md-5-0.10.6" → "md-5"): the version is what follows the
// last hyphen that starts a major.minor.patch.
func crateName(dir string) string {
	for i := len(dir) - 1; i > 0; i-- {
		if dir[i] == '-' && isSemver(dir[i+1:]) {
			return dir[:i]
		}
	}
	return dir
}

func isSemver(s string) bool {
	for part := 0; part < 3; part++ {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		if n == 0 {
			return false
		}
		s = s[n:]
		if part < 2 {
			if len(s) == 0 || s[0] != '.' {
				return false
			}
			s = s[1:]
		}
	}
	return len(s) == 0 || s[0] == '-' || s[0] == '+'
}

// hexSuffix reports whether s ends with "-" and n hex digits, as Cargo's
// registry index and git checkout directories do.
func hexSuffix(s string, n int) bool {
	return len(s) > n+1 && s[len(s)-n-1] == '-' && isHex(s[len(s)-n:], n)
}

func trimHexSuffix(s string) string { return s[:len(s)-17] }

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// isAbs reports absolute Unix, Windows drive, UNC and home-relative paths
// (already lowercased, with forward slashes).
func isAbs(p string) bool {
	switch {
	case p == "":
		return false
	case p[0] == '/', p[0] == '~':
		return true
	case len(p) >= 2 && p[1] == ':' && p[0] >= 'a' && p[0] <= 'z':
		return true
	}
	return false
}

// components splits a slash path, dropping empty and "." parts.
func components(p string) []string {
	out := make([]string, 0, 12)
	for len(p) > 0 {
		i := strings.IndexByte(p, '/')
		c := p
		if i >= 0 {
			c, p = p[:i], p[i+1:]
		} else {
			p = ""
		}
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// asciiLower lowercases ASCII letters only, so byte offsets stay those of
// the original.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if c := b[j]; c >= 'A' && c <= 'Z' {
					b[j] = c + 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
