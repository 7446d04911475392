package sqlsource

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
)

// anonymize overwrites the anonymize columns of up to limit rows (all when
// limit < 0) that where selects and that still hold personal data, and
// returns how many it changed. Rows are addressed by their physical key
// and locked while read, then each is updated with its own values (a hash
// is computed here, keyed, rather than in SQL).
func (s *Source) anonymize(ctx context.Context, tx *sql.Tx, t *Table, where func(*query) bool, limit int) (int64, error) {
	cols := sortedKeys(t.Delete.Anonymize)
	var hashed []string
	for _, c := range cols {
		if t.Delete.Anonymize[c].Kind == "hash" {
			hashed = append(hashed, c)
		}
	}
	sel := s.anonymizeSelect(t, cols, hashed, where, limit)
	if sel == nil {
		return 0, nil
	}
	rows, err := readAnonRows(ctx, tx, sel, t.Name, len(hashed))
	if err != nil {
		return 0, err
	}
	for _, r := range rows {
		if err := s.anonymizeRow(ctx, tx, t, cols, r); err != nil {
			return 0, err
		}
	}
	return int64(len(rows)), nil
}

// anonymizeSelect selects, and locks, the key and the hashed columns of the
// rows where selects that still hold personal data; nil when where selects
// nothing.
func (s *Source) anonymizeSelect(t *Table, cols, hashed []string, where func(*query) bool, limit int) *query {
	sel := newQuery(s.d)
	sel.add("SELECT ", s.d.rowKey)
	for _, c := range hashed {
		sel.add(", ", quote(c))
	}
	sel.add(" FROM ", quote(t.Name), " WHERE ")
	if !where(sel) {
		return nil
	}
	sel.add(" AND (")
	for i, c := range cols {
		if i > 0 {
			sel.add(" OR ")
		}
		t.Delete.Anonymize[c].stillPersonal(sel, c)
	}
	sel.add(")")
	if limit >= 0 {
		sel.add(" LIMIT ", sel.arg(limit))
	}
	sel.add(s.d.forUpdate)
	return sel
}

// anonRow is a row to anonymize: its physical key and the old values of its
// hashed columns, in column order.
type anonRow struct {
	key    any
	hashed []sql.NullString
}

// readAnonRows reads every row sel selects before any is updated.
func readAnonRows(ctx context.Context, tx *sql.Tx, sel *query, table string, hashed int) ([]anonRow, error) {
	var rows []anonRow
	rs, err := tx.QueryContext(ctx, sel.String(), sel.args...)
	if err != nil {
		return nil, classify(err, table, "anonymizing")
	}
	for rs.Next() {
		r := anonRow{hashed: make([]sql.NullString, hashed)}
		dest := []any{&r.key}
		for i := range r.hashed {
			dest = append(dest, &r.hashed[i])
		}
		if err := rs.Scan(dest...); err != nil {
			_ = rs.Close()
			return nil, classify(err, table, "anonymizing")
		}
		rows = append(rows, r)
	}
	_ = rs.Close()
	if err := rs.Err(); err != nil {
		return nil, classify(err, table, "anonymizing")
	}
	return rows, nil
}

// anonymizeRow overwrites the anonymize columns of one row, addressed by
// its physical key. A row that is no longer there fails the whole batch as
// retryable rather than counting a change that did not happen.
func (s *Source) anonymizeRow(ctx context.Context, tx *sql.Tx, t *Table, cols []string, r anonRow) error {
	q := newQuery(s.d)
	q.add("UPDATE ", quote(t.Name), " SET ")
	h := 0
	for i, c := range cols {
		if i > 0 {
			q.add(", ")
		}
		a := t.Delete.Anonymize[c]
		var old sql.NullString
		if a.Kind == "hash" {
			old = r.hashed[h]
			h++
		}
		q.add(quote(c), " = ", q.arg(s.anonymized(a, old)))
	}
	q.add(" WHERE ", s.d.rowKey, " = ", q.arg(r.key))
	n, err := execCount(ctx, tx, q, t.Name, "anonymizing")
	if err != nil {
		return err
	}
	if n != 1 {
		return &dbError{table: t.Name, doing: "anonymizing", code: "row moved during the update", retry: true, err: errors.New("row moved")}
	}
	return nil
}

// stillPersonal writes the condition "column c still holds what a has not
// yet overwritten". NULL counts as anonymous, so the condition is false for
// it; a hash is recognised by its prefix, so nothing is hashed twice.
func (a Anonymization) stillPersonal(q *query, c string) {
	switch a.Kind {
	case "null":
		q.add(quote(c), " IS NOT NULL")
	case "fixed":
		q.add(quote(c), " <> ", q.arg(a.Value))
	case "hash":
		q.add("CAST(", quote(c), " AS TEXT) NOT LIKE ", q.arg(hashPrefix+"%"))
	}
}

// anonymized is the value a writes over old (old is read only for hash).
func (s *Source) anonymized(a Anonymization, old sql.NullString) any {
	switch a.Kind {
	case "fixed":
		return a.Value
	case "hash":
		if old.Valid {
			return s.hash(old.String)
		}
	}
	return nil
}

// hash is what "hash" anonymization writes: a keyed hash, prefixed so that
// a hashed value is recognisably anonymized and never hashed again.
func (s *Source) hash(v string) string {
	m := hmac.New(sha256.New, s.opts.HashKey)
	m.Write([]byte(v))
	return hashPrefix + hex.EncodeToString(m.Sum(nil))[:32]
}

const hashPrefix = "anon:"
