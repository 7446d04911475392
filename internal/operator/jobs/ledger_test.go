package jobs

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

const poll = 30 * time.Second

// ledgerAt is a ledger whose backoff is exactly initial doubled per attempt
// (no jitter), so that waits can be asserted.
func ledgerAt(now time.Time) Ledger {
	return Ledger{
		Clock:        clocktesting.NewFakePassiveClock(now),
		PollInterval: poll,
		Backoff: func(attempt int, initial, max time.Duration) time.Duration {
			return min(initial<<(attempt-1), max)
		},
	}
}

var retry = Retry{MaxAttempts: 3, Initial: 10 * time.Second, Max: time.Minute}

// state is the part of an entry the table names.
type state struct {
	phase    privacyv1alpha1.SourcePhase
	attempts int32
}

func entry(st state) *Entry {
	return &Entry{Namespace: "ns", Name: "src", JobID: "pr-1", Phase: st.phase, Attempts: st.attempts}
}

func final(status protocol.Status, records int64) dispatch.Outcome {
	return dispatch.Outcome{Result: dispatch.ResultFinal, Status: &protocol.JobStatus{Status: status, Result: &protocol.Result{Records: records}}}
}

const (
	pending    = privacyv1alpha1.SourcePhasePending
	dispatched = privacyv1alpha1.SourcePhaseDispatched
	completed  = privacyv1alpha1.SourcePhaseCompleted
	notFound   = privacyv1alpha1.SourcePhaseNotFound
	failed     = privacyv1alpha1.SourcePhaseFailed
)

// TestApply is the ledger's transition table: (state, outcome, time) ->
// (state, wait until the next attempt, ended/failed and reason).
func TestApply(t *testing.T) {
	// now is not on a whole second: a next attempt is rounded up.
	now := t0.Add(400 * time.Millisecond)
	for _, tc := range []struct {
		name    string
		from    state
		outcome dispatch.Outcome
		want    state
		// wait is the next attempt's distance from now, rounded up to
		// the second as status stores it; 0: no next attempt.
		wait   time.Duration
		ended  bool
		failed bool
		reason string
	}{
		{"accepted: poll after the interval", state{pending, 1}, dispatch.Outcome{Result: dispatch.ResultAccepted},
			state{dispatched, 1}, poll + 600*time.Millisecond, false, false, ""},
		{"running (a poll): poll again, phase kept", state{dispatched, 1}, dispatch.Outcome{Result: dispatch.ResultRunning},
			state{dispatched, 1}, poll + 600*time.Millisecond, false, false, ""},
		{"running before accepted: still pending, not treated as accepted", state{pending, 1}, dispatch.Outcome{Result: dispatch.ResultRunning},
			state{pending, 1}, poll + 600*time.Millisecond, false, false, ""},
		{"unknown at the source: deliver again at once", state{dispatched, 1}, dispatch.Outcome{Result: dispatch.ResultUnknown},
			state{pending, 1}, 0, false, false, ""},
		{"completed", state{dispatched, 1}, final(protocol.StatusCompleted, 7),
			state{completed, 1}, 0, true, false, privacyv1alpha1.ReasonCompleted},
		{"completed synchronously", state{pending, 1}, final(protocol.StatusCompleted, 0),
			state{completed, 1}, 0, true, false, privacyv1alpha1.ReasonCompleted},
		{"not found is a success", state{dispatched, 1}, final(protocol.StatusNotFound, 0),
			state{notFound, 1}, 0, true, false, privacyv1alpha1.ReasonNotFound},
		{"source failed", state{dispatched, 1}, final(protocol.StatusFailed, 0),
			state{failed, 1}, 0, true, true, privacyv1alpha1.ReasonSourceFailed},
		{"refused (4xx)", state{pending, 1}, dispatch.Outcome{Result: dispatch.ResultPermanent, Message: "HTTP 400"},
			state{failed, 1}, 0, true, true, privacyv1alpha1.ReasonRefused},
		{"too large", state{pending, 1}, dispatch.Outcome{Result: dispatch.ResultPermanent, Reason: privacyv1alpha1.ReasonResultTooLarge},
			state{failed, 1}, 0, true, true, privacyv1alpha1.ReasonResultTooLarge},
		{"delivery failed: backoff 1", state{pending, 1}, dispatch.Outcome{Result: dispatch.ResultRetry},
			state{pending, 1}, 10*time.Second + 600*time.Millisecond, false, false, ""},
		{"delivery failed: backoff 2 doubles", state{pending, 2}, dispatch.Outcome{Result: dispatch.ResultRetry},
			state{pending, 2}, 20*time.Second + 600*time.Millisecond, false, false, ""},
		{"delivery failed: Retry-After wins over backoff", state{pending, 1}, dispatch.Outcome{Result: dispatch.ResultRetry, RetryAfter: 1500 * time.Millisecond},
			state{pending, 1}, 1600 * time.Millisecond, false, false, ""},
		{"delivery failed: Retry-After capped at maxBackoff", state{pending, 1}, dispatch.Outcome{Result: dispatch.ResultRetry, RetryAfter: time.Hour},
			state{pending, 1}, time.Minute + 600*time.Millisecond, false, false, ""},
		{"delivery failed: last attempt spent", state{pending, 3}, dispatch.Outcome{Result: dispatch.ResultRetry},
			state{failed, 3}, 0, true, true, privacyv1alpha1.ReasonRetriesExhausted},
		{"poll failed: ask again after the interval, no attempt spent", state{dispatched, 3}, dispatch.Outcome{Result: dispatch.ResultRetry},
			state{dispatched, 3}, poll + 600*time.Millisecond, false, false, ""},
		{"poll failed: Retry-After longer than the interval", state{dispatched, 1}, dispatch.Outcome{Result: dispatch.ResultRetry, RetryAfter: 45 * time.Second},
			state{dispatched, 1}, 45*time.Second + 600*time.Millisecond, false, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := entry(tc.from)
			c := ledgerAt(now).Pass(3).Apply(e, tc.outcome, retry)
			if got := (state{e.Phase, e.Attempts}); got != tc.want {
				t.Errorf("state = %+v, want %+v", got, tc.want)
			}
			var wait time.Duration
			if e.NextAttemptAt != nil {
				wait = e.NextAttemptAt.Sub(now)
			}
			if wait != tc.wait {
				t.Errorf("next attempt in %s, want %s", wait, tc.wait)
			}
			if tc.wait > 0 && !c.WakeAt.Equal(e.NextAttemptAt.Time) {
				t.Errorf("wakes at %s, not at the next attempt %s", c.WakeAt, e.NextAttemptAt)
			}
			if c.Ended != tc.ended || c.Failed != tc.failed || c.Reason != tc.reason {
				t.Errorf("change = %+v, want ended=%v failed=%v reason=%q", c, tc.ended, tc.failed, tc.reason)
			}
			switch {
			case tc.failed:
				done := conditions.Get(e.Conditions, privacyv1alpha1.SourceConditionCompleted)
				if done == nil || done.Status != metav1.ConditionFalse || done.Reason != tc.reason || done.ObservedGeneration != 3 {
					t.Errorf("Completed condition = %+v, want False, reason %s at generation 3", done, tc.reason)
				}
			case tc.ended:
				if len(e.Conditions) != 0 {
					t.Errorf("a job that succeeded keeps conditions %+v: its phase, records and message say it all", e.Conditions)
				}
			}
		})
	}
}

