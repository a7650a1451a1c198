package binfmt

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// DWARF exception-header pointer encodings (LSB, "DWARF Extensions").
const (
	ehPeAbsptr  = 0x00
	ehPeUleb128 = 0x01
	ehPeUdata2  = 0x02
	ehPeUdata4  = 0x03
	ehPeUdata8  = 0x04
	ehPeSleb128 = 0x09
	ehPeSdata2  = 0x0a
	ehPeSdata4  = 0x0b
	ehPeSdata8  = 0x0c
	ehPePcrel   = 0x10
	ehPeDatarel = 0x30
	ehPeOmit    = 0xff
)

// fde is the code range one frame description entry covers.
type fde struct{ begin, end uint64 }

// ehParser decodes one .eh_frame: a sequence of CIEs and FDEs, each FDE
// pointing back at its CIE, which says how the FDE's addresses are encoded.
type ehParser struct {
	data    []byte
	addr    uint64 // address of data[0]
	ptrSize int
	bo      binary.ByteOrder
	datarel uint64 // base for DW_EH_PE_datarel, 0 when unknown
	max     int    // most FDEs to return

	cies      map[int]ehCIE
	anomalies []string
}

type ehCIE struct {
	fdeEnc byte
	ok     bool
}

func (p *ehParser) anomaly(format string, args ...any) {
	if len(p.anomalies) < 20 {
		p.anomalies = append(p.anomalies, fmt.Sprintf(format, args...))
	}
}

// entry returns the body of the entry at off (after its length field), the
// offset of the body and the offset of the next entry; ok is false at the
// terminator or when the entry does not fit.
func (p *ehParser) entry(off int) (body []byte, bodyOff, next int, ok bool) {
	if off < 0 || off+4 > len(p.data) {
		return nil, 0, 0, false
	}
	length := uint64(p.bo.Uint32(p.data[off:]))
	bodyOff = off + 4
	if length == 0 {
		return nil, 0, 0, false
	}
	if length == 0xffffffff {
		if bodyOff+8 > len(p.data) {
			p.anomaly(".eh_frame entry at 0x%x truncated", off)
			return nil, 0, 0, false
		}
		length = p.bo.Uint64(p.data[bodyOff:])
		bodyOff += 8
	}
	if length < 4 || length > uint64(len(p.data)-bodyOff) {
		p.anomaly(".eh_frame entry at 0x%x runs past its section", off)
		return nil, 0, 0, false
	}
	return p.data[bodyOff : bodyOff+int(length)], bodyOff, bodyOff + int(length), true
}

func (p *ehParser) parse() []fde {
	p.cies = make(map[int]ehCIE)
	var out []fde
	for off := 0; ; {
		body, bodyOff, next, ok := p.entry(off)
		if !ok {
			break
		}
		if id := p.bo.Uint32(body); id != 0 {
			if len(out) >= p.max {
				p.anomaly("more than %d FDEs; the rest are ignored", p.max)
				break
			}
			if x, ok := p.fde(body, bodyOff, int(id)); ok {
				out = append(out, x)
			}
		}
		off = next
	}
	return out
}

func (p *ehParser) cie(off int) ehCIE {
	if c, ok := p.cies[off]; ok {
		return c
	}
	c := p.parseCIE(off)
	p.cies[off] = c
	if !c.ok {
		p.anomaly(".eh_frame CIE at 0x%x unreadable", off)
	}
	return c
}

func (p *ehParser) parseCIE(off int) ehCIE {
	body, _, _, ok := p.entry(off)
	if !ok || len(body) < 6 || p.bo.Uint32(body) != 0 {
		return ehCIE{}
	}
	version := body[4]
	aug, ok := cstring(body[5:], 64)
	if !ok {
		return ehCIE{}
	}
	r := body[5+len(aug)+1:]
	if strings.Contains(aug, "eh") {
		if len(r) < p.ptrSize {
			return ehCIE{}
		}
		r = r[p.ptrSize:]
	}
	var n int
	if _, n = uleb(r); n == 0 { // code alignment
		return ehCIE{}
	}
	r = r[n:]
	if _, n = uleb(r); n == 0 { // data alignment (signed, same length)
		return ehCIE{}
	}
	r = r[n:]
	if version == 1 {
		n = 1
	} else {
		_, n = uleb(r)
	}
	if n == 0 || n > len(r) {
		return ehCIE{}
	}
	r = r[n:]
	c := ehCIE{fdeEnc: ehPeAbsptr, ok: true}
	if !strings.HasPrefix(aug, "z") {
		return c
	}
	if _, n = uleb(r); n == 0 {
		return ehCIE{}
	}
	r = r[n:]
	for _, ch := range aug[1:] {
		switch ch {
		case 'R':
			if len(r) < 1 {
				return ehCIE{}
			}
			c.fdeEnc = r[0]
			return c
		case 'L':
			if len(r) < 1 {
				return ehCIE{}
			}
			r = r[1:]
		case 'P':
			if len(r) < 1 {
				return ehCIE{}
			}
			enc := r[0]
			_, n, ok := p.value(enc, r[1:], 0)
			if !ok {
				return ehCIE{}
			}
			r = r[1+n:]
		case 'S', 'B', 'G':
		default:
			return c // unknown augmentation: what follows cannot be read
		}
	}
	return c
}

