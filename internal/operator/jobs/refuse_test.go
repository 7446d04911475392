package jobs

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

func refusedAnswer(exemption string) dispatch.Outcome {
	return dispatch.Outcome{Result: dispatch.ResultFinal, Status: &protocol.JobStatus{
		Status: protocol.StatusRefused, Exemption: exemption, Message: "Kept to complete the order.",
	}}
}

// A refusal under an exemption ends the entry Refused with its basis, not
// Failed; one without a basis, or while exemptions are barred (a child's
// Delete), fails it.
func TestRefuse(t *testing.T) {
	for _, tc := range []struct {
		name      string
		exemption string
		barred    bool
		want      privacyv1alpha1.SourcePhase
		reason    string
		failed    bool
	}{
		{"with its basis", "CCPA 1798.105(d)(8)", false, privacyv1alpha1.SourcePhaseRefused, privacyv1alpha1.ReasonRefusedUnderExemption, false},
		{"basis trimmed", "  GDPR Art. 17(3)(b) ", false, privacyv1alpha1.SourcePhaseRefused, privacyv1alpha1.ReasonRefusedUnderExemption, false},
		{"without a basis", " ", false, failed, privacyv1alpha1.ReasonSourceFailed, true},
		{"a basis too long to keep", strings.Repeat("x", protocol.MaxExemption+1), false, failed, privacyv1alpha1.ReasonSourceFailed, true},
		{"a child's Delete", "CCPA 1798.105(d)(8)", true, failed, privacyv1alpha1.ReasonExemptionNotAllowed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ledgerAt(t0).Pass(1)
			if tc.barred {
				p.BarExemptions("a child's data is deleted whatever the exemption.")
			}
			e := entry(state{dispatched, 1})
			c := p.Apply(e, refusedAnswer(tc.exemption), retry)
			if e.Phase != tc.want || c.Reason != tc.reason || c.Failed != tc.failed || !c.Ended || !Finished(e.Phase) {
				t.Fatalf("entry %s, change %+v; want %s, reason %s, failed %v", e.Phase, c, tc.want, tc.reason, tc.failed)
			}
			cond := conditions.Get(e.Conditions, privacyv1alpha1.SourceConditionCompleted)
			if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != tc.reason {
				t.Fatalf("Completed condition %+v", cond)
			}
			if tc.want == privacyv1alpha1.SourcePhaseRefused {
				if e.Exemption != strings.TrimSpace(tc.exemption) || e.Message != "Kept to complete the order." {
					t.Fatalf("entry %+v", e)
				}
			} else if e.Exemption != "" {
				t.Fatalf("a failed entry keeps an exemption: %q", e.Exemption)
			}
		})
	}
}

// A refusal answered to a cancel (a hold arrived) is as good as a cancel:
// the job was not done, so the entry ends Held.
func TestRefuseAnsweringACancel(t *testing.T) {
	p := ledgerAt(t0).Pass(1)
	e := entry(state{dispatched, 1})
	if cancel, _ := p.HoldUnderWay(e, "hold-1", "LegalHold hold-1 covers this job."); !cancel {
		t.Fatal("no cancel asked")
	}
	p.Apply(e, refusedAnswer("CCPA 1798.105(d)(8)"), retry)
	if e.Phase != privacyv1alpha1.SourcePhaseHeld || e.Hold != "hold-1" {
		t.Fatalf("entry %s hold %q, want Held by hold-1", e.Phase, e.Hold)
	}
}

// A person's Refused outcome with an exemption refuses the entry; an
// outcome from before exemptions existed (none named) still fails it.
func TestApplyTaskRefused(t *testing.T) {
	p := ledgerAt(t0).Pass(1)
	at := metav1.NewTime(t0.Add(time.Hour))
	e := entry(state{dispatched, 1})
	c := p.ApplyTask(e, privacyv1alpha1.TaskOutcome{Result: privacyv1alpha1.TaskResultRefused, Exemption: "HGB 257", Note: "Invoices kept", CompletedBy: "carol", CompletedAt: at})
	if e.Phase != privacyv1alpha1.SourcePhaseRefused || e.Exemption != "HGB 257" || c.Failed || e.CompletedBy != "carol" || !strings.Contains(e.Message, "Invoices kept") {
		t.Fatalf("entry %+v change %+v", e, c)
	}
	e = entry(state{dispatched, 1})
	c = p.ApplyTask(e, privacyv1alpha1.TaskOutcome{Result: privacyv1alpha1.TaskResultRefused, Note: "tax law", CompletedBy: "carol", CompletedAt: at})
	if e.Phase != failed || c.Reason != privacyv1alpha1.ReasonTaskRefused {
		t.Fatalf("an outcome without exemption: %s %+v", e.Phase, c)
	}
}
