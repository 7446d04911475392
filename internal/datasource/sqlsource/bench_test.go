package sqlsource

import (
	"fmt"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// The PostgreSQL benchmarks run on a table of 1M orders (10 per customer,
// 100k customers), indexed as a shop would index it.
const (
	benchCustomers = 100_000
	benchOrders    = 10 * benchCustomers
)

func benchFixture(b *testing.B) *fixture {
	if postgresDSN == "" {
		b.Skipf("POSTGRESQL UNAVAILABLE, benchmark not run: %s", postgresDown)
	}
	f := newFixture(b, postgresSchema(b))
	f.exec(b, "CREATE INDEX orders_user ON orders (user_id)")
	f.exec(b, "CREATE INDEX orders_created ON orders (created_at)")
	f.exec(b, "CREATE INDEX invoices_order ON invoices (order_id)")
	return f
}

// BenchmarkPostgresDelete: Delete jobs, one customer each (1 customer
// row, 10 orders deleted, their invoices anonymized), one after another.
func BenchmarkPostgresDelete(b *testing.B) {
	f := benchFixture(b)
	f.exec(b, "INSERT INTO users (id, email, name, last_seen_at) SELECT g, 'user' || g || '@example.com', 'User ' || g, ? FROM generate_series(100, 99 + CAST(? AS INTEGER)) g", f.now, benchCustomers)
	f.exec(b, "INSERT INTO orders (id, user_id, total, shipping_address, created_at) SELECT 1000 + g, 100 + g / 10, g, 'addr ' || g, ? FROM generate_series(0, CAST(? AS INTEGER) - 1) g", f.now, benchOrders)
	f.exec(b, "INSERT INTO invoices (id, order_id, amount, billing_name, billing_email, note, issued_at) SELECT 1000 + g, 1000 + g, g, 'User', 'user@example.com', 'n', ? FROM generate_series(0, CAST(? AS INTEGER) - 1, 10) g", f.now, benchOrders)
	f.exec(b, "ANALYZE")
	if b.N > benchCustomers {
		b.Fatalf("b.N = %d is more than the %d customers", b.N, benchCustomers)
	}
	var records int64
	b.ResetTimer()
	for i := range b.N {
		email := fmt.Sprintf("user%d@example.com", 100+i)
		res := f.mustRun(b, subjectJob(fmt.Sprintf("bench-delete-%d", i), protocol.JobDelete, map[string]string{"email": email}))
		records += res.Records
	}
	b.StopTimer()
	if records < int64(b.N)*11 {
		b.Fatalf("%d records changed for %d jobs, want at least 11 per job", records, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkPostgresPurge: one Purge of 1M expired orders in batches of
// 1000 (the default), each iteration on a freshly seeded table.
func BenchmarkPostgresPurge(b *testing.B) {
	f := benchFixture(b)
	var longest time.Duration
	var batches int
	f.src.opts.OnBatch = func(_ string, _ int64, took time.Duration) {
		batches++
		longest = max(longest, took)
	}
	var purged int64
	var elapsed time.Duration
	for i := range b.N {
		b.StopTimer()
		f.exec(b, "DELETE FROM orders")
		f.exec(b, "INSERT INTO orders (id, user_id, total, shipping_address, created_at) SELECT 1000 + g, 2, g, 'addr', ? FROM generate_series(1, CAST(? AS INTEGER)) g", f.now.AddDate(-3, 0, 0), benchOrders)
		f.exec(b, "VACUUM ANALYZE orders")
		b.StartTimer()
		start := time.Now()
		res := f.mustRun(b, &protocol.Job{ID: fmt.Sprintf("bench-purge-%d", i), Type: protocol.JobPurge,
			Purge: &protocol.Purge{Categories: []string{"usage"}, Before: f.now.AddDate(-1, 0, 0), Action: protocol.PurgeDelete}})
		elapsed += time.Since(start)
		purged += res.Records
		if res.Records < benchOrders {
			b.Fatalf("purged %d rows, want %d", res.Records, benchOrders)
		}
	}
	b.ReportMetric(float64(purged)/elapsed.Seconds(), "rows/s")
	b.ReportMetric(float64(longest.Microseconds())/1000, "max-batch-ms")
	b.ReportMetric(float64(batches)/float64(b.N), "batches/op")
}
