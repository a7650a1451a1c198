package binfmt

import (
	"fmt"

	"github.com/kinship-dev/kinship/internal/gobin"
	"github.com/kinship-dev/kinship/internal/model"
)

var goOrigins = map[string]model.Origin{
	"main":    model.OriginOwn,
	"lib":     model.OriginLibrary,
	"std":     model.OriginStd,
	"runtime": model.OriginRuntime,
}

// loadGo reads a Go binary's build info and pclntab, which name every
// function and its package even when the binary is stripped. Damaged Go
// metadata is an anomaly: the rest of the file is still worth analysing.
func (l *loader) loadGo() {
	f := l.f
	secs := make([]gobin.Section, 0, len(f.Sections))
	for _, s := range f.Sections {
		if len(s.Data) > 0 {
			secs = append(secs, gobin.Section{Name: s.Name, Addr: s.Addr, Data: s.Data})
		}
	}
	info, err := parseGo(secs, f.Bits/8, l.lim.MaxFuncHints)
	if err != nil {
		l.anomaly("Go metadata: %v", err)
		return
	}
	if info == nil {
		return
	}
	f.Go = &GoInfo{
		GoVersion:   info.GoVersion,
		MainModule:  info.MainModule,
		MainPackage: info.MainPackage,
		Deps:        info.Deps,
	}
	origin := make(map[string]model.Origin) // Classify walks Deps: once per package
	for _, fn := range info.Funcs {
		o, ok := origin[fn.Package]
		if !ok {
			o = goOrigins[info.Classify(fn.Package)]
			origin[fn.Package] = o
		}
		l.addHint(FuncHint{Addr: fn.Entry, End: fn.End, Name: fn.Name, Pkg: fn.Package, Origin: o, Source: HintPclntab})
	}
}

// parseGo shields the load from a panic in the Go metadata parser: the
// file's other metadata stays usable.
func parseGo(secs []gobin.Section, ptrSize, maxFuncs int) (info *gobin.Info, err error) {
	defer func() {
		if p := recover(); p != nil {
			info, err = nil, fmt.Errorf("parser failed: %v", p)
		}
	}()
	return gobin.Parse(secs, ptrSize, gobin.Options{MaxFuncs: maxFuncs})
}
