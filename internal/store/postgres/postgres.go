// Package postgres is kinship's store on a PostgreSQL server, for a
// collection shared by many analysts and ingest workers. It implements
// model.Store with the semantics of the embedded SQLite store and passes
// the same conformance suite (store/storetest).
//
// Every PutSample is one transaction: the sample row is inserted with ON
// CONFLICT DO NOTHING, which makes concurrent writers of one SHA-256 wait for
// each other and exactly one of them store it, and its functions follow
// through COPY in the same transaction, so no reader sees a sample without
// all its functions. Reads that span tables are single statements, hence
// one snapshot.
//
// Strings that come from hostile binaries or file systems (the file name,
// the program name, symbol and import names) are stored as bytea and
// survive byte for byte. The other strings (digests, format and
// architecture, labels, language, the unsupported reason) are text, which
// PostgreSQL requires to be UTF-8 without NUL; PutSample and SetLabels
// refuse other values with an error naming the field, where SQLite would
// store them.
//
// The schema is laid out for Citus; docs/scaling.md explains how.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/codec"
	"github.com/kinship-dev/kinship/internal/store/contract"
)

// Options tune Open. The zero value is a good default.
type Options struct {
	// Schema is the PostgreSQL schema holding kinship's tables, created if
	// missing. Default: the first entry of the URL's search_path parameter,
	// else "public".
	Schema string
	// MaxConns caps the connection pool. Default max(4, GOMAXPROCS).
	MaxConns int32
}

// DB is a store in one PostgreSQL schema. It implements model.Store and is
// safe for concurrent use by goroutines and by any number of processes.
type DB struct {
	pool   *pgxpool.Pool
	schema string
	name   string // URL without password, for messages
	from   int    // schema version found by Open
	once   sync.Once
}

var _ model.Store = (*DB)(nil)

// IsURL reports whether s names a PostgreSQL database rather than a file.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Redact returns the URL with its password replaced, for messages and logs.
func Redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Open connects to the database at url (postgres://user:pass@host/db?...),
// creates the schema if needed and migrates it to SchemaVersion. A schema
// with a newer version is refused with an error wrapping ErrSchemaTooNew.
func Open(ctx context.Context, url string, opts Options) (*DB, error) {
	db, err := open(ctx, url, opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", Redact(url), err)
	}
	return db, nil
}

func open(ctx context.Context, url string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parser's message may quote the URL, password included.
		return nil, errors.New("malformed PostgreSQL URL")
	}
	schema := opts.Schema
	if schema == "" {
		if sp := cfg.ConnConfig.RuntimeParams["search_path"]; sp != "" {
			schema = strings.Trim(strings.TrimSpace(strings.Split(sp, ",")[0]), `"`)
		}
	}
	if schema == "" {
		schema = "public"
	}
	// Exactly one schema on the path: unqualified names in the queries
	// then mean kinship's tables, whatever else the database holds.
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{schema}.Sanitize()
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = "kinship"
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = int32(max(4, runtime.GOMAXPROCS(0)))
	}
	cfg.MaxConns = opts.MaxConns
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = 15 * time.Second
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	from, _, err := migrate(ctx, pool, schema)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return &DB{pool: pool, schema: schema, name: Redact(url), from: from}, nil
}

// Migrate opens the store at url, which applies any pending migrations,
// and reports the schema version found and the version now in place.
func Migrate(ctx context.Context, url string, opts Options) (from, to int, err error) {
	db, err := Open(ctx, url, opts)
	if err != nil {
		return 0, 0, err
	}
	defer db.Close()
	to, err = db.SchemaVersion(ctx)
	return db.from, to, err
}

// Schema is the PostgreSQL schema holding the store's tables.
func (db *DB) Schema() string { return db.schema }

// Close closes the pool. It is safe to call more than once.
func (db *DB) Close() error {
	db.once.Do(db.pool.Close)
	return nil
}

