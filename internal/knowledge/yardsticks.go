package knowledge

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/kinship-dev/kinship/internal/yardstick"
)

// ErrNoProbability is returned for a term that states no probability: free
// text without an interpretation, Admiralty "6 - truth cannot be judged".
var ErrNoProbability = errors.New("the term states no probability")

// ScaleTerm is one term of a yardstick: the probability range it stands
// for, and the STIX 2.1 confidence value it maps to.
type ScaleTerm struct {
	Word     string
	Synonyms []string // other spellings the scale itself gives ("probably not")
	Lo, Hi   float64
	// STIX is the confidence value (0-100) by the STIX 2.1 Appendix A
	// tables; NoSTIX marks a term those tables give no value for.
	STIX   int
	NoSTIX bool
	// NoProbability marks a term that says nothing about likelihood.
	NoProbability bool
}

// Scale is a yardstick: a named set of terms with published meanings.
type Scale struct {
	Name   string // identifier stored in claims
	Title  string
	Origin string // where the terms and their ranges are published
	Terms  []ScaleTerm
}

// Yardstick identifiers.
const (
	YPHIA       = "phia"
	YICD203     = "icd203"
	YConfidence = "confidence"
	YAdmiralty  = "admiralty"
	YWEP        = "wep"
	YDNI        = "dni"
	YNLMH       = "none-low-med-high"
	YZeroTen    = "zero-ten"
	YSTIX       = "stix"
	YFreeText   = "free-text"
)

