package sqlsource

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

func TestAccessReturnsTheSubjectsRowsAcrossJoins(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		res := f.mustRun(t, subjectJob("access-1", protocol.JobAccess, ada))
		data := res.Data.(map[string][]map[string]any)
		if len(data["users"]) != 1 || len(data["orders"]) != 2 || len(data["invoices"]) != 1 || len(data["newsletter"]) != 1 {
			t.Fatalf("rows per table = users %d, orders %d, invoices %d, newsletter %d; want 1, 2, 1, 1",
				len(data["users"]), len(data["orders"]), len(data["invoices"]), len(data["newsletter"]))
		}
		if res.Records != 5 {
			t.Errorf("records = %d, want 5", res.Records)
		}
		if data["users"][0]["email"] != "ada@example.com" || data["invoices"][0]["billing_name"] != "Ada Lovelace" {
			t.Errorf("rows = %v", data)
		}
		if _, ok := data["users"][0]["last_seen_at"]; ok {
			t.Error("a column outside access was returned")
		}
		raw, _ := json.Marshal(res.Data)
		if strings.Contains(string(raw), "bob") || strings.Contains(string(raw), "Bob") {
			t.Errorf("another person's data was returned: %s", raw)
		}
		// Found by another identity type: the same person.
		if res := f.mustRun(t, subjectJob("access-2", protocol.JobAccess, map[string]string{"userId": "1"})); res.Records != 3 {
			t.Errorf("by userId: records = %d, want 3 (users, orders; invoices are found by e-mail)", res.Records)
		}
		if res := f.mustRun(t, subjectJob("access-3", protocol.JobAccess, map[string]string{"email": "nobody@example.com"})); !res.NotFound {
			t.Errorf("unknown person: %+v, want NotFound", res)
		}
		if res := f.mustRun(t, subjectJob("access-4", protocol.JobAccess, map[string]string{"phone": "+44 1"})); !res.NotFound {
			t.Errorf("an identity type no table has must match nothing, got %+v", res)
		}
	})
}

func TestDeleteRemovesOrAnonymizesAndRunsOncePerJobID(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		res := f.mustRun(t, subjectJob("delete-1", protocol.JobDelete, ada))
		// users 1, orders 2, newsletter 1 deleted; invoices 1 anonymized.
		if res.Records != 5 || res.NotFound {
			t.Fatalf("result = %+v, want 5 records", res)
		}
		if n := f.count(t, "users WHERE email = ?", "ada@example.com"); n != 0 {
			t.Errorf("ada's user row survived")
		}
		if n := f.count(t, "orders WHERE user_id = 1"); n != 0 {
			t.Errorf("%d of ada's orders survived", n)
		}
		if n := f.count(t, "newsletter WHERE address = ?", "ada@example.com"); n != 0 {
			t.Errorf("ada's newsletter row survived")
		}
		if n := f.count(t, "invoices WHERE id = 100"); n != 1 {
			t.Fatalf("the invoice, which must be kept, was deleted")
		}
		name := f.str(t, "SELECT billing_name FROM invoices WHERE id = 100")
		if !strings.HasPrefix(name.String, hashPrefix) || strings.Contains(name.String, "Ada") {
			t.Errorf("billing_name = %q, want a keyed hash", name.String)
		}
		if email := f.str(t, "SELECT billing_email FROM invoices WHERE id = 100"); email.Valid {
			t.Errorf("billing_email = %q, want NULL", email.String)
		}
		if note := f.str(t, "SELECT note FROM invoices WHERE id = 100"); note.String != "REDACTED" {
			t.Errorf("note = %q, want REDACTED", note.String)
		}
		if f.count(t, "users WHERE id = 2")+f.count(t, "orders WHERE user_id = 2")+f.count(t, "invoices WHERE billing_name = 'Bob'")+f.count(t, "newsletter WHERE address = 'bob@example.com'") != 4 {
			t.Error("another person's rows were touched")
		}

		// A new row for ada appears; a retry of the same job id is answered
		// from the job record and does not touch it, also from a new
		// process (a new Source and Store on the same database).
		f.exec(t, "INSERT INTO users (id, email, name) VALUES (3, 'ada@example.com', 'Ada again')")
		again := New(f.db, f.d, f.mapped, Options{HashKey: []byte("test-key")})
		final, running, err := again.Config().Store.Begin("delete-1")
		if err != nil || running || final == nil {
			t.Fatalf("store after restart: final %v, running %v, err %v; want the recorded status", final, running, err)
		}
		res2 := f.mustRun(t, subjectJob("delete-1", protocol.JobDelete, ada))
		if res2.Records != 5 {
			t.Errorf("retry result = %+v, want the first answer (5 records)", res2)
		}
		if n := f.count(t, "users WHERE id = 3"); n != 1 {
			t.Error("a retry of a finished job deleted again")
		}
		// A new job for the same person finds the new row, and the
		// anonymized invoice is not hashed twice.
		res3 := f.mustRun(t, subjectJob("delete-2", protocol.JobDelete, ada))
		if res3.Records != 1 {
			t.Errorf("second delete: %+v, want 1 record (the new user row)", res3)
		}
		if after := f.str(t, "SELECT billing_name FROM invoices WHERE id = 100"); after != name {
			t.Errorf("an anonymized value was changed again: %q -> %q", name.String, after.String)
		}
		if res := f.mustRun(t, subjectJob("delete-3", protocol.JobDelete, ada)); !res.NotFound {
			t.Errorf("delete of a person no longer held: %+v, want NotFound", res)
		}
	})
}

