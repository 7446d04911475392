// Package jobs is the ledger of per-source jobs: the one state machine that
// takes a source's entry in a PrivacyRequest or in a RetentionPolicy run
// from Pending through delivery, acceptance and polls to a final phase.
//
// It owns an entry's phase, attempts, next attempt (a delivery's lease, a
// poll's time or a retry's backoff), message and its Dispatched and
// Completed conditions, and the step from a dispatcher outcome to the next
// state. It reads time from one injected clock and does no I/O: the
// reconcilers gather the facts (the DataSource, what the dispatcher has
// open), act on its decisions (submit work, emit Events) and keep what is
// their own (identities and exports for requests, slots and history for
// policies).
package jobs

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// Entry is one source's job, as status stores it.
type Entry = privacyv1alpha1.SourceStatus

// DefaultLeaseMargin is added to a delivery's timeout before an attempt
// without outcome counts as lost (the operator restarted mid-delivery) and
// is sent again under the same job id.
const DefaultLeaseMargin = 30 * time.Second

// maxMessage is the API's limit on an entry's message.
const maxMessage = 1024

// Ledger holds the settings every entry shares.
type Ledger struct {
	Clock clock.PassiveClock
	// PollInterval is how long an accepted job waits for its callback
	// before the operator asks the source.
	PollInterval time.Duration
	// LeaseMargin: see DefaultLeaseMargin.
	LeaseMargin time.Duration
	// Backoff is the wait before retry number attempt; dispatch.Backoff
	// unless a test fixes it.
	Backoff func(attempt int, initial, max time.Duration) time.Duration
}

// Pass is the ledger at one instant, for the entries of one object: every
// decision of a reconcile pass uses the same now.
type Pass struct {
	l   Ledger
	now time.Time
	gen int64
	// exemptionsBarred says why no exemption may narrow the owner's jobs
	// ("": they may).
	exemptionsBarred string
}

// BarExemptions makes a refusal under an exemption fail the entry, for the
// reason why (a child's Delete: only a LegalHold keeps that data).
func (p *Pass) BarExemptions(why string) { p.exemptionsBarred = why }

// Pass reads the clock once for a reconcile pass over an object of the
// given generation (stamped on the entries' conditions).
func (l Ledger) Pass(generation int64) *Pass {
	if l.LeaseMargin <= 0 {
		l.LeaseMargin = DefaultLeaseMargin
	}
	if l.Backoff == nil {
		l.Backoff = dispatch.Backoff
	}
	return &Pass{l: l, now: l.Clock.Now(), gen: generation}
}

// Now is the pass's instant.
func (p *Pass) Now() time.Time { return p.now }

// Change is what a step did to an entry.
type Change struct {
	// Ended: the entry reached a final phase in this step.
	Ended bool
	// Failed: it ended Failed, for Reason with Message (PII-free); the
	// owner reports it as a Warning Event.
	Failed          bool
	Reason, Message string
	// WakeAt is when the entry wants another pass (zero: on an outcome).
	WakeAt time.Time
}

// Finished reports a final phase.
func Finished(p privacyv1alpha1.SourcePhase) bool {
	switch p {
	case privacyv1alpha1.SourcePhaseCompleted, privacyv1alpha1.SourcePhaseNotFound,
		privacyv1alpha1.SourcePhaseFailed, privacyv1alpha1.SourcePhaseCancelled,
		privacyv1alpha1.SourcePhaseHeld, privacyv1alpha1.SourcePhaseRefused:
		return true
	}
	return false
}

