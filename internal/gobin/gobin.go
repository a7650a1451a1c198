// Package gobin recovers what a Go-compiled binary says about itself: the
// toolchain version, the main module and its dependencies (from the embedded
// build info) and the list of functions with their entry points and packages
// (from the pclntab). It works on stripped binaries too, because both
// structures survive -ldflags="-s -w": the runtime needs the pclntab for
// stack traces and the build info for runtime/debug.ReadBuildInfo.
//
// The input may be hostile. Nothing is executed, every count read from the
// binary is bounded before it is used, and malformed structures produce
// errors rather than panics.
package gobin

import (
	"errors"
	"fmt"
	"strings"
)

// Section is a loaded section of the binary (virtual address and its file bytes).
type Section struct {
	Name string
	Addr uint64
	Data []byte
}

// Func is one function known from the pclntab.
type Func struct {
	Entry, End uint64
	Name       string
	Package    string
}

// Info is what a Go binary says about itself.
type Info struct {
	GoVersion   string   // e.g. "go1.21.5" (from build info, or pclntab version class if absent)
	MainModule  string   // main module path from build info, e.g. "github.com/bufbuild/buf"; "" if unknown
	MainPackage string   // "path" line of build info, e.g. "github.com/bufbuild/buf/cmd/protoc-gen-buf-lint"
	Deps        []string // dependency module paths from build info
	Funcs       []Func   // sorted by Entry
}

// Options bounds the work Parse is willing to do.
type Options struct {
	MaxFuncs   int // default 5_000_000
	MaxPclntab int // bytes, default 256 MiB
}

const (
	defaultMaxFuncs   = 5_000_000
	defaultMaxPclntab = 256 << 20
)

func (o Options) withDefaults() Options {
	if o.MaxFuncs <= 0 {
		o.MaxFuncs = defaultMaxFuncs
	}
	if o.MaxPclntab <= 0 {
		o.MaxPclntab = defaultMaxPclntab
	}
	return o
}

// Parse returns (nil, nil) when the binary is not a Go binary.
//
// ptrSize is the target's pointer size (4 or 8); 0 accepts either. A binary
// counts as Go when it has build info or a pclntab. A binary with build info
// but no recognisable pclntab (e.g. one whose pclntab magic was tampered
// with) yields an Info without Funcs; a valid pclntab with damaged build
// info yields an Info with Funcs and GoVersion set to the pclntab's version
// class. A pclntab whose header is plausible but whose body is inconsistent
// or over the limits in opts is an error.
func Parse(secs []Section, ptrSize int, opts Options) (*Info, error) {
	if ptrSize != 0 && ptrSize != 4 && ptrSize != 8 {
		return nil, fmt.Errorf("gobin: unsupported pointer size %d", ptrSize)
	}
	opts = opts.withDefaults()

	bi, biErr := findBuildInfo(secs)
	tab, tabErr := findPclntab(secs, ptrSize, opts)
	if bi == nil && tab == nil {
		// Something that looked like Go metadata was there but broken:
		// report it rather than silently calling the binary non-Go.
		if err := errors.Join(tabErr, biErr); err != nil {
			return nil, err
		}
		return nil, nil
	}
	if tabErr != nil && tab == nil && bi != nil {
		// A pclntab header validated but its body did not: that is a
		// damaged (or doctored) Go binary, which the caller should hear
		// about rather than get a function-less Info.
		return nil, tabErr
	}

	info := &Info{}
	if bi != nil {
		info.GoVersion = bi.goVersion
		info.MainModule = bi.mainModule
		info.MainPackage = bi.mainPackage
		info.Deps = bi.deps
	}
	if tab != nil {
		if info.GoVersion == "" {
			info.GoVersion = tab.ver.class()
		}
		info.Funcs = tab.funcs
		dotted := dottedModules(info)
		for i := range info.Funcs {
			f := &info.Funcs[i]
			f.Package = packageOf(f.Name)
			if len(dotted) > 0 {
				f.Package = refinePackage(f.Name, f.Package, dotted)
			}
		}
	}
	return info, nil
}

// Classify says where a function's code comes from:
// "runtime" for runtime and internal toolchain packages, "std" for the standard library,
// "main" for package main and packages under MainModule, "lib" for other modules (third-party).
func (i *Info) Classify(pkg string) string {
	if pkg == "" {
		// Compiler-generated code (type:.eq.*, go:buildid, assembly stubs).
		return "runtime"
	}
	if pkg == "main" {
		return "main"
	}
	if i != nil && i.MainModule != "" && within(pkg, i.MainModule) {
		return "main"
	}
	if within(pkg, "runtime") || strings.HasPrefix(pkg, "internal/") {
		return "runtime"
	}
	first, _, _ := strings.Cut(pkg, "/")
	if !strings.Contains(first, ".") {
		// Module paths without a dot are legal (replaced local modules),
		// so a listed dependency wins over the std-library naming rule.
		if i != nil {
			for _, d := range i.Deps {
				if within(pkg, d) {
					return "lib"
				}
			}
		}
		return "std"
	}
	return "lib"
}

// within reports whether package pkg is module path mod or below it.
func within(pkg, mod string) bool {
	return pkg == mod || (len(pkg) > len(mod) && pkg[len(mod)] == '/' && strings.HasPrefix(pkg, mod))
}