func TestDeleteIsAllOrNothing(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		// An unmapped table that still points at ada's user row makes the
		// statement deleting users fail after orders and invoices were
		// already changed in the same transaction.
		f.exec(t, "CREATE TABLE legal_holds (user_id INTEGER NOT NULL REFERENCES users(id))")
		f.exec(t, "INSERT INTO legal_holds (user_id) VALUES (1)")
		_, err := f.run(t, subjectJob("delete-held", protocol.JobDelete, ada))
		if err == nil {
			t.Fatal("delete succeeded although a foreign key forbids it")
		}
		if !datasource.IsPermanent(err) || !strings.Contains(err.Error(), "deleting on table users failed") ||
			!strings.Contains(err.Error(), "rows of another table still reference these rows") || strings.Contains(err.Error(), "ada@") {
			t.Errorf("error = %q, want a permanent failure naming the table and no personal data", err)
		}
		if f.count(t, "orders WHERE user_id = 1") != 2 || f.count(t, "newsletter WHERE address = 'ada@example.com'") != 1 {
			t.Error("rows deleted before the failing statement were not rolled back")
		}
		if name := f.str(t, "SELECT billing_name FROM invoices WHERE id = 100"); name.String != "Ada Lovelace" {
			t.Errorf("anonymization was not rolled back: billing_name = %q", name.String)
		}
		if st, _, _ := f.src.Config().Store.Get("delete-held"); st != nil {
			t.Error("a failed transaction left a job record")
		}
	})
}

