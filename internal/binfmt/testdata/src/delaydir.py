# GNU ld leaves the delay-load data directory empty (the delay helper does
# not need it); MSVC fills it, and analysis tools read it. Point it at the
# descriptor dlltool made, as MSVC would. Usage: delaydir.py EXE OBJDUMP
import re, subprocess, sys
import pefile

exe, objdump = sys.argv[1:]
syms = subprocess.run([objdump, "-t", exe], capture_output=True, text=True, check=True).stdout
m = re.search(r"\(sec\s+(\d+)\).*0x([0-9a-f]+) _*DELAY_IMPORT_DESCRIPTOR_", syms)
pe = pefile.PE(exe)
sec = pe.sections[int(m.group(1)) - 1]
d = pe.OPTIONAL_HEADER.DATA_DIRECTORY[13]
d.VirtualAddress = sec.VirtualAddress + int(m.group(2), 16)
d.Size = 32
data = pe.write()
pe.close()
open(exe, "wb").write(data)
