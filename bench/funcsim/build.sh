#!/usr/bin/env bash
# Builds the function-similarity benchmark (Marcelli et al., USENIX Security
# 2022, tasks XO and XC) from third-party C libraries: Debian bookworm source
# packages and the SQLite amalgamation shipped in an npm package. Nothing
# downloaded or built here is committed; it all lives in the cache folder.
#
#   bash bench/funcsim/build.sh [CACHE]     # default $HOME/.cache/kinship-funcsim
#
# Layout of CACHE:
#   src/                          unpacked sources
#   obj/<build>/<lib>/            objects
#   unstripped/<build>/<lib>.so   symbols kept: the ground truth
#   stripped/<build>/<lib>.so     the same file after strip: the queries
# Builds: gcc-O0..gcc-O3 and clang-O0..clang-O3 (ELF x86-64 shared objects),
# mingw-O2 (PE32+ DLLs from x86_64-w64-mingw32-gcc).
#
# Idempotent: a library/build whose outputs exist with the same command line
# (recorded in a .cmd file beside them) is not rebuilt. JOBS (default 1)
# compiles that many objects at once: the machine is shared.
set -euo pipefail

CACHE=${1:-${KINSHIP_FUNCSIM:-$HOME/.cache/kinship-funcsim}}
JOBS=${JOBS:-1}
SQLITE_NPM=better-sqlite3@11.10.0
BUILDS=${BUILDS:-"gcc-O0 gcc-O1 gcc-O2 gcc-O3 clang-O0 clang-O1 clang-O2 clang-O3 mingw-O2"}
LIBS=${LIBS:-"zlib bzip2 lua lz4 cjson libyaml liblzma sqlite"}

mkdir -p "$CACHE/src"
CACHE=$(cd "$CACHE" && pwd)
export SOURCE_DATE_EPOCH=1700000000
export DEBIAN_FRONTEND=noninteractive

need() { command -v "$1" >/dev/null 2>&1; }

