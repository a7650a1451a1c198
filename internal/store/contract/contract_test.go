package contract

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kinship-dev/kinship/internal/model"
)

func fns(addrs ...uint64) []model.Function {
	out := make([]model.Function, len(addrs))
	for i, a := range addrs {
		out[i].Addr = a
	}
	return out
}

func TestCheckSample(t *testing.T) {
	s := model.Sample{SHA256: "ab", Stats: model.CodeStats{Functions: 2}}
	if err := CheckSample(&s, 2); err != nil {
		t.Error(err)
	}
	if err := CheckSample(&s, 3); err == nil || err.Error() != "Stats.Functions is 2 but 3 functions were given" {
		t.Errorf("count mismatch: %v", err)
	}
	s.SHA256 = ""
	if err := CheckSample(&s, 2); err == nil || err.Error() != "sample has no SHA-256" {
		t.Errorf("no SHA-256: %v", err)
	}
}

func TestAddrOrder(t *testing.T) {
	if order, err := AddrOrder(fns(1, 2, 1<<63)); order != nil || err != nil {
		t.Errorf("sorted: %v, %v", order, err)
	}
	order, err := AddrOrder(fns(1<<63, 5, 1, 9))
	if err != nil || !slices.Equal(order, []int32{2, 1, 3, 0}) {
		t.Errorf("unsorted: %v, %v", order, err)
	}
	for _, addrs := range [][]uint64{{1, 1}, {3, 1, 3}} {
		if _, err := AddrOrder(fns(addrs...)); err == nil || !strings.Contains(err.Error(), "two functions at address") {
			t.Errorf("%v: %v", addrs, err)
		}
	}
}

func TestUnsignedOrder(t *testing.T) {
	for _, c := range []struct{ stored, want []uint64 }{
		{nil, nil},
		{[]uint64{1, 2}, []uint64{1, 2}},
		{[]uint64{1 << 63, ^uint64(0)}, []uint64{1 << 63, ^uint64(0)}},
		{[]uint64{1 << 63, ^uint64(0), 0, 7}, []uint64{0, 7, 1 << 63, ^uint64(0)}},
	} {
		var got []uint64
		for _, f := range UnsignedOrder(fns(c.stored...)) {
			got = append(got, f.Addr)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%x: %x, want %x", c.stored, got, c.want)
		}
	}
}

func TestProblems(t *testing.T) {
	var p Problems
	if p.Err() != nil {
		t.Error("no problems, an error")
	}
	p.Add("")
	for i := range MaxProblems + 5 {
		p.Add(fmt.Sprint(i))
	}
	err := p.Err()
	if n := strings.Count(err.Error(), "\n") + 1; n != MaxProblems {
		t.Errorf("%d problems reported, want %d", n, MaxProblems)
	}
}
