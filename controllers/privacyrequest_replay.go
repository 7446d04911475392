package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/identity"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// keepReplayRecord hands the Recorder what a Delete, Correct or OptOut
// sent to a source that declares backups, once the source reported it
// done (Completed, or NotFound: a backup from before may still hold what
// was not found then), so that a Restore can send it again. The record is
// handed over only once status records the end (s.after); the Recorder
// seals and stores it off the reconcile workers.
func (r *PrivacyRequestReconciler) keepReplayRecord(ctx context.Context, s *requestScope, e *jobs.Entry) {
	pr := s.pr
	if r.Replay == nil || (e.Phase != privacyv1alpha1.SourcePhaseCompleted && e.Phase != privacyv1alpha1.SourcePhaseNotFound) {
		return
	}
	switch pr.Spec.Type {
	case privacyv1alpha1.RequestTypeDelete, privacyv1alpha1.RequestTypeCorrect, privacyv1alpha1.RequestTypeOptOut:
	default:
		return
	}
	ds := s.dataSources[types.NamespacedName{Namespace: e.Namespace, Name: e.Name}]
	if ds == nil || ds.Spec.Backups == nil || manual(ds) {
		return
	}
	ids, err := r.subjectIdentities(ctx, s)
	if err != nil {
		s.sourceEvent(e.Namespace, e.Name, corev1.EventTypeWarning, privacyv1alpha1.ReasonReplayNotRecorded,
			"The job finished at %s/%s, but its replay record cannot be kept (the subject cannot be read: %s): a Restore of an earlier backup will not send it again",
			e.Namespace, e.Name, truncate(err.Error(), 256))
		return
	}
	sent, _ := identity.Minimise(ids, ds.Spec.Identities)
	job := buildJob(pr, e.JobID, sent)
	// What buildJob sent: the identities minimised as at dispatch, the
	// corrections of a Correct, the scopes of an OptOut.
	rec := replay.Record{
		Namespace: e.Namespace, Name: e.Name, JobID: e.JobID, Type: pr.Spec.Type, Identities: sent,
		FinishedAt: s.now, Fingerprints: s.fingerprints,
	}
	if job.Corrections != nil {
		rec.Corrections = pr.Spec.Corrections
	}
	if job.OptOut != nil {
		rec.Scopes = job.OptOut.Scopes
	}
	recorder := r.Replay
	s.after = append(s.after, func() { recorder.Record(rec) })
}