// SchemaVersion returns the schema version recorded in the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	v, err := currentVersion(ctx, db.pool)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// Column lists, in the order the decoders read them.
var (
	sampleColumns = []string{"sha256", "name", "size", "format", "arch",
		"md5", "sha1", "hash_sha256", "imphash", "tlsh", "ssdeep",
		"family", "actor", "source", "common", "language", "program", "unsupported", "sig_version",
		"functions", "instructions", "code_bytes", "covered_bytes", "anomalies", "ingested_at"}
	functionColumns = []string{"addr", "size", "blocks", "instrs", "exact", "origin", "name", "consts", "imports", "minhash"}

	sampleCols = strings.Join(sampleColumns, ", ")

	insertSample = `INSERT INTO samples(sample_id, ` + sampleCols + `) VALUES(` + params(1+len(sampleColumns)) + `)
		ON CONFLICT (sample_id) DO NOTHING RETURNING txid_current()`
	copyColumns = append([]string{"sample_id"}, functionColumns...)
)

// binary asks for every result column in binary form, which the decoders
// below read straight from the wire buffer.
var binaryResults = pgx.QueryResultFormats{pgx.BinaryFormatCode}

func params(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "$%d", i)
	}
	return b.String()
}

func sampleArgs(s *model.Sample) ([]any, error) {
	for _, f := range []struct{ name, v string }{
		{"SHA-256", s.SHA256}, {"format", string(s.Format)}, {"arch", string(s.Arch)},
		{"MD5", s.Hashes.MD5}, {"SHA-1", s.Hashes.SHA1}, {"hash SHA-256", s.Hashes.SHA256},
		{"imphash", s.Hashes.Imphash}, {"TLSH", s.Hashes.TLSH}, {"ssdeep", s.Hashes.Ssdeep},
		{"family", s.Labels.Family}, {"actor", s.Labels.Actor}, {"source", s.Labels.Source},
		{"language", s.Language}, {"unsupported reason", s.Unsupported},
	} {
		if err := checkText(f.name, f.v); err != nil {
			return nil, err
		}
	}
	var anomalies any
	if len(s.Anomalies) > 0 {
		// JSON, as in the SQLite store: the same (valid UTF-8) text in both.
		b, err := codec.AppendAnomalies(nil, s.Anomalies)
		if err != nil {
			return nil, err
		}
		anomalies = string(b)
	}
	var ingested any
	if !s.IngestedAt.IsZero() {
		ingested = s.IngestedAt.UTC().Truncate(time.Microsecond)
	}
	return []any{
		sampleID(s.SHA256),
		s.SHA256, []byte(s.Name), s.Size, string(s.Format), string(s.Arch),
		s.Hashes.MD5, s.Hashes.SHA1, s.Hashes.SHA256, s.Hashes.Imphash, s.Hashes.TLSH, s.Hashes.Ssdeep,
		s.Labels.Family, s.Labels.Actor, s.Labels.Source, s.Common, s.Language, []byte(s.Program), s.Unsupported,
		int32(s.SigVersion),
		int64(s.Stats.Functions), int64(s.Stats.Instructions), int64(s.Stats.CodeBytes), int64(s.Stats.CoveredBytes),
		anomalies, ingested,
	}, nil
}

// PutSample stores s and fns in one transaction; see model.Store. fns may
// be in any order and is not modified.
func (db *DB) PutSample(ctx context.Context, s model.Sample, fns []model.Function) (bool, error) {
	added, err := db.putSample(ctx, &s, fns)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The driver reports a cancellation in its own words; callers
			// want to recognise it.
			err = cerr
		}
		return false, fmt.Errorf("store: put %s: %w", s.SHA256, err)
	}
	return added, nil
}

