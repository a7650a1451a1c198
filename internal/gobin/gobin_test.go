package gobin

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// variant is one way of building testdata/hello.
type variant struct {
	goos, goarch string
	stripped     bool
	pie          bool
}

func (v variant) name() string {
	n := v.goos + "_" + v.goarch
	if v.pie {
		n += "_pie"
	}
	if v.stripped {
		n += "_stripped"
	}
	return n
}

func (v variant) unstripped() variant { v.stripped = false; return v }

var variants = []variant{
	{goos: "windows", goarch: "amd64"},
	{goos: "windows", goarch: "amd64", stripped: true},
	{goos: "windows", goarch: "386"},
	{goos: "windows", goarch: "386", stripped: true},
	{goos: "linux", goarch: "amd64"},
	{goos: "linux", goarch: "amd64", stripped: true},
	{goos: "linux", goarch: "386"},
	{goos: "linux", goarch: "386", stripped: true},
	// PIE leaves pointers to be relocated as zero in the file, which
	// exercises the fallback for finding the text base.
	{goos: "linux", goarch: "amd64", pie: true},
	{goos: "linux", goarch: "amd64", pie: true, stripped: true},
}

func needGo(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("building test binaries is slow; skipped in -short mode")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go toolchain not found:", err)
	}
	return goTool
}

// buildHello builds testdata/hello for v into dir and returns the binary path.
func buildHello(goTool, dir string, v variant) (string, error) {
	src, err := filepath.Abs(filepath.Join("testdata", "hello"))
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, v.name()+".exe")
	args := []string{"build", "-trimpath", "-o", out}
	if v.stripped {
		args = append(args, "-ldflags=-s -w")
	}
	if v.pie {
		args = append(args, "-buildmode=pie")
	}
	cmd := exec.Command(goTool, append(args, ".")...)
	cmd.Dir = src
	cmd.Env = append(os.Environ(),
		"GOOS="+v.goos, "GOARCH="+v.goarch,
		"CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", &buildError{v.name(), err, b}
	}
	return out, nil
}

type buildError struct {
	name string
	err  error
	out  []byte
}

func (e *buildError) Error() string { return e.name + ": " + e.err.Error() + "\n" + string(e.out) }

// nmFuncs returns text symbol addresses from `go tool nm`. A name can have
// several addresses: an assembly function and its ABI wrapper share a name
// in the pclntab, while the symbol table marks one of them ".abi0".
func nmFuncs(t *testing.T, goTool, bin string) map[string][]uint64 {
	t.Helper()
	out, err := exec.Command(goTool, "tool", "nm", bin).Output()
	if err != nil {
		t.Fatalf("go tool nm %s: %v", bin, err)
	}
	syms := map[string][]uint64{}
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.SplitN(strings.TrimLeft(line, " "), " ", 3)
		if len(f) != 3 || (f[1] != "T" && f[1] != "t") {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(f[2], ".abi0")
		syms[name] = append(syms[name], a)
	}
	return syms
}

func goVersion(t *testing.T, goTool string) string {
	t.Helper()
	out, err := exec.Command(goTool, "env", "GOVERSION").Output()
	if err != nil {
		t.Fatalf("go env GOVERSION: %v", err)
	}
	return strings.TrimSpace(string(out))
}

const greetPkg = "example.com/hello/greet"

