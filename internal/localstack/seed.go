package localstack

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	sqlexample "github.com/privacyoperator/privacy-operator/examples/sql-datasource"
	"github.com/privacyoperator/privacy-operator/internal/sqlsource"
)

// Person is a sample person held by the seeded databases.
type Person struct {
	ID                 int
	Name, Email, Phone string
}

var (
	firstNames = []string{"Grace", "Alan", "Katherine", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Dennis",
		"Radia", "Tim", "Hedy", "John", "Sophie", "Claude", "Annie", "Linus", "Jean", "Niklaus"}
	lastNames = []string{"Hopper", "Turing", "Johnson", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Ritchie",
		"Perlman", "Berners-Lee", "Lamarr", "McCarthy", "Wilson", "Shannon", "Easley", "Torvalds", "Bartik", "Wirth"}
	streets  = []string{"Analytical Row", "Difference Lane", "Engine Street", "Jacquard Way", "Babbage Square", "Loom Court"}
	products = []string{"notebook", "fountain pen", "desk lamp", "slide rule", "punch cards", "abacus"}
	subjects = []string{"Where is my order?", "Refund request", "Change of address", "Broken item", "Invoice question"}
	campaign = []string{"spring-sale", "newsletter-weekly", "back-to-school", "winter-sale", "loyalty"}
)

// People returns n sample people, the same every time. The first is Ada
// Lovelace, the demo's subject.
func People(n int) []Person {
	out := []Person{{ID: 1, Name: "Ada Lovelace", Email: "ada.lovelace@example.com", Phone: "+44 20 7946 0001"}}
	for i := 1; len(out) < n; i++ {
		first, last := firstNames[i%len(firstNames)], lastNames[(i/len(firstNames)+i*7)%len(lastNames)]
		email := fmt.Sprintf("%s.%s%d@example.com", strings.ToLower(first), strings.ToLower(strings.ReplaceAll(last, "-", "")), i)
		out = append(out, Person{ID: i + 1, Name: first + " " + last, Email: email, Phone: fmt.Sprintf("+44 20 7946 %04d", i+1)})
	}
	return out[:n]
}

// ts is a timestamp as the SQLite examples store it.
func ts(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// SeedShop creates the example shop database (examples/sql-datasource) in
// a SQLite file: the people as customers, their orders over the last three
// years, and an invoice for each order.
func SeedShop(path string, people []Person, now time.Time) error {
	return seed(path, sqlexample.ShopSchema, func(tx *sql.Tx, rnd *rand.Rand) error {
		order := 1000
		for _, p := range people {
			created := now.AddDate(-3, 0, 0).Add(time.Duration(rnd.Int64N(int64(365 * 24 * time.Hour))))
			if _, err := tx.Exec(`INSERT INTO customers (id, email, full_name, phone, marketing_opt_in, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				p.ID, p.Email, p.Name, p.Phone, rnd.IntN(3) > 0, ts(created), ts(now.Add(-time.Duration(rnd.Int64N(int64(90*24*time.Hour)))))); err != nil {
				return err
			}
			orders := 2 + rnd.IntN(5)
			if p.ID == 1 {
				orders = 4
			}
			for range orders {
				order++
				at := now.Add(-time.Duration(rnd.Int64N(int64(3 * 365 * 24 * time.Hour))))
				if p.ID == 1 && order%2 == 0 {
					at = now.AddDate(0, -2, 0) // some of Ada's orders are recent
				}
				address := fmt.Sprintf("%d %s, London", 1+rnd.IntN(200), streets[rnd.IntN(len(streets))])
				total := 500 + rnd.IntN(20000)
				if _, err := tx.Exec(`INSERT INTO orders (id, customer_id, total_cents, shipping_address, created_at) VALUES (?, ?, ?, ?, ?)`,
					order, p.ID, total, address, ts(at)); err != nil {
					return err
				}
				if _, err := tx.Exec(`INSERT INTO invoices (id, order_id, amount_cents, billing_name, billing_address, note, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					order, order, total, p.Name, address, products[rnd.IntN(len(products))], ts(at)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// SeedCRM creates the example CRM database in a SQLite file: the people as
// contacts, some support tickets and the marketing e-mails sent to them
// over the last three years.
func SeedCRM(path string, people []Person, now time.Time) error {
	return seed(path, sqlexample.CRMSchema, func(tx *sql.Tx, rnd *rand.Rand) error {
		ticket, event := 1, 1
		for _, p := range people {
			if _, err := tx.Exec(`INSERT INTO contacts (id, email, name, phone, newsletter_opt_in, sms_opt_in, last_contact_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				p.ID, p.Email, p.Name, p.Phone, p.ID == 1 || rnd.IntN(4) > 0, rnd.IntN(3) == 0, ts(now.AddDate(0, 0, -rnd.IntN(200)))); err != nil {
				return err
			}
			for range rnd.IntN(3) + boolInt(p.ID == 1) {
				if _, err := tx.Exec(`INSERT INTO support_tickets (id, contact_id, requester_name, subject, body, opened_at) VALUES (?, ?, ?, ?, ?, ?)`,
					ticket, p.ID, p.Name, subjects[rnd.IntN(len(subjects))], "Hello, this is "+p.Name+" writing about my order.", ts(now.AddDate(0, 0, -rnd.IntN(700)))); err != nil {
					return err
				}
				ticket++
			}
			for range 3 + rnd.IntN(6) {
				if _, err := tx.Exec(`INSERT INTO marketing_events (id, contact_id, campaign, channel, sent_at) VALUES (?, ?, ?, ?, ?)`,
					event, p.ID, campaign[rnd.IntN(len(campaign))], "email", ts(now.Add(-time.Duration(rnd.Int64N(int64(3*365*24*time.Hour)))))); err != nil {
					return err
				}
				event++
			}
		}
		return nil
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func seed(path, schema string, fill func(*sql.Tx, *rand.Rand) error) error {
	db, _, err := sqlsource.Open("sqlite:" + path)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("create the schema in %s: %w", path, err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	if err := fill(tx, rand.New(rand.NewPCG(1, 2))); err != nil {
		return fmt.Errorf("seed %s: %w", path, err)
	}
	return tx.Commit()
}
