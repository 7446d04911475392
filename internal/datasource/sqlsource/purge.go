package sqlsource

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// purge removes or anonymizes the rows of the job's categories older than
// its cutoff, table by table (children first), in transactions of at most
// PurgeBatch rows: a large table is never locked for long, and other
// writers get their turn between batches. A purge that stops halfway (an
// outage, a cancel) keeps what it did; the retry finds only the rest.
func (s *Source) purge(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
	p := job.Purge
	var before any = p.Before
	if s.d.name == "sqlite" {
		before = p.Before.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	var total int64
	var done, skipped []string
	for _, t := range s.childrenFirst() {
		if t.Retention == nil || !slices.Contains(p.Categories, t.Retention.Category) {
			continue
		}
		expired := func(q *query) bool {
			q.add(s.d.olderThan(t.Retention.Timestamp, q.arg(before)))
			return true
		}
		anonymize := t.Delete.Mode == "anonymize"
		if p.Action == protocol.PurgeAnonymize && !anonymize {
			// Deleting is not what was asked, and anonymizing needs columns
			// the mapping does not name.
			skipped = append(skipped, t.Name)
			continue
		}
		var n int64
		var err error
		if anonymize {
			n, err = s.purgeBatches(ctx, t, func(ctx context.Context, tx *sql.Tx) (int64, error) {
				return s.anonymize(ctx, tx, t, expired, s.opts.PurgeBatch)
			})
		} else {
			n, err = s.purgeBatches(ctx, t, func(ctx context.Context, tx *sql.Tx) (int64, error) {
				inner := newQuery(s.d)
				inner.add("SELECT ", s.d.rowKey, " FROM ", quote(t.Name), " WHERE ")
				expired(inner)
				inner.add(" LIMIT ", inner.arg(s.opts.PurgeBatch))
				q := &query{d: s.d, args: inner.args}
				q.add("DELETE FROM ", quote(t.Name), " WHERE ", s.d.inBatch(inner.String()))
				return execCount(ctx, tx, q, t.Name, "purging")
			})
		}
		total += n
		if err != nil {
			if total > 0 {
				err = fmt.Errorf("%w (after %d rows were purged)", err, total)
			}
			return datasource.Result{}, s.outcome(err)
		}
		if n > 0 {
			done = append(done, fmt.Sprintf("%s %d", t.Name, n))
		}
	}
	msg := "nothing expired"
	if len(done) > 0 {
		msg = "purged: " + strings.Join(done, ", ")
	}
	if len(skipped) > 0 {
		msg += "; not anonymized (the mapping names no anonymize columns): " + strings.Join(skipped, ", ")
	}
	return datasource.Result{Records: total, Message: msg}, nil
}

// purgeBatches runs batch in its own transaction until a batch changes
// fewer than PurgeBatch rows.
func (s *Source) purgeBatches(ctx context.Context, t *Table, batch func(context.Context, *sql.Tx) (int64, error)) (int64, error) {
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, classify(err, t.Name, "purging")
		}
		start := time.Now()
		tx, err := s.db.BeginTx(ctx, nil)
		if err != nil {
			return total, classify(err, t.Name, "purging")
		}
		n, err := batch(ctx, tx)
		if err == nil {
			err = classify(tx.Commit(), t.Name, "purging")
		}
		if err != nil {
			_ = tx.Rollback()
			return total, err
		}
		if s.opts.OnBatch != nil {
			s.opts.OnBatch(t.Name, n, time.Since(start))
		}
		total += n
		if n < int64(s.opts.PurgeBatch) {
			return total, nil
		}
	}
}