func TestGoBinaries(t *testing.T) {
	goTool := needGo(t)
	dir := t.TempDir()
	wantVersion := goVersion(t, goTool)

	bins := make([]string, len(variants))
	errs := make([]error, len(variants))
	var wg sync.WaitGroup
	for i, v := range variants {
		wg.Go(func() { bins[i], errs[i] = buildHello(goTool, dir, v) })
	}
	wg.Wait()
	byName := map[string]string{}
	for i, v := range variants {
		if errs[i] != nil {
			t.Fatalf("build: %v", errs[i])
		}
		byName[v.name()] = bins[i]
	}

	for i, v := range variants {
		t.Run(v.name(), func(t *testing.T) {
			secs, ps, err := loadSections(bins[i])
			if err != nil {
				t.Fatal(err)
			}
			info, err := Parse(secs, ps, Options{})
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if info == nil {
				t.Fatal("Parse: not recognised as a Go binary")
			}
			if info.GoVersion != wantVersion {
				t.Errorf("GoVersion = %q, want %q", info.GoVersion, wantVersion)
			}
			if info.MainModule != "example.com/hello" || info.MainPackage != "example.com/hello" {
				t.Errorf("MainModule, MainPackage = %q, %q; want example.com/hello twice", info.MainModule, info.MainPackage)
			}
			if len(info.Deps) != 0 {
				t.Errorf("Deps = %q, want none", info.Deps)
			}
			checkFuncs(t, info)

			// Entries must agree with the symbol table of the unstripped
			// build; -s -w only drops symbols and DWARF, so code layout is
			// the same for the stripped twin.
			syms := nmFuncs(t, goTool, byName[v.unstripped().name()])
			got := map[string]Func{}
			for _, f := range info.Funcs {
				got[f.Name] = f
			}
			for _, name := range []string{
				"main.main",
				greetPkg + ".New",
				greetPkg + ".(*Greeter).Hello",
				greetPkg + ".Shout",
				greetPkg + ".Pair[go.shape.int].Swap",
				"runtime.mallocgc",
				"fmt.Fprintln",
			} {
				f, ok := got[name]
				want, inSyms := syms[name]
				switch {
				case !ok && !inSyms:
					continue // inlined away everywhere (New is small)
				case !ok:
					t.Errorf("%s missing from pclntab functions", name)
					continue
				case !inSyms:
					t.Errorf("%s found in pclntab but not in the symbol table", name)
					continue
				}
				if !slices.Contains(want, f.Entry) {
					t.Errorf("%s entry = 0x%x, symbol table says 0x%x", name, f.Entry, want)
				}
			}
			for _, must := range []string{"main.main", greetPkg + ".Shout", greetPkg + ".(*Greeter).Hello"} {
				if _, ok := got[must]; !ok {
					t.Errorf("%s not found", must)
				}
			}
			// Every pclntab function must sit where the symbol table says.
			bad := 0
			for _, f := range info.Funcs {
				if a, ok := syms[f.Name]; ok && !slices.Contains(a, f.Entry) {
					if bad++; bad <= 5 {
						t.Errorf("%s entry = 0x%x, symbol table says 0x%x", f.Name, f.Entry, a)
					}
				}
			}

			for name, want := range map[string][2]string{
				"main.main":                           {"main", "main"},
				greetPkg + ".(*Greeter).Hello":        {greetPkg, "main"},
				greetPkg + ".Pair[go.shape.int].Swap": {greetPkg, "main"},
				"runtime.mallocgc":                    {"runtime", "runtime"},
				"fmt.Fprintln":                        {"fmt", "std"},
			} {
				f, ok := got[name]
				if !ok {
					t.Errorf("%s not found", name)
					continue
				}
				if f.Package != want[0] || info.Classify(f.Package) != want[1] {
					t.Errorf("%s: package %q class %q, want %q %q", name, f.Package, info.Classify(f.Package), want[0], want[1])
				}
			}
			classes := map[string]int{}
			for _, f := range info.Funcs {
				classes[info.Classify(f.Package)]++
				if strings.HasPrefix(f.Name, "type:") && f.Package != "" {
					t.Errorf("%s: package %q, want none", f.Name, f.Package)
				}
			}
			if classes["lib"] != 0 || classes["std"] == 0 || classes["runtime"] == 0 || classes["main"] < 3 {
				t.Errorf("classes = %v", classes)
			}
			t.Logf("%d funcs, classes %v", len(info.Funcs), classes)
		})
	}
}

