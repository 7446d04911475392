package sqlsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// JobsTable records the jobs the source has applied, in the same
// transaction as their effects, so that a retried job is not applied twice.
const JobsTable = "privacy_operator_jobs"

// Options tune a Source.
type Options struct {
	// PurgeBatch is how many rows one purge transaction changes at most;
	// default 1000. It bounds how long a purge holds row (PostgreSQL) or
	// database (SQLite) locks at a time.
	PurgeBatch int
	// HashKey keys the hash that "hash" anonymization writes, so that a
	// hashed email cannot be found by hashing guesses. Keep it secret.
	HashKey []byte
	// RetryAfter is what a 503 asks the operator to wait; default 5 s.
	RetryAfter time.Duration
	// OnBatch, when set, is told the rows and duration of each purge
	// transaction (tests and metrics watch lock time with it).
	OnBatch func(table string, rows int64, took time.Duration)
}

// Source executes privacy jobs against one database according to a mapping.
type Source struct {
	db      *sql.DB
	d       Dialect
	mapping *Mapping
	tables  map[string]*Table
	opts    Options
}

// New returns a Source for an open database. Call Prepare before serving.
func New(db *sql.DB, d Dialect, m *Mapping, opts Options) *Source {
	if opts.PurgeBatch <= 0 {
		opts.PurgeBatch = 1000
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = 5 * time.Second
	}
	s := &Source{db: db, d: d, mapping: m, tables: map[string]*Table{}, opts: opts}
	for _, t := range m.Tables {
		s.tables[t.Name] = t
	}
	return s
}

