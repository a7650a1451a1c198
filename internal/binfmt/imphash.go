package binfmt

import (
	"crypto/md5"
	"encoding/hex"
	"strconv"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// Imphash returns the import hash of a PE file: the MD5 of its imports as
// "library.function", lower case, comma-joined, in import-table order. It
// follows python pefile's get_imphash, the reference implementation that
// sample databases use: the library loses a .dll/.ocx/.sys extension,
// ordinals of ws2_32, wsock32 and oleaut32 become names and others
// "ord<N>", names pefile rejects as corrupt are left out, and delay-load
// imports do not count. It is "" when there are no imports.
func Imphash(f *File) string {
	if f == nil || f.Format != model.FormatPE {
		return ""
	}
	var parts []string
	for _, imp := range f.Imports {
		if imp.Delayed || imp.Library == "" {
			continue
		}
		dll := strings.ToLower(imp.Library)
		if !validDOSName(dll) {
			dll = "*invalid*"
		}
		lib := dll
		if i := strings.LastIndexByte(lib, '.'); i >= 0 {
			switch lib[i+1:] {
			case "dll", "ocx", "sys":
				lib = lib[:i]
			}
		}
		name := imp.Name
		if ord, ok := strings.CutPrefix(name, "#"); ok {
			n, err := strconv.ParseUint(ord, 10, 16)
			if err != nil {
				continue
			}
			name = ordinalName(dll, uint16(n))
		} else if name == "" || !validFuncName(name) {
			continue
		}
		parts = append(parts, lib+"."+strings.ToLower(name))
	}
	if len(parts) == 0 {
		return ""
	}
	sum := md5.Sum([]byte(strings.Join(parts, ",")))
	return hex.EncodeToString(sum[:])
}

func ordinalName(dll string, ord uint16) string {
	var tab map[uint16]string
	switch dll {
	case "ws2_32.dll", "wsock32.dll":
		tab = ws2_32Ordinals
	case "oleaut32.dll":
		tab = oleaut32Ordinals
	}
	if name, ok := tab[ord]; ok {
		return name
	}
	return "ord" + strconv.Itoa(int(ord))
}

// validDOSName is pefile's test for a plausible DLL name.
func validDOSName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("!#$%&'()-@^_`{}~+,.;=[]\\/", rune(c)) {
			return false
		}
	}
	return true
}

// validFuncName is pefile's test for a plausible imported name.
func validFuncName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isAlnum(c) && !strings.ContainsRune("._?@$()<>", rune(c)) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