# Toolchains and apt's source index, installed only when missing.
pkgs=()
need gcc || pkgs+=(gcc)
need clang || pkgs+=(clang)
need x86_64-w64-mingw32-gcc || pkgs+=(gcc-mingw-w64-x86-64)
need dpkg-source || pkgs+=(dpkg-dev)
need npm || pkgs+=(npm)
if [ ${#pkgs[@]} -gt 0 ]; then
  apt-get update -qq
  apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

# Debian source packages: pinned to bookworm's versions so every machine
# compiles the same code.
declare -A DEBSRC=(
  [zlib]="zlib=1:1.2.13.dfsg-1"
  [bzip2]="bzip2=1.0.8-5"
  [lua]="lua5.4=5.4.4-3+deb12u1"
  [lz4]="lz4=1.9.4-1"
  [cjson]="cjson=1.7.15-1+deb12u4"
  [libyaml]="libyaml=0.2.5-1"
  [liblzma]="xz-utils=5.4.1-1+deb12u1"
)
declare -A SRCDIR=(
  [zlib]=zlib-1.2.13.dfsg [bzip2]=bzip2-1.0.8 [lua]=lua5.4-5.4.4 [lz4]=lz4-1.9.4
  [cjson]=cjson-1.7.15 [libyaml]=libyaml-0.2.5 [liblzma]=xz-utils-5.4.1 [sqlite]=sqlite
)

fetch() { # lib
  local lib=$1 dir="$CACHE/src/${SRCDIR[$1]}"
  [ -d "$dir" ] && return 0
  if [ "$lib" = sqlite ]; then
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "$SQLITE_NPM" >/dev/null)
    mkdir -p "$dir"
    tar -xzf "$tmp"/*.tgz -C "$dir" --strip-components=3 package/deps/sqlite3/sqlite3.c package/deps/sqlite3/sqlite3.h package/deps/sqlite3/sqlite3ext.h
    rm -rf "$tmp"
    return 0
  fi
  if ! apt-cache showsrc "${DEBSRC[$lib]%%=*}" >/dev/null 2>&1 || [ -z "$(apt-cache showsrc "${DEBSRC[$lib]%%=*}" 2>/dev/null)" ]; then
    # apt needs a deb-src entry; signed like the binary entries so the
    # two do not conflict.
    echo 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian bookworm main' \
      >/etc/apt/sources.list.d/kinship-funcsim-src.list
    apt-get update -qq
  fi
  (cd "$CACHE/src" && apt-get source -qq "${DEBSRC[$lib]}" >/dev/null 2>&1) || {
    echo "apt-get source ${DEBSRC[$lib]} failed" >&2
    return 1
  }
}

# Per-library sources (relative to the source folder) and extra flags.
# ELF and PE differ only where the library's portability layer needs it.
XZ_DEFS="-DHAVE_STDBOOL_H=1 -DHAVE__BOOL=1 -DHAVE_STDINT_H=1 -DHAVE_INTTYPES_H=1 -DSIZEOF_SIZE_T=8
 -DHAVE_CHECK_CRC32=1 -DHAVE_CHECK_CRC64=1 -DHAVE_CHECK_SHA256=1 -DHAVE_INTERNAL_SHA256=1
 -DHAVE_ENCODERS=1 -DHAVE_DECODERS=1 -DHAVE_ENCODER_LZMA1=1 -DHAVE_ENCODER_LZMA2=1 -DHAVE_DECODER_LZMA1=1
 -DHAVE_DECODER_LZMA2=1 -DHAVE_ENCODER_DELTA=1 -DHAVE_DECODER_DELTA=1 -DHAVE_ENCODER_X86=1 -DHAVE_DECODER_X86=1
 -DHAVE_ENCODER_ARM=1 -DHAVE_DECODER_ARM=1 -DHAVE_ENCODER_ARMTHUMB=1 -DHAVE_DECODER_ARMTHUMB=1
 -DHAVE_ENCODER_ARM64=1 -DHAVE_DECODER_ARM64=1 -DHAVE_ENCODER_POWERPC=1 -DHAVE_DECODER_POWERPC=1
 -DHAVE_ENCODER_IA64=1 -DHAVE_DECODER_IA64=1 -DHAVE_ENCODER_SPARC=1 -DHAVE_DECODER_SPARC=1
 -DHAVE_MF_HC3=1 -DHAVE_MF_HC4=1 -DHAVE_MF_BT2=1 -DHAVE_MF_BT3=1 -DHAVE_MF_BT4=1 -DHAVE_LZIP_DECODER=1
 -DTUKLIB_SYMBOL_PREFIX=lzma_ -DTUKLIB_PHYSMEM_SYSCONF=1 -DTUKLIB_CPUCORES_SYSCONF=1 -DASSUME_RAM=128"

sources() { # lib
  local d="$CACHE/src/${SRCDIR[$1]}"
  case $1 in
    zlib) (cd "$d" && ls adler32.c compress.c crc32.c deflate.c gzclose.c gzlib.c gzread.c gzwrite.c \
      infback.c inffast.c inflate.c inftrees.c trees.c uncompr.c zutil.c) ;;
    bzip2) (cd "$d" && ls blocksort.c huffman.c crctable.c randtable.c compress.c decompress.c bzlib.c) ;;
    lua) (cd "$d" && ls src/*.c | grep -vE '/(lua|luac)\.c$') ;;
    lz4) (cd "$d" && ls lib/lz4.c lib/lz4hc.c lib/lz4frame.c lib/xxhash.c) ;;
    cjson) (cd "$d" && ls cJSON.c cJSON_Utils.c) ;;
    libyaml) (cd "$d" && ls src/*.c) ;;
    liblzma) (cd "$d" && ls src/liblzma/*/*.c src/common/tuklib_physmem.c src/common/tuklib_cpucores.c |
      grep -vE 'tablegen|_small\.c$') ;;
    sqlite) echo sqlite3.c ;;
  esac
}

