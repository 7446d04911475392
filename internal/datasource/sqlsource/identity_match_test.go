package sqlsource

import (
	"testing"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// The operator sends identities in one spelling (protocol.NormalizeIdentity);
// rows stored in another spelling of the same address are found, on
// PostgreSQL and SQLite, and a Delete reaches them.
func TestIdentitiesMatchInTheOperatorsSpelling(t *testing.T) {
	eachDB(t, func(t *testing.T, f *fixture) {
		f.exec(t, "UPDATE users SET email = ' Ada@Example.COM ' WHERE id = 1")
		f.exec(t, "UPDATE newsletter SET address = 'ADA@example.com' WHERE address = 'ada@example.com'")
		for i, spelling := range []string{"ada@example.com", "ADA@EXAMPLE.COM", "  Ada@Example.com\t", "ａｄａ@example.com"} {
			res := f.mustRun(t, subjectJob("access-spelling-"+string(rune('a'+i)), protocol.JobAccess, map[string]string{"email": spelling}))
			if res.Records != 5 {
				t.Errorf("%q: records = %d, want 5 (the user, 2 orders, an invoice, the newsletter row)", spelling, res.Records)
			}
		}
		if res := f.mustRun(t, subjectJob("access-bob", protocol.JobAccess, map[string]string{"email": "BOB@example.com"})); res.Records == 0 {
			t.Error("bob not found by an upper-case spelling")
		}
		f.mustRun(t, subjectJob("delete-spelling", protocol.JobDelete, map[string]string{"email": "ada@example.com"}))
		if n := f.count(t, "users WHERE id = 1"); n != 0 {
			t.Errorf("%d users rows of Ada left after a Delete by another spelling", n)
		}
		if n := f.count(t, "newsletter WHERE lower(address) = 'ada@example.com'"); n != 0 {
			t.Errorf("%d newsletter rows of Ada left", n)
		}
		if n := f.count(t, "users WHERE id = 2"); n != 1 {
			t.Error("bob's row was touched")
		}
	})
}