// checkFuncs checks the invariants every successful Parse guarantees.
func checkFuncs(t *testing.T, info *Info) {
	t.Helper()
	if len(info.Funcs) == 0 {
		t.Fatal("no functions")
	}
	for i, f := range info.Funcs {
		if f.Name == "" || f.End < f.Entry {
			t.Fatalf("func %d: bad %+v", i, f)
		}
		if i > 0 {
			p := info.Funcs[i-1]
			if p.Entry > f.Entry || p.End != f.Entry {
				t.Fatalf("funcs %d,%d not contiguous and sorted: %+v %+v", i-1, i, p, f)
			}
		}
	}
}

func TestNotGo(t *testing.T) {
	found := false
	for _, p := range []string{"/bin/ls", "/usr/bin/ls", "/bin/sh", "/usr/bin/env"} {
		secs, ps, err := loadSections(p)
		if err != nil {
			continue
		}
		found = true
		info, err := Parse(secs, ps, Options{})
		if info != nil || err != nil {
			t.Errorf("%s: Parse = %v, %v; want nil, nil", p, info, err)
		}
	}
	if !found {
		t.Skip("no system ELF binaries to try")
	}
	if info, err := Parse(nil, 8, Options{}); info != nil || err != nil {
		t.Errorf("Parse(nil) = %v, %v", info, err)
	}
	if _, err := Parse(nil, 3, Options{}); err == nil {
		t.Error("Parse with pointer size 3 succeeded")
	}
}

func TestPackageOf(t *testing.T) {
	for name, want := range map[string]string{
		"github.com/foo/bar.(*X).Y":                      "github.com/foo/bar",
		"github.com/foo/bar.X.Y":                         "github.com/foo/bar",
		"github.com/foo/bar.F.func1.2":                   "github.com/foo/bar",
		"runtime.mallocgc":                               "runtime",
		"main.main":                                      "main",
		"type:.eq.[2]interface {}":                       "",
		"go:buildid":                                     "",
		"type..eq.main.T":                                "",
		"go.buildid":                                     "",
		"_rt0_amd64_windows":                             "",
		"gopkg.in/yaml%2ev3.(*parser).parse":             "gopkg.in/yaml.v3",
		"go.uber.org/zap.(*Logger).Info":                 "go.uber.org/zap",
		"example.com/p.Map[go.shape.*example.com/q.T].M": "example.com/p",
		"example.com/p.(*T[go.shape.string]).M":          "example.com/p",
		"internal/abi.(*Type).Kind":                      "internal/abi",
		"vendor/golang.org/x/net/http2/hpack.NewEncoder": "vendor/golang.org/x/net/http2/hpack",
		".weird":       "",
		"nodot/at/all": "",
	} {
		if got := packageOf(name); got != want {
			t.Errorf("packageOf(%q) = %q, want %q", name, got, want)
		}
	}
	// Unescaped dotted module paths are resolved through the build info.
	dotted := []string{"gopkg.in/yaml.v3"}
	if got := refinePackage("gopkg.in/yaml.v3.Marshal", packageOf("gopkg.in/yaml.v3.Marshal"), dotted); got != "gopkg.in/yaml.v3" {
		t.Errorf("refinePackage = %q", got)
	}
}

func TestClassify(t *testing.T) {
	info := &Info{MainModule: "github.com/bufbuild/buf", Deps: []string{"github.com/spf13/cobra", "localmod"}}
	for pkg, want := range map[string]string{
		"":                                  "runtime",
		"runtime":                           "runtime",
		"runtime/internal/atomic":           "runtime",
		"internal/abi":                      "runtime",
		"fmt":                               "std",
		"crypto/internal/fips140/aes":       "std",
		"vendor/golang.org/x/crypto/sha3":   "std",
		"main":                              "main",
		"github.com/bufbuild/buf":           "main",
		"github.com/bufbuild/buf/private/x": "main",
		"github.com/bufbuild/bufx":          "lib",
		"github.com/spf13/cobra":            "lib",
		"localmod/sub":                      "lib",
		"golang.org/x/sys/windows":          "lib",
	} {
		if got := info.Classify(pkg); got != want {
			t.Errorf("Classify(%q) = %q, want %q", pkg, got, want)
		}
	}
	var nilInfo *Info
	if got := nilInfo.Classify("fmt"); got != "std" {
		t.Errorf("nil Info Classify(fmt) = %q", got)
	}
}

