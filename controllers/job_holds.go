package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
)

// recheckHolds stops work already under way that an active LegalHold now
// covers: holds are checked when a job is built, but a PrivacyTask can
// stay open for days, and a source can work on an accepted job for as
// long, so a hold filed meanwhile must reach them too. A manual source's
// open task ends Held (the task becomes moot); a job accepted at an
// endpoint is cancelled there (DELETE /jobs/{id}), and ends Held if the
// source cancels it, as it finished otherwise. What a source already did
// synchronously (a 200 to the delivery) cannot be held: the account names
// it as done.
func (j *jobPass) recheckHolds(ctx context.Context, entries []jobs.Entry) {
	if j.heldNow == nil {
		return
	}
	for i := range entries {
		e := &entries[i]
		if e.Phase != privacyv1alpha1.SourcePhaseDispatched {
			continue
		}
		ds := j.source(e)
		if ds == nil {
			continue
		}
		hold, message, err := j.heldNow(ctx, e, ds)
		if err != nil {
			// Checked again at the next pass; the job goes on meanwhile,
			// as it would have without the hold.
			log.FromContext(ctx).Error(err, "cannot check the legal holds for a job under way", "dataSource", e.Namespace+"/"+e.Name)
			continue
		}
		if hold == "" {
			continue
		}
		if e.Task != "" && j.taskDone(ctx, e) {
			// Completed by a person before the hold reached it (the cache
			// had not shown it yet): its outcome is recorded next pass.
			continue
		}
		var target dispatch.Target
		if e.Task == "" {
			if target, err = j.keys.Target(ctx, ds, j.Now()); err != nil {
				// Cannot sign the cancel now: asked at the next pass.
				continue
			}
		}
		cancel, c := j.HoldUnderWay(e, hold, message)
		j.note(e, c)
		if cancel {
			j.submit(dispatch.OpCancel, e, target, nil)
		}
	}
}

// taskDone reports whether e's task has an outcome at the API server: a
// clerk's outcome set just before a hold wins over the hold (the work was
// done and recorded), and the cache may not show it yet.
func (j *jobPass) taskDone(ctx context.Context, e *jobs.Entry) bool {
	if j.tasks == nil {
		return false
	}
	task := &privacyv1alpha1.PrivacyTask{}
	if err := j.tasks.reader.Get(ctx, types.NamespacedName{Namespace: e.Namespace, Name: e.Task}, task); err != nil {
		// Gone or unreadable: the hold applies (it errs on keeping data).
		return false
	}
	return task.Spec.Outcome != nil
}
