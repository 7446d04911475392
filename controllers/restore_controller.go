package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
	"github.com/privacyoperator/privacy-operator/internal/operator/statuspatch"
)

// KindRestore is the owner kind of a Restore's replayed jobs.
const KindRestore = "Restore"

// restoreRefresh is how often a Restore under way is looked at besides
// the runner's wake-ups.
const restoreRefresh = 2 * time.Second

// backupClockSkew is how far ahead of the operator's clock a backupTakenAt
// may lie before it counts as in the future (clocks of backup tools differ).
const backupClockSkew = time.Minute

// RestoreReconciler follows a Restore: it checks the backup against the
// source's window and the records kept, has the RestoreRunner replay the
// records since the backup (off the reconcile workers), writes the run's
// progress into status (the only writer of a Restore's status), and once
// it has finished, keeps its signed receipt.
type RestoreReconciler struct {
	Shared
	// Runner replays; nil when the operator keeps no replay records (no
	// receipt store): every Restore is refused with ReplayNotKept.
	Runner *RestoreRunner
}

// restoreScope is one pass over a Restore.
type restoreScope struct {
	rs  *privacyv1alpha1.Restore
	now time.Time
	// endStored: the stored status already records the Restore's end.
	endStored bool
	events    []passEvent
	after     []func()
	requeue   time.Duration
}

func (s *restoreScope) event(eventType, reason, format string, args ...any) {
	s.events = append(s.events, passEvent{eventType: eventType, reason: reason, note: fmt.Sprintf(format, args...)})
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=restores,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=restores/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=retentionpolicies,verbs=get;list;watch

// Reconcile moves one Restore forward.
func (r *RestoreReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rs := &privacyv1alpha1.Restore{}
	if found, err := r.fetch(ctx, req.NamespacedName, rs, func() {
		if r.Runner != nil {
			r.Runner.stop(req.NamespacedName)
		}
	}); !found {
		return ctrl.Result{}, err
	}
	if !rs.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := rs.DeepCopy()
	s := &restoreScope{rs: rs, now: r.Clock.Now(), endStored: before.Status.CompletedAt != nil}
	if err := r.reconcileRestore(ctx, s); err != nil {
		return ctrl.Result{}, err
	}
	rs.Status.ObservedGeneration = rs.Generation
	if _, err := statuspatch.Patch(ctx, r.Client, before, rs); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	for _, e := range s.events {
		r.Recorder.Eventf(rs, nil, e.eventType, e.reason, e.reason, "%s", e.note)
	}
	for _, fn := range s.after {
		fn()
	}
	return ctrl.Result{RequeueAfter: s.requeue}, nil
}

// reconcileRestore runs the phases: admit, replay and purge (the runner),
// finish, receipt.
func (r *RestoreReconciler) reconcileRestore(ctx context.Context, s *restoreScope) error {
	rs := s.rs
	switch {
	case rs.Status.Phase == privacyv1alpha1.RestorePhaseRefused:
		return nil
	case finished(rs.Status.Phase) && (rs.Status.Receipt != nil || r.Receipts == nil):
		// Done and recorded: nothing runs again (a new leader, a resync).
		return nil
	case rs.Status.Phase == "" || rs.Status.Phase == privacyv1alpha1.RestorePhasePending || r.Runner == nil:
		if admitted, err := r.admit(ctx, s); err != nil || !admitted {
			return err
		}
	}
	p, ok := r.Runner.progress(rs)
	if !ok {
		s.requeue = time.Second
		return nil
	}
	if !finished(rs.Status.Phase) {
		recordProgress(s, p)
	}
	if !p.done {
		// The runner wakes the Restore as it goes (at most every second);
		// this keeps status fresh while one job waits long for its answer.
		s.requeue = restoreRefresh
		return nil
	}
	if !finished(rs.Status.Phase) {
		r.finish(s, p)
		// The receipt is submitted once the end is stored.
		s.requeue = time.Millisecond
		return nil
	}
	r.reconcileReceipt(s, p)
	return nil
}

func finished(phase privacyv1alpha1.RestorePhase) bool {
	return phase == privacyv1alpha1.RestorePhaseCompleted || phase == privacyv1alpha1.RestorePhaseFailed
}

// admit checks the Restore before anything is sent: its source exists and
// declares backups, the backup lies within the source's window and its
// records since are all still readable. A Restore that fails a check is
// Refused for good (its spec cannot change), except a missing DataSource,
// which may yet be created.
func (r *RestoreReconciler) admit(ctx context.Context, s *restoreScope) (bool, error) {
	rs := s.rs
	rs.Status.Phase = privacyv1alpha1.RestorePhasePending
	ds := &privacyv1alpha1.DataSource{}
	err := r.Get(ctx, types.NamespacedName{Namespace: rs.Namespace, Name: rs.Spec.DataSource}, ds)
	if apierrors.IsNotFound(err) {
		s.requeue = time.Minute
		msg := fmt.Sprintf("No DataSource %s in namespace %s; looking again every minute.", rs.Spec.DataSource, rs.Namespace)
		setRestoreConditions(rs, metav1.ConditionFalse, privacyv1alpha1.ReasonDataSourceNotFound, msg, true)
		return false, nil
	}
	if err != nil {
		return false, err
	}
	reason, msg, err := r.refusal(ctx, rs, ds, s.now)
	if err != nil {
		// Said in status, and tried again.
		setRestoreConditions(rs, metav1.ConditionFalse, privacyv1alpha1.ReasonReplayStoreError, truncate("Reading the replay records' keys failed; retrying: "+err.Error(), 1024), false)
		s.requeue = 10 * time.Second
		return false, nil
	}
	if reason != "" {
		rs.Status.Phase = privacyv1alpha1.RestorePhaseRefused
		setRestoreConditions(rs, metav1.ConditionFalse, reason, msg+" Nothing was sent.", true)
		s.event(corev1.EventTypeWarning, reason, "Restore refused: %s", msg)
		return false, nil
	}
	started := metav1.NewTime(s.now)
	rs.Status.Phase, rs.Status.StartedAt = privacyv1alpha1.RestorePhaseReplaying, &started
	s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonReplaying, "Sending again, at DataSource %s, every Delete, Correct and OptOut that finished there after %s",
		rs.Spec.DataSource, rs.Spec.BackupTakenAt.UTC().Format(time.RFC3339))
	return true, nil
}

