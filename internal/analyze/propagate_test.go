package analyze

import (
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
)

func TestPropagateLibrary(t *testing.T) {
	// 1 (library wrapper) -> 2 -> 3; 4 (own) -> 5; 1 -> 5; 6 has no caller;
	// 7 is called by std only.
	fns := []model.Function{
		{Addr: 1, Origin: model.OriginLibrary},
		{Addr: 2}, {Addr: 3},
		{Addr: 4, Origin: model.OriginOwn},
		{Addr: 5}, {Addr: 6},
		{Addr: 7},
		{Addr: 8, Origin: model.OriginStd},
	}
	callees := [][]uint64{{2, 5}, {3}, nil, {5}, nil, nil, nil, {7}}
	PropagateLibrary(fns, callees)
	want := []model.Origin{model.OriginLibrary, model.OriginLibrary, model.OriginLibrary, model.OriginOwn,
		model.OriginUnknown, model.OriginUnknown, model.OriginUnknown, model.OriginStd}
	for i, w := range want {
		if fns[i].Origin != w {
			t.Errorf("function %d: origin %v, want %v", fns[i].Addr, fns[i].Origin, w)
		}
	}
}
