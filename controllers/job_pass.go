package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// jobPass drives the job ledger over one object's per-source entries for
// the PrivacyRequest and RetentionPolicy reconcilers alike: it records the
// dispatcher's outcomes, asks the ledger what each entry needs, and turns
// the answers into pass effects (work to submit, Warning Events, wake-ups).
// What differs between the two owners comes in as hooks.
type jobPass struct {
	*jobs.Pass
	effects     *passEffects
	dispatcher  *dispatch.Dispatcher
	keys        *KeyRing
	tasks       *taskDesk
	dataSources map[types.NamespacedName]*privacyv1alpha1.DataSource

	// fileFinal files a successful final answer's data before the ledger
	// records it; an error, or a filing still under way (pending), leaves
	// the outcome for the next pass.
	fileFinal func(ctx context.Context, e *jobs.Entry, o dispatch.Outcome) (pending bool, err error)
	// buildJob makes the job for a delivery, or says (as a ledger change
	// on the entry) why it cannot be sent yet.
	buildJob func(ctx context.Context, e *jobs.Entry, ds *privacyv1alpha1.DataSource) (*protocol.Job, jobs.Change, bool)
	// ended observes an entry that reached its final phase (metrics).
	ended func(e *jobs.Entry)
	// heldNow names the active LegalHold that covers e's job now, with the
	// message for the entry ("": none); nil for owners whose jobs no hold
	// can stop (Access, Correct, OptOut requests).
	heldNow func(ctx context.Context, e *jobs.Entry, ds *privacyv1alpha1.DataSource) (hold, message string, err error)

	// filing are the entries whose answer's data is being filed: nothing
	// else happens to them until the filing's end wakes the owner.
	filing map[string]bool
}

func (j *jobPass) source(e *jobs.Entry) *privacyv1alpha1.DataSource {
	return j.dataSources[types.NamespacedName{Namespace: e.Namespace, Name: e.Name}]
}

// recordOutcomes applies the outcomes the dispatcher holds for the entries.
// An answer whose data is still being filed is left for the pass its
// filing wakes, and its entry is left alone until then (j.filing).
func (j *jobPass) recordOutcomes(ctx context.Context, entries []jobs.Entry) error {
	for i := range entries {
		e := &entries[i]
		o, ok := j.effects.outcomes[e.JobID]
		if !ok {
			continue
		}
		j.effects.consumed[e.JobID] = o
		if jobs.Finished(e.Phase) {
			continue
		}
		if o.Result == dispatch.ResultFinal && o.Status.Status.Succeeded() && j.fileFinal != nil {
			pending, err := j.fileFinal(ctx, e, o)
			if err != nil || pending {
				// Not consumed: the outcome is applied again on the next pass.
				delete(j.effects.consumed, e.JobID)
				if err != nil {
					return err
				}
				j.markFiling(e.JobID)
				continue
			}
		}
		j.note(e, j.Apply(e, o, jobs.RetryOf(j.source(e))))
	}
	if err := j.recordTasks(ctx, entries); err != nil {
		return err
	}
	j.recheckHolds(ctx, entries)
	return nil
}

// markFiling notes an entry whose answer's data is being filed.
func (j *jobPass) markFiling(jobID string) {
	if j.filing == nil {
		j.filing = map[string]bool{}
	}
	j.filing[jobID] = true
}

