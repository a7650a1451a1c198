// Package contract holds the parts of model.Store's contract that do not
// depend on the database, so that every backend accepts, orders and reports
// alike: what PutSample refuses, the address order functions are written
// and returned in, and how Check reports what it finds.
package contract

import (
	"errors"
	"fmt"
	"slices"

	"github.com/kinship-dev/kinship/internal/model"
)

// CheckSample rejects a sample PutSample cannot store with n functions.
func CheckSample(s *model.Sample, n int) error {
	if s.SHA256 == "" {
		return errors.New("sample has no SHA-256")
	}
	if s.Stats.Functions != n {
		return fmt.Errorf("Stats.Functions is %d but %d functions were given", s.Stats.Functions, n)
	}
	return nil
}

// AddrOrder returns the indexes of fns in increasing address order, or nil
// when fns is already in order (the usual case). Two functions at one
// address are an error.
func AddrOrder(fns []model.Function) ([]int32, error) {
	sorted := true
	for i := 1; i < len(fns); i++ {
		if fns[i].Addr <= fns[i-1].Addr {
			if fns[i].Addr == fns[i-1].Addr {
				return nil, dupAddr(fns[i].Addr)
			}
			sorted = false
			break
		}
	}
	if sorted {
		return nil, nil
	}
	if len(fns) > 1<<31-1 {
		return nil, errors.New("too many functions")
	}
	order := make([]int32, len(fns))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		x, y := fns[a].Addr, fns[b].Addr
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	for i := 1; i < len(order); i++ {
		if fns[order[i]].Addr == fns[order[i-1]].Addr {
			return nil, dupAddr(fns[order[i]].Addr)
		}
	}
	return order, nil
}

func dupAddr(a uint64) error { return fmt.Errorf("two functions at address %#x", a) }

// UnsignedOrder turns the signed order of stored addresses into unsigned
// order, in place: addresses are stored as the int64 of the same bits, so
// those at or above 1<<63 are negative, come first and belong last.
func UnsignedOrder(fns []model.Function) []model.Function {
	k := 0
	for k < len(fns) && fns[k].Addr >= 1<<63 {
		k++
	}
	if k == 0 || k == len(fns) {
		return fns
	}
	slices.Reverse(fns[:k])
	slices.Reverse(fns[k:])
	slices.Reverse(fns)
	return fns
}

// MaxProblems caps what Check reports: a store broken throughout would
// otherwise give a message as large as itself.
const MaxProblems = 100

// Problems collects what Check finds, the first MaxProblems of it.
type Problems struct{ errs []error }

// Add records msg; an empty msg is no problem.
func (p *Problems) Add(msg string) {
	if msg != "" && len(p.errs) < MaxProblems {
		p.errs = append(p.errs, errors.New(msg))
	}
}

// Err joins the problems recorded, nil when there are none.
func (p *Problems) Err() error { return errors.Join(p.errs...) }

// CountMismatch describes a sample whose Stats.Functions differs from the
// number of functions stored for it.
func CountMismatch(sha string, want, got int64) string {
	return fmt.Sprintf("sample %s: Stats.Functions is %d but %d functions are stored", sha, want, got)
}

// BadMinHashes describes a sample of which n functions have a MinHash of a
// size codec.MinHash does not accept.
func BadMinHashes(sha string, n int64) string {
	return fmt.Sprintf("sample %s: %d functions have a malformed MinHash", sha, n)
}
