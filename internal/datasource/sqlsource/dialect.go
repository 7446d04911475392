package sqlsource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Dialect is what differs between PostgreSQL and SQLite in the statements
// the source writes. Open returns the one a DSN names.
type Dialect struct {
	name string
	// numbered placeholders ($1, $2) rather than ?.
	numbered bool
	// rowKey addresses one physical row: ctid or rowid.
	rowKey string
	// forUpdate locks the rows a batch reads (SQLite locks the database
	// for the whole write transaction anyway).
	forUpdate string
}

var (
	postgres = Dialect{name: "postgres", numbered: true, rowKey: "ctid", forUpdate: " FOR UPDATE"}
	sqliteDB = Dialect{name: "sqlite", rowKey: "rowid"}
)

func (d Dialect) String() string { return d.name }

// quote quotes an identifier. Mapping validation already allows only plain
// identifiers; quoting keeps reserved words (such as "order") working.
func quote(ident string) string { return `"` + ident + `"` }

// olderThan is the condition "column holds a time before the argument".
// SQLite has no time type: timestamps are ISO-8601 text, which julianday
// reads in all its forms ("2024-01-02 03:04:05", "2024-01-02T03:04:05Z").
func (d Dialect) olderThan(column, arg string) string {
	if d.name == "sqlite" {
		return "julianday(" + quote(column) + ") < julianday(" + arg + ")"
	}
	return quote(column) + " < " + arg
}

// inBatch restricts a statement on table to the rows whose keys the
// subquery selects. PostgreSQL needs = ANY(ARRAY(...)) to address them by
// ctid without scanning the table.
func (d Dialect) inBatch(subquery string) string {
	if d.name == "postgres" {
		return d.rowKey + " = ANY(ARRAY(" + subquery + "))"
	}
	return d.rowKey + " IN (" + subquery + ")"
}

// Open opens the database a DSN names: postgres:// or postgresql:// for
// PostgreSQL, sqlite:<path> or file:<path> for SQLite.
func Open(dsn string) (*sql.DB, Dialect, error) {
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db, err := sql.Open("pgx", dsn)
		return db, postgres, err
	case strings.HasPrefix(dsn, "sqlite:"), strings.HasPrefix(dsn, "file:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if !strings.HasPrefix(path, "file:") {
			path = "file:" + path
		}
		// Writers wait for each other instead of failing at once, and
		// readers do not block writers.
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_txlock=immediate"
		db, err := sql.Open("sqlite", path)
		return db, sqliteDB, err
	default:
		return nil, Dialect{}, errors.New("unsupported DSN: use postgres://..., postgresql://..., sqlite:<path> or file:<path>")
	}
}

// dbError is a database failure in words that carry no data: the table,
// what was being done, and the database's error code. Database messages can
// quote values (PostgreSQL's "invalid input syntax for type integer: ..."),
// so they are never passed on.
type dbError struct {
	table, doing, code string
	// retry: an outage, a lock or a conflict that may pass.
	retry bool
	err   error
}

func (e *dbError) Error() string {
	where := ""
	if e.table != "" {
		where = " on table " + e.table
	}
	if e.code == "" {
		return fmt.Sprintf("%s%s failed: database unavailable", e.doing, where)
	}
	msg := fmt.Sprintf("%s%s failed: database error %s", e.doing, where, e.code)
	if hint := hints[e.code]; hint != "" {
		msg += " (" + hint + ")"
	}
	return msg
}

// hints explain the failures a mapping or its data most often meet.
var hints = map[string]string{
	"SQLSTATE 22P02": "a value does not fit the column's type",
	"SQLSTATE 22007": "a value does not fit the column's type",
	"SQLSTATE 23503": "rows of another table still reference these rows",
	"SQLSTATE 23505": "a unique column would hold the same value twice",
	"SQLSTATE 23502": "a column that may not be NULL would be NULL",
	"SQLSTATE 42703": "a mapped column does not exist",
	"SQLSTATE 42P01": "a mapped table does not exist",
	"SQLite 787":     "rows of another table still reference these rows",
	"SQLite 2067":    "a unique column would hold the same value twice",
	"SQLite 1555":    "a unique column would hold the same value twice",
	"SQLite 1299":    "a column that may not be NULL would be NULL",
}

func (e *dbError) Unwrap() error { return e.err }

// classify wraps err as a dbError. Only errors the database itself reports
// about the statement are permanent; everything else (a refused
// connection, a timeout, a dropped session, a lock) is worth a retry.
func classify(err error, table, doing string) error {
	if err == nil {
		return nil
	}
	e := &dbError{table: table, doing: doing, retry: true, err: err}
	var pgErr *pgconn.PgError
	var liteErr *sqlite.Error
	switch {
	case errors.Is(err, context.Canceled):
		e.retry = true
	case errors.As(err, &pgErr):
		e.code = "SQLSTATE " + pgErr.Code
		class := pgErr.Code[:2]
		// 08 connection, 53 resources, 57 operator intervention (shutdown),
		// 40 serialization failure or deadlock, 55P03 lock not available.
		e.retry = class == "08" || class == "53" || class == "57" || class == "40" || pgErr.Code == "55P03"
	case errors.As(err, &liteErr):
		code := liteErr.Code()
		e.code = "SQLite " + strconv.Itoa(code)
		switch code & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_NOMEM:
			e.retry = true
		default:
			e.retry = false
		}
	}
	return e
}

// IsDatabaseUnavailable reports whether err is a database failure that may
// pass (an outage, a lock), as opposed to a mistake that will not.
func IsDatabaseUnavailable(err error) bool {
	var e *dbError
	return errors.As(err, &e) && e.retry
}

// retryable reports whether err is worth a retry.
func retryable(err error) bool {
	var e *dbError
	if errors.As(err, &e) {
		return e.retry
	}
	return true
}