// Apply records a dispatcher outcome. A final answer that carries data is
// filed by the owner before Apply (and Apply is not called when that fails,
// so the outcome is applied again on the next pass).
func (p *Pass) Apply(e *Entry, o dispatch.Outcome, retry Retry) Change {
	switch o.Result {
	case dispatch.ResultFinal:
		return p.applyFinal(e, o.Status)
	case dispatch.ResultAccepted:
		e.Phase = privacyv1alpha1.SourcePhaseDispatched
		e.Message = ""
		p.setDispatched(e, metav1.ConditionTrue, privacyv1alpha1.ReasonAccepted, "The source accepted the job and works on it.")
		return p.waitUntil(e, p.now.Add(p.l.PollInterval))
	case dispatch.ResultRunning:
		// Running is an answer to a poll: the job stays where it is.
		return p.waitUntil(e, p.now.Add(p.l.PollInterval))
	case dispatch.ResultUnknown:
		// The source lost the job (it restarted without a durable store,
		// or dropped it when a hold asked to cancel it): deliver it again
		// under the same id; a job a hold covers is held at that point.
		if CancelRequested(e) {
			e.Hold = ""
		}
		e.Phase = privacyv1alpha1.SourcePhasePending
		e.NextAttemptAt = nil
		e.Message = "The source no longer knows the job; delivering it again."
		// Next, in the same pass, delivers it.
		return Change{}
	case dispatch.ResultPermanent:
		reason := privacyv1alpha1.ReasonRefused
		if o.Reason == privacyv1alpha1.ReasonResultTooLarge {
			reason = privacyv1alpha1.ReasonResultTooLarge
		}
		return p.Fail(e, reason, o.Message)
	case dispatch.ResultRetry:
		return p.applyRetry(e, o, retry)
	}
	return Change{}
}

func (p *Pass) applyFinal(e *Entry, st *protocol.JobStatus) Change {
	var records int64
	if st.Result != nil {
		records = st.Result.Records
	}
	if CancelRequested(e) && st.Status != protocol.StatusNotFound {
		return p.cancelAnswered(e, !st.Status.Succeeded(), records, st.Message)
	}
	if st.Status == protocol.StatusRefused {
		p.setDispatched(e, metav1.ConditionTrue, privacyv1alpha1.ReasonAccepted, "The source took the job.")
		return p.Refuse(e, st.Exemption, st.Message)
	}
	if st.Status == protocol.StatusFailed {
		// What a failed job did before it failed (rows purged) still counts.
		if st.Result != nil {
			e.Records = &records
		}
		// A final answer proves delivery, even when the Accepted outcome
		// was overtaken by the callback before this pass.
		p.setDispatched(e, metav1.ConditionTrue, privacyv1alpha1.ReasonAccepted, "The source took the job.")
		return p.Fail(e, privacyv1alpha1.ReasonSourceFailed, "The source reported failure: "+st.Message)
	}
	return p.succeed(e, st.Status == protocol.StatusNotFound, records, st.Message)
}

// succeed ends an entry Completed (or NotFound, also a success).
func (p *Pass) succeed(e *Entry, notFound bool, records int64, message string) Change {
	e.Records = &records
	e.NextAttemptAt = nil
	e.Message = truncate(message, maxMessage)
	// A job that succeeded is told in full by its phase, records and the
	// source's message: the conditions that tracked it under way would only
	// repeat that, in every copy of status (etcd, watches, caches), so they
	// go. Conditions that say something else (missing identity types) stay.
	conditions.Remove(&e.Conditions, privacyv1alpha1.SourceConditionDispatched)
	conditions.Remove(&e.Conditions, privacyv1alpha1.SourceConditionCompleted)
	if notFound {
		e.Phase = privacyv1alpha1.SourcePhaseNotFound
		return Change{Ended: true, Reason: privacyv1alpha1.ReasonNotFound}
	}
	e.Phase = privacyv1alpha1.SourcePhaseCompleted
	return Change{Ended: true, Reason: privacyv1alpha1.ReasonCompleted}
}

// Fail ends an entry as Failed for reason.
func (p *Pass) Fail(e *Entry, reason, message string) Change {
	e.Phase = privacyv1alpha1.SourcePhaseFailed
	e.NextAttemptAt = nil
	e.Message = truncate(message, maxMessage)
	p.setCompleted(e, metav1.ConditionFalse, reason, e.Message)
	return Change{Ended: true, Failed: true, Reason: reason, Message: e.Message}
}

