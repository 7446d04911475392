package sqlsource

import (
	"reflect"
	"strings"
	"testing"
)

const goodMapping = `tables:
  users:
    identities: {email: email, id: userId}
    access: [id, email, name, created_at]
    correct: [email, name]
    optOut:
      email-marketing: {column: marketing_opt_in, value: false}
    retention: {timestamp: last_seen_at, category: contact}
  orders:
    join: {column: user_id, references: users.id}
    access: [id, total, created_at]
    retention: {timestamp: created_at, category: usage}
  invoices:
    join: {column: order_id, references: orders.id}
    access: [id, amount]
    delete:
      mode: anonymize
      anonymize: {billing_name: hash, billing_address: "null", note: "fixed:REDACTED"}
`

func TestParseMapping(t *testing.T) {
	m, err := ParseMapping("mapping.yaml", []byte(goodMapping))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Tables) != 3 || m.Tables[0].Name != "users" || m.Tables[2].Name != "invoices" {
		t.Fatalf("tables = %+v", m.Tables)
	}
	inv := m.Tables[2]
	if inv.Delete.Mode != "anonymize" || inv.Delete.Anonymize["note"] != (Anonymization{Kind: "fixed", Value: "REDACTED"}) ||
		inv.Delete.Anonymize["billing_name"].Kind != "hash" || inv.Delete.Anonymize["billing_address"].Kind != "null" {
		t.Errorf("invoices delete rule = %+v", inv.Delete)
	}
	if m.Tables[1].Delete.Mode != "delete" {
		t.Errorf("default delete mode = %q, want delete", m.Tables[1].Delete.Mode)
	}
	if got := m.Tables[0].OptOut["email-marketing"]; got.Column != "marketing_opt_in" || got.Value != false {
		t.Errorf("opt-out rule = %+v", got)
	}
	if !reflect.DeepEqual(m.IdentityTypes(), []string{"email", "userId"}) || !reflect.DeepEqual(m.Categories(), []string{"contact", "usage"}) {
		t.Errorf("capabilities: identities %v, categories %v", m.IdentityTypes(), m.Categories())
	}
}

func TestParseMappingErrorsNameFileLineAndField(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown field (a typo)", "tables:\n  users:\n    identities: {email: email}\n    acess: [id]\n",
			[]string{"mapping.yaml:4: tables.users.acess: unknown field"}},
		{"join to an unmapped table", "tables:\n  orders:\n    join: {column: user_id, references: user.id}\n",
			[]string{`mapping.yaml:2: tables.orders.join.references: table "user" is not mapped`}},
		{"no way to the subject", "tables:\n  logs:\n    access: [id]\n",
			[]string{"mapping.yaml:2: tables.logs: needs identities"}},
		{"bad anonymization", "tables:\n  users:\n    identities: {email: email}\n    delete: {mode: anonymize, anonymize: {email: scramble}}\n",
			[]string{"mapping.yaml:4: tables.users.delete.anonymize.email: must be null, hash or fixed:<value>"}},
		{"SQL in a column name", "tables:\n  users:\n    identities: {email: email}\n    access: [\"id; DROP TABLE users\"]\n",
			[]string{`mapping.yaml:4: tables.users.access: "id; DROP TABLE users" is not a plain SQL identifier`}},
		{"join cycle", "tables:\n  a:\n    join: {column: b_id, references: b.id}\n  b:\n    join: {column: a_id, references: a.id}\n",
			[]string{"mapping.yaml:2: tables.a.join: joins form a cycle"}},
		{"several errors at once", "tables:\n  users:\n    identities: {email: Email}\n    retention: {timestamp: created_at}\n",
			[]string{"mapping.yaml:3: tables.users.identities.email: identity type \"Email\" must be camelCase",
				"mapping.yaml:4: tables.users.retention.category: is required"}},
		{"no tables", "version: 1\n", []string{"mapping.yaml:1: (top).version: unknown field", "mapping.yaml:1: tables: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMapping("mapping.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("a bad mapping was accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%s\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

func TestCapabilitiesFollowTheMapping(t *testing.T) {
	m, err := ParseMapping("mapping.yaml", []byte("tables:\n  users:\n    identities: {email: email}\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := New(nil, sqliteDB, m, Options{}).Config()
	if cfg.Delete == nil || cfg.Access != nil || cfg.Correct != nil || cfg.OptOut != nil || cfg.Purge != nil {
		t.Errorf("a mapping with only identities must serve Delete alone")
	}
	m, _ = ParseMapping("mapping.yaml", []byte(goodMapping))
	cfg = New(nil, sqliteDB, m, Options{}).Config()
	if cfg.Access == nil || cfg.Correct == nil || cfg.OptOut == nil || cfg.Purge == nil {
		t.Errorf("the full mapping must serve every type")
	}
}
