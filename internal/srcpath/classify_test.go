package srcpath

import (
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
)

const (
	own     = model.OriginOwn
	lib     = model.OriginLibrary
	std     = model.OriginStd
	rt      = model.OriginRuntime
	unknown = model.OriginUnknown
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		path   string
		origin model.Origin
		crate  string
	}{
		// Rust standard library, as rustc remaps it and as rustup and
		// -Zbuild-std leave it.
		{`/rustc/eeb90cda1969383f56a2637cbd3037bdf598841c\library\core\src\str\pattern.rs`, std, "core"},
		{`/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/alloc/src/raw_vec.rs`, std, "alloc"},
		{`/rustc/b56aaec52bc0fa35591a872fb4aac81f606e265c/library/std/src/thread/local.rs`, std, "std"},
		{`/rustc/9eb3afe9ebe9c7d2b84b71002d44f4a0edac95e0/src/libcore/slice/mod.rs`, std, "core"},
		{`/rustc/9eb3afe9ebe9c7d2b84b71002d44f4a0edac95e0/src/liballoc/raw_vec.rs`, std, "alloc"},
		{`library\alloc\src\raw_vec.rs`, std, "alloc"},
		{`library/core/src/panicking.rs`, std, "core"},
		{`library/std/src/../../backtrace/src/symbolize/mod.rs`, std, "std"},
		{`library\panic_unwind\src\seh.rs`, std, "panic_unwind"},
		{`library/stdarch/crates/core_arch/src/x86/avx2.rs`, std, "stdarch"},
		{`/rust/deps\hashbrown-0.14.5\src\raw\mod.rs`, std, "hashbrown"},
		{`/rust/deps/rustc-demangle-0.1.24/src/v0.rs`, std, "rustc-demangle"},
		{`/rust/deps/miniz_oxide-0.8.9/src/inflate/core.rs`, std, "miniz_oxide"},
		{`C:\Users\runneradmin\.rustup\toolchains\nightly-2025-07-25-x86_64-pc-windows-msvc\lib/rustlib/src/rust\library\alloc\src\str.rs`, std, "alloc"},
		{`/home/u/.rustup/toolchains/stable-x86_64-unknown-linux-gnu/lib/rustlib/src/rust/library/core/src/fmt/mod.rs`, std, "core"},

		// Third-party crates from Cargo's registry and git checkouts.
		{`C:\Users\runneradmin\.cargo\registry\src\index.crates.io-6f17d22bba15001f\serde_json-1.0.108\src\de.rs`, lib, "serde_json"},
		{`/home/x/.cargo/registry/src/github.com-1ecc6299db9ec823/zstd-safe-4.1.4/src/lib.rs`, lib, "zstd-safe"},
		{`C:\Users\runneradmin\.cargo\registry\src\index.crates.io-6f17d22bba15001f\zstd-safe-5.0.2+zstd.1.5.2\src\lib.rs`, lib, "zstd-safe"},
		{`C:\Users\runneradmin\.cargo\registry\src\index.crates.io-6f17d22bba15001f\once_cell-1.20.0\src/lib.rs`, lib, "once_cell"},
		{`/usr/local/cargo/registry/src/index.crates.io-1949cf8c6b5b557f/tokio-1.40.0/src/runtime/task/state.rs`, lib, "tokio"},
		{`/root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/md-5-0.10.6/src/lib.rs`, lib, "md-5"},
		{`/home/runner/.cargo/registry/src/index.crates.io-6f17d22bba15001f/windows-sys-0.52.0/src/lib.rs`, lib, "windows-sys"},
		{`/home/u/.cargo/registry/src/index.crates.io-6f17d22bba15001f/tokio-1.0.0-beta.1/src/lib.rs`, lib, "tokio"},
		{`/cargo/registry/src/github.com-1ecc6299db9ec823/hashbrown-0.12.3/src/raw/mod.rs`, lib, "hashbrown"},
		{`/cargo/registry/25cdd57fae9f0462\hashbrown-0.17.1\src\raw.rs`, lib, "hashbrown"},
		{`\\?\C:\Users\x\.cargo\registry\src\index.crates.io-6f17d22bba15001f\serde-1.0.193\src\de\mod.rs`, lib, "serde"},
		{`C:\Users\runneradmin\.cargo\registry\src\index.crates.io-6f17d22bba15001f\zstd-sys-2.0.9+zstd.1.5.5\zstd\lib\compress\zstd_compress.c`, lib, "zstd-sys"},
		{`C:\Users\runneradmin\.cargo\git\checkouts\tree-sitter-3a9ef1ab2b2d39e8\0a1b2c3\lib\binding_rust\lib.rs`, lib, "tree-sitter"},
		{`/home/x/.cargo/git/checkouts/libsql-311658aa09b9a39f/6a0b2f4/libsql-sys/src/lib.rs`, lib, "libsql"},
		{`vendor/serde/src/de/mod.rs`, lib, "serde"},
		{`/build/source/vendor/regex-1.10.2/src/lib.rs`, lib, "regex"},
		{`/nix/store/abc-vendor/cargo-vendor-dir/serde-1.0.193/src/lib.rs`, lib, "serde"},
		{`external/crate_index__serde-1.0.193/src/lib.rs`, lib, "serde"},
		{`external/crates__tokio-1.40.0/src/lib.rs`, lib, "tokio"},

		// The workspace's own crates, by relative path.
		{`src/lib.rs`, own, ""},
		{`src\main.rs`, own, ""},
		{`crates/napi/src/lib.rs`, own, ""},
		{`parse_ast\src\convert_ast\converter.rs`, own, ""},
		{`./src/main.rs`, own, ""},
		{`../shared/src/util.rs`, own, ""},
		{`core/translate/emitter.rs`, own, ""},
		{`crates/deps-resolver/src/lib.rs`, own, ""},
		// A file that merely mentions "rustc" or "library" is not std.
		{`crates/rustc/src/lib.rs`, own, ""},
		{`library/mylib/src/lib.rs`, own, ""},

		// Absolute paths that name no known home say nothing.
		{`/home/runner/work/proj/proj/src/lib.rs`, unknown, ""},
		{`D:\a\proj\proj\crates\x\src\lib.rs`, unknown, ""},
		{`/rustc/notahash/src/lib.rs`, unknown, ""},
		// std built with library/ stripped, or a workspace crate called
		// core: either way, not known.
		{`core/src/fmt/num.rs`, unknown, ""},
		{`std/src/../../backtrace/src/symbolize/mod.rs`, unknown, ""},
		{`alloc/src/raw_vec.rs`, unknown, ""},
		{`core/lib.rs`, own, ""},

		// C and C++: standard library, runtime, libraries.
		{`/usr/include/c++/12/bits/stl_vector.h`, std, "libstdc++"},
		{`/usr/include/c++/12/vector`, std, "libstdc++"},
		{`/usr/include/c++/v1/__vector/vector.h`, std, "libc++"},
		{`/builddir/build/BUILD/gcc-14.2.1-20250110/obj-x86_64-redhat-linux/x86_64-redhat-linux/libstdc++-v3/include/bits/fs_path.h`, std, "libstdc++"},
		{`../../../../../libstdc++-v3/src/nonshared17/../c++17/fs_path.cc`, std, "libstdc++"},
		{`C:\Program Files\Microsoft Visual Studio\2022\Enterprise\VC\Tools\MSVC\14.38.33130\include\xstring`, std, "msvc-stl"},
		{`C:\Program Files\Microsoft Visual Studio\2022\Enterprise\VC\Tools\MSVC\14.38.33130\include\vector`, std, "msvc-stl"},
		{`C:\Program Files\Microsoft Visual Studio\2022\Enterprise\VC\Tools\MSVC\14.38.33130\crt\src\vcruntime\utility.cpp`, rt, "vcruntime"},
		{`D:\a\_work\1\s\src\vctools\crt\vcruntime\src\eh\std_exception.cpp`, rt, "vcruntime"},
		{`d:\agent\_work\3\s\src\vctools\crt\vcstartup\src\utility\utility.cpp`, rt, "vcruntime"},
		{`minkernel\crts\ucrt\src\appcrt\stdio\output.cpp`, rt, "ucrt"},
		{`/build/glibc-SzIz7B/glibc-2.31/assert/assert.c`, rt, "glibc"},
		{`/usr/src/debug/glibc-2.34/stdlib/abort.c`, rt, "glibc"},
		{`C:/M/mingw-w64-crt-git/src/mingw-w64/mingw-w64-crt/crt/crtexe.c`, rt, "mingw-w64"},
		{`../../../libgcc/unwind-dw2.c`, rt, "libgcc"},
		{`/llvm-project/compiler-rt/lib/builtins/udivti3.c`, rt, "compiler-rt"},
		{`/usr/include/x86_64-linux-gnu/bits/stdio2.h`, lib, "x86_64-linux-gnu"},
		{`/usr/include/assert.h`, lib, ""},
		{`/usr/local/include/glib-2.0/glib/gmacros.h`, lib, "glib-2.0"},
		{`/opt/homebrew/include/openssl/ssl.h`, lib, "openssl"},
		{`/usr/x86_64-w64-mingw32/include/psdk_inc/intrin-impl.h`, lib, "psdk_inc"},
		{`C:\Program Files (x86)\Windows Kits\10\Include\10.0.22621.0\um\winnt.h`, lib, "windows-sdk"},
		{`C:\vcpkg\installed\x64-windows-static\include\zlib.h`, lib, ""},
		{`C:\vcpkg\installed\x64-windows-static\include\libpng16\png.h`, lib, "libpng16"},
		{`C:\src\vcpkg\buildtrees\libpng\src\v1.6.39-1b1c0f1a8f.clean\png.c`, lib, "libpng"},
		{`D:\vcpkg\packages\zlib_x64-windows\include\zlib.h`, lib, "zlib"},
		{`D:\proj\vcpkg_installed\x64-windows\include\fmt\format.h`, lib, "fmt"},
		{`../../third_party/boringssl/src/crypto/mem.c`, lib, "boringssl"},
		{`third-party/zstd/lib/common/zstd_common.c`, lib, "zstd"},
		{`3rdparty/lz4/lz4.c`, lib, "lz4"},
		{`deps/libsodium/src/libsodium/crypto_generichash/blake2b/ref/blake2b-ref.c`, lib, "libsodium"},
		{`deps/foo.c`, lib, ""},
		{`/__w/sharp/sharp/node_modules/@img/sharp-libvips-dev/include/vips/VImage8.h`, lib, "@img/sharp-libvips-dev"},
		{`D:\a\proj\node_modules\node-addon-api\napi-inl.h`, lib, "node-addon-api"},
		{`_deps/fmt-src/include/fmt/format.h`, lib, "fmt"},
		{`subprojects/zlib-1.3.1/inflate.c`, lib, "zlib"},

		// A C program's own sources are never called own.
		{`../src/binding.c`, unknown, ""},
		{`binding.c`, unknown, ""},
		{`c:\users\travis\build\sodium-friends\sodium-native\binding.c`, unknown, ""},
		{`src/pipeline.cc`, unknown, ""},

		// Not source paths.
		{``, unknown, ""},
		{`README.md`, unknown, ""},
		{`src/lib.js`, unknown, ""},
		{`/usr/include/c++/12/`, unknown, ""},
		{`/`, unknown, ""},
	} {
		o, crate := Classify(tc.path)
		if o != tc.origin || crate != tc.crate {
			t.Errorf("Classify(%q) = %v %q, want %v %q", tc.path, o, crate, tc.origin, tc.crate)
		}
	}
}

