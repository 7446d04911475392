package sqlsource

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// A mapping in which a purge can cut a table holding personal data off
// from the person is refused at start, naming the line, the table, the
// column and the constraint; ON DELETE CASCADE and RESTRICT are accepted.
func TestPrepareRefusesAJoinAPurgeCanCut(t *testing.T) {
	const mapping = `tables:
  orders:
    identities: {email: email}
    access: [id]
    retention: {timestamp: created_at, category: usage}
  invoices:
    join: {column: order_id, references: orders.id}
    access: [id, billing_name]
`
	for _, tc := range []struct {
		name, fk string
		want     string // "" when accepted
	}{
		{"set null", "REFERENCES orders(id) ON DELETE SET NULL", "invoices.order_id has a foreign key "},
		{"no foreign key", "", "invoices.order_id has no foreign key to orders.id"},
		{"cascade", "REFERENCES orders(id) ON DELETE CASCADE", ""},
		{"restrict", "REFERENCES orders(id) ON DELETE RESTRICT", ""},
		{"no action", "REFERENCES orders(id)", ""}, // the purge fails, loudly
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachEmptyDB(t, func(t *testing.T, f *fixture) {
				f.exec(t, "CREATE TABLE orders (id INTEGER PRIMARY KEY, email TEXT, created_at TEXT)")
				f.exec(t, "CREATE TABLE invoices (id INTEGER PRIMARY KEY, order_id INTEGER "+tc.fk+", billing_name TEXT)")
				m, err := ParseMapping("shop.yaml", []byte(mapping))
				if err != nil {
					t.Fatal(err)
				}
				err = New(f.db, f.d, m, Options{}).Prepare(context.Background())
				if tc.want == "" {
					if err != nil {
						t.Errorf("%q: %v, want it accepted", tc.fk, err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), "shop.yaml:6: tables.invoices.join: "+tc.want) ||
					!strings.Contains(err.Error(), "a purge of orders (retention, category usage) cuts the rows of invoices off from the person") {
					t.Errorf("%q: Prepare = %v, want the line, the table, the column and why", tc.fk, err)
				}
				if f.d.name == "postgres" && strings.Contains(tc.fk, "SET NULL") && !strings.Contains(err.Error(), "invoices_order_id_fkey ON DELETE SET NULL") {
					t.Errorf("the constraint is not named: %v", err)
				}
			})
		})
	}
}

// eachEmptyDB runs fn on an empty SQLite file and an empty PostgreSQL
// schema (the fixture's db and dialect only).
func eachEmptyDB(t *testing.T, fn func(t *testing.T, f *fixture)) {
	open := func(t *testing.T, dsn string) *fixture {
		db, d, err := Open(dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		return &fixture{db: db, d: d, dsn: dsn, now: time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)}
	}
	t.Run("sqlite", func(t *testing.T) { fn(t, open(t, "sqlite:"+filepath.Join(t.TempDir(), "shop.db"))) })
	t.Run("postgres", func(t *testing.T) {
		if postgresDSN == "" {
			t.Skipf("POSTGRESQL UNAVAILABLE, case not run: %s", postgresDown)
		}
		fn(t, open(t, postgresSchema(t)))
	})
}

// A purge that cascades from a grandparent into a parent without a
// retention rule of its own cuts the child as surely.
func TestPrepareRefusesAJoinACascadedPurgeCanCut(t *testing.T) {
	const mapping = `tables:
  customers:
    identities: {email: email}
    access: [id]
    retention: {timestamp: last_seen_at, category: contact}
  orders:
    join: {column: customer_id, references: customers.id}
    access: [id]
  invoices:
    join: {column: order_id, references: orders.id}
    access: [id]
`
	eachEmptyDB(t, func(t *testing.T, f *fixture) {
		f.exec(t, "CREATE TABLE customers (id INTEGER PRIMARY KEY, email TEXT, last_seen_at TEXT)")
		f.exec(t, "CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customers(id) ON DELETE CASCADE)")
		f.exec(t, "CREATE TABLE invoices (id INTEGER PRIMARY KEY, order_id INTEGER REFERENCES orders(id) ON DELETE SET NULL)")
		m, err := ParseMapping("shop.yaml", []byte(mapping))
		if err != nil {
			t.Fatal(err)
		}
		err = New(f.db, f.d, m, Options{}).Prepare(context.Background())
		if err == nil || !strings.Contains(err.Error(), "tables.invoices.join: invoices.order_id has a foreign key") ||
			!strings.Contains(err.Error(), "a purge of orders (rows deleted with customers: retention, category contact)") {
			t.Errorf("Prepare = %v, want the cascaded cut named", err)
		}
	})
}