func TestCorrectChangesOnlyMappedColumns(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		// Correcting the email (an identity column) and the name in one
		// job: both land, because a table is updated in one statement.
		job := subjectJob("correct-1", protocol.JobCorrect, ada)
		job.Corrections = []protocol.Correction{{Field: "email", Value: "ada@lovelace.example"}, {Field: "name", Value: "Augusta Ada King"},
			{Field: "orders.shipping_address", Value: "12 St James's Square"}}
		res := f.mustRun(t, job)
		if res.Records != 3 {
			t.Errorf("records = %d, want 3 (1 user row, 2 orders)", res.Records)
		}
		if got := f.str(t, "SELECT name FROM users WHERE id = 1"); got.String != "Augusta Ada King" {
			t.Errorf("name = %q", got.String)
		}
		if got := f.str(t, "SELECT email FROM users WHERE id = 1"); got.String != "ada@lovelace.example" {
			t.Errorf("email = %q", got.String)
		}
		if n := f.count(t, "orders WHERE shipping_address = ?", "12 St James's Square"); n != 2 {
			t.Errorf("%d orders corrected, want 2 (the order rows are found before their user's email changes)", n)
		}

		// Over HTTP, as the operator sends it: an unmapped column is refused
		// with a 4xx and nothing changes.
		op := serve(t, f.src)
		bad := subjectJob("correct-2", protocol.JobCorrect, map[string]string{"email": "ada@lovelace.example"})
		bad.Corrections = []protocol.Correction{{Field: "name", Value: "Mallory"}, {Field: "users.last_seen_at", Value: "2000-01-01"}}
		resp, body := op.post(t, bad)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), `field \"users.last_seen_at\" may not be corrected here`) {
			t.Fatalf("unmapped column answered %d %s, want 422 naming the field", resp.StatusCode, body)
		}
		if got := f.str(t, "SELECT name FROM users WHERE id = 1"); got.String != "Augusta Ada King" {
			t.Errorf("a refused job changed data: name = %q", got.String)
		}

		// A Correct job without a subject is refused with 422 as the docs
		// promise (it used to crash the handler with a nil pointer).
		orphan := subjectJob("correct-3", protocol.JobCorrect, nil)
		orphan.Subject = nil
		orphan.Corrections = []protocol.Correction{{Field: "name", Value: "Mallory"}}
		resp, body = op.post(t, orphan)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(string(body), "needs a subject") {
			t.Fatalf("Correct without subject answered %d %s, want 422", resp.StatusCode, body)
		}
	})
}

func TestOptOutIsIdempotent(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		job := subjectJob("optout-1", protocol.JobOptOut, ada)
		job.OptOut = &protocol.OptOut{Scopes: []string{"email-marketing", "sms-marketing"}}
		res := f.mustRun(t, job)
		if res.Records != 1 || !strings.Contains(res.Message, "not mapped here: sms-marketing") {
			t.Errorf("first opt-out: %+v, want 1 record and the unmapped scope named", res)
		}
		if n := f.count(t, "newsletter WHERE address = 'ada@example.com' AND subscribed = ?", false); n != 1 {
			t.Error("the opt-out was not recorded")
		}
		job.ID = "optout-2"
		if res := f.mustRun(t, job); res.Records != 0 || res.NotFound {
			t.Errorf("repeat: %+v, want Completed with 0 records changed", res)
		}
		if n := f.count(t, "newsletter WHERE subscribed = ?", true); n != 1 {
			t.Error("another person's subscription changed")
		}
		nobody := subjectJob("optout-3", protocol.JobOptOut, map[string]string{"email": "nobody@example.com"})
		nobody.OptOut = job.OptOut
		if res := f.mustRun(t, nobody); !res.NotFound {
			t.Errorf("unknown person: %+v, want NotFound", res)
		}
	})
}

