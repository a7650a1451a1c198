package knowledge

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// SchemaVersion is the knowledge-base schema this build writes; it always
// equals len(migrations).
const SchemaVersion = 2

// ErrSchemaTooNew is returned by Open for a knowledge base written by a
// newer kinship.
var ErrSchemaTooNew = errors.New("knowledge base schema is newer than this kinship supports")

// ErrNotFound is returned when a name or key matches nothing.
var ErrNotFound = errors.New("not found")

// migrations[i] takes a knowledge base from schema version i to i+1.
// Entries are never edited once released, only appended.
var migrations = []string{
	// 1: entities with aliases and xrefs, sources, immutable claims and
	// opinions, notes, raw STIX objects.
	//
	// Rows keep the object as JSON (body) beside the columns lookups use.
	// Foreign keys are deferred so that one merge may add a claim before
	// the entity it names, as long as both are there at commit. Triggers
	// refuse every UPDATE and DELETE of claims and opinions: a correction is
	// a new version.
	`
CREATE TABLE meta (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE sources (
	key    TEXT PRIMARY KEY,
	parent TEXT REFERENCES sources(key) DEFERRABLE INITIALLY DEFERRED,
	body   TEXT NOT NULL
) STRICT;

CREATE TABLE entities (
	id   INTEGER PRIMARY KEY,
	key  TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL,
	norm TEXT NOT NULL,
	body TEXT NOT NULL
) STRICT;
CREATE INDEX entities_norm ON entities(norm);

CREATE TABLE aliases (
	entity_id INTEGER NOT NULL REFERENCES entities(id),
	seq       INTEGER NOT NULL,
	name      TEXT NOT NULL,
	norm      TEXT NOT NULL,
	status    TEXT NOT NULL,
	origin    TEXT NOT NULL,
	note      TEXT NOT NULL,
	PRIMARY KEY (entity_id, name)
) STRICT;
CREATE INDEX aliases_norm ON aliases(norm);

CREATE TABLE xrefs (
	system    TEXT NOT NULL,
	xid       TEXT NOT NULL,
	scope     TEXT NOT NULL,
	entity_id INTEGER NOT NULL REFERENCES entities(id),
	seq       INTEGER NOT NULL,
	PRIMARY KEY (system, xid)
) STRICT;
CREATE INDEX xrefs_entity ON xrefs(entity_id);

CREATE TABLE claims (
	id       TEXT NOT NULL,
	version  INTEGER NOT NULL,
	subject  TEXT NOT NULL REFERENCES entities(key) DEFERRABLE INITIALLY DEFERRED,
	relation TEXT NOT NULL,
	object   TEXT NOT NULL REFERENCES entities(key) DEFERRABLE INITIALLY DEFERRED,
	source   TEXT NOT NULL REFERENCES sources(key) DEFERRABLE INITIALLY DEFERRED,
	date     TEXT NOT NULL,
	body     TEXT NOT NULL,
	PRIMARY KEY (id, version)
) STRICT;
CREATE INDEX claims_subject ON claims(subject);
CREATE INDEX claims_object ON claims(object);
CREATE TRIGGER claims_no_update BEFORE UPDATE ON claims
BEGIN SELECT RAISE(ABORT, 'claims are immutable: add a new version'); END;
CREATE TRIGGER claims_no_delete BEFORE DELETE ON claims
BEGIN SELECT RAISE(ABORT, 'claims are immutable'); END;

CREATE TABLE opinions (
	id            TEXT PRIMARY KEY,
	claim_id      TEXT NOT NULL,
	claim_version INTEGER NOT NULL,
	source        TEXT NOT NULL REFERENCES sources(key) DEFERRABLE INITIALLY DEFERRED,
	body          TEXT NOT NULL,
	FOREIGN KEY (claim_id, claim_version) REFERENCES claims(id, version) DEFERRABLE INITIALLY DEFERRED
) STRICT;
CREATE INDEX opinions_claim ON opinions(claim_id);
CREATE TRIGGER opinions_no_update BEFORE UPDATE ON opinions
BEGIN SELECT RAISE(ABORT, 'opinions are immutable'); END;
CREATE TRIGGER opinions_no_delete BEFORE DELETE ON opinions
BEGIN SELECT RAISE(ABORT, 'opinions are immutable'); END;

CREATE TABLE notes (
	id   TEXT PRIMARY KEY,
	body TEXT NOT NULL
) STRICT;

CREATE TABLE raw (
	id   TEXT PRIMARY KEY,
	type TEXT NOT NULL,
	json TEXT NOT NULL
) STRICT;
`,
	// 2: the engine's analyses, its own machine-generated claims, as
	// immutable as claims.
	`
CREATE TABLE analyses (
	id      TEXT NOT NULL,
	version INTEGER NOT NULL,
	subject TEXT NOT NULL REFERENCES entities(key) DEFERRABLE INITIALLY DEFERRED,
	sample  TEXT NOT NULL REFERENCES entities(key) DEFERRABLE INITIALLY DEFERRED,
	source  TEXT NOT NULL REFERENCES sources(key) DEFERRABLE INITIALLY DEFERRED,
	date    TEXT NOT NULL,
	body    TEXT NOT NULL,
	PRIMARY KEY (id, version)
) STRICT;
CREATE INDEX analyses_subject ON analyses(subject);
CREATE INDEX analyses_sample ON analyses(sample);
CREATE TRIGGER analyses_no_update BEFORE UPDATE ON analyses
BEGIN SELECT RAISE(ABORT, 'analyses are immutable: add a new version'); END;
CREATE TRIGGER analyses_no_delete BEFORE DELETE ON analyses
BEGIN SELECT RAISE(ABORT, 'analyses are immutable'); END;
`,
}