// The example shop (examples/sql-datasource) on SQLite and PostgreSQL: a
// retention purge of orders, then Ada's Delete; nothing of Ada is left,
// whatever ran first.
func TestExampleShopPurgeThenDeleteLeavesNothingOfAda(t *testing.T) {
	schema, err := os.ReadFile("../../../examples/sql-datasource/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	mapping, err := os.ReadFile("../../../examples/sql-datasource/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eachEmptyDB(t, func(t *testing.T, f *fixture) {
		for _, stmt := range strings.Split(string(schema), ";") {
			if strings.TrimSpace(stripComments(stmt)) != "" {
				f.exec(t, stmt)
			}
		}
		m, err := ParseMapping("mapping.yaml", mapping)
		if err != nil {
			t.Fatal(err)
		}
		src := New(f.db, f.d, m, Options{HashKey: []byte("test-key")})
		if err := src.Prepare(context.Background()); err != nil {
			t.Fatalf("the example's mapping is refused: %v", err)
		}
		f.src = src
		old, recent := f.ts(f.now.AddDate(-3, 0, 0)), f.ts(f.now)
		f.exec(t, "INSERT INTO customers (id, email, full_name, phone, created_at, last_seen_at) VALUES (1, 'Ada@Example.com', 'Ada Lovelace', '+44 1', ?, ?)", old, recent)
		f.exec(t, "INSERT INTO orders (id, customer_id, total_cents, shipping_address, created_at) VALUES (10, 1, 100, '1 Analytical St', ?), (11, 1, 50, '1 Analytical St', ?)", old, old)
		f.exec(t, "INSERT INTO invoices (id, order_id, billing_email, amount_cents, billing_name, billing_address, note, issued_at) VALUES (100, 10, 'ada@example.com', 100, 'Ada Lovelace', '1 Analytical St', 'gift', ?), (101, 11, 'ada@example.com', 50, 'Ada Lovelace', '1 Analytical St', '', ?)", recent, recent)

		purge := &protocol.Job{ID: "purge-usage", Type: protocol.JobPurge,
			Purge: &protocol.Purge{Categories: []string{"usage"}, Before: f.now.AddDate(-1, 0, 0), Action: protocol.PurgeDelete}}
		if res := f.mustRun(t, purge); res.Records != 2 {
			t.Fatalf("purge: %+v, want Ada's two old orders", res)
		}
		res := f.mustRun(t, subjectJob("delete-ada", protocol.JobDelete, map[string]string{"email": "ada@example.com"}))
		if res.Records != 3 {
			t.Errorf("delete: %+v, want customers 1 and invoices 2", res)
		}
		if n := f.count(t, "customers"); n != 0 {
			t.Errorf("%d customers rows left", n)
		}
		if n := f.count(t, "invoices WHERE billing_name LIKE '%Ada%' OR billing_address IS NOT NULL OR billing_email IS NOT NULL OR note = 'gift'"); n != 0 {
			t.Errorf("%d invoices still hold Ada's name, address, e-mail or note", n)
		}
		if n := f.count(t, "invoices"); n != 2 {
			t.Errorf("%d invoices kept, want both (the tax office's), anonymized", n)
		}
	})
}

// stripComments drops "--" comment lines of a schema statement.
func stripComments(stmt string) string {
	var out []string
	for _, l := range strings.Split(stmt, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "--") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
