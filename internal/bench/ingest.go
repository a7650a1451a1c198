package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// Pass is one pass of a tool over a set of files.
type Pass struct {
	Tool      string        `json:"tool"`
	Command   string        `json:"command"`
	Files     int           `json:"files"`
	Failed    int           `json:"failed"`
	Bytes     int64         `json:"bytes"`
	Functions int           `json:"functions,omitempty"`
	Wall      time.Duration `json:"wall_ns"`
	CPU       time.Duration `json:"cpu_ns"`
	Err       string        `json:"error,omitempty"`
}

// MBps is megabytes (10^6) per second of wall time.
func (r Pass) MBps() float64 { return float64(r.Bytes) / 1e6 / r.Wall.Seconds() }

// MBpsCPU is megabytes per second of CPU time.
func (r Pass) MBpsCPU() float64 { return float64(r.Bytes) / 1e6 / r.CPU.Seconds() }

// Ingest adds items to a fresh store at path with the given number of
// workers, as `kinship ingest --workers N` does, but with a per-file time
// limit long enough that a loaded machine does not turn slow files into
// failures.
func Ingest(ctx context.Context, path string, items []ingest.Item, workers int) (Pass, error) {
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	st, err := sqlite.Open(path, sqlite.Options{})
	if err != nil {
		return Pass{}, err
	}
	r := Pass{Tool: "kinship", Command: fmt.Sprintf("kinship ingest --workers %d (in process)", workers), Files: len(items)}
	var errs []string
	t0, c0 := time.Now(), cpuTime()
	sum := ingest.Run(ctx, st, items, ingest.Options{Workers: workers, Limits: ingest.Limits{Timeout: time.Hour}}, func(res ingest.Result) {
		if res.Err != nil && len(errs) < 5 {
			errs = append(errs, res.Err.Error())
		}
	})
	r.Wall, r.CPU = time.Since(t0), cpuTime()-c0
	r.Failed, r.Bytes, r.Functions = sum.Failed, sum.Bytes, sum.Functions
	r.Err = strings.Join(errs, "; ")
	return r, st.Close()
}

// Tool runs `xargs -0 -n1 -P jobs name args... FILE` over files with
// standard output discarded, and reports wall and CPU time (the CPU time
// of xargs and of every process it ran).
func Tool(ctx context.Context, name string, args []string, files []string, jobs int) Pass {
	r := Pass{Tool: name, Files: len(files),
		Command: fmt.Sprintf("xargs -0 -n1 -P%d %s FILE > /dev/null", jobs, strings.Join(append([]string{name}, args...), " "))}
	for _, f := range files {
		if fi, err := os.Stat(f); err == nil {
			r.Bytes += fi.Size()
		}
	}
	if _, err := exec.LookPath(name); err != nil {
		r.Err = fmt.Sprintf("%s not found", name)
		return r
	}
	var in bytes.Buffer
	for _, f := range files {
		in.WriteString(f)
		in.WriteByte(0)
	}
	cmd := exec.CommandContext(ctx, "xargs", append([]string{"-0", "-n1", fmt.Sprintf("-P%d", jobs), name}, args...)...)
	cmd.Stdin = &in
	// Straight to the null device: a pipe would cost this process the
	// copying of objdump's hundreds of megabytes of text.
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		r.Err = err.Error()
		return r
	}
	defer null.Close()
	cmd.Stdout = null
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	t0 := time.Now()
	err = cmd.Run()
	r.Wall = time.Since(t0)
	if cmd.ProcessState != nil {
		r.CPU = childCPU(cmd.ProcessState)
	}
	if err != nil {
		// xargs exits 123 when some invocation failed.
		r.Err = strings.TrimSpace(err.Error() + ": " + firstLine(stderr.String()))
		r.Failed = -1 // unknown how many
	}
	return r
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// WarmCache reads every file once so that no tool pays for the disk.
func WarmCache(files []string) {
	buf := make([]byte, 1<<20)
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		for {
			if _, err := f.Read(buf); err != nil {
				break
			}
		}
		f.Close()
	}
}