// DefaultPath is where the knowledge base lives unless told otherwise:
// beside the engine's store, $XDG_DATA_HOME/kinship/knowledge.db or
// ~/.local/share/kinship/knowledge.db.
func DefaultPath() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "kinship", "knowledge.db"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("knowledge: default path: %w", err)
	}
	return filepath.Join(home, ".local", "share", "kinship", "knowledge.db"), nil
}

// Options tune Open.
type Options struct {
	// NoSeed leaves a new knowledge base empty instead of loading the
	// knowledge that ships with kinship.
	NoSeed bool
}

// KB is a knowledge base in one SQLite file. It is safe for concurrent use;
// writes are serialised.
type KB struct {
	db   *sql.DB
	path string
}

// Open opens (creating if needed) the knowledge base at path, migrates its
// schema and, unless opts.NoSeed, loads the seed knowledge if this version
// of it has not been loaded yet (loading is idempotent).
func Open(ctx context.Context, path string, opts Options) (*KB, error) {
	kb, err := open(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("knowledge: open %s: %w", path, err)
	}
	if !opts.NoSeed {
		if err := kb.ensureSeed(ctx); err != nil {
			kb.Close()
			return nil, fmt.Errorf("knowledge: load seed: %w", err)
		}
	}
	return kb, nil
}

func open(ctx context.Context, path string) (*KB, error) {
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
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs)}
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", u.String()+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	// One connection: the knowledge base is small and every write is one
	// transaction; readers in other processes are served by WAL.
	db.SetMaxOpenConns(1)
	kb := &KB{db: db, path: abs}
	if err := kb.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return kb, nil
}

// Close closes the database.
func (kb *KB) Close() error { return kb.db.Close() }

// Path is the knowledge base's file.
func (kb *KB) Path() string { return kb.path }

func (kb *KB) migrate(ctx context.Context) error {
	var v int
	if err := kb.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("%w (file has %d, this build %d)", ErrSchemaTooNew, v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		tx, err := kb.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate to schema %d: %w", v+1, err)
		}
		if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT OR REPLACE INTO meta(key, value) VALUES ('schema_version', ?)", strconv.Itoa(v+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Meta returns a value from the meta table ("" if absent).
func (kb *KB) Meta(ctx context.Context, key string) (string, error) {
	var v string
	err := kb.db.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func (kb *KB) setMeta(ctx context.Context, key, value string) error {
	_, err := kb.db.ExecContext(ctx, "INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", key, value)
	return err
}

// MergeStats counts what a merge did, by what ("source", "actor", ...,
// "claim", "opinion", "note", "raw").
type MergeStats struct {
	Created   map[string]int `json:"created"`
	Updated   map[string]int `json:"updated"`
	Unchanged map[string]int `json:"unchanged"`
}

func newStats() MergeStats {
	return MergeStats{Created: map[string]int{}, Updated: map[string]int{}, Unchanged: map[string]int{}}
}

// Changed reports whether the merge changed anything.
func (s MergeStats) Changed() bool { return sum(s.Created)+sum(s.Updated) > 0 }

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// String summarises the stats on one line.
func (s MergeStats) String() string {
	f := func(m map[string]int) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%d %s", m[k], k))
		}
		if len(parts) == 0 {
			return "nothing"
		}
		return strings.Join(parts, ", ")
	}
	return fmt.Sprintf("created %s; updated %s; unchanged %s", f(s.Created), f(s.Updated), f(s.Unchanged))
}

