// Package sqlite is kinship's default store: one SQLite file holding
// samples, their labels and function signatures, shared safely by several
// goroutines and several kinship processes at once.
//
// It uses modernc.org/sqlite, so kinship stays a single static binary
// without cgo. The file is in WAL mode: readers never block the writer and
// see only committed samples, and each PutSample is a single transaction, so
// no reader sees a sample without all its functions.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	msqlite "modernc.org/sqlite"

	"github.com/kinship-dev/kinship/internal/model"
	"github.com/kinship-dev/kinship/internal/store/codec"
	"github.com/kinship-dev/kinship/internal/store/contract"
)

// Options tune Open. The zero value is a good default.
type Options struct {
	// BusyTimeout is how long a write waits for another process holding
	// the database's write lock before failing. Default 10s.
	BusyTimeout time.Duration
	// MaxReaders caps concurrent read connections; ForEachSample holds one
	// for its whole run. Default max(4, GOMAXPROCS).
	MaxReaders int
}

// DB is a store in one SQLite file. It implements model.Store and is safe
// for concurrent use.
type DB struct {
	path string
	// w has one connection whose transactions begin IMMEDIATE: writes in
	// this process queue for it instead of failing, and other processes are
	// waited for by SQLite's busy handler. r serves reads, which in WAL
	// mode proceed while a write is in progress.
	w, r *sql.DB
}

var _ model.Store = (*DB)(nil)

// DefaultPath is where kinship keeps its database unless told otherwise:
// $XDG_DATA_HOME/kinship/kinship.db, or ~/.local/share/kinship/kinship.db.
func DefaultPath() (string, error) {
	// The XDG spec says relative values are invalid and must be ignored.
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "kinship", "kinship.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("store: default path: %w", err)
	}
	return filepath.Join(home, ".local", "share", "kinship", "kinship.db"), nil
}

// Open opens the database at path, creating it and its directory if needed
// and migrating an older schema to SchemaVersion. A database with a newer
// schema is refused with an error wrapping ErrSchemaTooNew.
func Open(path string, opts Options) (*DB, error) {
	db, err := open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	return db, nil
}

func open(path string, opts Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, err
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 10 * time.Second
	}
	if opts.MaxReaders <= 0 {
		opts.MaxReaders = max(4, runtime.GOMAXPROCS(0))
	}

	// A file: URI, so that any character in the path is escaped rather than
	// read as a parameter.
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout("+strconv.FormatInt(opts.BusyTimeout.Milliseconds(), 10)+")")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	base := u.String()

	wq := cloneValues(q)
	// 16 KiB pages for a new database (an existing one keeps its own): a
	// sample's transaction writes megabytes, and larger pages mean a
	// quarter of the system calls to write and checkpoint them, and fewer
	// B-tree splits. The driver runs _pragma entries sorted by name and
	// _journal_mode after them; WAL mode must come after the page size,
	// which it fixes.
	wq.Add("_pragma", "page_size(16384)")
	wq.Set("_journal_mode", "WAL")
	// A large ingest grows the WAL to its size; give the space back after
	// checkpoints instead of keeping the high-water mark.
	wq.Add("_pragma", "journal_size_limit(67108864)")
	// A sample's transaction writes about 200 bytes a function; past the
	// default 2 MiB page cache SQLite would spill dirty pages to the WAL
	// in the middle of it and read them back. Pages are allocated as
	// used, so small writes do not pay for the limit.
	wq.Add("_pragma", "cache_size(-32768)")
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", base+"?"+wq.Encode())
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxIdleTime(0)
	w.SetConnMaxLifetime(0)

	ctx := context.Background()
	// Switching a new database to WAL needs a moment of exclusive access,
	// and SQLite answers SQLITE_BUSY at once rather than waiting when
	// another process holds it (several ingests starting together); so the
	// first connection is retried within the busy timeout.
	deadline := time.Now().Add(opts.BusyTimeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 500*time.Millisecond) {
		err = checkConn(ctx, w)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			break
		}
		w.Close()
		time.Sleep(wait)
		if w, err = sql.Open("sqlite", base+"?"+wq.Encode()); err != nil {
			return nil, err
		}
		w.SetMaxOpenConns(1)
		w.SetMaxIdleConns(1)
	}
	if err != nil {
		w.Close()
		return nil, err
	}
	if err := migrate(ctx, w, abs); err != nil {
		w.Close()
		return nil, err
	}

	rq := cloneValues(q)
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", base+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(opts.MaxReaders)
	r.SetMaxIdleConns(opts.MaxReaders)
	return &DB{path: abs, w: w, r: r}, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = slices.Clone(vs)
	}
	return out
}