// Prepare creates the jobs table when it is missing and checks that every
// mapped table and column exists, so that a mapping that does not fit the
// database fails at start, naming the mapping's line, rather than at the
// first job.
func (s *Source) Prepare(ctx context.Context) error {
	if s.tables[JobsTable] != nil {
		return fmt.Errorf("%s: the table %s is the source's own job record and cannot be mapped", s.mapping.File, JobsTable)
	}
	ddl := "CREATE TABLE IF NOT EXISTS " + quote(JobsTable) + ` (
	id TEXT PRIMARY KEY,
	status TEXT NOT NULL,
	finished_unix BIGINT NOT NULL)`
	if _, err := s.db.ExecContext(ctx, ddl); err != nil {
		return classify(err, JobsTable, "creating the job record")
	}
	var problems []string
	for _, tc := range s.mapping.columns() {
		ok, err := s.hasColumn(ctx, tc.table, tc.column)
		if err != nil {
			return classify(err, tc.table, "checking the mapping against the database")
		}
		if !ok {
			problems = append(problems, fmt.Sprintf("%s:%d: tables.%s: column %s.%s does not exist in the database",
				s.mapping.File, tc.line, tc.mappedBy, tc.table, tc.column))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	cut, err := s.checkPaths(ctx)
	if err != nil {
		return err
	}
	if len(cut) > 0 {
		return errors.New(strings.Join(cut, "\n"))
	}
	return nil
}

// hasColumn reports whether table has column. SQLite reads an unknown
// double-quoted name as a string literal instead of failing, so it is asked
// for its columns instead.
func (s *Source) hasColumn(ctx context.Context, table, column string) (bool, error) {
	if s.d.name == "sqlite" {
		var n int
		err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?", table, column).Scan(&n)
		return n == 1, err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT "+quote(column)+" FROM "+quote(table)+" WHERE 1 = 0")
	if err != nil {
		if retryable(classify(err, table, "")) {
			return false, err
		}
		return false, nil
	}
	return true, rows.Close()
}

// Config is the SDK configuration that serves this source: capabilities
// (request types, identities, categories) derived from the mapping, the
// job functions, the job-id store and the validator. The caller adds the
// signing secrets.
func (s *Source) Config() datasource.Config {
	cfg := datasource.Config{
		Identities: s.mapping.IdentityTypes(),
		Categories: s.mapping.Categories(),
		Store:      NewStore(s.db, s.d, s.opts.RetryAfter),
		Validate:   s.validate,
		// A purge of a large table can outlast the operator's timeout.
		AsyncTypes: []protocol.JobType{protocol.JobPurge},
		Delete:     s.job(s.deleteSubject),
	}
	// A type is served only where the mapping says how.
	for _, t := range s.mapping.Tables {
		if len(t.Access) > 0 {
			cfg.Access = s.access
		}
		if len(t.Correct) > 0 {
			cfg.Correct = s.job(s.correct)
		}
		if len(t.OptOut) > 0 {
			cfg.OptOut = s.job(s.optOut)
		}
		if t.Retention != nil {
			cfg.Purge = s.purge
		}
	}
	return cfg
}

// validate refuses, before anything runs, a job this mapping cannot serve.
func (s *Source) validate(job *protocol.Job) error {
	switch job.Type {
	case protocol.JobCorrect:
		if job.Subject == nil || len(job.Subject.Identities) == 0 {
			return errors.New("a Correct job needs a subject")
		}
		if len(job.Corrections) == 0 {
			return errors.New("a Correct job needs at least one correction")
		}
		for _, c := range job.Corrections {
			if len(s.correctable(c.Field)) == 0 {
				return fmt.Errorf("field %q may not be corrected here; correctable fields: %s", c.Field, strings.Join(s.correctableFields(), ", "))
			}
		}
	case protocol.JobPurge:
		if job.Purge == nil {
			return errors.New("a Purge job needs purge")
		}
	case protocol.JobAccess, protocol.JobDelete, protocol.JobOptOut:
		if job.Subject == nil || len(job.Subject.Identities) == 0 {
			return fmt.Errorf("a %s job needs a subject", job.Type)
		}
	}
	return nil
}

// correctable returns the tables a correction field applies to: "table.column"
// names one table; a bare column applies to every table that lists it.
func (s *Source) correctable(field string) []*Table {
	table, col, qualified := strings.Cut(field, ".")
	if !qualified {
		col = field
	}
	var out []*Table
	for _, t := range s.mapping.Tables {
		if (!qualified || t.Name == table) && slices.Contains(t.Correct, col) {
			out = append(out, t)
		}
	}
	return out
}

func (s *Source) correctableFields() []string {
	var out []string
	for _, t := range s.mapping.Tables {
		for _, c := range t.Correct {
			out = append(out, t.Name+"."+c)
		}
	}
	if len(out) == 0 {
		return []string{"(none)"}
	}
	return out
}

// effect is the part of a job that changes data, inside the job's
// transaction.
type effect func(ctx context.Context, tx *sql.Tx, job *protocol.Job) (datasource.Result, error)

// job runs an effect in one transaction together with the job's record:
// all or nothing, and once per job id even across restarts and replicas.
func (s *Source) job(fn effect) datasource.JobFunc {
	return func(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return datasource.Result{}, s.outcome(classify(err, "", "starting a transaction"))
		}
		defer func() { _ = tx.Rollback() }()
		if prior, err := recorded(ctx, tx, s.d, job.ID); err != nil || prior != nil {
			if err != nil {
				return datasource.Result{}, s.outcome(err)
			}
			return resultOf(prior), nil
		}
		res, err := fn(ctx, tx, job)
		if err != nil {
			return datasource.Result{}, s.outcome(err)
		}
		if err := record(ctx, tx, s.d, job, statusOf(job.ID, res)); err != nil {
			return datasource.Result{}, s.outcome(err)
		}
		if err := tx.Commit(); err != nil {
			return datasource.Result{}, s.outcome(classify(err, "", "committing"))
		}
		return res, nil
	}
}

// outcome turns a failure into what the SDK answers: 503 for what may pass,
// a permanent failure with a data-free message otherwise.
func (s *Source) outcome(err error) error {
	if retryable(err) {
		return datasource.Unavailable(err, s.opts.RetryAfter)
	}
	return datasource.Permanent(err.Error())
}