func (db *DB) putSample(ctx context.Context, s *model.Sample, fns []model.Function) (bool, error) {
	if err := contract.CheckSample(s, len(fns)); err != nil {
		return false, err
	}
	if s.SigVersion > 1<<31-1 || s.SigVersion < -1<<31 {
		return false, fmt.Errorf("signature version %d out of range", s.SigVersion)
	}
	args, err := sampleArgs(s)
	if err != nil {
		return false, err
	}
	order, err := contract.AddrOrder(fns)
	if err != nil {
		return false, err
	}
	src := &functionSource{id: args[0].(int64), sig: s.SigVersion, fns: fns, order: order}
	// Reject bad import names before anything is written.
	for i := range fns {
		if err := codec.CheckImports(fns[i].Imports); err != nil {
			return false, fmt.Errorf("function %#x: %w", fns[i].Addr, err)
		}
	}
	// Re-ingesting a known file is common (the same corpus fed twice, or
	// several workers): answer it with one indexed read.
	for attempt := 0; ; attempt++ {
		if found, err := db.exists(ctx, src.id, s.SHA256); err != nil || found {
			return false, err
		}
		added, err := db.insert(ctx, args, src)
		// errGone: the insert met another writer's copy, which was deleted
		// before it could be looked at; the sample is absent, try again.
		if err != errGone || attempt == 5 {
			return added, err
		}
	}
}

var errGone = errors.New("sample deleted while another writer stored it")

// exists reports whether the sample is stored; a different sample under
// the same id is an error.
func (db *DB) exists(ctx context.Context, id int64, sha string) (bool, error) {
	var other string
	err := db.pool.QueryRow(ctx, `SELECT sha256 FROM samples WHERE sample_id = $1`, id).Scan(&other)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return false, nil
	case err != nil:
		return false, err
	case other != sha:
		return false, fmt.Errorf("sample id %d of %s is taken by %s: the store cannot hold both", id, sha, other)
	}
	return true, nil
}

func (db *DB) insert(ctx context.Context, args []any, src *functionSource) (added bool, err error) {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{})
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			tx.Rollback(rctx)
			cancel()
		}
	}()
	var xid int64
	err = tx.QueryRow(ctx, insertSample, args...).Scan(&xid)
	if errors.Is(err, pgx.ErrNoRows) {
		// Another writer stored it since the check in putSample; the
		// insert waited for its transaction to commit.
		tx.Rollback(ctx)
		found, err := db.exists(ctx, src.id, args[1].(string))
		if err == nil && !found {
			err = errGone
		}
		return false, err
	}
	if err != nil {
		return false, err
	}
	if len(src.fns) > 0 {
		n, err := tx.CopyFrom(ctx, pgx.Identifier{"functions"}, copyColumns, src)
		if err != nil {
			if src.err != nil {
				return false, src.err
			}
			return false, err
		}
		if n != int64(len(src.fns)) {
			return false, fmt.Errorf("COPY stored %d functions of %d", n, len(src.fns))
		}
	}
	if err := tx.Commit(ctx); err != nil {
		// A commit interrupted by cancellation or a dropped connection may
		// have happened anyway; the server knows.
		if db.committed(ctx, xid) {
			return true, nil
		}
		return false, err
	}
	return true, nil
}