// The STIX 2.1 confidence tables, from STIX Version 2.1 (OASIS Standard,
// 10 June 2021), Appendix A "Confidence Scales": A.1 None/Low/Med/High,
// A.2 0-10, A.3 Admiralty Credibility, A.4 WEP (Words of Estimative
// Probability), A.5 DNI (the ICD 203 words). Each table has two halves: a
// term → value half, used for STIX confidence, and a value range → term
// half, whose ranges (divided by 100) kinship uses as the term's
// probability range.
var (
	scaleNLMH = Scale{YNLMH, "STIX None/Low/Med/High", "STIX 2.1 Appendix A.1", []ScaleTerm{
		{Word: "None", Lo: 0, Hi: 0, STIX: 0},
		{Word: "Low", Lo: 0.01, Hi: 0.29, STIX: 15},
		{Word: "Med", Synonyms: []string{"Medium"}, Lo: 0.30, Hi: 0.69, STIX: 50},
		{Word: "High", Lo: 0.70, Hi: 1, STIX: 85},
	}}
	scaleZeroTen = func() Scale {
		s := Scale{YZeroTen, "STIX 0-10", "STIX 2.1 Appendix A.2", nil}
		for i := 0; i <= 10; i++ {
			lo, hi := float64(i*10-5)/100, float64(i*10+4)/100
			if i == 0 {
				lo = 0
			}
			if i == 10 {
				hi = 1
			}
			s.Terms = append(s.Terms, ScaleTerm{Word: strconv.Itoa(i), Lo: lo, Hi: hi, STIX: i * 10})
		}
		return s
	}()
	scaleAdmiralty = Scale{YAdmiralty, "Admiralty information credibility", "STIX 2.1 Appendix A.3 (Admiralty / NATO credibility 1-6)", []ScaleTerm{
		{Word: "1 - Confirmed by other sources", Synonyms: []string{"1", "confirmed by other sources", "confirmed"}, Lo: 0.80, Hi: 1, STIX: 90},
		{Word: "2 - Probably True", Synonyms: []string{"2", "probably true"}, Lo: 0.60, Hi: 0.79, STIX: 70},
		{Word: "3 - Possibly True", Synonyms: []string{"3", "possibly true"}, Lo: 0.40, Hi: 0.59, STIX: 50},
		{Word: "4 - Doubtful", Synonyms: []string{"4", "doubtful"}, Lo: 0.20, Hi: 0.39, STIX: 30},
		{Word: "5 - Improbable", Synonyms: []string{"5", "improbable"}, Lo: 0, Hi: 0.19, STIX: 10},
		{Word: "6 - Truth cannot be judged", Synonyms: []string{"6", "truth cannot be judged"}, NoSTIX: true, NoProbability: true},
	}}
	// WEP: STIX's word scale; note that it gives "highly likely" and
	// "almost certain" one value (90), which is why kinship keeps the
	// native term and its own range beside the STIX number.
	scaleWEP = Scale{YWEP, "STIX WEP (Words of Estimative Probability)", "STIX 2.1 Appendix A.4", []ScaleTerm{
		{Word: "Impossible", Lo: 0, Hi: 0, STIX: 0},
		{Word: "Highly Unlikely/Almost Certainly Not", Synonyms: []string{"highly unlikely", "almost certainly not"}, Lo: 0.01, Hi: 0.19, STIX: 10},
		{Word: "Unlikely/Probably Not", Synonyms: []string{"unlikely", "probably not"}, Lo: 0.20, Hi: 0.39, STIX: 30},
		{Word: "Even Chance", Lo: 0.40, Hi: 0.59, STIX: 50},
		{Word: "Likely/Probable", Synonyms: []string{"likely", "probable"}, Lo: 0.60, Hi: 0.79, STIX: 70},
		{Word: "Highly likely/Almost Certain", Synonyms: []string{"highly likely", "almost certain"}, Lo: 0.80, Hi: 0.99, STIX: 90},
		{Word: "Certain", Lo: 1, Hi: 1, STIX: 100},
	}}
	scaleDNI = Scale{YDNI, "STIX DNI scale", "STIX 2.1 Appendix A.5", []ScaleTerm{
		{Word: "Almost No Chance / Remote", Synonyms: []string{"almost no chance", "remote"}, Lo: 0, Hi: 0.09, STIX: 5},
		{Word: "Very Unlikely / Highly Improbable", Synonyms: []string{"very unlikely", "highly improbable"}, Lo: 0.10, Hi: 0.19, STIX: 15},
		{Word: "Unlikely / Improbable", Synonyms: []string{"unlikely", "improbable"}, Lo: 0.20, Hi: 0.39, STIX: 30},
		{Word: "Roughly Even Chance / Roughly Even Odds", Synonyms: []string{"roughly even chance", "roughly even odds"}, Lo: 0.40, Hi: 0.59, STIX: 50},
		{Word: "Likely / Probable", Synonyms: []string{"likely", "probable"}, Lo: 0.60, Hi: 0.79, STIX: 70},
		{Word: "Very Likely / Highly Probable", Synonyms: []string{"very likely", "highly probable"}, Lo: 0.80, Hi: 0.89, STIX: 85},
		{Word: "Almost Certain / Nearly Certain", Synonyms: []string{"almost certain", "nearly certain"}, Lo: 0.90, Hi: 1, STIX: 95},
	}}
	// Analytic confidence (low / moderate / high), as ICD 203 and the UK
	// assessment community use it beside likelihood words. Confidence is
	// not a probability; when a source states a judgment "with moderate
	// confidence" kinship reads it as a probability range of its own
	// choosing (documented in docs/knowledge.md), and maps it to STIX by
	// the None/Low/Med/High table (A.1).
	scaleConfidence = Scale{YConfidence, "Analytic confidence (low/moderate/high)", "ICD 203 confidence levels; ranges are kinship's reading; STIX value by STIX 2.1 Appendix A.1", []ScaleTerm{
		{Word: "low confidence", Synonyms: []string{"low"}, Lo: 0.55, Hi: 0.70, STIX: 15},
		{Word: "moderate confidence", Synonyms: []string{"moderate", "medium confidence", "medium"}, Lo: 0.70, Hi: 0.85, STIX: 50},
		{Word: "high confidence", Synonyms: []string{"high"}, Lo: 0.85, Hi: 0.95, STIX: 85},
	}}
	scalePHIA   = fromYardstick(YPHIA, "UK PHIA probability yardstick", "UK Professional Head of Intelligence Assessment, Probability Yardstick (2019 edition); STIX value by STIX 2.1 Appendix A.4 (WEP)", yardstick.PHIA)
	scaleICD203 = fromYardstick(YICD203, "US ICD 203 likelihood", "US Intelligence Community Directive 203, Analytic Standards (2015); STIX value by STIX 2.1 Appendix A.5 (DNI)", yardstick.ICD203)
)