// Merge adds a document to the knowledge base in one transaction.
//
// Sources and entities are matched by key (entities also by any xref,
// so a MISP cluster imported again, or known to the seed, is found);
// a match keeps its values and gains only what it lacked: empty fields,
// new aliases, references, xrefs, labels and hashes. Names never merge two
// entities: two actors sharing an alias stay two actors. Claims and
// opinions are immutable: one that exists must be identical, and a new
// version must follow the previous one. Notes and raw objects are replaced.
// Merging the same document twice changes nothing the second time.
func (kb *KB) Merge(ctx context.Context, doc *Document) (MergeStats, error) {
	st := newStats()
	tx, err := kb.db.BeginTx(ctx, nil)
	if err != nil {
		return st, err
	}
	defer tx.Rollback()
	m := &merger{ctx: ctx, tx: tx, st: st}
	if err := m.merge(doc); err != nil {
		return st, err
	}
	if err := tx.Commit(); err != nil {
		return st, fmt.Errorf("commit: %w", err)
	}
	return st, nil
}

type merger struct {
	ctx context.Context
	tx  *sql.Tx
	st  MergeStats
}

func (m *merger) merge(doc *Document) error {
	for i := range doc.Sources {
		if err := m.source(doc.Sources[i]); err != nil {
			return err
		}
	}
	for i := range doc.Entities {
		if err := m.entity(doc.Entities[i]); err != nil {
			return err
		}
	}
	claims := slices.Clone(doc.Claims)
	slices.SortStableFunc(claims, func(a, b Claim) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	for i := range claims {
		if err := m.claim(claims[i]); err != nil {
			return err
		}
	}
	for i := range doc.Opinions {
		if err := m.opinion(doc.Opinions[i]); err != nil {
			return err
		}
	}
	for i := range doc.Notes {
		if err := m.note(doc.Notes[i]); err != nil {
			return err
		}
	}
	for i := range doc.Raw {
		if err := m.raw(doc.Raw[i]); err != nil {
			return err
		}
	}
	ans := slices.Clone(doc.Analyses)
	slices.SortStableFunc(ans, func(a, b Analysis) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	for i := range ans {
		if err := m.analysis(ans[i]); err != nil {
			return err
		}
	}
	return m.checkRefs()
}

func (m *merger) count(which map[string]int, what string) { which[what]++ }

func (m *merger) source(s Source) error {
	if err := s.Validate(); err != nil {
		return err
	}
	var body string
	err := m.tx.QueryRowContext(m.ctx, "SELECT body FROM sources WHERE key = ?", s.Key).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		b, _ := json.Marshal(s)
		if _, err := m.tx.ExecContext(m.ctx, "INSERT INTO sources(key, parent, body) VALUES (?, ?, ?)", s.Key, nullable(s.Parent), string(b)); err != nil {
			return fmt.Errorf("source %s: %w", s.Key, err)
		}
		m.count(m.st.Created, "source")
		return nil
	}
	if err != nil {
		return err
	}
	var old Source
	if err := json.Unmarshal([]byte(body), &old); err != nil {
		return fmt.Errorf("source %s: stored body: %w", s.Key, err)
	}
	merged := old
	fill(&merged.Class, s.Class)
	fill(&merged.Reliability, s.Reliability)
	fill(&merged.Parent, s.Parent)
	fill(&merged.URL, s.URL)
	fill(&merged.Description, s.Description)
	fill(&merged.Created, s.Created)
	fill(&merged.Modified, s.Modified)
	if merged == old {
		m.count(m.st.Unchanged, "source")
		return nil
	}
	b, _ := json.Marshal(merged)
	if _, err := m.tx.ExecContext(m.ctx, "UPDATE sources SET parent = ?, body = ? WHERE key = ?", nullable(merged.Parent), string(b), s.Key); err != nil {
		return err
	}
	m.count(m.st.Updated, "source")
	return nil
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func unmarshalBody(body string, v any) error { return json.Unmarshal([]byte(body), v) }

func fill(dst *string, v string) {
	if *dst == "" {
		*dst = v
	}
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// entityBody is what the body column holds: the entity without the parts
// kept in their own tables.
func entityBody(e Entity) string {
	e.Aliases, e.XRefs = nil, nil
	b, _ := json.Marshal(e)
	return string(b)
}

func (m *merger) entity(e Entity) error {
	if err := e.Validate(); err != nil {
		return err
	}
	id, old, err := findEntity(m.ctx, m.tx, e)
	if err != nil {
		return err
	}
	if id == 0 {
		res, err := m.tx.ExecContext(m.ctx, "INSERT INTO entities(key, kind, norm, body) VALUES (?, ?, ?, ?)", e.Key, string(e.Kind), Norm(e.Name), entityBody(e))
		if err != nil {
			return fmt.Errorf("entity %s: %w", e.Key, err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return err
		}
		if _, err := m.addAliases(id, &Entity{Name: e.Name}, e.Aliases); err != nil {
			return err
		}
		if _, err := m.addXRefs(id, nil, e.XRefs); err != nil {
			return err
		}
		m.count(m.st.Created, string(e.Kind))
		return nil
	}
	if old.Kind != e.Kind {
		return fmt.Errorf("entity %s: is a %s, %s would make it a %s", old.Key, old.Kind, e.Key, e.Kind)
	}
	merged := old
	merged.Aliases, merged.XRefs = nil, nil
	merged.Hashes = maps.Clone(old.Hashes)
	merged.Labels = slices.Clone(old.Labels)
	merged.Refs = slices.Clone(old.Refs)
	fill(&merged.Type, e.Type)
	fill(&merged.Description, e.Description)
	fill(&merged.Country, e.Country)
	fill(&merged.FirstSeen, e.FirstSeen)
	fill(&merged.LastSeen, e.LastSeen)
	fill(&merged.Value, e.Value)
	fill(&merged.Created, e.Created)
	fill(&merged.Modified, e.Modified)
	for _, l := range e.Labels {
		if !slices.Contains(merged.Labels, l) {
			merged.Labels = append(merged.Labels, l)
		}
	}
	for k, v := range e.Hashes {
		if merged.Hashes == nil {
			merged.Hashes = map[string]string{}
		}
		if _, ok := merged.Hashes[k]; !ok {
			merged.Hashes[k] = v
		}
	}
	for _, r := range e.Refs {
		if !slices.Contains(merged.Refs, r) {
			merged.Refs = append(merged.Refs, r)
		}
	}
	if len(merged.Refs) > MaxItems {
		return fmt.Errorf("entity %s: more than %d references", old.Key, MaxItems)
	}
	changed := false
	oldCmp := old
	oldCmp.Aliases, oldCmp.XRefs = nil, nil
	if !reflect.DeepEqual(merged, oldCmp) {
		if _, err := m.tx.ExecContext(m.ctx, "UPDATE entities SET body = ? WHERE id = ?", entityBody(merged), id); err != nil {
			return err
		}
		changed = true
	}
	a, err := m.addAliases(id, &old, e.Aliases)
	if err != nil {
		return err
	}
	x, err := m.addXRefs(id, old.XRefs, e.XRefs)
	if err != nil {
		return err
	}
	if changed || a || x {
		m.count(m.st.Updated, string(e.Kind))
	} else {
		m.count(m.st.Unchanged, string(e.Kind))
	}
	return nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// findEntity finds the stored entity e merges into: by key, else by xref.
func findEntity(ctx context.Context, q querier, e Entity) (int64, Entity, error) {
	var id int64
	err := q.QueryRowContext(ctx, "SELECT id FROM entities WHERE key = ?", e.Key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		for _, x := range e.XRefs {
			err = q.QueryRowContext(ctx, "SELECT entity_id FROM xrefs WHERE system = ? AND xid = ?", x.System, x.ID).Scan(&id)
			if err == nil {
				break
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return 0, Entity{}, err
			}
		}
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, Entity{}, nil
	}
	if err != nil {
		return 0, Entity{}, err
	}
	old, err := loadEntity(ctx, q, id)
	return id, old, err
}

func loadEntity(ctx context.Context, q querier, id int64) (Entity, error) {
	var body string
	if err := q.QueryRowContext(ctx, "SELECT body FROM entities WHERE id = ?", id).Scan(&body); err != nil {
		return Entity{}, err
	}
	var e Entity
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		return Entity{}, fmt.Errorf("entity %d: stored body: %w", id, err)
	}
	rows, err := q.QueryContext(ctx, "SELECT name, status, origin, note FROM aliases WHERE entity_id = ? ORDER BY seq", id)
	if err != nil {
		return e, err
	}
	for rows.Next() {
		var a Alias
		if err := rows.Scan(&a.Name, &a.Status, &a.Origin, &a.Note); err != nil {
			rows.Close()
			return e, err
		}
		e.Aliases = append(e.Aliases, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return e, err
	}
	rows, err = q.QueryContext(ctx, "SELECT system, xid, scope FROM xrefs WHERE entity_id = ? ORDER BY seq", id)
	if err != nil {
		return e, err
	}
	defer rows.Close()
	for rows.Next() {
		var x XRef
		if err := rows.Scan(&x.System, &x.ID, &x.Scope); err != nil {
			return e, err
		}
		e.XRefs = append(e.XRefs, x)
	}
	return e, rows.Err()
}

func (m *merger) addAliases(id int64, old *Entity, add []Alias) (bool, error) {
	have := map[string]bool{old.Name: true}
	for _, a := range old.Aliases {
		have[a.Name] = true
	}
	seq := len(old.Aliases)
	if seq+len(add) > MaxItems {
		n := 0
		for _, a := range add {
			if !have[a.Name] {
				n++
			}
		}
		if seq+n > MaxItems {
			return false, fmt.Errorf("entity %d: more than %d aliases", id, MaxItems)
		}
	}
	changed := false
	for _, a := range add {
		if have[a.Name] {
			continue
		}
		have[a.Name] = true
		if _, err := m.tx.ExecContext(m.ctx, "INSERT INTO aliases(entity_id, seq, name, norm, status, origin, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
			id, seq, a.Name, Norm(a.Name), a.Status, a.Origin, a.Note); err != nil {
			return false, err
		}
		seq++
		changed = true
	}
	return changed, nil
}

func (m *merger) addXRefs(id int64, old, add []XRef) (bool, error) {
	seq := len(old)
	changed := false
	for _, x := range add {
		if x.System == "" || x.ID == "" {
			return false, fmt.Errorf("entity %d: xref without system or id", id)
		}
		var owner int64
		err := m.tx.QueryRowContext(m.ctx, "SELECT entity_id FROM xrefs WHERE system = ? AND xid = ?", x.System, x.ID).Scan(&owner)
		if err == nil {
			if owner != id {
				return false, fmt.Errorf("xref %s:%s already belongs to another entity", x.System, x.ID)
			}
			continue
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, err
		}
		if _, err := m.tx.ExecContext(m.ctx, "INSERT INTO xrefs(system, xid, scope, entity_id, seq) VALUES (?, ?, ?, ?, ?)", x.System, x.ID, x.Scope, id, seq); err != nil {
			return false, err
		}
		seq++
		changed = true
	}
	return changed, nil
}

// prepareClaim validates a claim and fills in its STIX confidence.
func prepareClaim(c *Claim) error {
	if c.Confidence == nil {
		if v, ok := STIXConfidence(c.Yardstick, c.NativeTerm, c.Interpretation); ok && (c.NativeTerm != "" || c.Interpretation != nil) {
			c.Confidence = &v
		}
	}
	return c.Validate()
}

func (m *merger) claim(c Claim) error {
	if err := prepareClaim(&c); err != nil {
		return err
	}
	if c.Source == EngineSourceKey {
		return fmt.Errorf("claim %s: the kinship engine makes analyses, not claims", c.ID)
	}
	b, _ := json.Marshal(c)
	if done, err := m.immutable("claims", "claim", c.ID, c.Version, b); done || err != nil {
		return err
	}
	if _, err := m.tx.ExecContext(m.ctx, "INSERT INTO claims(id, version, subject, relation, object, source, date, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.Version, c.Subject, c.Relation, c.Object, c.Source, c.Date, string(b)); err != nil {
		return fmt.Errorf("claim %s v%d: %w", c.ID, c.Version, err)
	}
	m.count(m.st.Created, "claim")
	return nil
}

func (m *merger) analysis(an Analysis) error {
	if err := an.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(an)
	if done, err := m.immutable("analyses", "analysis", an.ID, an.Version, b); done || err != nil {
		return err
	}
	if _, err := m.tx.ExecContext(m.ctx, "INSERT INTO analyses(id, version, subject, sample, source, date, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
		an.ID, an.Version, an.Subject, an.Sample, an.Source, an.Date, string(b)); err != nil {
		return fmt.Errorf("analysis %s v%d: %w", an.ID, an.Version, err)
	}
	m.count(m.st.Created, "analysis")
	return nil
}

// immutable checks a versioned record (a claim or an analysis) against
// table before it is inserted: done is true when the same version is
// already stored with the same body; another body is an error, as is a
// version whose predecessor is missing. table is one of the package's own
// table names, never input.
func (m *merger) immutable(table, what, id string, version int, b []byte) (done bool, err error) {
	var body string
	err = m.tx.QueryRowContext(m.ctx, "SELECT body FROM "+table+" WHERE id = ? AND version = ?", id, version).Scan(&body)
	if err == nil {
		if body != string(b) {
			return false, fmt.Errorf("%s %s v%d exists with other content; %s are immutable, add version %d instead", what, id, version, table, version+1)
		}
		m.count(m.st.Unchanged, what)
		return true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return false, err
	}
	if version > 1 {
		var n int
		if err := m.tx.QueryRowContext(m.ctx, "SELECT count(*) FROM "+table+" WHERE id = ? AND version = ?", id, version-1).Scan(&n); err != nil {
			return false, err
		}
		if n == 0 {
			return false, fmt.Errorf("%s %s v%d: version %d is missing", what, id, version, version-1)
		}
	}
	return false, nil
}

func (m *merger) opinion(o Opinion) error {
	if err := o.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(o)
	var body string
	err := m.tx.QueryRowContext(m.ctx, "SELECT body FROM opinions WHERE id = ?", o.ID).Scan(&body)
	if err == nil {
		if body != string(b) {
			return fmt.Errorf("opinion %s exists with other content; opinions are immutable", o.ID)
		}
		m.count(m.st.Unchanged, "opinion")
		return nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return err
	}
	if _, err := m.tx.ExecContext(m.ctx, "INSERT INTO opinions(id, claim_id, claim_version, source, body) VALUES (?, ?, ?, ?, ?)",
		o.ID, o.ClaimID, o.ClaimVersion, o.Source, string(b)); err != nil {
		return fmt.Errorf("opinion %s: %w", o.ID, err)
	}
	m.count(m.st.Created, "opinion")
	return nil
}

func (m *merger) note(n Note) error {
	if err := n.Validate(); err != nil {
		return err
	}
	b, _ := json.Marshal(n)
	return m.replace("note", "SELECT body FROM notes WHERE id = ?", "INSERT OR REPLACE INTO notes(id, body) VALUES (?, ?)", n.ID, string(b))
}

func (m *merger) raw(r RawObject) error {
	if r.ID == "" || r.Type == "" || !json.Valid([]byte(r.JSON)) {
		return fmt.Errorf("raw object %q: needs an id, a type and valid JSON", r.ID)
	}
	if len(r.JSON) > MaxText*16 {
		return fmt.Errorf("raw object %s: %d bytes is too large", r.ID, len(r.JSON))
	}
	var body string
	err := m.tx.QueryRowContext(m.ctx, "SELECT json FROM raw WHERE id = ?", r.ID).Scan(&body)
	switch {
	case err == nil && body == r.JSON:
		m.count(m.st.Unchanged, "raw")
		return nil
	case err == nil:
		m.count(m.st.Updated, "raw")
	case errors.Is(err, sql.ErrNoRows):
		m.count(m.st.Created, "raw")
	default:
		return err
	}
	_, err = m.tx.ExecContext(m.ctx, "INSERT OR REPLACE INTO raw(id, type, json) VALUES (?, ?, ?)", r.ID, r.Type, r.JSON)
	return err
}

func (m *merger) replace(what, sel, ins, id, body string) error {
	var old string
	err := m.tx.QueryRowContext(m.ctx, sel, id).Scan(&old)
	switch {
	case err == nil && old == body:
		m.count(m.st.Unchanged, what)
		return nil
	case err == nil:
		m.count(m.st.Updated, what)
	case errors.Is(err, sql.ErrNoRows):
		m.count(m.st.Created, what)
	default:
		return err
	}
	_, err = m.tx.ExecContext(m.ctx, ins, id, body)
	return err
}

// checkRefs reports dangling references with names, before the deferred
// foreign keys would fail the commit with a bare constraint error.
func (m *merger) checkRefs() error {
	checks := []struct{ q, what string }{
		{`SELECT c.id || ' v' || c.version || ': subject ' || c.subject FROM claims c LEFT JOIN entities e ON e.key = c.subject WHERE e.id IS NULL LIMIT 1`, "claim"},
		{`SELECT c.id || ' v' || c.version || ': object ' || c.object FROM claims c LEFT JOIN entities e ON e.key = c.object WHERE e.id IS NULL LIMIT 1`, "claim"},
		{`SELECT c.id || ' v' || c.version || ': source ' || c.source FROM claims c LEFT JOIN sources s ON s.key = c.source WHERE s.key IS NULL LIMIT 1`, "claim"},
		{`SELECT o.id || ': claim ' || o.claim_id || ' v' || o.claim_version FROM opinions o LEFT JOIN claims c ON c.id = o.claim_id AND c.version = o.claim_version WHERE c.id IS NULL LIMIT 1`, "opinion"},
		{`SELECT o.id || ': source ' || o.source FROM opinions o LEFT JOIN sources s ON s.key = o.source WHERE s.key IS NULL LIMIT 1`, "opinion"},
		{`SELECT s.key || ': parent ' || s.parent FROM sources s LEFT JOIN sources p ON p.key = s.parent WHERE s.parent IS NOT NULL AND p.key IS NULL LIMIT 1`, "source"},
		{`SELECT a.id || ' v' || a.version || ': subject ' || a.subject FROM analyses a LEFT JOIN entities e ON e.key = a.subject WHERE e.id IS NULL LIMIT 1`, "analysis"},
		{`SELECT a.id || ' v' || a.version || ': sample ' || a.sample FROM analyses a LEFT JOIN entities e ON e.key = a.sample WHERE e.id IS NULL LIMIT 1`, "analysis"},
		{`SELECT a.id || ' v' || a.version || ': source ' || a.source FROM analyses a LEFT JOIN sources s ON s.key = a.source WHERE s.key IS NULL LIMIT 1`, "analysis"},
	}
	for _, c := range checks {
		var msg string
		err := m.tx.QueryRowContext(m.ctx, c.q).Scan(&msg)
		if err == nil {
			return fmt.Errorf("%s %s: not in the knowledge base", c.what, msg)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	// Source parent chains must end (no cycles).
	srcs, err := loadSources(m.ctx, m.tx)
	if err != nil {
		return err
	}
	for k := range srcs {
		seen := map[string]bool{}
		for s := k; s != ""; s = srcs[s].Parent {
			if seen[s] {
				return fmt.Errorf("source %s: parent chain loops", k)
			}
			seen[s] = true
		}
	}
	return nil
}

func loadSources(ctx context.Context, q querier) (map[string]Source, error) {
	rows, err := q.QueryContext(ctx, "SELECT body FROM sources")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Source{}
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var s Source
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			return nil, err
		}
		out[s.Key] = s
	}
	return out, rows.Err()
}

// Sources returns every source by key.
func (kb *KB) Sources(ctx context.Context) (map[string]Source, error) {
	return loadSources(ctx, kb.db)
}

// Entity returns one entity by key.
func (kb *KB) Entity(ctx context.Context, key string) (Entity, error) {
	var id int64
	err := kb.db.QueryRowContext(ctx, "SELECT id FROM entities WHERE key = ?", key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return Entity{}, fmt.Errorf("entity %s: %w", key, ErrNotFound)
	}
	if err != nil {
		return Entity{}, err
	}
	return loadEntity(ctx, kb.db, id)
}

// Match is an entity a name resolves to and how.
type Match struct {
	Entity Entity `json:"entity"`
	// By is "name" when the name is the entity's own, "alias" otherwise.
	By string `json:"by"`
	// Alias is the alias that matched, with its status.
	Alias *Alias `json:"alias,omitempty"`
}

// Find returns every entity whose name or alias is name (compared by Norm),
// own names first, then by key. Several matches are normal: an alias may
// be shared or disputed, and kinship never merges on a name.
func (kb *KB) Find(ctx context.Context, name string, kinds ...Kind) ([]Match, error) {
	n := Norm(name)
	var out []Match
	seen := map[int64]bool{}
	add := func(q string, by string) error {
		rows, err := kb.db.QueryContext(ctx, q, n)
		if err != nil {
			return err
		}
		var ids []int64
		var aliases []string
		for rows.Next() {
			var id int64
			var alias string
			if err := rows.Scan(&id, &alias); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			aliases = append(aliases, alias)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for i, id := range ids {
			if seen[id] {
				continue
			}
			e, err := loadEntity(ctx, kb.db, id)
			if err != nil {
				return err
			}
			if len(kinds) > 0 && !slices.Contains(kinds, e.Kind) {
				continue
			}
			seen[id] = true
			mt := Match{Entity: e, By: by}
			if by == "alias" {
				for _, a := range e.Aliases {
					if a.Name == aliases[i] {
						a := a
						mt.Alias = &a
					}
				}
			}
			out = append(out, mt)
		}
		return nil
	}
	if err := add("SELECT id, '' FROM entities WHERE norm = ? ORDER BY key", "name"); err != nil {
		return nil, err
	}
	if err := add("SELECT a.entity_id, a.name FROM aliases a JOIN entities e ON e.id = a.entity_id WHERE a.norm = ? ORDER BY e.key, a.seq", "alias"); err != nil {
		return nil, err
	}
	return out, nil
}

// Entities lists the entities of one kind (all kinds if kind is ""),
// ordered by key.
func (kb *KB) Entities(ctx context.Context, kind Kind) ([]Entity, error) {
	q := "SELECT id FROM entities ORDER BY key"
	args := []any{}
	if kind != "" {
		q = "SELECT id FROM entities WHERE kind = ? ORDER BY key"
		args = append(args, string(kind))
	}
	rows, err := kb.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]Entity, 0, len(ids))
	for _, id := range ids {
		e, err := loadEntity(ctx, kb.db, id)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// Count returns the number of entities of a kind.
func (kb *KB) Count(ctx context.Context, kind Kind) (int, error) {
	var n int
	err := kb.db.QueryRowContext(ctx, "SELECT count(*) FROM entities WHERE kind = ?", string(kind)).Scan(&n)
	return n, err
}

// CountXRefs returns how many entities carry an xref of system and scope
// (e.g. "misp", "threat-actor": the galaxy's clusters imported).
func (kb *KB) CountXRefs(ctx context.Context, system, scope string) (int, error) {
	var n int
	err := kb.db.QueryRowContext(ctx, "SELECT count(DISTINCT entity_id) FROM xrefs WHERE system = ? AND scope = ?", system, scope).Scan(&n)
	return n, err
}

func scanClaims(rows *sql.Rows) ([]Claim, error) {
	defer rows.Close()
	var out []Claim
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var c Claim
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Claims returns every version of every claim whose subject or object is
// one of keys (all claims if keys is empty), ordered by date, id, version.
func (kb *KB) Claims(ctx context.Context, keys ...string) ([]Claim, error) {
	q := "SELECT body FROM claims"
	var args []any
	if len(keys) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?,", len(keys)), ",")
		q += " WHERE subject IN (" + ph + ") OR object IN (" + ph + ")"
		for i := 0; i < 2; i++ {
			for _, k := range keys {
				args = append(args, k)
			}
		}
	}
	q += " ORDER BY date, id, version"
	rows, err := kb.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return scanClaims(rows)
}

// Claim returns one version of a claim; version 0 means the latest.
func (kb *KB) Claim(ctx context.Context, id string, version int) (Claim, error) {
	q := "SELECT body FROM claims WHERE id = ? ORDER BY version DESC LIMIT 1"
	args := []any{id}
	if version > 0 {
		q = "SELECT body FROM claims WHERE id = ? AND version = ?"
		args = append(args, version)
	}
	rows, err := kb.db.QueryContext(ctx, q, args...)
	if err != nil {
		return Claim{}, err
	}
	cs, err := scanClaims(rows)
	if err != nil {
		return Claim{}, err
	}
	if len(cs) == 0 {
		return Claim{}, fmt.Errorf("claim %s: %w", id, ErrNotFound)
	}
	return cs[0], nil
}

// Correct records a correction of a claim: c becomes the next version of
// claim id, superseding the latest. Nothing is overwritten.
func (kb *KB) Correct(ctx context.Context, id string, c Claim, why string) (Claim, error) {
	prev, err := kb.Claim(ctx, id, 0)
	if err != nil {
		return Claim{}, err
	}
	c.ID, c.Version, c.Supersedes, c.Correction = id, prev.Version+1, prev.Version, why
	c.Confidence = nil
	if _, err := kb.Merge(ctx, &Document{Claims: []Claim{c}}); err != nil {
		return Claim{}, err
	}
	return kb.Claim(ctx, id, c.Version)
}

// Opinions returns the opinions on the given claims (all if none given).
func (kb *KB) Opinions(ctx context.Context, claimIDs ...string) ([]Opinion, error) {
	q := "SELECT body FROM opinions"
	var args []any
	if len(claimIDs) > 0 {
		q += " WHERE claim_id IN (" + strings.TrimSuffix(strings.Repeat("?,", len(claimIDs)), ",") + ")"
		for _, id := range claimIDs {
			args = append(args, id)
		}
	}
	q += " ORDER BY id"
	rows, err := kb.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Opinion
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var o Opinion
		if err := json.Unmarshal([]byte(body), &o); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// Dump returns the whole knowledge base as a Document, every list sorted by
// key, so that equal knowledge dumps equal.
func (kb *KB) Dump(ctx context.Context) (*Document, error) {
	doc := &Document{}
	srcs, err := kb.Sources(ctx)
	if err != nil {
		return nil, err
	}
	for _, s := range srcs {
		doc.Sources = append(doc.Sources, s)
	}
	slices.SortFunc(doc.Sources, func(a, b Source) int { return strings.Compare(a.Key, b.Key) })
	if doc.Entities, err = kb.Entities(ctx, ""); err != nil {
		return nil, err
	}
	if doc.Claims, err = kb.Claims(ctx); err != nil {
		return nil, err
	}
	slices.SortFunc(doc.Claims, func(a, b Claim) int {
		if c := strings.Compare(a.ID, b.ID); c != 0 {
			return c
		}
		return a.Version - b.Version
	})
	if doc.Opinions, err = kb.Opinions(ctx); err != nil {
		return nil, err
	}
	if doc.Notes, err = kb.Notes(ctx); err != nil {
		return nil, err
	}
	if doc.Raw, err = kb.Raw(ctx); err != nil {
		return nil, err
	}
	if doc.Analyses, err = kb.Analyses(ctx); err != nil {
		return nil, err
	}
	return doc, nil
}

// Notes returns every note ordered by id.
func (kb *KB) Notes(ctx context.Context) ([]Note, error) {
	rows, err := kb.db.QueryContext(ctx, "SELECT body FROM notes ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Note
	for rows.Next() {
		var body string
		if err := rows.Scan(&body); err != nil {
			return nil, err
		}
		var n Note
		if err := json.Unmarshal([]byte(body), &n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Raw returns every raw STIX object ordered by id.
func (kb *KB) Raw(ctx context.Context) ([]RawObject, error) {
	rows, err := kb.db.QueryContext(ctx, "SELECT id, type, json FROM raw ORDER BY id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RawObject
	for rows.Next() {
		var r RawObject
		if err := rows.Scan(&r.ID, &r.Type, &r.JSON); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
