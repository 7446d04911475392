package drp_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/drp"
)

// TestStatusMapping: each state of a PrivacyRequest in the protocol's
// terms, as docs/drp.md's table says.
func TestStatusMapping(t *testing.T) {
	at := func(s string) *metav1.Time { v, _ := time.Parse(time.RFC3339, s); m := metav1.NewTime(v); return &m }
	ready := func(status metav1.ConditionStatus, reason string) []metav1.Condition {
		return []metav1.Condition{{Type: privacyv1alpha1.ConditionReady, Status: status, Reason: reason}}
	}
	d := drp.Describer{ResultsURL: func(name string) (string, error) { return "https://privacy.example.com/status/sealed-" + name, nil }}
	base := func(edit func(*privacyv1alpha1.PrivacyRequest)) *privacyv1alpha1.PrivacyRequest {
		pr := &privacyv1alpha1.PrivacyRequest{ObjectMeta: metav1.ObjectMeta{Name: "pc-x", CreationTimestamp: *at("2026-12-01T10:00:00Z"),
			Annotations: map[string]string{drp.AnnotationAgentRequestID: "agent-7"}},
			Spec: privacyv1alpha1.PrivacyRequestSpec{Type: privacyv1alpha1.RequestTypeDelete, ReceivedAt: at("2026-12-01T09:59:00Z")}}
		edit(pr)
		return pr
	}
	completed := func(pr *privacyv1alpha1.PrivacyRequest, reason string, phases ...privacyv1alpha1.SourcePhase) {
		pr.Status.Phase, pr.Status.DueAt, pr.Status.Conditions = privacyv1alpha1.RequestPhaseCompleted, at("2027-01-15T09:59:00Z"), ready(metav1.ConditionTrue, reason)
		for _, p := range phases {
			e := privacyv1alpha1.SourceStatus{Phase: p}
			if p == privacyv1alpha1.SourcePhaseRefused {
				e.Exemption = "CCPA 1798.105(d)(8)"
			}
			pr.Status.Sources = append(pr.Status.Sources, e)
		}
	}
	for name, c := range map[string]struct {
		pr                            *privacyv1alpha1.PrivacyRequest
		status, reason, details, more string
	}{
		"created": {base(func(*privacyv1alpha1.PrivacyRequest) {}), "open", "", "", ""},
		"received, extended": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			pr.Status.Phase, pr.Status.DueAt = privacyv1alpha1.RequestPhaseInProgress, at("2027-02-28T09:59:00Z")
			pr.Spec.Extension = &privacyv1alpha1.Extension{Days: 45, Reason: "many systems to search"}
		}), "in_progress", "", "The due date was extended: many systems to search", "2027-02-28T09:59:00+00:00"},
		"awaiting approval": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			pr.Spec.Suspend, pr.Status.Phase = true, privacyv1alpha1.RequestPhasePending
		}), "in_progress", "", "reviewed", ""},
		"completed": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			completed(pr, privacyv1alpha1.ReasonCompleted, privacyv1alpha1.SourcePhaseCompleted)
		}), "fulfilled", "", "", ""},
		"nothing found": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			completed(pr, privacyv1alpha1.ReasonCompleted, privacyv1alpha1.SourcePhaseNotFound, privacyv1alpha1.SourcePhaseNotFound)
		}), "fulfilled", "", "holds no data", ""},
		"access with its export": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			pr.Spec.Type = privacyv1alpha1.RequestTypeAccess
			completed(pr, privacyv1alpha1.ReasonCompleted, privacyv1alpha1.SourcePhaseCompleted)
			pr.Status.Export = &privacyv1alpha1.ExportReference{Location: "exports/pc-x.json", ExpiresAt: *at("2026-12-08T10:00:00Z")}
		}), "fulfilled", "", "", "https://privacy.example.com/status/sealed-pc-x 2026-12-08T10:00:00+00:00"},
		"held": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			completed(pr, privacyv1alpha1.ReasonCompletedWithHolds, privacyv1alpha1.SourcePhaseCompleted, privacyv1alpha1.SourcePhaseHeld)
			pr.Status.Kept = []privacyv1alpha1.KeptData{{Categories: []privacyv1alpha1.DataCategory{"invoices"}, Basis: "tax law, 10 years"}}
		}), "fulfilled", "", "legal obligation: invoices (tax law, 10 years)", ""},
		"refused in part": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			completed(pr, privacyv1alpha1.ReasonCompletedWithRefusals, privacyv1alpha1.SourcePhaseCompleted, privacyv1alpha1.SourcePhaseRefused)
		}), "fulfilled", "", "Done in part: some data is kept as the law allows: CCPA 1798.105(d)(8)", ""},
		"refused everywhere": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			completed(pr, privacyv1alpha1.ReasonCompletedWithRefusals, privacyv1alpha1.SourcePhaseRefused, privacyv1alpha1.SourcePhaseNotFound)
		}), "denied", "claim_not_covered", "CCPA 1798.105(d)(8)", ""},
		"failed": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			pr.Status.Phase, pr.Status.Conditions = privacyv1alpha1.RequestPhaseFailed, ready(metav1.ConditionFalse, privacyv1alpha1.ReasonFailed)
		}), "denied", "other", "could not complete", ""},
		"late": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			pr.Status.Phase, pr.Status.Conditions = privacyv1alpha1.RequestPhaseFailed, ready(metav1.ConditionFalse, privacyv1alpha1.ReasonDeadlineExceeded)
		}), "denied", "other", "by its due date", ""},
		"revoked": {base(func(pr *privacyv1alpha1.PrivacyRequest) {
			pr.Status.Phase, pr.DeletionTimestamp = privacyv1alpha1.RequestPhaseInProgress, at("2026-12-02T10:00:00Z")
		}), "revoked", "", "", ""},
	} {
		st := d.Status(c.pr)
		if st.Status != c.status || st.Reason != c.reason || !strings.Contains(st.ProcessingDetails, c.details) || (c.details == "" && st.ProcessingDetails != "") {
			t.Errorf("%s: %+v, want %s/%s with details %q", name, st, c.status, c.reason, c.details)
		}
		if st.RequestID != "pc-x" || st.AgentRequestID != "agent-7" || st.ReceivedAt != "2026-12-01T09:59:00+00:00" {
			t.Errorf("%s: ids and received_at %+v", name, st)
		}
		switch {
		case strings.HasPrefix(c.more, "https://"):
			if st.ResultsURL+" "+st.ExpiresAt != c.more {
				t.Errorf("%s: results %q %q, want %q", name, st.ResultsURL, st.ExpiresAt, c.more)
			}
		case c.more != "":
			if st.ExpectedBy != c.more {
				t.Errorf("%s: expected_by %q, want %q", name, st.ExpectedBy, c.more)
			}
		case st.ResultsURL != "":
			t.Errorf("%s: a results_url without an export", name)
		}
	}
}