func TestApplyFinalKeepsRecordsAndProvesDelivery(t *testing.T) {
	e := entry(state{dispatched, 1})
	conditions.Set(&e.Conditions, 1, privacyv1alpha1.SourceConditionIdentitiesComplete, metav1.ConditionFalse, privacyv1alpha1.ReasonMissingIdentities, "phone")
	ledgerAt(t0).Pass(1).Apply(e, dispatch.Outcome{Result: dispatch.ResultAccepted}, retry)
	ledgerAt(t0).Pass(1).Apply(e, final(protocol.StatusCompleted, 7), retry)
	if e.Records == nil || *e.Records != 7 {
		t.Errorf("records = %v, want 7", e.Records)
	}
	if len(e.Conditions) != 1 || e.Conditions[0].Type != privacyv1alpha1.SourceConditionIdentitiesComplete {
		t.Errorf("conditions = %+v, want only the one that says something the phase does not", e.Conditions)
	}

	failed := entry(state{pending, 1})
	ledgerAt(t0).Pass(1).Apply(failed, dispatch.Outcome{Result: dispatch.ResultFinal,
		Status: &protocol.JobStatus{Status: protocol.StatusFailed, Result: &protocol.Result{Records: 3}}}, retry)
	if d := conditions.Get(failed.Conditions, privacyv1alpha1.SourceConditionDispatched); d == nil || d.Status != metav1.ConditionTrue {
		t.Errorf("Dispatched = %+v, want True: a final answer proves delivery", d)
	}
	if failed.Records == nil || *failed.Records != 3 {
		t.Errorf("records of a failed job = %v, want the 3 it reported", failed.Records)
	}
}

func readySource() *privacyv1alpha1.DataSource {
	ds := &privacyv1alpha1.DataSource{}
	ds.Spec.Retry.MaxAttempts = 3
	conditions.Set(&ds.Status.Conditions, 1, privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded, "")
	return ds
}

