package cli

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
)

// Temporary: runs kinship bench with the arguments in $BENCH_ARGS.
func TestTmpBench(t *testing.T) {
	a := os.Getenv("BENCH_ARGS")
	if a == "" {
		t.Skip()
	}
	e := &env{ctx: context.Background(), stdout: os.Stdout, stderr: os.Stderr, log: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	if rc := runBench(e, strings.Fields(a)); rc != 0 {
		t.Fatal(rc)
	}
}
