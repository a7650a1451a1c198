package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/kinship-dev/kinship/internal/store/exchange"
)

// runExport writes the whole collection to a portable file (see package
// exchange for the format), which `kinship import` reads into a store of
// either backend.
func runExport(e *env, args []string) int {
	fs := newFlags(e, "export")
	db := storeFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 1 {
		return usageErr(e, fs, "give one output FILE (- for standard output)")
	}
	out := pos[0]
	st, err := openStore(e, *db)
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()

	if out == "-" {
		n, err := exchange.Export(e.ctx, st, e.stdout)
		if err != nil {
			return fail(e, err)
		}
		fmt.Fprintf(e.stderr, "exported %d samples (%d functions)\n", n.Samples, n.Functions)
		return ExitOK
	}
	// Written beside the target and renamed into place, so that FILE is
	// either the previous file or a complete export, never half of one.
	tmp, err := os.CreateTemp(filepath.Dir(out), ".kinship-export-*")
	if err != nil {
		return fail(e, err)
	}
	defer os.Remove(tmp.Name())
	n, err := exchange.Export(e.ctx, st, tmp)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), out)
	}
	if err != nil {
		return fail(e, fmt.Errorf("export to %s: %w", out, err))
	}
	fmt.Fprintf(e.stdout, "exported %d samples (%d functions) to %s\n", n.Samples, n.Functions, out)
	return ExitOK
}

// runImport stores every sample of an export file. Samples the store
// already holds are left unchanged, so importing a file again, or after an
// interrupted import, completes it.
func runImport(e *env, args []string) int {
	fs := newFlags(e, "import")
	db := storeFlag(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return parseExit(err)
	}
	if len(pos) != 1 {
		return usageErr(e, fs, "give one input FILE (- for standard input)")
	}
	var in io.Reader = os.Stdin
	if pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return fail(e, err)
		}
		defer f.Close()
		in = f
	}
	st, err := openStore(e, *db)
	if err != nil {
		return fail(e, err)
	}
	defer st.Close()
	n, err := exchange.Import(e.ctx, st, in)
	if err != nil {
		fmt.Fprintf(e.stderr, "kinship: import stopped after %d samples (%d added); importing the file again completes it\n", n.Samples, n.Added)
		return fail(e, err)
	}
	fmt.Fprintf(e.stdout, "imported %d samples: %d added, %d already stored (%d functions)\n", n.Samples, n.Added, n.Existing, n.Functions)
	return ExitOK
}