// helloPclntab builds the stripped linux/amd64 hello binary and returns
// its sections and the index of .gopclntab.
func helloPclntab(t testing.TB) ([]Section, int) {
	goTool := needGo(t)
	bin, err := buildHello(goTool, t.TempDir(), variant{goos: "linux", goarch: "amd64", stripped: true})
	if err != nil {
		t.Fatal(err)
	}
	secs, _, err := loadSections(bin)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range secs {
		if s.Name == ".gopclntab" {
			return secs, i
		}
	}
	t.Fatal("no .gopclntab section")
	return nil, 0
}

func TestDamaged(t *testing.T) {
	secs, pi := helloPclntab(t)
	orig := secs[pi].Data

	// The table found by scanning (as on PE) matches the named section.
	renamed := append([]Section(nil), secs...)
	renamed[pi].Name = ".rdata"
	a, err := Parse(secs, 8, Options{})
	if err != nil || a == nil {
		t.Fatalf("Parse: %v %v", a, err)
	}
	b, err := Parse(renamed, 8, Options{})
	if err != nil || b == nil || len(b.Funcs) != len(a.Funcs) || b.Funcs[0] != a.Funcs[0] {
		t.Fatalf("scanned Parse differs: %v", err)
	}

	// With runtime.firstmoduledata gone (as when its pointers await
	// relocation), the text base falls back to the code section and the
	// entries stay the same.
	var ptr [8]byte
	binary.LittleEndian.PutUint64(ptr[:], secs[pi].Addr)
	nomd := append([]Section(nil), secs...)
	wiped := 0
	for i := range nomd {
		if i == pi {
			continue
		}
		d := bytes.Clone(nomd[i].Data)
		for j := bytes.Index(d, ptr[:]); j >= 0; j = bytes.Index(d, ptr[:]) {
			clear(d[j : j+8])
			wiped++
		}
		nomd[i].Data = d
	}
	if wiped == 0 {
		t.Error("found no moduledata pointer to the pclntab")
	}
	c, err := Parse(nomd, 8, Options{})
	if err != nil || c == nil || !slices.Equal(c.Funcs, a.Funcs) {
		t.Errorf("without moduledata: err %v, funcs differ", err)
	}

	// Limits are reported, not silently ignored.
	if _, err := Parse(secs, 8, Options{MaxFuncs: 10}); err == nil || !strings.Contains(err.Error(), "exceed the limit") {
		t.Errorf("MaxFuncs: err = %v", err)
	}
	if _, err := Parse(secs, 8, Options{MaxPclntab: 1000}); err == nil || !strings.Contains(err.Error(), "exceeds the limit") {
		t.Errorf("MaxPclntab: err = %v", err)
	}

	// A corrupted _func record is an error that names the table address.
	ps := 8
	funcBase := int(leUint(orig[8+7*ps:], ps)) // pclnOffset
	funcOff := int(leUint(orig[funcBase+4:], 4))
	bad := bytes.Clone(orig)
	bad[funcBase+funcOff] ^= 0xff // _func.entryOff no longer matches
	damaged := append([]Section(nil), secs...)
	damaged[pi].Data = bad
	_, err = Parse(damaged, 8, Options{})
	want := "gobin: pclntab at 0x" + strconv.FormatUint(secs[pi].Addr, 16) + ": "
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("damaged _func: err = %v, want prefix %q", err, want)
	}

	// Without build info and with a broken magic, the binary is not
	// recognisable as Go.
	var plain []Section
	for i, s := range secs {
		if s.Name == ".go.buildinfo" {
			continue
		}
		if i == pi {
			s.Data = bytes.Clone(orig)
			s.Data[0] = 0
		}
		plain = append(plain, s)
	}
	if info, err := Parse(plain, 8, Options{}); info != nil || err != nil {
		t.Errorf("no buildinfo, no magic: %v, %v", info, err)
	}
}