// TestNext is the table of what an unfinished entry needs: (state, facts,
// time) -> (step, state, wait).
func TestNext(t *testing.T) {
	now := t0
	notReady := readySource()
	conditions.Set(&notReady.Status.Conditions, 1, privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonEndpointUnreachable, "down")
	suspended := readySource()
	suspended.Spec.Suspend = true
	future := metav1.NewTime(now.Add(10 * time.Second))
	past := metav1.NewTime(now.Add(-time.Second))
	delivering := func(e *Entry) {
		conditions.Set(&e.Conditions, 1, privacyv1alpha1.SourceConditionDispatched, metav1.ConditionFalse, privacyv1alpha1.ReasonDelivering, "")
	}
	for _, tc := range []struct {
		name   string
		from   state
		next   *metav1.Time
		setup  func(*Entry)
		facts  Facts
		step   Step
		want   privacyv1alpha1.SourcePhase
		reason string // of the last condition set, if any
		wake   time.Duration
	}{
		{"due and ready: deliver", state{pending, 0}, nil, nil, Facts{Source: readySource()}, StepDeliver, pending, "", 0},
		{"before its deadline: deliver", state{pending, 0}, nil, nil, Facts{Source: readySource(), Deadline: now.Add(time.Second)}, StepDeliver, pending, "", 0},
		{"retry not due yet: wait for it", state{pending, 1}, &future, nil, Facts{Source: readySource()}, StepNone, pending, "", 10 * time.Second},
		{"retry due: deliver", state{pending, 1}, &past, nil, Facts{Source: readySource()}, StepDeliver, pending, "", 0},
		{"accepted and poll due: poll", state{dispatched, 1}, &past, nil, Facts{Source: readySource()}, StepPoll, dispatched, "", poll},
		{"deadline passed while at the source: fail and cancel", state{dispatched, 1}, &future, nil,
			Facts{Source: readySource(), Deadline: now, CancelOnDeadline: true}, StepCancel, failed, privacyv1alpha1.ReasonDeadlineExceeded, 0},
		{"slot passed while at the source: fail, the purge goes on", state{dispatched, 1}, &future, nil,
			Facts{Source: readySource(), Deadline: now}, StepNone, failed, privacyv1alpha1.ReasonDeadlineExceeded, 0},
		{"deadline passed before delivery: fail", state{pending, 0}, nil, nil,
			Facts{Source: readySource(), Deadline: now.Add(-time.Hour)}, StepNone, failed, privacyv1alpha1.ReasonDeadlineExceeded, 0},
		{"source deleted: fail", state{dispatched, 1}, nil, nil, Facts{}, StepNone, failed, privacyv1alpha1.ReasonSourceDeleted, 0},
		{"owner suspended: nothing", state{pending, 0}, nil, nil, Facts{Source: readySource(), OwnerSuspended: true}, StepNone, pending, "", 0},
		{"delivery open in this process: nothing", state{pending, 1}, &past, nil, Facts{Source: readySource(), DeliveryOpen: true, DeliveryKnown: true}, StepNone, pending, "", 0},
		{"source suspended: wait without a timer", state{pending, 0}, nil, nil, Facts{Source: suspended}, StepNone, pending, privacyv1alpha1.ReasonSourceSuspended, 0},
		{"source not ready: hold, look again after the interval", state{pending, 0}, nil, nil, Facts{Source: notReady}, StepNone, pending, privacyv1alpha1.ReasonSourceNotReady, poll},
		{"attempts spent without an answer: fail", state{pending, 3}, &past, nil, Facts{Source: readySource()}, StepNone, failed, privacyv1alpha1.ReasonRetriesExhausted, 0},
		{"lease running, delivery known here: wait for the lease", state{pending, 1}, &future, delivering,
			Facts{Source: readySource(), DeliveryKnown: true}, StepNone, pending, privacyv1alpha1.ReasonDelivering, 10 * time.Second},
		{"lease running, delivery unknown here (operator restarted): deliver again now", state{pending, 1}, &future, delivering,
			Facts{Source: readySource()}, StepDeliver, pending, privacyv1alpha1.ReasonDelivering, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := entry(tc.from)
			e.NextAttemptAt = tc.next
			if tc.setup != nil {
				tc.setup(e)
			}
			step, c := ledgerAt(now).Pass(1).Next(e, tc.facts)
			if step != tc.step || e.Phase != tc.want {
				t.Errorf("step %d, phase %s; want step %d, phase %s", step, e.Phase, tc.step, tc.want)
			}
			var wake time.Duration
			if !c.WakeAt.IsZero() {
				wake = c.WakeAt.Sub(now)
			}
			if wake != tc.wake {
				t.Errorf("wakes in %s, want %s", wake, tc.wake)
			}
			if tc.reason != "" && !hasReason(e, tc.reason) {
				t.Errorf("conditions %+v lack reason %s", e.Conditions, tc.reason)
			}
			if c.Failed && e.Phase != failed {
				t.Errorf("a failed change left phase %s", e.Phase)
			}
		})
	}
}