// Withhold ends an entry as Held: a LegalHold keeps the job from the
// source. It is not a failure: the owner's account lists it as held, with
// the hold as its basis.
func (p *Pass) Withhold(e *Entry, hold, message string) Change {
	e.Phase = privacyv1alpha1.SourcePhaseHeld
	e.Hold = hold
	e.NextAttemptAt = nil
	e.Message = truncate(message, maxMessage)
	conditions.Remove(&e.Conditions, privacyv1alpha1.SourceConditionDispatched)
	p.setCompleted(e, metav1.ConditionFalse, privacyv1alpha1.ReasonLegalHold, e.Message)
	return Change{Ended: true, Reason: privacyv1alpha1.ReasonLegalHold, Message: e.Message}
}

// Hold keeps a job undelivered for a reason that may pass (a Secret not yet
// created, a source not Ready) and looks again after the poll interval.
func (p *Pass) Hold(e *Entry, reason, message string) Change {
	e.Message = truncate(message, maxMessage)
	p.setDispatched(e, metav1.ConditionFalse, reason, e.Message)
	return Change{WakeAt: p.now.Add(p.l.PollInterval)}
}

// Wait says that a job waits for something whose change wakes the owner by
// itself (a suspended DataSource resumed), without a timer.
func (p *Pass) Wait(e *Entry, reason, message string) Change {
	e.Message = truncate(message, maxMessage)
	p.setDispatched(e, metav1.ConditionFalse, reason, e.Message)
	return Change{}
}

// Deliver counts a delivery attempt and leases it: without an outcome by
// the lease's end (the exchange's timeout plus a margin), the delivery
// counts as lost and is sent again under the same job id.
func (p *Pass) Deliver(e *Entry, timeout time.Duration, retry Retry) Change {
	e.Attempts++
	// As status stores it (seconds), so that a pass compares like with like.
	at := metav1.NewTime(p.now.Truncate(time.Second))
	if e.FirstAttemptAt == nil {
		e.FirstAttemptAt = &at
	}
	e.LastAttemptAt = &at
	c := p.waitUntil(e, p.now.Add(timeout+p.l.LeaseMargin))
	p.setDispatched(e, metav1.ConditionFalse, privacyv1alpha1.ReasonDelivering, fmt.Sprintf("Delivering attempt %d of %d.", e.Attempts, retry.MaxAttempts))
	return c
}

// Poll schedules the next poll of an accepted job.
func (p *Pass) Poll(e *Entry) Change {
	return p.waitUntil(e, p.now.Add(p.l.PollInterval))
}

// Step is what an unfinished entry needs in this pass.
type Step int

// The steps.
const (
	// StepNone: nothing now (finished, waiting, or owner suspended).
	StepNone Step = iota
	// StepPoll: ask the source about the accepted job.
	StepPoll
	// StepDeliver: deliver the job (after the owner's own checks).
	StepDeliver
	// StepCancel: the deadline passed with the job at the source; the
	// entry is failed, and the owner tells the source to stop.
	StepCancel
)

// Facts are what the owner gathered about an entry's source for Next.
type Facts struct {
	// Source is the DataSource; nil when it was deleted.
	Source *privacyv1alpha1.DataSource
	// Deadline is when the owner stops waiting (the request's due date,
	// the run's next slot; zero: never); DeadlineMessage says so in the
	// entry.
	Deadline        time.Time
	DeadlineMessage string
	// CancelOnDeadline tells the source to stop a job still open at the
	// deadline (a request's; a purge that outruns its slot keeps going).
	CancelOnDeadline bool
	// OwnerSuspended holds every delivery and poll.
	OwnerSuspended bool
	// DeliveryOpen: the dispatcher has this job's delivery queued or open
	// in this process (Dispatcher.InFlight).
	DeliveryOpen bool
	// DeliveryKnown: the delivery is open or has an outcome not yet
	// acknowledged (Dispatcher.Pending). A delivery status calls under way
	// that this process does not know was started by one that is gone.
	DeliveryKnown bool
}