// checkConn makes sure the pragmas the store's guarantees rest on took
// effect: a file system that cannot do WAL or a driver that ignores the
// DSN would otherwise fail silently.
func checkConn(ctx context.Context, w *sql.DB) error {
	var mode string
	var fk int
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if err := w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode is %q, not wal (does the file system support shared memory?)", mode)
	}
	if fk != 1 {
		return errors.New("foreign keys could not be enabled")
	}
	return nil
}

// Path is the absolute path of the database file.
func (db *DB) Path() string { return db.path }

// Close closes the database. It is safe to call more than once.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// SchemaVersion returns the schema version recorded in the database.
func (db *DB) SchemaVersion(ctx context.Context) (int, error) {
	v, err := readVersion(ctx, db.r)
	if err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

var (
	sampleCols   = strings.Join(sampleColumns, ", ")
	functionCols = strings.Join(functionColumns, ", ")

	insertSample = `INSERT INTO samples(` + sampleCols + `) VALUES(` + placeholders(len(sampleColumns)) + `)
		ON CONFLICT(sha256) DO NOTHING`
	// Functions are inserted with the sample id first. Every row names it
	// ?1, so it is bound once a statement instead of once a row; SQLite
	// numbers the anonymous parameters after it from 2.
	insertFunction = `INSERT INTO functions(sample_id, ` + functionCols + `) VALUES`
	functionValues = `(?1,` + placeholders(len(functionColumns)) + `)`
)

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func sampleArgs(s *model.Sample) ([]any, error) {
	var anomalies any
	if len(s.Anomalies) > 0 {
		b, err := codec.AppendAnomalies(nil, s.Anomalies)
		if err != nil {
			return nil, err
		}
		anomalies = string(b)
	}
	var ingested any
	if !s.IngestedAt.IsZero() {
		ingested = s.IngestedAt.UnixMicro()
	}
	return []any{
		s.SHA256, s.Name, s.Size, string(s.Format), string(s.Arch),
		s.Hashes.MD5, s.Hashes.SHA1, s.Hashes.SHA256, s.Hashes.Imphash, s.Hashes.TLSH, s.Hashes.Ssdeep,
		s.Labels.Family, s.Labels.Actor, s.Labels.Source, s.Common, s.Language, s.Unsupported, int64(s.SigVersion),
		int64(s.Stats.Functions), int64(s.Stats.Instructions), int64(s.Stats.CodeBytes), int64(s.Stats.CoveredBytes),
		anomalies, ingested, s.Program,
	}, nil
}

// PutSample stores s and fns in one transaction; see model.Store. fns may
// be in any order and is not modified.
func (db *DB) PutSample(ctx context.Context, s model.Sample, fns []model.Function) (bool, error) {
	added, err := db.putSample(ctx, &s, fns)
	if err != nil {
		return false, fmt.Errorf("store: put %s: %w", s.SHA256, err)
	}
	return added, nil
}

func (db *DB) putSample(ctx context.Context, s *model.Sample, fns []model.Function) (bool, error) {
	if err := contract.CheckSample(s, len(fns)); err != nil {
		return false, err
	}
	args, err := sampleArgs(s)
	if err != nil {
		return false, err
	}
	order, err := contract.AddrOrder(fns)
	if err != nil {
		return false, err
	}
	// Re-ingesting a known file is common (the same corpus fed twice, or
	// several workers): answer it without taking the write lock.
	if _, err := db.sampleID(ctx, db.r, s.SHA256); err == nil {
		return false, nil
	} else if !errors.Is(err, model.ErrNotFound) {
		return false, err
	}
	var added bool
	err = retryBusy(ctx, func() (err error) {
		added, err = db.insert(ctx, args, s.SigVersion, fns, order)
		return err
	})
	if err != nil && ctx.Err() != nil {
		// database/sql may report a cancellation as a closed statement or
		// transaction; callers want to recognise it.
		return false, ctx.Err()
	}
	return added, err
}

// retryBusy runs f again when it fails because the database is locked.
// SQLite's busy handler has then already waited BusyTimeout; the retries
// cover the busy cases SQLite reports without calling the handler (a WAL
// snapshot gone stale, recovery by another process).
func retryBusy(ctx context.Context, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		if err == nil || !isBusy(err) || attempt == 3 {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(50<<attempt) * time.Millisecond):
		}
	}
}

