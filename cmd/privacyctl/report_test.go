package main_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// TestReport counts what the receipts say of a period, per type: whole,
// in part (a held or refused source beside one that acted), not complied
// (failed, cancelled, or no source acted: denied), days from receipt
// (receivedAt when set) to the answer.
func TestReport(t *testing.T) {
	dir := t.TempDir()
	store, err := receipt.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	l, err := receipt.OpenLog(context.Background(), store, func(context.Context) (receipt.Signer, error) { return receipt.Signer{Key: key}, nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	day := func(d int) time.Time { return time.Date(2026, 3, d, 0, 0, 0, 0, time.UTC) }
	add := func(typ string, created time.Time, received *time.Time, took time.Duration, outcome receipt.Outcome, sources ...receipt.Outcome) {
		t.Helper()
		child := strings.HasSuffix(typ, "!")
		typ = strings.TrimSuffix(typ, "!")
		r := &receipt.Request{Name: fmt.Sprintf("r-%d", created.UnixNano()+int64(took)), UID: "u", Type: typ, Regulation: "CCPA", Child: child,
			CreatedAt: created, ReceivedAt: received, DueAt: created.Add(45 * 24 * time.Hour), FinishedAt: created.Add(took), Outcome: outcome}
		for i, o := range sources {
			r.Sources = append(r.Sources, receipt.Source{Namespace: "a", Name: fmt.Sprint("s", i), Outcome: o})
		}
		if _, err := l.Append(context.Background(), &receipt.Receipt{Kind: receipt.KindPrivacyRequest, Request: r}); err != nil {
			t.Fatal(err)
		}
	}
	d := 24 * time.Hour
	add("Access", day(2), nil, 2*d, receipt.OutcomeCompleted)
	add("Access", day(3), nil, 4*d, receipt.OutcomeCompleted, receipt.OutcomeNotFound)
	add("Access", day(4), nil, 9*d, receipt.OutcomeCompleted, receipt.OutcomeCompleted, receipt.OutcomeHeld)
	mailed := day(10)
	add("Delete", day(15), &mailed, d, receipt.OutcomeCompleted) // 6 days from receipt
	add("Delete", day(16), nil, 3*d, receipt.OutcomeFailed)
	add("Delete", day(17), nil, 2*d, receipt.OutcomeCompleted, receipt.OutcomeCompleted, receipt.OutcomeRefused) // in part
	add("Delete", day(18), nil, 4*d, receipt.OutcomeCompleted, receipt.OutcomeRefused, receipt.OutcomeHeld)      // denied
	add("OptOut", day(20), nil, d, receipt.OutcomeCancelled)
	add("Delete!", day(21), nil, 2*d, receipt.OutcomeCompleted)                                  // a child's data: its own row
	add("Access", time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC), nil, d, receipt.OutcomeCompleted) // outside
	before := day(1).Add(-time.Hour)
	add("Delete", day(1), &before, d, receipt.OutcomeCompleted) // received before the period

	r := run(t, "", nil, "receipts", "report", "--from", "2026-03-01", "--to", "2026-04-01", "--dir", dir, "--csv")
	if r.code != 0 {
		t.Fatalf("%+v", r)
	}
	want := "type,received,complied_in_whole,complied_in_part,not_complied,median_days,mean_days\n" +
		"Access,3,2,1,0,4.0,5.0\n" +
		"Delete,4,1,1,2,3.5,3.8\n" +
		"Delete (child),1,1,0,0,2.0,2.0\n" +
		"Correct,0,0,0,0,-,-\n" +
		"OptOut,1,0,0,1,1.0,1.0\n" +
		"Total,9,4,2,3,3.0,3.7\n"
	if r.stdout != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", r.stdout, want)
	}
	table := run(t, "", nil, "receipts", "report", "--from", "2026-03-01", "--to", "2026-04-01", "--dir", dir)
	if table.code != 0 || !strings.Contains(table.stdout, "COMPLIED IN WHOLE") || !strings.Contains(table.stdout, "Total") {
		t.Errorf("table: %+v", table)
	}
	for _, bad := range [][]string{
		{"receipts", "report", "--to", "2026-04-01", "--dir", dir},
		{"receipts", "report", "--from", "March", "--to", "2026-04-01", "--dir", dir},
		{"receipts", "report", "--from", "2026-04-01", "--to", "2026-03-01", "--dir", dir},
	} {
		if r := run(t, "", nil, bad...); r.code != 2 || r.stderr == "" {
			t.Errorf("%v: %+v, want exit 2 with a message", bad, r)
		}
	}
}