// Next decides what an unfinished entry needs now, recording in it what
// does not need the owner (a passed deadline, a deleted or unready source).
func (p *Pass) Next(e *Entry, f Facts) (Step, Change) {
	if Finished(e.Phase) {
		return StepNone, Change{}
	}
	if !f.Deadline.IsZero() && !p.now.Before(f.Deadline) {
		step := StepNone
		if f.CancelOnDeadline && e.Phase == privacyv1alpha1.SourcePhaseDispatched && f.Source != nil {
			step = StepCancel
		}
		return step, p.Fail(e, privacyv1alpha1.ReasonDeadlineExceeded, f.DeadlineMessage)
	}
	if f.Source == nil {
		return StepNone, p.Fail(e, privacyv1alpha1.ReasonSourceDeleted, "The DataSource was deleted before its job finished.")
	}
	if e.Phase == privacyv1alpha1.SourcePhaseDispatched && e.Task != "" {
		// A person works on the task; its outcome wakes the owner.
		return StepNone, Change{}
	}
	if e.NextAttemptAt != nil && p.now.Before(e.NextAttemptAt.Time) && !deliveryLost(e, f) {
		return StepNone, Change{WakeAt: e.NextAttemptAt.Time}
	}
	if f.OwnerSuspended {
		return StepNone, Change{}
	}
	if e.Phase == privacyv1alpha1.SourcePhaseDispatched {
		return StepPoll, p.Poll(e)
	}
	if f.DeliveryOpen {
		return StepNone, Change{}
	}
	ds := f.Source
	if ds.Spec.Suspend {
		return StepNone, p.Wait(e, privacyv1alpha1.ReasonSourceSuspended, "The DataSource is suspended; the job waits until it is resumed.")
	}
	if ready := conditions.Get(ds.Status.Conditions, privacyv1alpha1.ConditionReady); ready == nil || ready.Status != metav1.ConditionTrue {
		msg := "The DataSource is not Ready yet; the job waits for it until its deadline."
		if ready != nil {
			msg = fmt.Sprintf("The DataSource is not Ready (%s: %s); the job waits for it until its deadline.", ready.Reason, ready.Message)
		}
		return StepNone, p.Hold(e, privacyv1alpha1.ReasonSourceNotReady, msg)
	}
	if retry := RetryOf(ds); e.Attempts >= retry.MaxAttempts && ds.Spec.Manual == nil {
		// (A manual source's job is assigned, not retried: a task
		// created again is not another attempt.)
		return StepNone, p.Fail(e, privacyv1alpha1.ReasonRetriesExhausted, fmt.Sprintf("%d deliveries got no answer.", e.Attempts))
	}
	return StepDeliver, Change{}
}

// deliveryLost reports a delivery that status says is under way but that
// this process neither has open nor has an outcome for: it was started by
// an operator process that is gone. It is sent again at once (same job id,
// so the source applies it once) instead of after its lease.
func deliveryLost(e *Entry, f Facts) bool {
	if e.Phase != privacyv1alpha1.SourcePhasePending || e.Attempts == 0 || f.DeliveryKnown {
		return false
	}
	dispatched := conditions.Get(e.Conditions, privacyv1alpha1.SourceConditionDispatched)
	return dispatched != nil && dispatched.Reason == privacyv1alpha1.ReasonDelivering
}

func (p *Pass) waitUntil(e *Entry, t time.Time) Change {
	at := AttemptAt(t)
	e.NextAttemptAt = &at
	return Change{WakeAt: at.Time}
}

func (p *Pass) setDispatched(e *Entry, status metav1.ConditionStatus, reason, message string) {
	conditions.Set(&e.Conditions, p.gen, privacyv1alpha1.SourceConditionDispatched, status, reason, message)
}

func (p *Pass) setCompleted(e *Entry, status metav1.ConditionStatus, reason, message string) {
	conditions.Set(&e.Conditions, p.gen, privacyv1alpha1.SourceConditionCompleted, status, reason, message)
}

// AttemptAt is the time of a next attempt as status stores it: rounded up
// to the whole second, because metav1.Time keeps seconds only. Rounding
// down would wake the next pass early and spend one of maxAttempts before
// the wait a source asked for (Retry-After) was over.
func AttemptAt(t time.Time) metav1.Time {
	if r := t.Truncate(time.Second); !r.Equal(t) {
		t = r.Add(time.Second)
	}
	return metav1.NewTime(t)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