// fromYardstick builds a scale from the engine's yardstick tables. The STIX
// value of a PHIA term is the WEP value of the WEP band holding the PHIA
// band's midpoint (STIX has no PHIA table); an ICD 203 term is a DNI term,
// so it takes the DNI value of the same band.
func fromYardstick(name, title, origin string, terms []yardstick.Term) Scale {
	s := Scale{Name: name, Title: title, Origin: origin}
	ref := scaleWEP
	if name == YICD203 {
		ref = scaleDNI
	}
	for _, t := range terms {
		mid := math.Round((t.Lo+t.Hi)/2*100) / 100
		st := ScaleTerm{Word: t.Word, Lo: t.Lo, Hi: t.Hi}
		for _, r := range ref.Terms {
			if mid >= r.Lo && mid <= r.Hi+0.009 {
				st.STIX = r.STIX
				break
			}
		}
		s.Terms = append(s.Terms, st)
	}
	return s
}

// Yardsticks lists every yardstick kinship understands, in display order.
// Free text is not a scale: a claim in free text carries an Interpretation
// onto one of these.
func Yardsticks() []Scale {
	return []Scale{scalePHIA, scaleICD203, scaleConfidence, scaleAdmiralty, scaleWEP, scaleDNI, scaleNLMH, scaleZeroTen}
}

// YardstickTitle returns a yardstick's display name.
func YardstickTitle(name string) string {
	switch name {
	case YFreeText:
		return "free text"
	case YSTIX:
		return "STIX confidence 0-100"
	}
	for _, s := range Yardsticks() {
		if s.Name == name {
			return s.Title
		}
	}
	return name
}

func findScale(name string) (Scale, bool) {
	for _, s := range Yardsticks() {
		if s.Name == name {
			return s, true
		}
	}
	return Scale{}, false
}

// Lookup finds a term on a yardstick, case-insensitively, by its word or a
// synonym.
func Lookup(scale, term string) (ScaleTerm, error) {
	if scale == YSTIX {
		n, err := strconv.Atoi(strings.TrimSpace(term))
		if err != nil || n < 0 || n > 100 {
			return ScaleTerm{}, fmt.Errorf("STIX confidence %q is not an integer 0-100", term)
		}
		return ScaleTerm{Word: strconv.Itoa(n), Lo: float64(n) / 100, Hi: float64(n) / 100, STIX: n}, nil
	}
	s, ok := findScale(scale)
	if !ok {
		return ScaleTerm{}, fmt.Errorf("unknown yardstick %q", scale)
	}
	n := Norm(term)
	for _, t := range s.Terms {
		if Norm(t.Word) == n {
			return t, nil
		}
		for _, syn := range t.Synonyms {
			if Norm(syn) == n {
				return t, nil
			}
		}
	}
	return ScaleTerm{}, fmt.Errorf("%q is not a term of %s", term, s.Title)
}

// Range is a probability range and the term it came from.
type Range struct {
	Lo, Hi    float64
	Yardstick string // the yardstick the range was read from
	Term      string
}

// Mid is the range's midpoint, the point estimate kinship fuses.
func (r Range) Mid() float64 { return (r.Lo + r.Hi) / 2 }

// TermRange returns the probability range of a native term: the term's
// own range on its yardstick, or for free text the range of its
// interpretation. It returns ErrNoProbability for terms without one.
func TermRange(scale, term string, interp *Interpretation) (Range, error) {
	if scale == YFreeText || scale == "" {
		if interp == nil {
			return Range{}, ErrNoProbability
		}
		if interp.Yardstick == YFreeText || interp.Yardstick == "" {
			return Range{}, fmt.Errorf("an interpretation must name a yardstick other than free text")
		}
		return TermRange(interp.Yardstick, interp.Term, nil)
	}
	t, err := Lookup(scale, term)
	if err != nil {
		return Range{}, err
	}
	if t.NoProbability {
		return Range{}, ErrNoProbability
	}
	return Range{Lo: t.Lo, Hi: t.Hi, Yardstick: scale, Term: t.Word}, nil
}

// STIXConfidence maps a native term to the STIX 2.1 confidence value by
// the Appendix A tables (through the interpretation for free text).
func STIXConfidence(scale, term string, interp *Interpretation) (int, bool) {
	if scale == YFreeText || scale == "" {
		if interp == nil || interp.Yardstick == YFreeText {
			return 0, false
		}
		return STIXConfidence(interp.Yardstick, interp.Term, nil)
	}
	t, err := Lookup(scale, term)
	if err != nil || t.NoSTIX {
		return 0, false
	}
	return t.STIX, true
}
