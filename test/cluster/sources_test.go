package cluster_test

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The shop's database as the SQL example maps it: Ada and Grace,
// customers of today, and an order of Grace's from 2019 that a purge of
// "usage" older than a year removes.
const shopSeed = `
INSERT INTO customers VALUES (1, 'ada@example.com', 'Ada Lovelace', '+44 20 7946 0000', TRUE, now(), now());
INSERT INTO customers VALUES (2, 'grace@example.com', 'Grace Hopper', NULL, TRUE, '2019-01-01', now());
INSERT INTO orders VALUES (1, 1, 1999, '12 St James''s Square', now());
INSERT INTO orders VALUES (2, 2, 500, 'Arlington', '2019-01-01');
INSERT INTO orders VALUES (3, 2, 700, 'Arlington', now());
INSERT INTO invoices VALUES (1, 1, 'ada@example.com', 1999, 'Ada Lovelace', '12 St James''s Square', NULL, now());
`

// secret is a fresh random secret of n bytes, base64.
func secret(t *testing.T, prefix string, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + base64.StdEncoding.EncodeToString(b)
}

// psql runs SQL on the node's PostgreSQL, in database db.
func psql(t *testing.T, db, sql string) string {
	t.Helper()
	bin, err := exec.LookPath("psql")
	if err != nil {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
		if len(matches) == 0 {
			t.Fatal("psql not found (hack/postgres.sh installs PostgreSQL)")
		}
		sort.Strings(matches)
		bin = matches[len(matches)-1]
	}
	dsn := strings.Replace(postgresDSN, "/postgres?", "/"+db+"?", 1)
	return strings.TrimSpace(run(t, sql, bin, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", dsn))
}

// sources runs the two examples as a service team would: the SQL data
// source over the shop's PostgreSQL (on the node), and the SDK's
// newsletter, each in its own namespace.
func sources(t *testing.T) {
	schema, err := os.ReadFile(filepath.Join(repo, "examples", "sql-datasource", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	psql(t, "postgres", "DROP DATABASE IF EXISTS shop;")
	psql(t, "postgres", "CREATE DATABASE shop;")
	psql(t, "shop", string(schema)+shopSeed)

	source := []string{"privacyoperator.io/datasource=true", "pod-security.kubernetes.io/enforce=restricted"}
	namespace(t, "shop", source...)
	kubectl(t, "create", "secret", "generic", "shop-privacy-signing", "-n", "shop",
		"--from-literal=signingSecret="+secret(t, "whsec_", 32))
	kubectl(t, "create", "secret", "generic", "shop-privacy-db", "-n", "shop",
		"--from-literal=dsn="+strings.Replace(postgresDSN, "/postgres?", "/shop?", 1),
		"--from-literal=hashKey="+secret(t, "", 32))
	// The callback CA, copied as the example says.
	ca := jsonpath(t, `{.data.ca\.crt}`, "configmap", "privacy-operator-callback-ca", "-n", operatorNS)
	if !strings.Contains(ca, "BEGIN CERTIFICATE") {
		t.Fatalf("the operator published no callback CA: %q", ca)
	}
	kubectl(t, "create", "configmap", "privacy-operator-callback-ca", "-n", "shop", "--from-literal=ca.crt="+ca)
	kubectl(t, "apply", "-k", "examples/sql-datasource", "-n", "shop")

	namespace(t, "newsletter", source...)
	kubectl(t, "create", "secret", "generic", "newsletter-privacy-signing", "-n", "newsletter",
		"--from-literal=signingSecret="+secret(t, "whsec_", 32))
	kubectl(t, "apply", "-k", "examples/sdk-datasource", "-n", "newsletter")

	for _, s := range [][2]string{{"shop", "shop"}, {"newsletter", "newsletter"}} {
		// A failing endpoint is probed again within a tenth of
		// --probe-interval (30 s by default): the pods start after their
		// DataSources.
		eventually(t, 2*time.Minute, "DataSource "+s[0]+"/"+s[1]+" Ready", func() (bool, string) {
			ready := jsonpath(t, `{.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].message}`,
				"datasource", s[1], "-n", s[0])
			return strings.HasPrefix(ready, "True"), ready
		})
	}
}

// request creates a PrivacyRequest of spec (YAML under spec:, indented two
// spaces) and waits until it is Completed; it returns how long that took.
func request(t *testing.T, name, spec string) time.Duration {
	t.Helper()
	start := time.Now()
	apply(t, "", fmt.Sprintf("apiVersion: privacyoperator.io/v1alpha1\nkind: PrivacyRequest\nmetadata:\n  name: %s\nspec:\n%s", name, spec))
	var phase string
	eventually(t, 3*time.Minute, "PrivacyRequest "+name+" finished", func() (bool, string) {
		phase = jsonpath(t, `{.status.phase} {.status.conditions[?(@.type=="Ready")].message}`, "privacyrequest", name)
		return strings.HasPrefix(phase, "Completed") || strings.HasPrefix(phase, "Failed"), phase
	})
	if !strings.HasPrefix(phase, "Completed") {
		t.Fatalf("PrivacyRequest %s: %s; its sources: %s", name, phase,
			jsonpath(t, `{range .status.sources[*]}{.namespace}/{.name}: {.phase} {.reason} {.message}{"\n"}{end}`, "privacyrequest", name))
	}
	return time.Since(start)
}

// sourceRecords is name=records of each source of a request, sorted.
func sourceRecords(t *testing.T, name string) string {
	t.Helper()
	out := jsonpath(t, `{range .status.sources[*]}{.name}={.phase}/{.records} {end}`, "privacyrequest", name)
	fields := strings.Fields(out)
	sort.Strings(fields)
	return strings.Join(fields, " ")
}

// requests runs a request of each type for Ada and checks what each did
// where the data lives.
func requests(t *testing.T) {
	const ada = "  subject:\n    identities:\n      email: ada@example.com\n"
	request(t, "access-ada", "  type: Access\n"+ada)
	if got, want := sourceRecords(t, "access-ada"), "newsletter=Completed/1 shop=Completed/3"; got != want {
		t.Errorf("access-ada sources: %s, want %s", got, want)
	}
	// The MutatingAdmissionPolicy stamped who asked: the suite's admin
	// certificate's user.
	if got := jsonpath(t, "{.spec.requester}", "privacyrequest", "access-ada"); got != "cluster-admin" {
		t.Errorf("access-ada's spec.requester: %q, want the creating user cluster-admin", got)
	}

	request(t, "correct-ada", "  type: Correct\n"+ada+"  corrections:\n  - field: full_name\n    value: Ada King\n")
	if got := psql(t, "shop", "SELECT full_name FROM customers WHERE id = 1"); got != "Ada King" {
		t.Errorf("full_name after Correct: %q", got)
	}

	request(t, "optout-ada", "  type: OptOut\n"+ada+"  optOut:\n    scopes: [email-marketing]\n")
	if got := psql(t, "shop", "SELECT marketing_opt_in FROM customers WHERE id = 1"); got != "f" {
		t.Errorf("marketing_opt_in after OptOut: %q", got)
	}

	request(t, "delete-ada", "  type: Delete\n"+ada)
	if got := psql(t, "shop", "SELECT (SELECT count(*) FROM customers WHERE id = 1) + (SELECT count(*) FROM orders WHERE customer_id = 1)"); got != "0" {
		t.Errorf("Ada's customer and order rows after Delete: %s", got)
	}
	if got := psql(t, "shop", "SELECT coalesce(billing_email, 'null') FROM invoices WHERE id = 1"); got != "null" {
		t.Errorf("invoice billing_email after Delete (anonymized): %q", got)
	}
	// The newsletter's list is in its memory: ask it through the product.
	request(t, "access-ada-after-delete", "  type: Access\n"+ada)
	if got, want := sourceRecords(t, "access-ada-after-delete"), "newsletter=NotFound/0 shop=NotFound/0"; got != want {
		t.Errorf("after Delete, Access sources: %s, want %s", got, want)
	}
}

// purge runs a RetentionPolicy every minute over "usage": Grace's order of
// 2019 goes, today's stays (a callback through the callbacks Service, as
// the SQL source answers purges asynchronously).
func purge(t *testing.T) {
	apply(t, "", `apiVersion: privacyoperator.io/v1alpha1
kind: RetentionPolicy
metadata: {name: usage-1y}
spec:
  categories: [usage]
  retainFor: 365d
  action: Delete
  schedule: "* * * * *"`)
	eventually(t, 3*time.Minute, "a run of usage-1y Succeeded", func() (bool, string) {
		outcomes := jsonpath(t, `{range .status.history[*]}{.outcome} {end}`, "retentionpolicy", "usage-1y")
		return strings.Contains(outcomes, "Succeeded"), outcomes
	})
	if got := psql(t, "shop", "SELECT string_agg(id::text, ',' ORDER BY id) FROM orders"); got != "3" {
		t.Errorf("orders after the purge: %q, want only today's (3)", got)
	}
	kubectl(t, "delete", "retentionpolicy", "usage-1y")
}