func hasReason(e *Entry, reason string) bool {
	for _, c := range e.Conditions {
		if c.Reason == reason {
			return true
		}
	}
	return false
}

func TestDeliverCountsTheAttemptAndLeasesIt(t *testing.T) {
	now := t0.Add(250 * time.Millisecond)
	e := entry(state{pending, 0})
	c := ledgerAt(now).Pass(1).Deliver(e, 30*time.Second, retry)
	if e.Attempts != 1 {
		t.Errorf("attempts = %d, want 1", e.Attempts)
	}
	// The lease is the exchange's timeout plus the margin, rounded up.
	want := AttemptAt(now.Add(30*time.Second + DefaultLeaseMargin)).Time
	if !e.NextAttemptAt.Time.Equal(want) || !c.WakeAt.Equal(want) {
		t.Errorf("lease until %s (wake %s), want %s", e.NextAttemptAt, c.WakeAt, want)
	}
	if !hasReason(e, privacyv1alpha1.ReasonDelivering) {
		t.Errorf("no Delivering condition: %+v", e.Conditions)
	}
	if !e.FirstAttemptAt.Time.Equal(now.Truncate(time.Second)) || !e.LastAttemptAt.Equal(e.FirstAttemptAt) {
		t.Errorf("first/last attempt %v/%v, want both %s", e.FirstAttemptAt, e.LastAttemptAt, now)
	}
	// A second delivery moves the last attempt only.
	later := now.Add(time.Minute)
	ledgerAt(later).Pass(1).Deliver(e, 30*time.Second, retry)
	if !e.FirstAttemptAt.Time.Equal(now.Truncate(time.Second)) || !e.LastAttemptAt.Time.Equal(later.Truncate(time.Second)) || e.Attempts != 2 {
		t.Errorf("after a retry: first %v last %v attempts %d", e.FirstAttemptAt, e.LastAttemptAt, e.Attempts)
	}
}

func TestWithholdEndsTheEntryHeldNotFailed(t *testing.T) {
	e := entry(state{pending, 0})
	c := ledgerAt(t0).Pass(1).Withhold(e, "matter-114", "Held by LegalHold matter-114.")
	if e.Phase != privacyv1alpha1.SourcePhaseHeld || e.Hold != "matter-114" || !Finished(e.Phase) {
		t.Errorf("phase %s hold %q", e.Phase, e.Hold)
	}
	if !c.Ended || c.Failed || c.Reason != privacyv1alpha1.ReasonLegalHold {
		t.Errorf("change %+v: want ended, not failed, reason LegalHold", c)
	}
	if !hasReason(e, privacyv1alpha1.ReasonLegalHold) {
		t.Errorf("no LegalHold condition: %+v", e.Conditions)
	}
}

func TestFinishedEntriesAreLeftAlone(t *testing.T) {
	for _, p := range []privacyv1alpha1.SourcePhase{completed, notFound, failed, privacyv1alpha1.SourcePhaseCancelled, privacyv1alpha1.SourcePhaseHeld} {
		e := entry(state{p, 1})
		step, c := ledgerAt(t0).Pass(1).Next(e, Facts{Deadline: t0.Add(-time.Hour)})
		if step != StepNone || c != (Change{}) || e.Phase != p {
			t.Errorf("%s: step %d change %+v phase %s; want nothing", p, step, c, e.Phase)
		}
	}
}

func TestAttemptAtRoundsUp(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{0: 0, time.Millisecond: time.Second, time.Second: time.Second, 1001 * time.Millisecond: 2 * time.Second} {
		if got := AttemptAt(t0.Add(in)).Sub(t0); got != want {
			t.Errorf("AttemptAt(+%s) = +%s, want +%s", in, got, want)
		}
	}
}

func TestRetryOf(t *testing.T) {
	if got := RetryOf(nil); got != (Retry{MaxAttempts: 5, Initial: 10 * time.Second, Max: 10 * time.Minute}) {
		t.Errorf("defaults = %+v", got)
	}
	ds := &privacyv1alpha1.DataSource{}
	ds.Spec.Retry = privacyv1alpha1.RetryPolicy{MaxAttempts: 2, InitialBackoff: &metav1.Duration{Duration: time.Second}, MaxBackoff: &metav1.Duration{Duration: 5 * time.Second}}
	if got := RetryOf(ds); got != (Retry{MaxAttempts: 2, Initial: time.Second, Max: 5 * time.Second}) {
		t.Errorf("from spec = %+v", got)
	}
}