// committed asks the server whether transaction xid committed, waiting
// while it is still in progress (a connection being torn down).
func (db *DB) committed(ctx context.Context, xid int64) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for {
		var status *string
		if err := db.pool.QueryRow(ctx, `SELECT txid_status($1)`, xid).Scan(&status); err != nil || status == nil {
			return false
		}
		switch *status {
		case "committed":
			return true
		case "aborted":
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// functionSource feeds COPY one function at a time, in address order,
// encoding into buffers it reuses: COPY encodes each row before asking for
// the next.
type functionSource struct {
	id     int64
	sig    int // signature version of the sample
	fns    []model.Function
	order  []int32
	i      int
	row    [11]any
	mh     []byte
	consts []byte
	imps   []byte
	err    error
}

func (s *functionSource) Next() bool {
	if s.err != nil || s.i >= len(s.fns) {
		return false
	}
	s.i++
	return true
}

func (s *functionSource) Values() ([]any, error) {
	f := &s.fns[s.i-1]
	if s.order != nil {
		f = &s.fns[s.order[s.i-1]]
	}
	var err error
	if s.mh, err = codec.AppendMinHash(s.mh[:0], &f.MinHash, s.sig); err != nil {
		s.err = fmt.Errorf("function %#x: %w", f.Addr, err)
		return nil, s.err
	}
	var consts, imports any
	if len(f.Consts) > 0 {
		s.consts = codec.AppendConsts(s.consts[:0], f.Consts)
		consts = s.consts
	}
	if len(f.Imports) > 0 {
		if s.imps, err = codec.AppendImports(s.imps[:0], f.Imports); err != nil {
			s.err = fmt.Errorf("function %#x: %w", f.Addr, err)
			return nil, s.err
		}
		imports = s.imps
	}
	s.row = [11]any{s.id, int64(f.Addr), int32(f.Size), int32(f.Blocks), int32(f.Instrs), int64(f.Exact),
		int16(f.Origin), []byte(f.Name), consts, imports, s.mh}
	return s.row[:], nil
}

func (s *functionSource) Err() error { return s.err }

// GetSample returns one sample; see model.Store.
func (db *DB) GetSample(ctx context.Context, sha256 string) (model.Sample, error) {
	var s model.Sample
	found := false
	err := db.query(ctx, func(vals [][]byte) (err error) {
		found = true
		s, err = decodeSample(vals)
		return err
	}, `SELECT `+sampleCols+` FROM samples WHERE sample_id = $1 AND sha256 = $2`, sampleID(sha256), sha256)
	if err == nil && !found {
		err = model.ErrNotFound
	}
	if err != nil {
		return model.Sample{}, fmt.Errorf("store: get %s: %w", sha256, err)
	}
	return s, nil
}

// query runs a statement with binary results and calls fn with each row's
// raw values, which are valid only during the call.
func (db *DB) query(ctx context.Context, fn func(vals [][]byte) error, sql string, args ...any) error {
	rows, err := db.pool.Query(ctx, sql, append([]any{binaryResults}, args...)...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows.RawValues()); err != nil {
			return err
		}
	}
	return rows.Err()
}

// SetLabels replaces a sample's labels; see model.Store.
func (db *DB) SetLabels(ctx context.Context, sha256 string, l model.Labels) error {
	err := errors.Join(checkText("family", l.Family), checkText("actor", l.Actor), checkText("source", l.Source))
	if err == nil {
		err = db.update(ctx, `UPDATE samples SET family = $3, actor = $4, source = $5 WHERE sample_id = $1 AND sha256 = $2`,
			sampleID(sha256), sha256, l.Family, l.Actor, l.Source)
	}
	if err != nil {
		return fmt.Errorf("store: set labels %s: %w", sha256, err)
	}
	return nil
}

// SetCommon marks a sample as common code or not; see model.Store.
func (db *DB) SetCommon(ctx context.Context, sha256 string, common bool) error {
	err := db.update(ctx, `UPDATE samples SET common = $3 WHERE sample_id = $1 AND sha256 = $2`, sampleID(sha256), sha256, common)
	if err != nil {
		return fmt.Errorf("store: set common %s: %w", sha256, err)
	}
	return nil
}

// update runs one statement and reports model.ErrNotFound when it touched
// no sample.
func (db *DB) update(ctx context.Context, sql string, args ...any) error {
	tag, err := db.pool.Exec(ctx, sql, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return model.ErrNotFound
	}
	return nil
}

// DeleteSample removes a sample and its functions in one transaction.
func (db *DB) DeleteSample(ctx context.Context, sha256 string) error {
	id := sampleID(sha256)
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM samples WHERE sample_id = $1 AND sha256 = $2`, id, sha256)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return model.ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM functions WHERE sample_id = $1`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: delete %s: %w", sha256, err)
	}
	return nil
}

