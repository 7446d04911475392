package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/identity"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// A replay record keeps what a Delete, Correct or OptOut sent to a source
// that declares backups, once the source reported it done (Completed, or
// NotFound: a backup from before may still hold what was not found then),
// so that a Restore can send it again (docs/backups.md). The entry's
// status.sources[].replay is owned here: finishedAt is fixed when the job
// ends, stored once the Recorder has the sealed record in the store. The
// request is not deleted before every record is stored; one lost with the
// process (the Recorder keeps them in memory until stored) is handed over
// again from the subject, under the same finishedAt, so under the same
// name.

// replayable reports whether e's job gets a replay record.
func (r *PrivacyRequestReconciler) replayable(s *requestScope, e *jobs.Entry) bool {
	if r.Replay == nil || (e.Phase != privacyv1alpha1.SourcePhaseCompleted && e.Phase != privacyv1alpha1.SourcePhaseNotFound) {
		return false
	}
	switch s.pr.Spec.Type {
	case privacyv1alpha1.RequestTypeDelete, privacyv1alpha1.RequestTypeCorrect, privacyv1alpha1.RequestTypeOptOut:
	default:
		return false
	}
	ds := s.dataSources[types.NamespacedName{Namespace: e.Namespace, Name: e.Name}]
	return ds != nil && ds.Spec.Backups != nil && !manual(ds)
}

// keepReplayRecord fixes when e's job finished and hands its record over
// (jobPass.ended): a job that just ended at a source with backups.
func (r *PrivacyRequestReconciler) keepReplayRecord(ctx context.Context, s *requestScope, e *jobs.Entry) {
	if e.Replay != nil || !r.replayable(s, e) {
		return
	}
	// To the microsecond, as status keeps it: a record handed over again
	// has the same name.
	e.Replay = &privacyv1alpha1.SourceReplay{FinishedAt: metav1.NewMicroTime(s.now.Truncate(time.Microsecond))}
	r.handOverReplayRecord(ctx, s, e)
}

// reconcileReplayRecords notes the records the Recorder stored and hands
// over again those it does not have (lost with a restart). It reports
// whether every record of the request is stored.
func (r *PrivacyRequestReconciler) reconcileReplayRecords(ctx context.Context, s *requestScope) bool {
	if r.Replay == nil {
		return true
	}
	all := true
	for i := range s.pr.Status.Sources {
		e := &s.pr.Status.Sources[i]
		if e.Replay == nil || e.Replay.Stored {
			continue
		}
		if s.handedOver[e.JobID] {
			all = false
			continue
		}
		waiting, stored := r.Replay.State(e.JobID)
		switch {
		case stored:
			e.Replay.Stored = true
			continue
		case !waiting:
			r.handOverReplayRecord(ctx, s, e)
		}
		all = false
	}
	return all
}

// handOverReplayRecord builds e's record as buildJob sent the job (the
// identities minimised as at dispatch, the corrections of a Correct, the
// scopes of an OptOut) and hands it to the Recorder once status is stored;
// the Recorder wakes the request when the record is stored.
func (r *PrivacyRequestReconciler) handOverReplayRecord(ctx context.Context, s *requestScope, e *jobs.Entry) {
	pr := s.pr
	key := types.NamespacedName{Namespace: e.Namespace, Name: e.Name}
	ds := s.dataSources[key]
	if ds == nil {
		// A finished request's pass has not read its sources.
		ds = &privacyv1alpha1.DataSource{}
		if err := r.Get(ctx, key, ds); err != nil {
			ds = nil
		}
	}
	if ds == nil || ds.Spec.Backups == nil || manual(ds) {
		// No Restore can name the source any more, or replay at it.
		e.Replay = nil
		s.sourceEvent(e.Namespace, e.Name, corev1.EventTypeNormal, privacyv1alpha1.ReasonReplayNotRecorded,
			"The replay record of the job at %s/%s is not kept: the DataSource is gone or no longer declares backups", e.Namespace, e.Name)
		return
	}
	ids, err := r.subjectIdentities(ctx, s)
	if err != nil {
		// The request is kept until the subject can be read again (or a
		// person deletes it): the Warning says what a restore would miss.
		s.sourceEvent(e.Namespace, e.Name, corev1.EventTypeWarning, privacyv1alpha1.ReasonReplayNotRecorded,
			"The job finished at %s/%s, but its replay record cannot be kept yet (the subject cannot be read: %s): until it is, a Restore of an earlier backup will not send it again",
			e.Namespace, e.Name, truncate(err.Error(), 256))
		s.wakeAt(s.now.Add(time.Minute))
		return
	}
	if r.Replay.Full() {
		// The store has been refusing records for a while: this one is
		// handed over once the Recorder caught up.
		s.wakeAt(s.now.Add(time.Minute))
		return
	}
	sent, _ := identity.Minimise(ids, ds.Spec.Identities)
	job := buildJob(pr, e.JobID, sent)
	rec := replay.Record{
		Namespace: e.Namespace, Name: e.Name, JobID: e.JobID, Type: pr.Spec.Type, Identities: sent,
		FinishedAt: e.Replay.FinishedAt.UTC(), Fingerprints: s.fingerprints,
		SourceUID: string(ds.UID), Endpoint: replay.EndpointOf(ds),
	}
	if r.Receipts != nil && len(r.Receipts.FingerprintKey) > 0 {
		rec.FingerprintKeyID = receipt.FingerprintKeyID(r.Receipts.FingerprintKey)
	}
	if job.Corrections != nil {
		rec.Corrections = pr.Spec.Corrections
	}
	if job.OptOut != nil {
		rec.Scopes = job.OptOut.Scopes
	}
	recorder, wakeups, owner := r.Replay, r.Wakeups, dispatch.Owner{Kind: KindPrivacyRequest, NamespacedName: types.NamespacedName{Name: pr.Name}}
	s.after = append(s.after, func() { recorder.Record(rec, func() { wakeups.Notify(owner) }) })
	if s.handedOver == nil {
		s.handedOver = map[string]bool{}
	}
	s.handedOver[e.JobID] = true
}
