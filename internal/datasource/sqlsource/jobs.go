package sqlsource

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// access returns, per table with access columns, the subject's rows. It
// changes nothing, so it needs no record: a retry reads again.
func (s *Source) access(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: s.d.name == "postgres"})
	if err != nil {
		return datasource.Result{}, s.outcome(classify(err, "", "starting a transaction"))
	}
	defer func() { _ = tx.Rollback() }()
	data := map[string][]map[string]any{}
	var records int64
	for _, t := range s.mapping.Tables {
		if len(t.Access) == 0 {
			continue
		}
		q := newQuery(s.d)
		q.add("SELECT ", quoteAll(t.Access), " FROM ", quote(t.Name), " WHERE ")
		if !s.subject(q, t, job.Subject.Identities) {
			continue
		}
		rows, err := s.readRows(ctx, tx, q, t)
		if err != nil {
			return datasource.Result{}, s.outcome(err)
		}
		if len(rows) > 0 {
			data[t.Name] = rows
			records += int64(len(rows))
		}
	}
	if records == 0 {
		return datasource.Result{NotFound: true}, nil
	}
	return datasource.Result{Records: records, Data: data, Message: fmt.Sprintf("%d rows from %d tables", records, len(data))}, nil
}

func (s *Source) readRows(ctx context.Context, tx *sql.Tx, q *query, t *Table) ([]map[string]any, error) {
	rows, err := tx.QueryContext(ctx, q.String(), q.args...)
	if err != nil {
		return nil, classify(err, t.Name, "reading")
	}
	defer rows.Close()
	var out []map[string]any
	for rows.Next() {
		vals := make([]any, len(t.Access))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, classify(err, t.Name, "reading")
		}
		row := make(map[string]any, len(vals))
		for i, col := range t.Access {
			if b, ok := vals[i].([]byte); ok {
				vals[i] = string(b)
			}
			row[col] = vals[i]
		}
		out = append(out, row)
	}
	return out, classify(rows.Err(), t.Name, "reading")
}

// deleteSubject removes the subject's rows, or anonymizes them in tables
// that must keep their rows, children before the tables they join to.
func (s *Source) deleteSubject(ctx context.Context, tx *sql.Tx, job *protocol.Job) (datasource.Result, error) {
	var total int64
	var done []string
	for _, t := range s.childrenFirst() {
		var n int64
		var err error
		if t.Delete.Mode == "anonymize" {
			n, err = s.anonymize(ctx, tx, t, func(q *query) bool { return s.subject(q, t, job.Subject.Identities) }, -1)
		} else {
			q := newQuery(s.d)
			q.add("DELETE FROM ", quote(t.Name), " WHERE ")
			if !s.subject(q, t, job.Subject.Identities) {
				continue
			}
			n, err = execCount(ctx, tx, q, t.Name, "deleting")
		}
		if err != nil {
			return datasource.Result{}, err
		}
		if n > 0 {
			total += n
			done = append(done, fmt.Sprintf("%s %d", t.Name, n))
		}
	}
	if total == 0 {
		return datasource.Result{NotFound: true}, nil
	}
	return datasource.Result{Records: total, Message: "deleted or anonymized: " + strings.Join(done, ", ")}, nil
}

// correct sets the corrected columns, one statement per table so that a
// corrected identity column does not hide the table's other corrections,
// and children before the tables they join to.
func (s *Source) correct(ctx context.Context, tx *sql.Tx, job *protocol.Job) (datasource.Result, error) {
	sets := map[string]map[string]string{} // table -> column -> value
	for _, c := range job.Corrections {
		col := c.Field
		if _, after, ok := strings.Cut(c.Field, "."); ok {
			col = after
		}
		for _, t := range s.correctable(c.Field) {
			if sets[t.Name] == nil {
				sets[t.Name] = map[string]string{}
			}
			sets[t.Name][col] = c.Value
		}
	}
	var total int64
	for _, t := range s.childrenFirst() {
		cols := sortedKeys(sets[t.Name])
		if len(cols) == 0 {
			continue
		}
		q := newQuery(s.d)
		q.add("UPDATE ", quote(t.Name), " SET ")
		for i, col := range cols {
			if i > 0 {
				q.add(", ")
			}
			q.add(quote(col), " = ", q.arg(sets[t.Name][col]))
		}
		q.add(" WHERE ")
		if !s.subject(q, t, job.Subject.Identities) {
			continue
		}
		n, err := execCount(ctx, tx, q, t.Name, "correcting")
		if err != nil {
			return datasource.Result{}, err
		}
		total += n
	}
	if total == 0 {
		return datasource.Result{NotFound: true}, nil
	}
	return datasource.Result{Records: total, Message: fmt.Sprintf("%d rows corrected", total)}, nil
}

// optOut records each mapped scope's opt-out on the subject's rows. Rows
// already opted out are left alone, so a repeat changes nothing and
// reports 0.
func (s *Source) optOut(ctx context.Context, tx *sql.Tx, job *protocol.Job) (datasource.Result, error) {
	var scopes []string
	if job.OptOut != nil {
		scopes = job.OptOut.Scopes
	}
	var total, found int64
	var mapped, unmapped []string
	for _, scope := range scopes {
		applied := false
		for _, t := range s.childrenFirst() {
			rule, ok := t.OptOut[scope]
			if !ok {
				continue
			}
			applied = true
			count := newQuery(s.d)
			count.add("SELECT COUNT(*) FROM ", quote(t.Name), " WHERE ")
			if !s.subject(count, t, job.Subject.Identities) {
				continue
			}
			var n int64
			if err := tx.QueryRowContext(ctx, count.String(), count.args...).Scan(&n); err != nil {
				return datasource.Result{}, classify(err, t.Name, "opting out")
			}
			found += n
			q := newQuery(s.d)
			v := q.arg(rule.Value)
			q.add("UPDATE ", quote(t.Name), " SET ", quote(rule.Column), " = ", v, " WHERE (", quote(rule.Column), " IS NULL OR ", quote(rule.Column), " <> ", q.arg(rule.Value), ") AND ")
			s.subject(q, t, job.Subject.Identities)
			changed, err := execCount(ctx, tx, q, t.Name, "opting out")
			if err != nil {
				return datasource.Result{}, err
			}
			total += changed
		}
		if applied {
			mapped = append(mapped, scope)
		} else {
			unmapped = append(unmapped, scope)
		}
	}
	if len(mapped) > 0 && found == 0 {
		return datasource.Result{NotFound: true}, nil
	}
	sort.Strings(unmapped)
	msg := fmt.Sprintf("opted out of %s: %d rows changed", strings.Join(mapped, ", "), total)
	if len(mapped) == 0 {
		msg = "no scope is mapped here"
	}
	if len(unmapped) > 0 {
		msg += "; not mapped here: " + strings.Join(unmapped, ", ")
	}
	return datasource.Result{Records: total, Message: msg}, nil
}

func execCount(ctx context.Context, tx *sql.Tx, q *query, table, doing string) (int64, error) {
	res, err := tx.ExecContext(ctx, q.String(), q.args...)
	if err != nil {
		return 0, classify(err, table, doing)
	}
	n, err := res.RowsAffected()
	return n, classify(err, table, doing)
}

func quoteAll(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quote(c)
	}
	return strings.Join(q, ", ")
}
