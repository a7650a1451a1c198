package disasm

import (
	"errors"
	"fmt"
	"time"
)

// ErrDeadline is returned when Options.Deadline passes during analysis.
var ErrDeadline = errors.New("analysis deadline passed")

// expired reports whether Options.Deadline has passed. It is checked
// between batches of functions (each bounded by MaxFuncInstrs) and between
// discovery rounds, so a hostile file cannot hold a worker much past it.
func (a *analyzer) expired() bool {
	return !a.opts.Deadline.IsZero() && !time.Now().Before(a.opts.Deadline)
}

func (a *analyzer) deadlineErr() error {
	return fmt.Errorf("disasm: %w after %d instructions decoded", ErrDeadline, a.decoded.Load())
}
