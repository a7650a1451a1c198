package attribute

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kinship-dev/kinship/internal/model"
)

// programs records, per family, the names its references give themselves.
type programs struct {
	names map[string]int // program name -> references carrying it
	refs  int            // references in the family
	named int            // references that carry a program name
}

func (ix *Index) buildPrograms() {
	ix.progs = make([]programs, len(ix.families))
	for i := range ix.progs {
		ix.progs[i].names = map[string]int{}
	}
	for _, rs := range ix.samples {
		if rs.fam < 0 {
			continue
		}
		p := &ix.progs[rs.fam]
		p.refs++
		if rs.s.Program != "" {
			p.named++
			p.names[strings.ToLower(rs.s.Program)]++
		}
	}
}

// identity settles which of an actor's programs the sample is when the
// code cannot: sibling programs built from one source tree (a linter and a
// breaking-change checker of one project, say) can share nearly all their
// code, but each names itself in its own metadata. It only chooses among
// the families of the actor the code already named, so a forged name
// cannot attribute a sample to anyone; and a sample that names itself
// differently from every reference of the family its code points to is a
// different program by that actor, so its family becomes unknown.
func (ix *Index) identity(v *model.Verdict) {
	prog := strings.ToLower(v.Sample.Program)
	if prog == "" || v.Actor.Name == model.Unknown {
		return
	}
	var match []int
	for f := range ix.families {
		if a := ix.famActor[f]; a < 0 || !equalFold(ix.actors[a], v.Actor.Name) {
			continue
		}
		if ix.progs[f].names[prog] > 0 {
			match = append(match, f)
		}
	}
	sort.Ints(match)
	switch {
	case len(match) == 1:
		g := ix.families[match[0]]
		if equalFold(v.Family.Name, g) {
			v.Family.Reason += fmt.Sprintf("; the sample names itself %q, as references of this family do", prog)
			return
		}
		was := v.Family.Name
		if was == model.Unknown {
			was = "no family"
		}
		j := term(g, v.Actor.Probability, fmt.Sprintf("the code points to actor %s (%s by code alone); the sample names itself %q, as %d of %d references of %s do",
			v.Actor.Name, was, prog, ix.progs[match[0]].names[prog], ix.progs[match[0]].refs, g))
		j.Best = g
		v.Family = j
	case len(match) == 0 && v.Family.Name != model.Unknown:
		f := ix.famIndex(v.Family.Name)
		if f < 0 || ix.progs[f].named == 0 || ix.progs[f].named < ix.progs[f].refs {
			return
		}
		names := make([]string, 0, len(ix.progs[f].names))
		for n := range ix.progs[f].names {
			names = append(names, fmt.Sprintf("%q", n))
		}
		sort.Strings(names)
		j := term(model.Unknown, v.Family.Probability, fmt.Sprintf("a different program by %s: the sample names itself %q, every reference of %s names itself %s",
			v.Actor.Name, prog, v.Family.Name, strings.Join(names, ", ")))
		j.Best = v.Family.Name
		v.Family = j
	}
}

func (ix *Index) famIndex(name string) int {
	for i, f := range ix.families {
		if equalFold(f, name) {
			return i
		}
	}
	return -1
}
