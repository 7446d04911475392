package jobs

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
)

func manualSource() *privacyv1alpha1.DataSource {
	return &privacyv1alpha1.DataSource{
		Spec: privacyv1alpha1.DataSourceSpec{Manual: &privacyv1alpha1.ManualSource{Instructions: "by hand", SLADays: 7}},
		Status: privacyv1alpha1.DataSourceStatus{Conditions: []metav1.Condition{{
			Type: privacyv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: privacyv1alpha1.ReasonManual,
		}}},
	}
}

// A manual source's job: assigned once as a task, never polled, ended by
// the person's outcome, put back when its task is lost.
func TestTaskLifecycle(t *testing.T) {
	p := ledgerAt(t0).Pass(1)
	e := entry(state{phase: pending})
	if step, _ := p.Next(e, Facts{Source: manualSource()}); step != StepDeliver {
		t.Fatalf("a pending job at a manual source: step %v, want StepDeliver", step)
	}
	if c := p.Assign(e, "pr-1", t0.Add(7*24*time.Hour)); !c.WakeAt.IsZero() || c.Ended {
		t.Fatalf("Assign: %+v, want no timer and not ended", c)
	}
	if e.Phase != dispatched || e.Attempts != 1 || e.Task != "pr-1" || e.NextAttemptAt != nil || e.FirstAttemptAt == nil {
		t.Fatalf("assigned entry: %+v", e)
	}
	if c := conditions.Get(e.Conditions, privacyv1alpha1.SourceConditionDispatched); c == nil || c.Reason != privacyv1alpha1.ReasonTaskAssigned {
		t.Fatalf("Dispatched condition: %+v", c)
	}
	later := ledgerAt(t0.Add(time.Hour)).Pass(1)
	if step, c := later.Next(e, Facts{Source: manualSource()}); step != StepNone || !c.WakeAt.IsZero() {
		t.Fatalf("an assigned task: step %v, change %+v; want nothing, no poll timer", step, c)
	}
	if step, c := later.Next(e, Facts{Source: manualSource(), Deadline: t0.Add(time.Minute), CancelOnDeadline: true}); step != StepCancel || !c.Failed || c.Reason != privacyv1alpha1.ReasonDeadlineExceeded {
		t.Fatalf("past the deadline: step %v, change %+v", step, c)
	}

	e = entry(state{phase: pending})
	p.Assign(e, "pr-1", t0)
	p.TaskLost(e, "lost")
	if e.Phase != pending || e.Attempts != 1 {
		t.Fatalf("a lost task: %+v, want pending with its one attempt", e)
	}
	one := manualSource()
	one.Spec.Retry.MaxAttempts = 1
	if step, c := p.Next(e, Facts{Source: one}); step != StepDeliver || c.Failed {
		t.Fatalf("a lost task at a source allowing one attempt: step %v, change %+v; want it created again", step, c)
	}
	p.Assign(e, "pr-1", t0)
	if e.Attempts != 1 {
		t.Fatalf("a task created again is not a second attempt: %d", e.Attempts)
	}
}

func TestApplyTask(t *testing.T) {
	three := int64(3)
	for _, tc := range []struct {
		result  privacyv1alpha1.TaskResult
		phase   privacyv1alpha1.SourcePhase
		failed  bool
		reason  string
		message string
		records *int64
	}{
		{privacyv1alpha1.TaskResultCompleted, completed, false, privacyv1alpha1.ReasonCompleted, "Completed by alice: shredded", &three},
		{privacyv1alpha1.TaskResultNotFound, notFound, false, privacyv1alpha1.ReasonNotFound, "Completed by alice: shredded", &three},
		{privacyv1alpha1.TaskResultFailed, failed, true, privacyv1alpha1.ReasonTaskFailed, "Task failed, reported by alice: shredded", &three},
		{privacyv1alpha1.TaskResultRefused, failed, true, privacyv1alpha1.ReasonTaskRefused, "Task refused by alice: shredded", nil},
	} {
		t.Run(string(tc.result), func(t *testing.T) {
			p := ledgerAt(t0).Pass(1)
			e := entry(state{phase: pending})
			p.Assign(e, "pr-1", t0)
			c := p.ApplyTask(e, privacyv1alpha1.TaskOutcome{Result: tc.result, Records: &three, Note: "shredded", CompletedBy: "alice"})
			if !c.Ended || c.Failed != tc.failed || c.Reason != tc.reason {
				t.Fatalf("change %+v", c)
			}
			if e.Phase != tc.phase || e.Message != tc.message || e.CompletedBy != "alice" {
				t.Fatalf("entry %+v", e)
			}
			if (tc.records == nil) != (e.Records == nil) || (e.Records != nil && *e.Records != *tc.records) {
				t.Fatalf("records %v, want %v", e.Records, tc.records)
			}
		})
	}
}