func TestCrateName(t *testing.T) {
	for in, want := range map[string]string{
		"serde_json-1.0.108":        "serde_json",
		"zstd-sys-2.0.9+zstd.1.5.5": "zstd-sys",
		"md-5-0.10.6":               "md-5",
		"tokio-1.0.0-beta.1":        "tokio",
		"x25519-dalek-2.0.0":        "x25519-dalek",
		"no-version":                "no-version",
		"weird-1.2":                 "weird-1.2",
		"-1.2.3":                    "-1.2.3",
	} {
		if got := crateName(in); got != want {
			t.Errorf("crateName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsPath(t *testing.T) {
	for in, want := range map[string]bool{
		`src/lib.rs`:                            true,
		`C:\a\b.c`:                              true,
		`\\?\C:\a\b.rs`:                         true,
		`/usr/include/c++/12/bits/stl_vector.h`: true,
		`C:\Program Files\x\y.cpp`:              true,
		`lib.rs`:                                false, // no directory: a file name, not a location
		`assertion failed: x/y.rs`:              false,
		`what? a/b.rs`:                          false,
		`a  b/c.rs`:                             false,
		"a/b\n.rs":                              false,
		`a/b.txt`:                               false,
		"a/\xff.rs":                             false,
		`a/"b".rs`:                              false,
	} {
		if got := isPath([]byte(in)); got != want {
			t.Errorf("isPath(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestVote(t *testing.T) {
	for _, tc := range []struct {
		in   []model.Origin
		want model.Origin
	}{
		{nil, unknown},
		{[]model.Origin{std, lib, own}, own},
		{[]model.Origin{std, lib, std}, lib},
		{[]model.Origin{std, rt}, std},
		{[]model.Origin{rt}, rt},
		{[]model.Origin{unknown, unknown}, unknown},
	} {
		if got := Vote(tc.in); got != tc.want {
			t.Errorf("Vote(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestLanguage(t *testing.T) {
	rs := class{lang: langRust}
	c := class{lang: langC}
	cxx := class{lang: langCXX}
	crt := class{lang: langCXX, origin: model.OriginRuntime}
	for _, tc := range []struct {
		in   []class
		want string
	}{
		{nil, ""},
		{[]class{rs}, "rust"},
		{[]class{rs, rs, c}, "rust"},
		{[]class{rs, c, c}, "c"},
		{[]class{cxx, c}, "c++"},
		{[]class{c, c}, "c"},
		{[]class{c}, ""},
		{[]class{crt, crt, c}, ""},
	} {
		if got := language(tc.in); got != tc.want {
			t.Errorf("language(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
