package sqlsource

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// The tests run every case against a real SQLite file and a real
// PostgreSQL server. The server comes from PRIVACY_TEST_POSTGRES_DSN, or
// hack/postgres.sh starts one on loopback (installing PostgreSQL when it
// can); only when that fails are the PostgreSQL cases skipped, loudly.
var (
	postgresDSN  string
	postgresDown string
)

func TestMain(m *testing.M) {
	postgresDSN = os.Getenv("PRIVACY_TEST_POSTGRES_DSN")
	if postgresDSN == "" {
		out, err := exec.Command("../../../hack/postgres.sh", "start").Output()
		postgresDSN = strings.TrimSpace(string(out))
		if err != nil || postgresDSN == "" {
			postgresDown = fmt.Sprintf("hack/postgres.sh start failed: %v", err)
			if ee, ok := err.(*exec.ExitError); ok {
				postgresDown += ": " + strings.TrimSpace(string(ee.Stderr))
			}
			fmt.Fprintf(os.Stderr, "\n!!!!!!!!\n!!! PostgreSQL is unavailable: its test cases are SKIPPED, only SQLite is tested.\n!!! %s\n!!!!!!!!\n\n", postgresDown)
		}
	}
	os.Exit(m.Run())
}

// testMapping maps a shop: users (found by email or id), their orders,
// invoices (kept for the tax office, so anonymized; found by their own
// billing e-mail, since a purge of orders cuts their link to the order),
// and a newsletter list found by its own email column.
const testMapping = `tables:
  invoices:
    identities: {billing_email: email}
    access: [id, amount, billing_name]
    delete:
      mode: anonymize
      anonymize: {billing_name: hash, billing_email: "null", note: "fixed:REDACTED"}
    retention: {timestamp: issued_at, category: billing}
  users:
    identities: {email: email, id: userId}
    access: [id, email, name]
    correct: [email, name]
    retention: {timestamp: last_seen_at, category: contact}
  orders:
    join: {column: user_id, references: users.id}
    access: [id, total, shipping_address]
    correct: [shipping_address]
    retention: {timestamp: created_at, category: usage}
  newsletter:
    identities: {address: email}
    access: [address, subscribed]
    optOut:
      email-marketing: {column: subscribed, value: false}
`

// schema is valid for both databases; {ts} is the timestamp type.
const schema = `
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE, name TEXT, last_seen_at {ts});
CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id), total INTEGER, shipping_address TEXT, created_at {ts});
CREATE TABLE invoices (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders(id) ON DELETE SET NULL,
	amount INTEGER, billing_name TEXT, billing_email TEXT, note TEXT, issued_at {ts});
CREATE TABLE newsletter (address TEXT PRIMARY KEY, subscribed BOOLEAN NOT NULL);
`

// fixture is one fresh database with the schema and two customers.
type fixture struct {
	t      *testing.T
	db     *sql.DB
	d      Dialect
	dsn    string
	src    *Source
	now    time.Time
	mapped *Mapping
}

// eachDB runs fn on a fresh SQLite file and a fresh PostgreSQL schema.
func eachDB(t *testing.T, fn func(t *testing.T, f *fixture)) {
	t.Run("sqlite", func(t *testing.T) {
		fn(t, newFixture(t, "sqlite:"+filepath.Join(t.TempDir(), "shop.db")))
	})
	t.Run("postgres", func(t *testing.T) {
		if postgresDSN == "" {
			t.Skipf("POSTGRESQL UNAVAILABLE, case not run: %s", postgresDown)
		}
		fn(t, newFixture(t, postgresSchema(t)))
	})
}

// postgresSchema creates a schema of its own for one test and returns a DSN
// whose search_path is that schema.
func postgresSchema(t testing.TB) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "t_" + hex.EncodeToString(b)
	admin, err := sql.Open("pgx", postgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec("DROP SCHEMA " + name + " CASCADE")
		_ = admin.Close()
	})
	if _, err := admin.Exec("CREATE SCHEMA " + name); err != nil {
		t.Fatal(err)
	}
	return postgresDSN + "&search_path=" + name
}