func leUint(b []byte, n int) uint64 {
	var v uint64
	for i := n - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func FuzzParse(f *testing.F) {
	if !testing.Short() {
		if _, err := exec.LookPath("go"); err == nil {
			secs, pi := helloPclntab(f)
			tab := secs[pi].Data
			f.Add(tab, secs[pi].Addr, uint8(8))
			// The same table cut down to its first 100 functions keeps
			// every region valid but is cheaper to mutate.
			small := bytes.Clone(tab)
			small[8] = 100
			for i := 9; i < 16; i++ {
				small[i] = 0
			}
			f.Add(small, secs[pi].Addr, uint8(0))
			f.Add(tab[:len(tab)/2], uint64(0), uint8(4))
		}
	}
	f.Add([]byte("\xf1\xff\xff\xff\x00\x00\x01\x08"), uint64(0x1000), uint8(8))
	f.Add([]byte("\xff Go buildinf:\x08\x02\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08go1.21.5\x00"), uint64(0), uint8(8))
	f.Fuzz(func(t *testing.T, data []byte, addr uint64, ptr uint8) {
		ps := []int{0, 4, 8}[ptr%3]
		secs := []Section{{Name: ".rdata", Addr: addr, Data: data}}
		info, err := Parse(secs, ps, Options{MaxFuncs: 1 << 20, MaxPclntab: 64 << 20})
		if err != nil && info != nil {
			t.Fatalf("both info and error: %v", err)
		}
		if info == nil || len(info.Funcs) == 0 {
			return
		}
		for i, fn := range info.Funcs {
			if fn.Name == "" || fn.End < fn.Entry || (i > 0 && info.Funcs[i-1].Entry > fn.Entry) {
				t.Fatalf("func %d: bad %+v", i, fn)
			}
			_ = info.Classify(fn.Package)
		}
	})
}

// TestMutations corrupts a real pclntab and build info in many small ways;
// Parse must never panic and whatever it returns must be self-consistent.
func TestMutations(t *testing.T) {
	secs, pi := helloPclntab(t)
	orig := secs[pi].Data
	bi := -1
	for i, s := range secs {
		if s.Name == ".go.buildinfo" {
			bi = i
		}
	}
	if bi < 0 {
		t.Fatal("no .go.buildinfo section")
	}
	origBI := secs[bi].Data
	pclnOff := int(leUint(orig[8+7*8:], 8))
	rnd := rand.New(rand.NewPCG(1, 2))
	tab := bytes.Clone(orig)
	info := bytes.Clone(origBI)
	mut := append([]Section(nil), secs...)
	mut[pi].Data, mut[bi].Data = tab, info
	for iter := range 1500 {
		copy(tab, orig)
		copy(info, origBI)
		for range 1 + rnd.IntN(4) {
			var p int
			switch rnd.IntN(4) {
			case 0:
				p = rnd.IntN(8 + 8*8) // header
			case 1:
				p = pclnOff + rnd.IntN(min(4096, len(tab)-pclnOff)) // functab start
			case 2:
				p = rnd.IntN(len(tab))
			default:
				info[rnd.IntN(min(64, len(info)))] = byte(rnd.Uint32())
				continue
			}
			tab[p] = byte(rnd.Uint32())
		}
		got, err := Parse(mut, 0, Options{})
		if err != nil {
			if got != nil {
				t.Fatalf("iter %d: both info and error %v", iter, err)
			}
			if !strings.HasPrefix(err.Error(), "gobin: ") {
				t.Fatalf("iter %d: error without package prefix: %v", iter, err)
			}
			continue
		}
		if got != nil && len(got.Funcs) > 0 {
			checkFuncs(t, got)
		}
	}
}
