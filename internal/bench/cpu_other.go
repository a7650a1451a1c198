//go:build !unix

package bench

import (
	"os"
	"time"
)

// cpuTime is unknown here; figures that need it read 0.
func cpuTime() time.Duration { return 0 }

func childCPU(ps *os.ProcessState) time.Duration {
	return ps.UserTime() + ps.SystemTime()
}