func (p *ehParser) fde(body []byte, bodyOff, id int) (fde, bool) {
	ciePos := bodyOff - id // the CIE pointer is relative to itself
	if ciePos < 0 {
		p.anomaly(".eh_frame FDE at 0x%x points before its section", bodyOff-4)
		return fde{}, false
	}
	c := p.cie(ciePos)
	if !c.ok {
		return fde{}, false
	}
	r := body[4:]
	begin, n, ok := p.value(c.fdeEnc, r, p.addr+uint64(bodyOff+4))
	if !ok {
		p.anomaly(".eh_frame FDE at 0x%x: unsupported pointer encoding 0x%x", bodyOff-4, c.fdeEnc)
		return fde{}, false
	}
	size, _, ok := p.value(c.fdeEnc&0x0f, r[n:], 0)
	if !ok {
		return fde{}, false
	}
	return fde{begin: begin, end: begin + size}, true
}

// value decodes one encoded pointer at b; fieldAddr is b's address, the
// base of pc-relative values.
func (p *ehParser) value(enc byte, b []byte, fieldAddr uint64) (uint64, int, bool) {
	if enc == ehPeOmit {
		return 0, 0, true
	}
	var v uint64
	var n int
	switch enc & 0x0f {
	case ehPeAbsptr:
		n = p.ptrSize
		if len(b) < n {
			return 0, 0, false
		}
		if n == 8 {
			v = p.bo.Uint64(b)
		} else {
			v = uint64(p.bo.Uint32(b))
		}
	case ehPeUleb128:
		v, n = uleb(b)
	case ehPeSleb128:
		var s int64
		s, n = sleb(b)
		v = uint64(s)
	case ehPeUdata2, ehPeSdata2:
		if n = 2; len(b) < 2 {
			return 0, 0, false
		}
		v = uint64(p.bo.Uint16(b))
		if enc&0x0f == ehPeSdata2 {
			v = uint64(int64(int16(v)))
		}
	case ehPeUdata4, ehPeSdata4:
		if n = 4; len(b) < 4 {
			return 0, 0, false
		}
		v = uint64(p.bo.Uint32(b))
		if enc&0x0f == ehPeSdata4 {
			v = uint64(int64(int32(v)))
		}
	case ehPeUdata8, ehPeSdata8:
		if n = 8; len(b) < 8 {
			return 0, 0, false
		}
		v = p.bo.Uint64(b)
	default:
		return 0, 0, false
	}
	if n == 0 {
		return 0, 0, false
	}
	switch enc & 0x70 {
	case 0:
	case ehPePcrel:
		v += fieldAddr
	case ehPeDatarel:
		if p.datarel == 0 {
			return 0, 0, false
		}
		v += p.datarel
	default:
		return 0, 0, false
	}
	if p.ptrSize == 4 {
		v &= 0xffffffff
	}
	return v, n, true
}

func uleb(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}

func sleb(b []byte) (int64, int) {
	var v int64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= int64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			if s := 7 * (i + 1); s < 64 && b[i]&0x40 != 0 {
				v |= -1 << s
			}
			return v, i + 1
		}
	}
	return 0, 0
}

// ehFrames finds and decodes the ELF file's .eh_frame. Without section
// headers, PT_GNU_EH_FRAME locates .eh_frame_hdr, whose first field points
// at .eh_frame.
func (e *elfFile) ehFrames() []fde {
	l, f := e.l, e.l.f
	var data []byte
	var addr uint64
	if s := e.secByName(".eh_frame"); s != nil && s.addr != 0 && s.flags&shfAlloc != 0 {
		data, addr = s.data, s.addr
	} else {
		for _, ph := range e.progs {
			if ph.typ != ptGnuEhFrame {
				continue
			}
			hdr := f.BytesAt(ph.vaddr)
			if len(hdr) < 8 || hdr[0] != 1 {
				l.anomaly("PT_GNU_EH_FRAME at 0x%x unreadable", ph.vaddr)
				break
			}
			hp := &ehParser{ptrSize: e.ptrSize(), bo: e.bo, datarel: ph.vaddr}
			v, _, ok := hp.value(hdr[1], hdr[4:], ph.vaddr+4)
			if !ok {
				l.anomaly(".eh_frame_hdr: unsupported pointer encoding 0x%x", hdr[1])
				break
			}
			data, addr = f.BytesAt(v), v
			break
		}
	}
	if len(data) == 0 {
		return nil
	}
	var datarel uint64
	if e.machine == em386 {
		if s := e.secByName(".got.plt"); s != nil {
			datarel = s.addr
		} else if s := e.secByName(".got"); s != nil {
			datarel = s.addr
		}
	}
	p := &ehParser{data: data, addr: addr, ptrSize: e.ptrSize(), bo: e.bo, datarel: datarel, max: l.lim.MaxFuncHints}
	fdes := p.parse()
	l.fdes = len(fdes)
	for _, a := range p.anomalies {
		l.anomaly("%s", a)
	}
	return fdes
}

func (e *elfFile) ehFrame() {
	for _, x := range e.ehFrames() {
		if x.begin == 0 || x.end <= x.begin {
			continue // FDEs of code the linker discarded
		}
		e.l.addHint(FuncHint{Addr: x.begin, End: x.end, Source: HintEhFrame})
	}
}