flags() { # lib target(elf|pe)
  case $1 in
    zlib) [ "$2" = elf ] && echo "-DZ_HAVE_UNISTD_H -D_LARGEFILE64_SOURCE=1" ;;
    bzip2) echo "-D_FILE_OFFSET_BITS=64" ;;
    lua) [ "$2" = elf ] && echo "-DLUA_USE_LINUX" || echo "-DLUA_BUILD_AS_DLL" ;;
    libyaml) echo "-Iinclude -DYAML_VERSION_MAJOR=0 -DYAML_VERSION_MINOR=2 -DYAML_VERSION_PATCH=5 -DYAML_VERSION_STRING='\"0.2.5\"'" ;;
    liblzma)
      local i
      i=$(printf -- '-Isrc/liblzma/%s ' api common check lz rangecoder lzma delta simple)
      # shellcheck disable=SC2086
      echo $XZ_DEFS "$i -Isrc/common $([ "$2" = elf ] && echo -DMYTHREAD_POSIX=1 || echo -DMYTHREAD_VISTA=1)"
      ;;
    sqlite) echo "-DSQLITE_OMIT_LOAD_EXTENSION" ;;
  esac
  return 0
}

libs_for() { # lib target
  case $1 in
    lua | sqlite | zlib | liblzma) [ "$2" = elf ] && echo "-lm -lpthread" ;;
  esac
  return 0
}

build_one() { # lib build
  local lib=$1 b=$2 cc opt target ext strip
  cc=${b%-*} opt=${b#*-}
  case $cc in
    gcc) target=elf ext=so strip=strip cc=gcc ;;
    clang) target=elf ext=so strip=strip cc=clang ;;
    mingw) target=pe ext=dll strip=x86_64-w64-mingw32-strip cc=x86_64-w64-mingw32-gcc ;;
  esac
  local src="$CACHE/src/${SRCDIR[$lib]}" obj="$CACHE/obj/$b/$lib"
  local un="$CACHE/unstripped/$b/$lib.$ext" st="$CACHE/stripped/$b/$lib.$ext"
  local cflags="-$opt -g0 -w -fno-ident -ffile-prefix-map=$src=. $([ "$target" = elf ] && echo -fPIC) $(flags "$lib" "$target")"
  local ldflags="-shared $([ "$target" = pe ] && echo -Wl,--no-insert-timestamp)"
  local cmd="$cc $cflags | $ldflags $(libs_for "$lib" "$target") | $($cc --version | head -1)"
  if [ -f "$st" ] && [ -f "$un" ] && [ "$(cat "$un.cmd" 2>/dev/null)" = "$cmd" ]; then
    return 0
  fi
  echo "build $b/$lib" >&2
  rm -rf "$obj"
  mkdir -p "$obj" "$(dirname "$un")" "$(dirname "$st")"
  # Object names keep the source path so equal basenames do not collide.
  sources "$lib" | (cd "$src" && xargs -P "$JOBS" -I{} sh -c \
    "$cc $cflags -frandom-seed={} -c {} -o '$obj'/\$(echo {} | tr / _).o")
  # shellcheck disable=SC2046
  $cc $ldflags -o "$un" $(ls "$obj"/*.o | sort) $(libs_for "$lib" "$target")
  $strip -o "$st" "$un"
  echo "$cmd" >"$un.cmd"
}

# Debian's lua patch includes a header its build generates.
prepare() { # lib
  if [ "$1" = lua ]; then
    local h="$CACHE/src/${SRCDIR[lua]}/src/lua5.4-deb-multiarch.h"
    [ -f "$h" ] || echo '#define DEB_HOST_MULTIARCH "x86_64-linux-gnu"' >"$h"
  fi
  return 0
}

for lib in $LIBS; do
  fetch "$lib"
  prepare "$lib"
done
for b in $BUILDS; do
  for lib in $LIBS; do
    build_one "$lib" "$b"
  done
done

# Versions and compilers, for the README's dataset table.
{
  for lib in $LIBS; do
    case $lib in
      sqlite) echo "$lib npm:$SQLITE_NPM sqlite $(grep -m1 '#define SQLITE_VERSION ' "$CACHE/src/sqlite/sqlite3.c" | awk '{print $3}' | tr -d '"')" ;;
      *) echo "$lib debian:${DEBSRC[$lib]}" ;;
    esac
  done
  gcc --version | head -1
  clang --version | head -1
  x86_64-w64-mingw32-gcc --version | head -1
} >"$CACHE/VERSIONS"
echo "done: $CACHE" >&2
