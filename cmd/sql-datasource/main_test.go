package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// shopDB creates the example shop database (examples/sql-datasource) in a
// SQLite file with one customer and returns its DSN.
func shopDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shop.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	schema, err := os.ReadFile("../../examples/sql-datasource/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{string(schema),
		`INSERT INTO customers (id, email, full_name, created_at, last_seen_at) VALUES (1, 'ada@example.com', 'Ada', '2024-01-01T00:00:00Z', '2026-01-01T00:00:00Z')`,
		`INSERT INTO orders (id, customer_id, total_cents, created_at) VALUES (10, 1, 1200, '2025-01-01T00:00:00Z')`,
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
	return "sqlite:" + path
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestABadMappingFailsAtStartNamingFileLineAndField(t *testing.T) {
	secrets := writeFile(t, "secrets", protocol.NewSecret())
	bad := writeFile(t, "mapping.yaml", "tables:\n  customers:\n    identities: {email: email}\n    acess: [id]\n")
	err := run(context.Background(), []string{"--mapping", bad, "--dsn", shopDB(t), "--secrets-file", secrets}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), bad+":4: tables.customers.acess: unknown field") {
		t.Errorf("start with a typo in the mapping: %v", err)
	}

	// Valid YAML that does not fit the database fails at start too.
	unfit := writeFile(t, "mapping.yaml", "tables:\n  customers:\n    identities: {email: email}\n    access: [id, nickname]\n")
	err = run(context.Background(), []string{"--mapping", unfit, "--dsn", shopDB(t), "--secrets-file", secrets}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), unfit+":2: tables.customers: column customers.nickname does not exist in the database") {
		t.Errorf("start with a mapping that does not fit: %v", err)
	}

	err = run(context.Background(), []string{"--mapping", unfit}, io.Discard, nil)
	if err == nil || !strings.Contains(err.Error(), "missing --dsn (or $SQL_DATASOURCE_DSN), --secrets-file") {
		t.Errorf("start without a database and secrets: %v", err)
	}
}

func TestServesTheExampleMapping(t *testing.T) {
	secret := protocol.NewSecret()
	key, _ := protocol.ParseKey(secret)
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"--mapping", "../../examples/sql-datasource/mapping.yaml", "--dsn", shopDB(t),
			"--secrets-file", writeFile(t, "secrets", protocol.NewSecret()+"\n"+secret+"\n"), "--listen", "127.0.0.1:0", "--base-path", "/privacy"}, io.Discard,
			func(a string) { addr <- a })
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a + "/privacy"
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})

	signed := func(method, path string, body any) (int, []byte) {
		var raw []byte
		if body != nil {
			raw, _ = json.Marshal(body)
		}
		req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
		if _, err := protocol.SignRequest(req, path, raw, time.Now(), key); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}

	code, body := signed(http.MethodGet, protocol.PathCapabilities, nil)
	var caps protocol.Capabilities
	_ = json.Unmarshal(body, &caps)
	if code != 200 || !slices.Equal(caps.Identities, []string{"email", "userId"}) || !slices.Equal(caps.Categories, []string{"billing", "contact", "usage"}) ||
		len(caps.RequestTypes) != 5 {
		t.Errorf("capabilities = %d %s; want derived from the mapping: identities email, userId; categories billing, contact, usage; all five types", code, body)
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(strings.TrimSuffix(base, "/privacy") + path)
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("GET %s: %v %v", path, resp, err)
		}
	}
	job := protocol.Job{APIVersion: protocol.APIVersion, Kind: protocol.KindJob, ID: "job-1", Type: protocol.JobDelete,
		Request: protocol.RequestRef{Name: "delete-ada", UID: "u1"}, Subject: &protocol.Subject{Identities: map[string]string{"email": "ada@example.com"}}}
	code, body = signed(http.MethodPost, protocol.PathJobs, job)
	var st protocol.JobStatus
	_ = json.Unmarshal(body, &st)
	if code != 200 || st.Status != protocol.StatusCompleted || st.Result.Records != 2 {
		t.Errorf("Delete answered %d %s, want Completed with 2 records (customer and order)", code, body)
	}
	if code, _ := signed(http.MethodGet, protocol.PathJobs+"/job-1", nil); code != 200 {
		t.Errorf("GET of the finished job: %d, want 200 from the job record", code)
	}
	// Unsigned requests are refused.
	resp, err := http.Post(base+protocol.PathJobs, "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("unsigned POST: %v %v, want 401", resp, err)
	}
}