// refusal is why rs cannot be carried out ("" when it can).
// The backup's time is judged against now, when the Restore is first
// taken up.
func (r *RestoreReconciler) refusal(ctx context.Context, rs *privacyv1alpha1.Restore, ds *privacyv1alpha1.DataSource, now time.Time) (reason, msg string, err error) {
	taken := rs.Spec.BackupTakenAt.Time
	switch {
	case r.Runner == nil:
		return privacyv1alpha1.ReasonReplayNotKept, "The operator runs without a receipt store, so it keeps no replay records.", nil
	case ds.Spec.Backups == nil:
		return privacyv1alpha1.ReasonNoBackups, fmt.Sprintf("DataSource %s declares no spec.backups, so no replay records were kept for it.", ds.Name), nil
	case taken.After(now.Add(backupClockSkew)):
		return privacyv1alpha1.ReasonBackupInFuture, fmt.Sprintf("backupTakenAt %s lies in the future (it is %s).",
			taken.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), nil
	}
	window := ds.Spec.Backups.Window()
	if taken.Before(now.Add(-window)) {
		return privacyv1alpha1.ReasonBackupOutsideWindow, fmt.Sprintf("backupTakenAt %s is older than DataSource %s keeps backups (backups.retainFor %s): no such backup should exist.",
			taken.UTC().Format(time.RFC3339), ds.Name, ds.Spec.Backups.RetainFor), nil
	}
	through, err := r.Runner.Archive.Keys.ErasedThrough(ctx)
	if err != nil {
		return "", "", err
	}
	if !replay.Covered(through, taken) {
		return privacyv1alpha1.ReasonRecordsErased, fmt.Sprintf("The replay records of the days through %s are erased (crypto-erasure): the jobs since backupTakenAt %s cannot all be sent again.",
			through, taken.UTC().Format(time.RFC3339)), nil
	}
	return "", "", nil
}

// SetupWithManager registers the reconciler with the manager.
func (r *RestoreReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.defaults()
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.Restore{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(wakeSource(r.Wakeups, KindRestore, func() *privacyv1alpha1.Restore { return &privacyv1alpha1.Restore{} })).
		Named("restore").
		Complete(r)
}
