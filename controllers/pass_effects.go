package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/statuspatch"
)

// passEffects collects what a pass of the PrivacyRequest or RetentionPolicy
// reconciler decided, to be carried out only once its status is stored:
// state is recorded before side effects.
type passEffects struct {
	owner dispatch.Owner
	// pass is the job ledger at this pass's instant, now.
	pass *jobs.Pass
	now  time.Time
	// outcomes are the dispatcher's outcomes the pass read; consumed are
	// those it recorded in status.
	outcomes map[string]dispatch.Outcome
	consumed map[string]dispatch.Outcome
	submit   []dispatch.Work
	// ended are the job ids of sources that have finished, whose
	// dispatcher entries are released once status is stored.
	ended  []string
	events []passEvent
	// after runs once status is stored: metric updates and in-memory
	// bookkeeping, so that a pass retried after a write conflict does
	// neither twice.
	after     []func()
	requeueAt time.Time
	// committed: the status was stored and the effects carried out.
	committed bool

	// coalesce, when set, lets a pass that would only record outcomes
	// while deliveries of the same owner are still open wait (up to this
	// long after the oldest outcome arrived) for them, so that one status
	// write records them all. deliveriesOpen counts those deliveries.
	coalesce       time.Duration
	deliveriesOpen int
}

type passEvent struct {
	eventType, reason, note string
	// related is the DataSource an event is about, if any. Events are
	// grouped into series by object, reason and related object, so
	// without it "finished" at two sources would show as one event (x2).
	related *corev1.ObjectReference
}

func newPassEffects(d *dispatch.Dispatcher, owner dispatch.Owner) passEffects {
	return passEffects{owner: owner, outcomes: d.Outcomes(owner), consumed: map[string]dispatch.Outcome{}}
}

func (e *passEffects) event(eventType, reason, format string, args ...any) {
	e.events = append(e.events, passEvent{eventType: eventType, reason: reason, note: fmt.Sprintf(format, args...)})
}

// sourceEvent records an event about one DataSource's part in the pass
// (a failure), naming the DataSource as the related object.
func (e *passEffects) sourceEvent(namespace, name, eventType, reason, format string, args ...any) {
	ref := &corev1.ObjectReference{APIVersion: privacyv1alpha1.GroupVersion.String(), Kind: "DataSource", Namespace: namespace, Name: name}
	e.events = append(e.events, passEvent{eventType: eventType, reason: reason, note: fmt.Sprintf(format, args...), related: ref})
}

// result asks for the next pass at the earliest wake-up time, if any.
func (e *passEffects) result() ctrl.Result {
	if e.requeueAt.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(e.requeueAt.Sub(e.now), 100*time.Millisecond)}
}

// wakeAt asks for another pass at t (the earliest such time wins).
func (e *passEffects) wakeAt(t time.Time) {
	if e.requeueAt.IsZero() || t.Before(e.requeueAt) {
		e.requeueAt = t
	}
}

// finish ends a reconcile pass: status first (intent, such as attempts
// and job ids, and results are stored before any job is handed over or any
// outcome dropped), then the effects. On a write conflict the cache was
// behind; nothing was submitted or dropped, and the pass runs again
// shortly on fresher data. A phase's error is returned once status is
// stored; else the pass asks to run again at its earliest wake-up time.
func (e *passEffects) finish(ctx context.Context, w *Shared, before, after client.Object, phaseErr error) (ctrl.Result, error) {
	if wait, ok := e.waitForOpenDeliveries(phaseErr); ok {
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if phaseErr == nil {
		observeGeneration(after)
	}
	if conflict, err := e.commit(ctx, w.Client, w.Dispatcher, w.Recorder, before, after); conflict || err != nil {
		if err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if phaseErr != nil {
		return ctrl.Result{}, phaseErr
	}
	return e.result(), nil
}

// waitForOpenDeliveries reports whether the pass should store nothing yet,
// and for how long at most: it only records outcomes (nothing to hand
// over, no error) while other deliveries of the owner are still open, and
// its oldest outcome is younger than the coalesce window. The outcomes stay
// with the dispatcher; the last open delivery's outcome wakes the owner,
// and that pass records them all in one write. Nothing is held longer
// than the window, so a slow source never hides the others' answers.
func (e *passEffects) waitForOpenDeliveries(phaseErr error) (time.Duration, bool) {
	if e.coalesce <= 0 || phaseErr != nil || e.deliveriesOpen == 0 || len(e.submit) > 0 || len(e.consumed) == 0 {
		return 0, false
	}
	oldest := e.now
	for _, o := range e.consumed {
		if o.At.Before(oldest) {
			oldest = o.At
		}
	}
	wait := e.coalesce - e.now.Sub(oldest)
	if e.requeueAt.After(e.now) {
		wait = min(wait, e.requeueAt.Sub(e.now))
	}
	return wait, wait > 0
}

// commit stores the status (verified when outcomes were consumed, so that a
// stale view cannot drop them), then acknowledges the outcomes, hands the
// work to the dispatcher, records Events and metrics. conflict reports a
// pass that worked from a stale cache: nothing was carried out, and the
// caller runs it again shortly.
func (e *passEffects) commit(ctx context.Context, c client.Client, d *dispatch.Dispatcher, rec events.EventRecorder,
	before, after client.Object) (conflict bool, err error) {
	write := statuspatch.Patch
	if len(e.consumed) > 0 {
		write = statuspatch.PatchVerified
	}
	if _, err := write(ctx, c, before, after); err != nil {
		if apierrors.IsConflict(err) {
			return true, nil
		}
		return false, err
	}
	d.Ack(e.owner, e.consumed)
	d.Release(e.owner, e.ended)
	logger := log.FromContext(ctx)
	for id, o := range e.consumed {
		logger.V(1).Info("recorded job outcome", "job", id, "source", o.Source.String(), "op", o.Op, "result", o.Result)
	}
	for _, w := range e.submit {
		queued := d.Submit(w)
		logger.V(1).Info("submitted job work", "job", w.JobID, "source", w.Target.Source.String(), "op", w.Op, "queued", queued)
	}
	if rec != nil {
		for _, ev := range e.events {
			var related runtime.Object
			if ev.related != nil {
				related = ev.related
			}
			rec.Eventf(after, related, ev.eventType, ev.reason, ev.reason, "%s", ev.note)
		}
	}
	for _, f := range e.after {
		f()
	}
	e.committed = true
	return false, nil
}

// observeGeneration records that status describes the spec's generation.
// finish calls it only after a pass without error, so that a pass that
// failed half-way never claims to have seen the spec.
func observeGeneration(obj client.Object) {
	switch o := obj.(type) {
	case *privacyv1alpha1.PrivacyRequest:
		o.Status.ObservedGeneration = o.Generation
	case *privacyv1alpha1.RetentionPolicy:
		o.Status.ObservedGeneration = o.Generation
	case *privacyv1alpha1.DataSource:
		o.Status.ObservedGeneration = o.Generation
	}
}

// fetch reads the object of a reconcile request; when it is gone, forget
// drops what the reconciler kept about it, and found is false.
func (s *Shared) fetch(ctx context.Context, key client.ObjectKey, obj client.Object, forget func()) (found bool, err error) {
	if err := s.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			forget()
			return false, nil
		}
		return false, err
	}
	return true, nil
}
