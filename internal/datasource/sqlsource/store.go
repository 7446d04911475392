package sqlsource

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// Store is the SDK's job-id store on the database's JobsTable. A job that
// changes data writes its record in the transaction of its effects (see
// Source.job), so the record and the effects commit together; the store
// then answers retries from it. Which jobs are running is known only to
// this process: after a crash a job whose transaction did not commit has
// no record and simply runs again.
type Store struct {
	db         *sql.DB
	d          Dialect
	retryAfter time.Duration

	mu      sync.Mutex
	running map[string]bool
}

var _ datasource.Store = (*Store)(nil)

// NewStore returns the store on db's JobsTable. Its failures ask the
// operator to retry after retryAfter.
func NewStore(db *sql.DB, d Dialect, retryAfter time.Duration) *Store {
	return &Store{db: db, d: d, retryAfter: retryAfter, running: map[string]bool{}}
}

// unavailable makes a database failure a 503 with Retry-After.
func (s *Store) unavailable(err error) error {
	if err == nil {
		return nil
	}
	return datasource.Unavailable(err, s.retryAfter)
}

// storeTimeout bounds one Store operation: the SDK calls it without a
// context, and a hung database must become a 503, not a hung request.
const storeTimeout = 10 * time.Second

// Begin returns the recorded status of id, or marks it running.
func (s *Store) Begin(id string) (*protocol.JobStatus, bool, error) {
	return s.lookup(id, true)
}

// Finish records the final status of id. A status that carries the
// subject's data (an Access answer) is not kept: a copy of personal data
// in a side table would outlive a later Delete. A retried Access reads
// again, which changes nothing.
func (s *Store) Finish(id string, st protocol.JobStatus) error {
	defer s.Forget(id) //nolint:errcheck // never fails
	if st.Result != nil && len(st.Result.Data) > 0 {
		return nil
	}
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	q := newQuery(s.d)
	q.add("INSERT INTO ", quote(JobsTable), " (id, status, finished_unix) VALUES (", q.arg(id), ", ", q.arg(string(body)), ", ", q.arg(time.Now().Unix()),
		") ON CONFLICT (id) DO UPDATE SET status = excluded.status")
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	_, err = s.db.ExecContext(ctx, q.String(), q.args...)
	return s.unavailable(classify(err, JobsTable, "recording a job"))
}

// Forget drops the running mark of id. A record written with the job's
// effects stays: those effects happened.
func (s *Store) Forget(id string) error {
	s.mu.Lock()
	delete(s.running, id)
	s.mu.Unlock()
	return nil
}

// Get returns the recorded status of id, or running=true while it runs here.
func (s *Store) Get(id string) (*protocol.JobStatus, bool, error) {
	return s.lookup(id, false)
}

// lookup returns the recorded status of id, else whether it runs here;
// with mark, an id that does not run yet is marked running.
func (s *Store) lookup(id string, mark bool) (*protocol.JobStatus, bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), storeTimeout)
	defer cancel()
	st, err := recorded(ctx, s.db, s.d, id)
	if err != nil || st != nil {
		return st, false, s.unavailable(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	running := s.running[id]
	if mark && !running {
		s.running[id] = true
	}
	return nil, running, nil
}

// Prune removes records older than age; the operator never retries a job
// that long.
func (s *Store) Prune(ctx context.Context, age time.Duration) (int64, error) {
	q := newQuery(s.d)
	q.add("DELETE FROM ", quote(JobsTable), " WHERE finished_unix < ", q.arg(time.Now().Add(-age).Unix()))
	res, err := s.db.ExecContext(ctx, q.String(), q.args...)
	if err != nil {
		return 0, classify(err, JobsTable, "pruning job records")
	}
	return res.RowsAffected()
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// recorded returns the recorded status of a job, nil when there is none.
func recorded(ctx context.Context, db querier, d Dialect, id string) (*protocol.JobStatus, error) {
	q := newQuery(d)
	q.add("SELECT status FROM ", quote(JobsTable), " WHERE id = ", q.arg(id))
	var body string
	err := db.QueryRowContext(ctx, q.String(), q.args...).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, classify(err, JobsTable, "reading the job record")
	}
	st := &protocol.JobStatus{}
	if err := json.Unmarshal([]byte(body), st); err != nil {
		return nil, &dbError{table: JobsTable, doing: "reading the job record", code: "malformed record", err: err}
	}
	return st, nil
}

// record writes a job's record inside the transaction of its effects. Two
// replicas running the same job race here: the primary key lets one
// commit; the other fails, retries, and finds the record.
func record(ctx context.Context, tx querier, d Dialect, job *protocol.Job, st protocol.JobStatus) error {
	body, err := json.Marshal(st)
	if err != nil {
		return err
	}
	q := newQuery(d)
	q.add("INSERT INTO ", quote(JobsTable), " (id, status, finished_unix) VALUES (", q.arg(job.ID), ", ", q.arg(string(body)), ", ", q.arg(time.Now().Unix()), ")")
	if _, err := tx.ExecContext(ctx, q.String(), q.args...); err != nil {
		e := classify(err, JobsTable, "recording the job")
		// A unique violation means another replica applied the job: retry
		// and the record answers.
		var de *dbError
		if errors.As(e, &de) && (de.code == "SQLSTATE 23505" || de.code == "SQLite 1555" || de.code == "SQLite 2067") {
			de.retry = true
		}
		return e
	}
	return nil
}

func statusOf(id string, res datasource.Result) protocol.JobStatus {
	st := protocol.JobStatus{APIVersion: protocol.APIVersion, Kind: protocol.KindJobStatus, ID: id,
		Status: protocol.StatusCompleted, Message: res.Message, Result: &protocol.Result{Records: res.Records}}
	if res.NotFound {
		st.Status = protocol.StatusNotFound
	}
	return st
}

func resultOf(st *protocol.JobStatus) datasource.Result {
	res := datasource.Result{NotFound: st.Status == protocol.StatusNotFound, Message: st.Message}
	if st.Result != nil {
		res.Records = st.Result.Records
	}
	return res
}