func newFixture(t testing.TB, dsn string) *fixture {
	db, d, err := Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	tt, _ := t.(*testing.T)
	f := &fixture{t: tt, db: db, d: d, dsn: dsn, now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	t.Cleanup(func() { _ = db.Close() })
	ts := "TIMESTAMPTZ"
	if d.name == "sqlite" {
		ts = "TEXT"
	}
	for _, stmt := range strings.Split(strings.ReplaceAll(schema, "{ts}", ts), ";") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.Exec(stmt); err != nil {
			t.Fatalf("schema: %v", err)
		}
	}
	f.mapped, err = ParseMapping("mapping.yaml", []byte(testMapping))
	if err != nil {
		t.Fatal(err)
	}
	f.src = New(db, d, f.mapped, Options{HashKey: []byte("test-key"), PurgeBatch: 1000})
	if err := f.src.Prepare(context.Background()); err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	f.exec(t, "INSERT INTO users (id, email, name, last_seen_at) VALUES (1, 'ada@example.com', 'Ada Lovelace', ?), (2, 'bob@example.com', 'Bob', ?)",
		f.ts(f.now.AddDate(0, -1, 0)), f.ts(f.now))
	f.exec(t, "INSERT INTO orders (id, user_id, total, shipping_address, created_at) VALUES (10, 1, 120, '1 Analytical St', ?), (11, 1, 80, '1 Analytical St', ?), (20, 2, 5, '2 Other Rd', ?)",
		f.ts(f.now.AddDate(-2, 0, 0)), f.ts(f.now), f.ts(f.now))
	f.exec(t, "INSERT INTO invoices (id, order_id, amount, billing_name, billing_email, note, issued_at) VALUES (100, 10, 120, 'Ada Lovelace', 'ada@example.com', 'gift', ?), (200, 20, 5, 'Bob', 'bob@example.com', 'none', ?)",
		f.ts(f.now.AddDate(-2, 0, 0)), f.ts(f.now))
	f.exec(t, "INSERT INTO newsletter (address, subscribed) VALUES ('ada@example.com', TRUE), ('bob@example.com', TRUE)")
	return f
}

// ts is a timestamp as each database stores it.
func (f *fixture) ts(v time.Time) any {
	if f.d.name == "sqlite" {
		return v.UTC().Format(time.RFC3339)
	}
	return v
}

// exec runs a statement written with ? placeholders.
func (f *fixture) exec(t testing.TB, stmt string, args ...any) {
	t.Helper()
	if _, err := f.db.Exec(f.placeholders(stmt), args...); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

func (f *fixture) placeholders(stmt string) string {
	if !f.d.numbered {
		return stmt
	}
	var b strings.Builder
	n := 0
	for _, r := range stmt {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// count returns the number of rows of a query written with ? placeholders.
func (f *fixture) count(t testing.TB, from string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.QueryRow(f.placeholders("SELECT COUNT(*) FROM "+from), args...).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", from, err)
	}
	return n
}

func (f *fixture) str(t testing.TB, query string, args ...any) sql.NullString {
	t.Helper()
	var s sql.NullString
	if err := f.db.QueryRow(f.placeholders(query), args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return s
}

func subjectJob(id string, typ protocol.JobType, ids map[string]string) *protocol.Job {
	return &protocol.Job{APIVersion: protocol.APIVersion, Kind: protocol.KindJob, ID: id, Type: typ,
		Request: protocol.RequestRef{Name: "req", UID: "uid"}, Subject: &protocol.Subject{Identities: ids}}
}

var ada = map[string]string{"email": "ada@example.com"}

// run executes a job the way the SDK handler does, without HTTP.
func (f *fixture) run(t testing.TB, job *protocol.Job) (datasource.Result, error) {
	t.Helper()
	cfg := f.src.Config()
	if err := cfg.Validate(job); err != nil {
		return datasource.Result{}, err
	}
	fn := map[protocol.JobType]datasource.JobFunc{protocol.JobAccess: cfg.Access, protocol.JobDelete: cfg.Delete,
		protocol.JobCorrect: cfg.Correct, protocol.JobOptOut: cfg.OptOut, protocol.JobPurge: cfg.Purge}[job.Type]
	return fn(context.Background(), job)
}

func (f *fixture) mustRun(t testing.TB, job *protocol.Job) datasource.Result {
	t.Helper()
	res, err := f.run(t, job)
	if err != nil {
		t.Fatalf("%s job: %v", job.Type, err)
	}
	return res
}

// server serves the source over real HTTP on loopback, as cmd/sql-datasource
// does, and returns a client that signs like the operator.
func serve(t *testing.T, src *Source) *signer {
	secret := protocol.NewSecret()
	cfg := src.Config()
	cfg.Secrets = []string{secret}
	h, err := datasource.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	key, _ := protocol.ParseKey(secret)
	return &signer{url: srv.URL, key: key}
}

type signer struct {
	url string
	key protocol.Key
}

func (s *signer) post(t *testing.T, job *protocol.Job) (*http.Response, []byte) {
	t.Helper()
	body, _ := json.Marshal(job)
	req, _ := http.NewRequest(http.MethodPost, s.url+protocol.PathJobs, bytes.NewReader(body))
	if _, err := protocol.SignRequest(req, protocol.PathJobs, body, time.Now(), s.key); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp, out
}
