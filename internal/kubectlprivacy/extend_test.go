package kubectlprivacy_test

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

func TestExtend(t *testing.T) {
	kubeconfig := reviewer(t, "reviewer-erin")
	due := at(5 * 24 * time.Hour)
	create(t, "delete-to-extend", nil, privacyv1alpha1.PrivacyRequestStatus{Phase: privacyv1alpha1.RequestPhaseInProgress, DueAt: due})

	for _, bad := range [][]string{
		{"extend", "delete-to-extend", "--reason", "complex"},
		{"extend", "delete-to-extend", "--days", "0", "--reason", "complex"},
		{"extend", "delete-to-extend", "--days", "30"},
		{"extend", "delete-to-extend", "--days", "30", "--reason", strings.Repeat("x", 1025)},
	} {
		if r := run(t, kubeconfig, bad...); r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, "--") {
			t.Errorf("%v: %+v, want a flag error and exit 2", bad, r)
		}
	}

	r := run(t, kubeconfig, "extend", "delete-to-extend", "--days", "30", "--reason", "records in three archives")
	want := "privacyrequest/delete-to-extend extended by 30 days: due " + due.Add(30*24*time.Hour).UTC().Format(time.RFC3339) +
		" instead of " + due.UTC().Format(time.RFC3339) + "\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("%+v, want %q", r, want)
	}
	got := &privacyv1alpha1.PrivacyRequest{}
	if err := admin.Get(context.Background(), client.ObjectKey{Name: "delete-to-extend"}, got); err != nil {
		t.Fatal(err)
	}
	if e := got.Spec.Extension; e == nil || e.Days != 30 || e.Reason != "records in three archives" {
		t.Errorf("spec.extension after extend: %+v", e)
	}
	if r := run(t, kubeconfig, "extend", "delete-to-extend", "--days", "10", "--reason", "again"); r.code != 2 ||
		!strings.Contains(r.stderr, "already extended by 30 days (records in three archives): an extension is set once") {
		t.Errorf("extending twice: %+v", r)
	}

	// The regulation's bound is the API's, as it words it.
	create(t, "optout-ccpa", func(s *privacyv1alpha1.PrivacyRequestSpec) {
		s.Type, s.Regulation = privacyv1alpha1.RequestTypeOptOut, privacyv1alpha1.RegulationCCPA
	}, privacyv1alpha1.PrivacyRequestStatus{Phase: privacyv1alpha1.RequestPhasePending, DueAt: due})
	if r := run(t, kubeconfig, "extend", "optout-ccpa", "--days", "5", "--reason", "complex"); r.code != 2 ||
		!strings.Contains(r.stderr, "the API refused the extension: CCPA allows no extension of an opt-out") {
		t.Errorf("extending a CCPA opt-out: %+v", r)
	}

	create(t, "delete-done", nil, privacyv1alpha1.PrivacyRequestStatus{Phase: privacyv1alpha1.RequestPhaseCompleted, DueAt: due})
	if r := run(t, kubeconfig, "extend", "delete-done", "--days", "5", "--reason", "late"); r.code != 2 ||
		!strings.Contains(r.stderr, "is Completed: a finished request's account is closed") {
		t.Errorf("extending a finished request: %+v", r)
	}
}

func TestFingerprint(t *testing.T) {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	keyFile := filepath.Join(t.TempDir(), "fingerprint.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, "", "fingerprint", "--identity", "email=grace@example.com", "--fingerprint-key-file", keyFile)
	if r.code != 0 || !strings.Contains(r.stdout, receipt.Fingerprint(key, "email", "grace@example.com")) {
		t.Fatalf("%+v", r)
	}
	if strings.Contains(r.stdout+r.stderr, "grace@example.com") {
		t.Errorf("the identity was printed: %+v", r)
	}
	if r := run(t, "", "fingerprint", "--fingerprint-key-file", keyFile); r.code != 2 {
		t.Errorf("no identity: %+v, want exit 2", r)
	}
}

func TestReport(t *testing.T) {
	dir, _ := receiptLog(t)
	r := run(t, "", "report", "--from", "2000-01-01", "--to", "2100-01-01", "--dir", dir, "--csv")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "type,received,complied_in_whole,") || !strings.Contains(r.stdout, "\nTotal,") {
		t.Fatalf("%+v", r)
	}
	if r := run(t, "", "report", "--dir", dir); r.code != 2 || !strings.Contains(r.stderr, "--from") {
		t.Errorf("without a period: %+v", r)
	}
}