// advance asks the ledger what each unfinished entry needs and queues it.
// facts holds what is the same for every entry (deadline, suspension).
func (j *jobPass) advance(ctx context.Context, entries []jobs.Entry, facts jobs.Facts) {
	for i := range entries {
		e := &entries[i]
		if j.filing[e.JobID] {
			continue
		}
		f := facts
		f.Source = j.source(e)
		f.DeliveryOpen = j.dispatcher.InFlight(e.JobID, dispatch.OpDeliver)
		f.DeliveryKnown = j.dispatcher.Pending(j.effects.owner, e.JobID, dispatch.OpDeliver)
		step, c := j.Next(e, f)
		j.note(e, c)
		if f.DeliveryOpen && !jobs.Finished(e.Phase) {
			j.effects.deliveriesOpen++
		}
		if jobs.Finished(e.Phase) {
			// The dispatcher forgets a finished job once status is stored.
			j.effects.ended = append(j.effects.ended, e.JobID)
		}
		if step == jobs.StepNone && !jobs.Finished(e.Phase) && e.Attempts > 0 && f.Source != nil && !manual(f.Source) {
			j.expectCallback(ctx, e, f.Source)
		}
		switch step {
		case jobs.StepCancel:
			if manual(f.Source) {
				// The task stays, with the request's failure in its
				// account, until the request's grace period ends.
				continue
			}
			if target, err := j.keys.Target(ctx, f.Source, j.Now()); err == nil {
				j.submit(dispatch.OpCancel, e, target, nil)
			}
		case jobs.StepPoll:
			if manual(f.Source) {
				// Accepted at an endpoint the source no longer has: the
				// job becomes a task.
				j.note(e, j.TaskLost(e, "The DataSource became manual while the job was at its endpoint; the job becomes a PrivacyTask."))
				j.deliver(ctx, e, f.Source)
				continue
			}
			if j.dispatcher.InFlight(e.JobID, dispatch.OpPoll) {
				continue
			}
			target, err := j.keys.Target(ctx, f.Source, j.Now())
			if err != nil {
				// The job was accepted: Dispatched stays; the poll is
				// tried again at its next time.
				e.Message = truncate(err.Error(), 1024)
				continue
			}
			j.submit(dispatch.OpPoll, e, target, nil)
		case jobs.StepDeliver:
			j.deliver(ctx, e, f.Source)
		}
	}
}

// expectCallback makes sure the dispatcher takes the callback of a job that
// was handed over (accepted, or delivered with no answer recorded yet),
// also when another replica (or this one before a restart) handed it over.
func (j *jobPass) expectCallback(ctx context.Context, e *jobs.Entry, ds *privacyv1alpha1.DataSource) {
	if _, ok := j.dispatcher.Lookup(e.JobID); ok {
		return
	}
	if target, err := j.keys.Target(ctx, ds, j.Now()); err == nil {
		j.dispatcher.Expect(j.effects.owner, e.JobID, target)
	}
}

func (j *jobPass) deliver(ctx context.Context, e *jobs.Entry, ds *privacyv1alpha1.DataSource) {
	job, c, ok := j.buildJob(ctx, e, ds)
	if !ok {
		j.note(e, c)
		return
	}
	if manual(ds) {
		j.assignTask(ctx, e, ds, job)
		return
	}
	target, err := j.keys.Target(ctx, ds, j.Now())
	if err != nil {
		j.note(e, j.Hold(e, privacyv1alpha1.ReasonSigningSecretError, err.Error()))
		return
	}
	// The attempt is counted in status before the dispatcher sends it.
	j.note(e, j.Deliver(e, target.Timeout, jobs.RetryOf(ds)))
	j.submit(dispatch.OpDeliver, e, target, job)
}

func (j *jobPass) submit(op dispatch.Op, e *jobs.Entry, target dispatch.Target, job *protocol.Job) {
	j.effects.submit = append(j.effects.submit, dispatch.Work{Owner: j.effects.owner, Op: op, JobID: e.JobID, Target: target, Job: job})
}

// note carries a ledger change into the pass's effects.
func (j *jobPass) note(e *jobs.Entry, c jobs.Change) {
	if !c.WakeAt.IsZero() {
		j.effects.wakeAt(c.WakeAt)
	}
	if c.Failed {
		j.effects.sourceEvent(e.Namespace, e.Name, corev1.EventTypeWarning, c.Reason, "Data source %s/%s failed: %s",
			e.Namespace, e.Name, truncate(c.Message, 256))
	}
	if c.Reason == privacyv1alpha1.ReasonRefusedUnderExemption {
		j.effects.sourceEvent(e.Namespace, e.Name, corev1.EventTypeNormal, c.Reason, "Data source %s/%s refused the job under %s",
			e.Namespace, e.Name, truncate(e.Exemption, 256))
	}
	if c.Ended && j.ended != nil {
		j.ended(e)
	}
}