func TestInjectionAttemptsAreInert(t *testing.T) {
	attacks := []string{
		"' OR '1'='1",
		"ada@example.com' OR 1=1 --",
		"x'); DROP TABLE users; --",
		`" OR ""="`,
		"1 OR 1=1",
	}
	eachDB(t, func(t *testing.T, f *fixture) {
		for i, a := range attacks {
			ids := map[string]string{"email": a, "userId": a}
			for _, typ := range []protocol.JobType{protocol.JobAccess, protocol.JobDelete} {
				res, err := f.run(t, subjectJob("inj-"+string(typ)+a, typ, ids))
				switch {
				case err != nil && f.d.name == "postgres" && strings.Contains(err.Error(), "a value does not fit the column's type"):
					// PostgreSQL refuses a text as an integer id: a failure
					// of the job, not an effect.
				case err != nil:
					t.Errorf("%s with %q: %v", typ, a, err)
				case !res.NotFound:
					t.Errorf("%s with %q matched %d rows", typ, a, res.Records)
				}
			}
			job := subjectJob("inj-correct-"+a, protocol.JobCorrect, map[string]string{"email": "bob@example.com"})
			job.Corrections = []protocol.Correction{{Field: "name", Value: a}}
			f.mustRun(t, job)
			if got := f.str(t, "SELECT name FROM users WHERE id = 2"); got.String != a {
				t.Errorf("attempt %d: the correction was not stored literally: %q", i, got.String)
			}
		}
		if f.count(t, "users") != 2 || f.count(t, "orders") != 3 || f.count(t, "invoices") != 2 || f.count(t, "newsletter") != 2 {
			t.Error("rows disappeared")
		}
	})
}

func TestPurgeDeletesAndAnonymizesExpiredRows(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		job := &protocol.Job{ID: "purge-1", Type: protocol.JobPurge,
			Purge: &protocol.Purge{Categories: []string{"usage", "billing"}, Before: f.now.AddDate(-1, 0, 0), Action: protocol.PurgeDelete}}
		res := f.mustRun(t, job)
		// order 10 is two years old: deleted; invoice 100 too: anonymized.
		if res.Records != 2 {
			t.Errorf("records = %d (%s), want 2", res.Records, res.Message)
		}
		if f.count(t, "orders WHERE id = 10") != 0 || f.count(t, "orders") != 2 {
			t.Error("the expired order was not the only one deleted")
		}
		if name := f.str(t, "SELECT billing_name FROM invoices WHERE id = 100"); !strings.HasPrefix(name.String, hashPrefix) {
			t.Errorf("expired invoice not anonymized: %q", name.String)
		}
		if f.count(t, "users") != 2 {
			t.Error("a category that was not asked for (contact) was purged")
		}
		job.ID = "purge-2"
		if res := f.mustRun(t, job); res.Records != 0 {
			t.Errorf("second purge: %+v, want nothing left to purge", res)
		}
		// Anonymize on a table that can only delete: left alone and said so.
		anon := &protocol.Job{ID: "purge-3", Type: protocol.JobPurge,
			Purge: &protocol.Purge{Categories: []string{"contact"}, Before: f.now, Action: protocol.PurgeAnonymize}}
		if res := f.mustRun(t, anon); res.Records != 0 || !strings.Contains(res.Message, "not anonymized (the mapping names no anonymize columns): users") {
			t.Errorf("anonymize purge of a delete-only table: %+v", res)
		}
		if f.count(t, "users") != 2 {
			t.Error("an Anonymize purge deleted rows")
		}
	})
}

// TestPurgeOf100kRowsIsBatched: 100k expired rows are purged in
// transactions of at most PurgeBatch rows each, so locks are held for one
// batch at a time, and rows that have not expired stay.
func TestPurgeOf100kRowsIsBatched(t *testing.T) {
	if testing.Short() {
		t.Skip("seeds 100k rows")
	}
	const rows, batch, kept = 100_000, 2_000, 500
	// Generous: a batch takes milliseconds; a whole-table statement on
	// this machine takes seconds on PostgreSQL and locks SQLite throughout.
	const maxLock = 3 * time.Second
	eachDB(t, func(t *testing.T, f *fixture) {
		seedOrders(t, f, rows, kept)
		var batches []int64
		var longest time.Duration
		f.src.opts.PurgeBatch = batch
		f.src.opts.OnBatch = func(table string, n int64, took time.Duration) {
			batches = append(batches, n)
			longest = max(longest, took)
		}
		job := &protocol.Job{ID: "purge-big", Type: protocol.JobPurge,
			Purge: &protocol.Purge{Categories: []string{"usage"}, Before: f.now.AddDate(-1, 0, 0), Action: protocol.PurgeDelete}}
		res := f.mustRun(t, job)
		// The fixture's own two-year-old order expires too.
		if res.Records != rows+1 {
			t.Fatalf("purged %d rows, want %d", res.Records, rows+1)
		}
		if len(batches) < rows/batch {
			t.Errorf("%d transactions, want at least %d", len(batches), rows/batch)
		}
		for i, n := range batches {
			if n > batch {
				t.Fatalf("transaction %d changed %d rows, more than the batch of %d", i, n, batch)
			}
		}
		if longest > maxLock {
			t.Errorf("the longest purge transaction took %v, over the bound of %v", longest, maxLock)
		}
		if n := f.count(t, "orders"); n != kept+2 {
			t.Errorf("%d orders left, want the %d recent ones", n, kept+2)
		}
		t.Logf("%s: %d rows in %d transactions, longest %v", f.d.name, res.Records, len(batches), longest)
	})
}

