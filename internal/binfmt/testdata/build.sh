#!/bin/sh
# Rebuilds the loader fixtures from src/ and records what binutils and
# pefile say about them in expect.txt; the tests compare against that file
# so they need none of these tools.
#
# Needs: gcc with -m32 (gcc-multilib), mingw-w64, binutils, python3-pefile.
#   apt-get install -y gcc gcc-multilib mingw-w64 binutils python3-pefile
set -eu
cd "$(dirname "$0")"
py=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
	if $p -c 'import pefile' 2>/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || { echo "build.sh: no python3 with pefile" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
CFLAGS="-O2 -g0"

# ELF, x86-64 and i386.
gcc $CFLAGS -o elf64-pie src/prog.c
gcc $CFLAGS -no-pie -Wl,-z,now -s -o elf64-nopie-now src/prog.c
gcc $CFLAGS -fcf-protection=full -Wl,-z,ibtplt -s -o elf64-ibt src/prog.c
gcc $CFLAGS -shared -fPIC -s -o elf64-lib.so src/kinlib.c
gcc $CFLAGS -m32 -o elf32-pie src/prog.c
gcc $CFLAGS -m32 -no-pie -s -o elf32-nopie src/prog.c
# Section headers removed (as sstrip and some packers do): the loader must
# fall back to program headers and find .eh_frame through .eh_frame_hdr.
cp elf64-pie elf64-noshdr
printf '\000\000\000\000\000\000\000\000' | dd of=elf64-noshdr bs=1 seek=40 conv=notrunc 2>/dev/null
printf '\000\000\000\000' | dd of=elf64-noshdr bs=1 seek=60 conv=notrunc 2>/dev/null

# PE, x86-64 and i386: a DLL with exports and a forwarder, and a program
# importing from it by name and ordinal, from ws2_32 by ordinal and from
# user32 by delay load.
for arch in 64 32; do
	# i386 import libraries name stdcall functions with their @size.
	if [ $arch = 64 ]; then cc=x86_64-w64-mingw32 def=.def; else cc=i686-w64-mingw32 def=32.def; fi
	$cc-gcc $CFLAGS -shared -Wl,--strip-debug -o kinlib$arch.dll src/kinlib.c src/kinlib.def -Wl,--out-implib,$tmp/libkinlib.a
	$cc-dlltool -k --input-def src/ws2ord$def --output-lib $tmp/libws2ord.a
	$cc-dlltool -k --input-def src/user32delay$def --output-delaylib $tmp/libuser32delay.a
	# Debug sections of the C runtime are dropped; COFF symbols stay.
	$cc-gcc $CFLAGS -Wl,--strip-debug -o pe$arch.exe src/win.c -L$tmp -lkinlib -lws2ord -luser32delay
	$py src/delaydir.py pe$arch.exe $cc-objdump
	$cc-strip -o pe$arch-stripped.exe pe$arch.exe
done

fixtures="elf64-pie elf64-nopie-now elf64-ibt elf64-lib.so elf32-pie elf32-nopie elf64-noshdr kinlib64.dll pe64.exe pe64-stripped.exe kinlib32.dll pe32.exe pe32-stripped.exe"
{
	echo "# fixture key value, from binutils and pefile (written by build.sh)"
	for f in $fixtures; do
		case $f in
		*.exe|*.dll)
			$py -c 'import pefile,sys; print(pefile.PE(sys.argv[1]).get_imphash() or "-")' $f | sed "s/^/$f imphash /"
			if [ "${f#*64}" != "$f" ]; then
				# Entries of the interpreted .pdata table.
				n=$(x86_64-w64-mingw32-objdump -p $f | awk '/^The Function Table/{t=1;next} t&&/^$/{t=0} t&&/^ [0-9a-f]+:\t/{n++} END{print n+0}')
				echo "$f pdata $n"
			fi
			;;
		*)
			# Without section headers readelf finds no frames: count the original.
			g=$f; [ $f = elf64-noshdr ] && g=elf64-pie
			n=$(readelf --debug-dump=frames $g 2>/dev/null | grep -c ' FDE cie=' || true)
			echo "$f fde $n"
			;;
		esac
	done
} > expect.txt
ls -l $fixtures