// Samples lists all samples ordered by SHA-256 (bytewise, whatever the
// database's collation).
func (db *DB) Samples(ctx context.Context) ([]model.Sample, error) {
	out := []model.Sample{}
	err := db.query(ctx, func(vals [][]byte) error {
		s, err := decodeSample(vals)
		out = append(out, s)
		return err
	}, `SELECT `+sampleCols+` FROM samples ORDER BY sha256 COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("store: samples: %w", err)
	}
	return out, nil
}

// Functions returns one sample's functions ordered by address. One
// statement reads the sample and its functions, so it sees both in one
// snapshot; on Citus it is routed to the one shard holding them.
func (db *DB) Functions(ctx context.Context, sha256 string) ([]model.Function, error) {
	var fns []model.Function
	found := false
	sig := 0
	err := db.query(ctx, func(vals [][]byte) error {
		if !found {
			found = true
			n, err := wireInt(vals[0], "functions")
			if err != nil {
				return err
			}
			v, err := wireInt(vals[1], "sig_version")
			if err != nil {
				return err
			}
			sig = int(v)
			fns = make([]model.Function, 0, max(0, min(n, 1<<24)))
		}
		if vals[2] == nil { // no functions: the outer join's one row
			return nil
		}
		fns = append(fns, model.Function{})
		return decodeFunction(vals[2:], sig, &fns[len(fns)-1])
	}, `SELECT s.functions, s.sig_version, f.addr, f.size, f.blocks, f.instrs, f.exact, f.origin, f.name, f.consts, f.imports, f.minhash
		FROM samples s LEFT JOIN functions f ON f.sample_id = s.sample_id
		WHERE s.sample_id = $1 AND s.sha256 = $2
		ORDER BY f.addr`, sampleID(sha256), sha256)
	if err == nil && !found {
		err = model.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: functions %s: %w", sha256, err)
	}
	return contract.UnsignedOrder(fns), nil
}

func decodeSample(v [][]byte) (model.Sample, error) {
	if len(v) != len(sampleColumns) {
		return model.Sample{}, fmt.Errorf("%d sample columns, want %d", len(v), len(sampleColumns))
	}
	var errs []error
	num := func(i int) int64 {
		n, err := wireInt(v[i], sampleColumns[i])
		if err != nil {
			errs = append(errs, err)
		}
		return n
	}
	str := func(i int) string { return string(v[i]) }
	s := model.Sample{
		SHA256:      str(0),
		Name:        str(1),
		Size:        num(2),
		Format:      model.Format(str(3)),
		Arch:        model.Arch(str(4)),
		Hashes:      model.FileHashes{MD5: str(5), SHA1: str(6), SHA256: str(7), Imphash: str(8), TLSH: str(9), Ssdeep: str(10)},
		Labels:      model.Labels{Family: str(11), Actor: str(12), Source: str(13)},
		Language:    str(15),
		Program:     str(16),
		Unsupported: str(17),
		SigVersion:  int(num(18)),
		Stats: model.CodeStats{
			Functions:    int(num(19)),
			Instructions: int(num(20)),
			CodeBytes:    uint64(num(21)),
			CoveredBytes: uint64(num(22)),
		},
	}
	var err error
	if s.Common, err = wireBool(v[14], "common"); err != nil {
		errs = append(errs, err)
	}
	if v[23] != nil {
		if s.Anomalies, err = codec.Anomalies(v[23]); err != nil {
			errs = append(errs, err)
		}
	}
	if s.IngestedAt, err = wireTime(v[24], "ingested_at"); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return s, fmt.Errorf("sample %s: %w", s.SHA256, errors.Join(errs...))
	}
	return s, nil
}

// decodeFunction sets every field of f, a function of a sample of
// signature version sig, from the function columns.
func decodeFunction(v [][]byte, sig int, f *model.Function) error {
	var errs []error
	num := func(i int) int64 {
		n, err := wireInt(v[i], functionColumns[i])
		if err != nil {
			errs = append(errs, err)
		}
		return n
	}
	f.Addr = uint64(num(0))
	f.Size = uint32(num(1))
	f.Blocks = uint32(num(2))
	f.Instrs = uint32(num(3))
	f.Exact = uint64(num(4))
	f.Origin = model.Origin(num(5))
	f.Name = string(v[6])
	var err error
	if f.Consts, err = codec.Consts(v[7]); err != nil {
		errs = append(errs, err)
	}
	f.Imports = nil
	if v[8] != nil {
		f.Imports = codec.Imports(string(v[8]))
	}
	if err := codec.MinHash(&f.MinHash, v[9], sig); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("function %#x: %w", f.Addr, errors.Join(errs...))
	}
	return nil
}

// Stats counts what the store holds.
func (db *DB) Stats(ctx context.Context) (model.StoreStats, error) {
	st, err := db.stats(ctx)
	if err != nil {
		return model.StoreStats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}

func (db *DB) stats(ctx context.Context) (model.StoreStats, error) {
	st := model.StoreStats{Families: map[string]int{}, Actors: map[string]int{}}
	// One snapshot for all the counts.
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		// Functions are counted from the per-sample counts, which Check
		// keeps honest, instead of scanning the large functions table.
		err := tx.QueryRow(ctx, `SELECT count(*),
			count(*) FILTER (WHERE family <> '' OR actor <> ''),
			count(*) FILTER (WHERE common),
			count(*) FILTER (WHERE unsupported <> ''),
			coalesce(sum(functions), 0)::bigint
			FROM samples`).Scan(&st.Samples, &st.Labelled, &st.Common, &st.Unsupported, &st.Functions)
		if err != nil {
			return err
		}
		for col, m := range map[string]map[string]int{"family": st.Families, "actor": st.Actors} {
			rows, err := tx.Query(ctx, `SELECT `+col+`, count(*) FROM samples WHERE `+col+` <> '' GROUP BY `+col)
			if err != nil {
				return err
			}
			for rows.Next() {
				var k string
				var n int
				if err := rows.Scan(&k, &n); err != nil {
					rows.Close()
					return err
				}
				m[k] = n
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		st.SchemaVersion, err = readVersion(ctx, tx)
		return err
	})
	return st, err
}

// Check verifies kinship's invariants over the whole store in one
// snapshot: every sample has exactly Stats.Functions functions, no
// function belongs to a missing sample, every MinHash has the right size,
// and every sample is stored under the id its SHA-256 gives. It reads
// every function, so it is for maintenance and tests, not every run.
func (db *DB) Check(ctx context.Context) error {
	if err := db.check(ctx); err != nil {
		return fmt.Errorf("store: check %s: %w", db.name, err)
	}
	return nil
}

func (db *DB) check(ctx context.Context) error {
	var problems contract.Problems
	err := pgx.BeginTxFunc(ctx, db.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		collect := func(sql string, format func(rows pgx.Rows) (string, error)) error {
			rows, err := tx.Query(ctx, sql)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				msg, err := format(rows)
				if err != nil {
					return err
				}
				problems.Add(msg)
			}
			return rows.Err()
		}
		err := collect(`SELECT s.sample_id, s.sha256, s.functions, coalesce(f.n, 0)
			FROM samples s LEFT JOIN (SELECT sample_id, count(*) AS n FROM functions GROUP BY sample_id) f USING (sample_id)`,
			func(rows pgx.Rows) (string, error) {
				var id, want, got int64
				var sha string
				if err := rows.Scan(&id, &sha, &want, &got); err != nil {
					return "", err
				}
				if id != sampleID(sha) {
					return fmt.Sprintf("sample %s is stored under id %d, not %d", sha, id, sampleID(sha)), nil
				}
				if want != got {
					return contract.CountMismatch(sha, want, got), nil
				}
				return "", nil
			})
		if err != nil {
			return err
		}
		err = collect(`SELECT f.sample_id, count(*) FROM functions f
			WHERE NOT EXISTS (SELECT 1 FROM samples s WHERE s.sample_id = f.sample_id) GROUP BY f.sample_id`,
			func(rows pgx.Rows) (string, error) {
				var id, n int64
				if err := rows.Scan(&id, &n); err != nil {
					return "", err
				}
				return fmt.Sprintf("%d functions belong to sample id %d, which does not exist", n, id), nil
			})
		if err != nil {
			return err
		}
		return collect(`SELECT s.sha256, count(*) FROM functions f JOIN samples s USING (sample_id)
			WHERE length(f.minhash) NOT IN (`+fmt.Sprint(codec.MaxMinHashBytes)+`,
				CASE WHEN s.sig_version >= 2 THEN `+fmt.Sprint(codec.MinHashBytes(2))+` ELSE `+fmt.Sprint(codec.MaxMinHashBytes)+` END)
			GROUP BY s.sha256`,
			func(rows pgx.Rows) (string, error) {
				var sha string
				var n int64
				if err := rows.Scan(&sha, &n); err != nil {
					return "", err
				}
				return contract.BadMinHashes(sha, n), nil
			})
	})
	if err != nil {
		return err
	}
	return problems.Err()
}