// seedOrders adds n expired orders and kept recent ones for user 2.
func seedOrders(t testing.TB, f *fixture, n, kept int) {
	old, recent := f.now.AddDate(-3, 0, 0), f.now
	if f.d.name == "postgres" {
		f.exec(t, "INSERT INTO orders (id, user_id, total, shipping_address, created_at) SELECT 1000 + g, 2, g, 'addr', ? FROM generate_series(1, CAST(? AS INTEGER)) g", old, n)
		f.exec(t, "INSERT INTO orders (id, user_id, total, shipping_address, created_at) SELECT 1000 + g, 2, g, 'addr', ? FROM generate_series(CAST(? AS INTEGER), CAST(? AS INTEGER)) g", recent, n+1, n+kept)
		return
	}
	f.exec(t, `INSERT INTO orders (id, user_id, total, shipping_address, created_at)
		WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < ?)
		SELECT 1000 + x, 2, x, 'addr', CASE WHEN x <= ? THEN ? ELSE ? END FROM g`, n+kept, n, f.ts(old), f.ts(recent))
}

func TestDatabaseOutageAnswers503(t *testing.T) {
	m, err := ParseMapping("mapping.yaml", []byte(testMapping))
	if err != nil {
		t.Fatal(err)
	}
	for name, dsn := range map[string]string{
		// Nothing listens on port 1 of loopback: connection refused.
		"postgres": "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
		// A database file in a directory that does not exist cannot open.
		"sqlite": "sqlite:" + filepath.Join(t.TempDir(), "missing", "shop.db"),
	} {
		t.Run(name, func(t *testing.T) {
			db, d, err := Open(dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			src := New(db, d, m, Options{RetryAfter: 7 * time.Second})
			if err := src.Prepare(context.Background()); err == nil || !retryable(err) {
				t.Errorf("Prepare on a database that is down: %v, want a retryable error", err)
			}
			op := serve(t, src)
			resp, body := op.post(t, subjectJob("outage-1", protocol.JobDelete, ada))
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "7" {
				t.Errorf("answer %d (Retry-After %q) %s, want 503 with Retry-After 7", resp.StatusCode, resp.Header.Get("Retry-After"), body)
			}
		})
	}
}

func TestPrepareRefusesAMappingThatDoesNotFitTheDatabase(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		m, err := ParseMapping("shop.yaml", []byte(strings.Replace(testMapping, "access: [id, total, shipping_address]", "access: [id, total, shiping_address]", 1)))
		if err != nil {
			t.Fatal(err)
		}
		err = New(f.db, f.d, m, Options{}).Prepare(context.Background())
		if err == nil || !strings.Contains(err.Error(), "shop.yaml:14: tables.orders: column orders.shiping_address does not exist in the database") {
			t.Errorf("Prepare = %v, want the mapping line and the missing column", err)
		}
		if errors.As(err, new(*dbError)) {
			t.Error("a mapping mistake was classed as a database failure")
		}
	})
}
