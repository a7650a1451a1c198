package bench

import (
	"bufio"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	kinship "github.com/kinship-dev/kinship"
	"github.com/kinship-dev/kinship/internal/analyze"
	"github.com/kinship-dev/kinship/internal/eval"
	"github.com/kinship-dev/kinship/internal/ingest"
	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/sqlite"
)

// Config is a whole benchmark run. The real code comes from, in order of
// precedence: FromDB, the manifest rows of Role (and Format), or the
// embedded fixtures.
type Config struct {
	Manifest string // corpus manifest (relpath, family, actor, role, format columns)
	Data     string // folder of the manifest's relpaths; default its folder
	Format   string // only rows of this format; empty for all
	Role     string // only rows of this role ("all": every row); default reference
	FromDB   string // read the real code from this store instead of ingesting
	// Baselines runs objdump -d and tlsh -f over the ingested files in the
	// same run, with as many parallel jobs as ingest workers.
	Baselines      bool
	Sizes          []int
	QueryFiles     []string // real binaries to attribute
	QueryFunctions int      // size of the synthetic query; 0 for none
	// Repeat, when 0 or more, replaces the pool's measured share of
	// synthetic functions that keep their original's code: 0 makes every
	// synthetic function a distinct cluster, the worst case for memory
	// and search.
	Repeat  float64
	Command string // as typed, for the report
	Options
}

// DefaultSizes are the collection sizes of the scale goals.
var DefaultSizes = []int{10_000, 100_000, 1_000_000, 10_000_000}

// Run ingests (or reads) the real code, times the baselines, and measures
// every size.
func Run(ctx context.Context, c Config) (*Report, error) {
	c.Options = c.Options.withDefaults()
	if c.Dir == "" {
		return nil, fmt.Errorf("bench: no working folder")
	}
	if c.Role == "" {
		c.Role = eval.RoleReference
	}
	rep := &Report{Machine: Machine(), Date: time.Now().UTC().Format("2006-01-02"), Command: c.Command}
	var pool Pool
	if c.FromDB != "" {
		st, err := sqlite.Open(c.FromDB, sqlite.Options{})
		if err != nil {
			return nil, err
		}
		pool, err = LoadPool(ctx, st)
		st.Close()
		if err != nil {
			return nil, err
		}
	} else {
		items, err := c.items()
		if err != nil {
			return nil, err
		}
		var files []string
		for _, it := range items {
			files = append(files, it.Path)
		}
		WarmCache(files)
		if c.Baselines {
			fmt.Fprintf(c.Log, "objdump -d over %d files\n", len(files))
			od := Tool(ctx, "objdump", []string{"-d"}, files, c.Workers)
			fmt.Fprintf(c.Log, "tlsh -f over %d files\n", len(files))
			tl := Tool(ctx, "tlsh", []string{"-f"}, files, c.Workers)
			rep.Ingest = append(rep.Ingest, od, tl)
		}
		fmt.Fprintf(c.Log, "kinship ingest of %d files\n", len(files))
		dbPath := filepath.Join(c.Dir, "real.db")
		k, err := Ingest(ctx, dbPath, items, c.Workers)
		if err != nil {
			return nil, err
		}
		rep.Ingest = append([]Pass{k}, rep.Ingest...)
		st, err := sqlite.Open(dbPath, sqlite.Options{})
		if err != nil {
			return nil, err
		}
		pool, err = LoadPool(ctx, st)
		st.Close()
		if !c.Keep {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(dbPath + suffix)
			}
		}
		if err != nil {
			return nil, err
		}
	}
	if pool.Functions == 0 {
		return nil, fmt.Errorf("bench: no labelled functions to build collections from")
	}
	rep.PoolSamples, rep.PoolFunctions, rep.PoolRepeat = len(pool.Samples), pool.Functions, pool.Repeat
	if c.Repeat >= 0 {
		pool.Repeat = c.Repeat
	}
	rep.SynthRepeat = pool.Repeat

	var queries []Query
	for _, p := range c.QueryFiles {
		res, err := analyze.File(p, analyze.Options{})
		if err != nil {
			return nil, err
		}
		queries = append(queries, Query{Name: filepath.Base(p), Sample: res.Sample, Functions: res.Functions})
	}
	if c.QueryFunctions > 0 {
		s, fns := pool.SyntheticQuery(c.QueryFunctions, c.Seed)
		queries = append(queries, Query{Name: s.Name, Sample: s, Functions: fns})
	}
	sizes := c.Sizes
	if len(sizes) == 0 {
		sizes = DefaultSizes
	}
	var err error
	rep.Sizes, err = Scale(ctx, pool, sizes, queries, c.Options)
	return rep, err
}

// items lists the files to ingest with their labels.
func (c Config) items() ([]ingest.Item, error) {
	if c.Manifest == "" {
		return fixtureItems(filepath.Join(c.Dir, "fixtures"))
	}
	f, err := os.Open(c.Manifest)
	if err != nil {
		return nil, err
	}
	rows, err := eval.ReadManifest(f, c.Manifest)
	f.Close()
	if err != nil {
		return nil, err
	}
	data := c.Data
	if data == "" {
		data = filepath.Dir(c.Manifest)
	}
	var out []ingest.Item
	for _, r := range rows {
		if (c.Role != "all" && r.Role != c.Role) || (c.Format != "" && !strings.EqualFold(r.Format, c.Format)) {
			continue
		}
		p := filepath.Join(data, r.RelPath)
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("%s: %w (fetch the corpus and pass --data)", p, err)
		}
		out = append(out, ingest.Item{Path: p, Labels: model.Labels{Family: r.Family, Actor: r.Actor, Source: "manifest"}})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no rows of role %q and format %q", c.Manifest, c.Role, c.Format)
	}
	return out, nil
}

// fixtureItems extracts the embedded fixtures below dir and lists the
// labelled and common ones.
func fixtureItems(dir string) ([]ingest.Item, error) {
	err := fs.WalkDir(kinship.Fixtures, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := kinship.Fixtures.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		return nil, err
	}
	root := filepath.Join(dir, filepath.FromSlash(path.Clean(kinship.FixturesRoot)))
	f, err := os.Open(filepath.Join(root, "labels.tsv"))
	if err != nil {
		return nil, err
	}
	items, err := ingest.ParseLabels(f, "labels.tsv", root)
	f.Close()
	if err != nil {
		return nil, err
	}
	cf, err := os.Open(filepath.Join(root, "common.txt"))
	if err != nil {
		return nil, err
	}
	defer cf.Close()
	sc := bufio.NewScanner(cf)
	for sc.Scan() {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		items = append(items, ingest.Item{Path: filepath.Join(root, filepath.FromSlash(strings.Fields(t)[0])), Common: true})
	}
	return items, sc.Err()
}

// Machine describes the processor, memory and Go version.
func Machine() string {
	cpu, mem := "unknown CPU", ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				if i := strings.Index(l, ":"); i >= 0 {
					cpu = strings.TrimSpace(l[i+1:])
				}
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		for _, l := range strings.Split(string(b), "\n") {
			if _, err := fmt.Sscanf(l, "MemTotal: %d kB", &kb); err == nil {
				mem = fmt.Sprintf(", %.1f GiB RAM", float64(kb)/(1<<20))
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d CPUs%s, %s/%s, %s", cpu, runtime.NumCPU(), mem, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