func isBusy(err error) bool {
	var se *msqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	const sqliteBusy, sqliteLocked = 5, 6
	c := se.Code() & 0xff
	return c == sqliteBusy || c == sqliteLocked
}

func (db *DB) insert(ctx context.Context, sampleArgs []any, sig int, fns []model.Function, order []int32) (added bool, err error) {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	res, err := tx.ExecContext(ctx, insertSample, sampleArgs...)
	if err != nil {
		return false, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, err
	} else if n == 0 {
		// Another writer stored it since the check in putSample.
		return false, tx.Rollback()
	}
	id, err := res.LastInsertId()
	if err != nil {
		return false, err
	}
	if err := insertFunctions(ctx, tx, id, sig, fns, order); err != nil {
		return false, err
	}
	if err := tx.Commit(); err != nil {
		return false, err
	}
	return true, nil
}

// insertBatch is how many functions one INSERT statement carries: binding
// and stepping per row is cheap, while each call through database/sql has a
// fixed cost worth spreading.
const insertBatch = 64

func insertFunctions(ctx context.Context, tx *sql.Tx, id int64, sig int, fns []model.Function, order []int32) error {
	const cols = 10 // functionColumns; sample_id is bound once, as ?1
	stmts := map[int]*sql.Stmt{}
	stmt := func(rows int) (*sql.Stmt, error) {
		if st, ok := stmts[rows]; ok {
			return st, nil
		}
		q := insertFunction + functionValues + strings.Repeat(","+functionValues, rows-1)
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return nil, err
		}
		stmts[rows] = st
		return st, nil
	}
	defer func() {
		for _, st := range stmts {
			st.Close()
		}
	}()

	args := make([]any, 0, 1+cols*insertBatch)
	// One backing array per batch for the blobs: the driver copies bound
	// values, so they are reused across batches.
	mhBuf := make([][codec.MaxMinHashBytes]byte, insertBatch)
	var constBuf []byte
	for start := 0; start < len(fns); start += insertBatch {
		end := min(start+insertBatch, len(fns))
		args = append(args[:0], id)
		constBuf = constBuf[:0]
		for i := start; i < end; i++ {
			f := &fns[i]
			if order != nil {
				f = &fns[order[i]]
			}
			mh, err := codec.AppendMinHash(mhBuf[i-start][:0], &f.MinHash, sig)
			if err != nil {
				return fmt.Errorf("function %#x: %w", f.Addr, err)
			}
			var consts any
			if len(f.Consts) > 0 {
				n := len(constBuf)
				constBuf = codec.AppendConsts(constBuf, f.Consts)
				consts = constBuf[n:len(constBuf):len(constBuf)]
			}
			var imports any
			if len(f.Imports) > 0 {
				b, err := codec.AppendImports(nil, f.Imports)
				if err != nil {
					return err
				}
				imports = string(b)
			}
			args = append(args, int64(f.Addr), int64(f.Size), int64(f.Blocks), int64(f.Instrs),
				int64(f.Exact), int64(f.Origin), f.Name, consts, imports, mh)
		}
		st, err := stmt(end - start)
		if err != nil {
			return err
		}
		if _, err := st.ExecContext(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// sampleID returns the row id of a sample, or an error wrapping
// model.ErrNotFound.
func (db *DB) sampleID(ctx context.Context, q querier, sha string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM samples WHERE sha256 = ?`, sha).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, model.ErrNotFound
	}
	return id, err
}

// GetSample returns one sample; see model.Store.
func (db *DB) GetSample(ctx context.Context, sha256 string) (model.Sample, error) {
	r := newRow(sampleColumns...)
	err := r.scan(db.r.QueryRowContext(ctx, `SELECT `+sampleCols+` FROM samples WHERE sha256 = ?`, sha256))
	var s model.Sample
	if errors.Is(err, sql.ErrNoRows) {
		err = model.ErrNotFound
	} else if err == nil {
		s, err = r.sample(0)
	}
	if err != nil {
		return model.Sample{}, fmt.Errorf("store: get %s: %w", sha256, err)
	}
	return s, nil
}

// SetLabels replaces a sample's labels; see model.Store.
func (db *DB) SetLabels(ctx context.Context, sha256 string, l model.Labels) error {
	err := db.update(ctx, `UPDATE samples SET family = ?, actor = ?, source = ? WHERE sha256 = ?`,
		l.Family, l.Actor, l.Source, sha256)
	if err != nil {
		return fmt.Errorf("store: set labels %s: %w", sha256, err)
	}
	return nil
}

// SetCommon marks a sample as common code or not; see model.Store.
func (db *DB) SetCommon(ctx context.Context, sha256 string, common bool) error {
	err := db.update(ctx, `UPDATE samples SET common = ? WHERE sha256 = ?`, common, sha256)
	if err != nil {
		return fmt.Errorf("store: set common %s: %w", sha256, err)
	}
	return nil
}

// DeleteSample removes a sample; its functions go with it through the
// foreign key's ON DELETE CASCADE, in the same statement.
func (db *DB) DeleteSample(ctx context.Context, sha256 string) error {
	if err := db.update(ctx, `DELETE FROM samples WHERE sha256 = ?`, sha256); err != nil {
		return fmt.Errorf("store: delete %s: %w", sha256, err)
	}
	return nil
}

// update runs one statement on the writer and reports model.ErrNotFound
// when it touched no sample.
func (db *DB) update(ctx context.Context, query string, args ...any) error {
	var res sql.Result
	err := retryBusy(ctx, func() (err error) {
		res, err = db.w.ExecContext(ctx, query, args...)
		return err
	})
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return model.ErrNotFound
	}
	return nil
}

// Samples lists all samples ordered by SHA-256.
func (db *DB) Samples(ctx context.Context) ([]model.Sample, error) {
	out, err := db.samples(ctx, db.r, `SELECT `+sampleCols+` FROM samples ORDER BY sha256`)
	if err != nil {
		return nil, fmt.Errorf("store: samples: %w", err)
	}
	return out, nil
}

type rowsQuerier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (db *DB) samples(ctx context.Context, q rowsQuerier, query string) ([]model.Sample, error) {
	rows, err := q.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []model.Sample{}
	r := newRow(sampleColumns...)
	for rows.Next() {
		if err := r.scan(rows); err != nil {
			return nil, err
		}
		s, err := r.sample(0)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// Functions returns one sample's functions ordered by address.
func (db *DB) Functions(ctx context.Context, sha256 string) ([]model.Function, error) {
	fns, err := db.functions(ctx, sha256)
	if err != nil {
		return nil, fmt.Errorf("store: functions %s: %w", sha256, err)
	}
	return fns, nil
}

func (db *DB) functions(ctx context.Context, sha string) ([]model.Function, error) {
	var fns []model.Function
	// One read transaction, so the sample cannot be deleted between
	// finding it and reading its functions.
	err := db.read(ctx, func(q driver.QueryerContext) error {
		r := newRow("id", "functions", "sig_version")
		found := false
		err := each(ctx, q, r, `SELECT id, functions, sig_version FROM samples WHERE sha256 = ?`, []any{sha}, func() error {
			found = true
			return nil
		})
		if err != nil {
			return err
		}
		if !found {
			return model.ErrNotFound
		}
		id, n, sig := r.int(0), r.int(1), int(r.int(2))
		if r.err != nil {
			return r.err
		}
		fns = make([]model.Function, 0, n)
		fr := newRow(functionColumns...)
		return each(ctx, q, fr, `SELECT `+functionCols+` FROM functions WHERE sample_id = ? ORDER BY addr`, []any{id}, func() error {
			fns = append(fns, model.Function{})
			return fr.function(0, sig, &fns[len(fns)-1])
		})
	})
	if err != nil {
		return nil, err
	}
	return contract.UnsignedOrder(fns), nil
}

// read runs f in a read transaction on one reader connection, talking to
// the driver directly. Bulk loads are dominated by per-row costs, and
// database/sql adds a lock, a conversion and a copy of every BLOB to each
// row.
func (db *DB) read(ctx context.Context, f func(q driver.QueryerContext) error) error {
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		bt, ok1 := dc.(driver.ConnBeginTx)
		q, ok2 := dc.(driver.QueryerContext)
		if !ok1 || !ok2 {
			return fmt.Errorf("sqlite driver connection %T lacks BeginTx or QueryContext", dc)
		}
		tx, err := bt.BeginTx(ctx, driver.TxOptions{ReadOnly: true})
		if err != nil {
			return err
		}
		err = f(q)
		if rerr := tx.Rollback(); err == nil {
			err = rerr
		}
		return err
	})
}

// each runs query and calls fn after reading each result row into r.
func each(ctx context.Context, q driver.QueryerContext, r *row, query string, args []any, fn func() error) error {
	nv := make([]driver.NamedValue, len(args))
	for i, a := range args {
		nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
	}
	rows, err := q.QueryContext(ctx, query, nv)
	if err != nil {
		return err
	}
	defer rows.Close()
	if n := len(rows.Columns()); n != len(r.vals) {
		return fmt.Errorf("query returns %d columns, want %d", n, len(r.vals))
	}
	dv := make([]driver.Value, len(r.vals))
	for i := 0; ; i++ {
		// The driver checks the context only while waiting for locks.
		if i%1024 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := rows.Next(dv); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		r.err = nil
		for i, v := range dv {
			r.vals[i] = v
		}
		if err := fn(); err != nil {
			return err
		}
	}
}

// ForEachSample calls fn with every sample and its functions, in the order
// samples were stored, from one consistent snapshot. It reads the functions
// table in a single pass, which makes it the fastest way to load a whole
// store. Each call gets a fresh Functions slice, which fn may keep. fn may
// use the store, but a write it makes is not seen by the iteration. An
// error from fn stops the iteration and is returned as is.
func (db *DB) ForEachSample(ctx context.Context, fn func(model.SampleFunctions) error) error {
	err := db.forEachSample(ctx, fn)
	var fe fnError
	if errors.As(err, &fe) {
		return fe.err
	}
	if err != nil {
		return fmt.Errorf("store: for each sample: %w", err)
	}
	return nil
}

type fnError struct{ err error }

func (e fnError) Error() string { return e.err.Error() }

func (db *DB) forEachSample(ctx context.Context, fn func(model.SampleFunctions) error) error {
	return db.read(ctx, func(q driver.QueryerContext) error {
		type entry struct {
			id int64
			s  model.Sample
		}
		var samples []entry
		sr := newRow(append([]string{"id"}, sampleColumns...)...)
		err := each(ctx, q, sr, `SELECT id, `+sampleCols+` FROM samples ORDER BY id`, nil, func() error {
			s, err := sr.sample(1)
			samples = append(samples, entry{sr.int(0), s})
			return err
		})
		if err != nil {
			return err
		}

		// Functions arrive ordered by sample id, as the samples are: each
		// sample is handed to fn once the first row of a later one shows
		// up, or at the end.
		next := 0 // first sample not yet handed to fn
		var cur []model.Function
		emit := func() error {
			e := samples[next]
			next++
			fns := contract.UnsignedOrder(cur)
			if next < len(samples) {
				cur = make([]model.Function, 0, samples[next].s.Stats.Functions)
			}
			if err := fn(model.SampleFunctions{Sample: e.s, Functions: fns}); err != nil {
				return fnError{err}
			}
			return nil
		}
		if len(samples) > 0 {
			cur = make([]model.Function, 0, samples[0].s.Stats.Functions)
		}
		fr := newRow(append([]string{"sample_id"}, functionColumns...)...)
		err = each(ctx, q, fr, `SELECT sample_id, `+functionCols+` FROM functions ORDER BY sample_id, addr`, nil, func() error {
			id := fr.int(0)
			for next < len(samples) && samples[next].id < id {
				if err := emit(); err != nil {
					return err
				}
			}
			if next == len(samples) || samples[next].id != id {
				return fmt.Errorf("functions of sample id %d, which does not exist", id)
			}
			cur = append(cur, model.Function{})
			return fr.function(1, samples[next].s.SigVersion, &cur[len(cur)-1])
		})
		if err != nil {
			return err
		}
		for next < len(samples) {
			if err := emit(); err != nil {
				return err
			}
		}
		return nil
	})
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
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return st, err
	}
	defer tx.Rollback()
	// Functions are counted from the per-sample counts, which Check keeps
	// honest, instead of scanning the large functions table.
	err = tx.QueryRowContext(ctx, `SELECT count(*),
		count(*) FILTER (WHERE family <> '' OR actor <> ''),
		count(*) FILTER (WHERE common),
		count(*) FILTER (WHERE unsupported <> ''),
		coalesce(sum(functions), 0)
		FROM samples`).Scan(&st.Samples, &st.Labelled, &st.Common, &st.Unsupported, &st.Functions)
	if err != nil {
		return st, err
	}
	for col, m := range map[string]map[string]int{"family": st.Families, "actor": st.Actors} {
		rows, err := tx.QueryContext(ctx, `SELECT `+col+`, count(*) FROM samples WHERE `+col+` <> '' GROUP BY `+col)
		if err != nil {
			return st, err
		}
		for rows.Next() {
			var k string
			var n int
			if err := rows.Scan(&k, &n); err != nil {
				rows.Close()
				return st, err
			}
			m[k] = n
		}
		if err := rows.Close(); err != nil {
			return st, err
		}
		if err := rows.Err(); err != nil {
			return st, err
		}
	}
	if st.SchemaVersion, err = readVersion(ctx, tx); err != nil {
		return st, err
	}
	return st, tx.Commit()
}

// Check verifies the database: SQLite's own integrity and foreign key
// checks, then kinship's invariants (every sample has exactly
// Stats.Functions functions, every MinHash blob has the right size). It
// reads the whole file, so it is for maintenance, not every run.
func (db *DB) Check(ctx context.Context) error {
	if err := db.check(ctx); err != nil {
		return fmt.Errorf("store: check %s: %w", db.path, err)
	}
	return nil
}

func (db *DB) check(ctx context.Context) error {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var problems contract.Problems
	collect := func(query string, format func(rows *sql.Rows) (string, error)) error {
		rows, err := tx.QueryContext(ctx, query)
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
	err = collect(`PRAGMA integrity_check`, func(rows *sql.Rows) (string, error) {
		var s string
		if err := rows.Scan(&s); err != nil || s == "ok" {
			return "", err
		}
		return "integrity: " + s, nil
	})
	if err != nil {
		return err
	}
	err = collect(`PRAGMA foreign_key_check`, func(rows *sql.Rows) (string, error) {
		var table, parent sql.NullString
		var rowid, fkid sql.NullInt64
		if err := rows.Scan(&table, &rowid, &parent, &fkid); err != nil {
			return "", err
		}
		return fmt.Sprintf("foreign key: a row of %s refers to a missing row of %s", table.String, parent.String), nil
	})
	if err != nil {
		return err
	}
	err = collect(`SELECT s.sha256, s.functions, (SELECT count(*) FROM functions f WHERE f.sample_id = s.id)
		FROM samples s`, func(rows *sql.Rows) (string, error) {
		var sha string
		var want, got int64
		if err := rows.Scan(&sha, &want, &got); err != nil || want == got {
			return "", err
		}
		return contract.CountMismatch(sha, want, got), nil
	})
	if err != nil {
		return err
	}
	// A MinHash vector is 64 values as wide as the sample's signature
	// version keeps them, or 32-bit (written before b-bit storage).
	err = collect(`SELECT s.sha256, count(*) FROM functions f JOIN samples s ON s.id = f.sample_id
		WHERE length(f.minhash) NOT IN (`+strconv.Itoa(codec.MaxMinHashBytes)+`,
			CASE WHEN s.sig_version >= 2 THEN `+strconv.Itoa(codec.MinHashBytes(2))+` ELSE `+strconv.Itoa(codec.MaxMinHashBytes)+` END)
		GROUP BY s.id`, func(rows *sql.Rows) (string, error) {
		var sha string
		var n int64
		if err := rows.Scan(&sha, &n); err != nil {
			return "", err
		}
		return contract.BadMinHashes(sha, n), nil
	})
	if err != nil {
		return err
	}
	return problems.Err()
}
