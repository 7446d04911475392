package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/identity"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// KindPrivacyRequest names PrivacyRequests as dispatcher owners.
const KindPrivacyRequest = "PrivacyRequest"

// conflictRetry is the wait before a pass that lost a write race (its
// cache was behind) runs again.
const conflictRetry = 100 * time.Millisecond

// outcomeCoalesceWindow is how long a request's pass may hold back the
// answers of its fast sources while deliveries to others are still open,
// so that one status write records them together (see
// passEffects.waitForOpenDeliveries).
const outcomeCoalesceWindow = 500 * time.Millisecond

// EngineConfig tunes the PrivacyRequest engine; cmd/manager fills it from flags.
type EngineConfig struct {
	// PollInterval is how long an accepted job waits for its callback
	// before the operator asks the source.
	PollInterval time.Duration
	// ExportTTL is how long an Access export is kept.
	ExportTTL time.Duration
	// DefaultTTLAfterFinished deletes finished requests that set no
	// ttlSecondsAfterFinished; zero keeps them.
	DefaultTTLAfterFinished time.Duration
	// NoSourcesRetry is how often a request that matches no DataSource
	// looks again, until its due date.
	NoSourcesRetry time.Duration
	// DueSoonShare is the share of a request's time, from receipt to its
	// due date, after which an unfinished request is DueSoon; 0 means the
	// default 0.75, 1 or more never warns.
	DueSoonShare float64
	// Workers is the number of requests reconciled at once.
	Workers int
	// SubjectSecrets says which Secrets subject.secretRef may name.
	SubjectSecrets identity.SecretPolicy
}

// PrivacyRequestReconciler drives a PrivacyRequest from creation to a true
// account of every source. It never blocks on HTTP: it records intent in
// status, then hands jobs to the Dispatcher, whose outcomes wake it up again.
type PrivacyRequestReconciler struct {
	Shared
	// Exports is called on the export desk, never on the reconcile
	// workers; an S3Store bounds each call's exchanges with the bucket
	// (export.Timeouts), so that a black-holed bucket fails the step
	// (ExportFailed, retried with backoff).
	Exports export.Store
	Config  EngineConfig
	overdue requestSet
	dueSoon requestSet
	// desk runs the Exports calls off the reconcile workers.
	desk *exportDesk
	// Replay keeps what Deletes, Corrections and OptOuts sent to sources
	// that declare backups (nil: not kept, no receipt store).
	Replay *replay.Recorder
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=privacyrequests,verbs=get;list;watch;update;delete
// +kubebuilder:rbac:groups=privacyoperator.io,resources=privacyrequests/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=privacyrequests/finalizers,verbs=update
// +kubebuilder:rbac:groups=privacyoperator.io,resources=datasources,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=legalholds,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=privacytasks,verbs=get;list;watch;create;delete

// Reconcile moves one PrivacyRequest forward.
func (r *PrivacyRequestReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pr := &privacyv1alpha1.PrivacyRequest{}
	if found, err := r.fetch(ctx, req.NamespacedName, pr, func() {
		r.Dispatcher.Forget(ownerOf(req.NamespacedName))
		r.overdue.set(req.Name, false)
		r.dueSoon.set(req.Name, false)
		r.desk.forget(req.Name)
	}); !found {
		return ctrl.Result{}, err
	}
	// Log a request by name and uid only: its spec holds personal data.
	ctx = log.IntoContext(ctx, log.FromContext(ctx).WithValues("uid", pr.UID))

	if !pr.DeletionTimestamp.IsZero() {
		return requeueOnConflict(r.reconcileDelete(ctx, pr))
	}
	s := &requestScope{passEffects: r.newPass(ownerOf(req.NamespacedName), pr.Generation, r.Config.PollInterval), pr: pr, before: pr.DeepCopy()}
	if pr.Spec.Type != privacyv1alpha1.RequestTypeAccess {
		// An Access answer's data is filed as it is recorded: it is not
		// held back (see waitForOpenDeliveries).
		s.coalesce = outcomeCoalesceWindow
	}
	if needsFinalizer(pr, s.outcomes) && controllerutil.AddFinalizer(pr, privacyv1alpha1.FinalizerCancelJobs) {
		// The outcomes stay with the dispatcher for the next pass.
		return requeueOnConflict(r.Update(ctx, pr))
	}
	phaseErr := r.runPhases(ctx, s)
	r.computeStatus(s)
	r.computeKept(ctx, s)
	announceActionNeeded(s)
	overdue, dueSoon := s.overdue, s.dueSoon
	s.after = append(s.after, func() { r.overdue.set(pr.Name, overdue); r.dueSoon.set(pr.Name, dueSoon) })
	res, err := s.finish(ctx, &r.Shared, s.before, pr, phaseErr)
	if err == nil && s.committed && s.deleteNow {
		return ctrl.Result{}, client.IgnoreNotFound(r.Delete(ctx, pr))
	}
	return res, err
}

// reconcileDelete deletes the tasks of manual sources, cancels the jobs
// still open at their sources (fire and forget: a dead source never blocks
// deletion), stores the Cancelled receipt of a request that did not finish
// (privacyrequest_cancel.go), removes the export, and releases the
// finalizer.
func (r *PrivacyRequestReconciler) reconcileDelete(ctx context.Context, pr *privacyv1alpha1.PrivacyRequest) error {
	if !controllerutil.ContainsFinalizer(pr, privacyv1alpha1.FinalizerCancelJobs) {
		return nil
	}
	owner := ownerOf(types.NamespacedName{Name: pr.Name})
	// The tasks of manual sources hold the subject's identities: they go
	// with the request (Kubernetes' garbage collector would also take them,
	// by their owner reference, but not before the request is gone).
	for _, src := range pr.Status.Sources {
		if src.Task == "" {
			continue
		}
		task := &privacyv1alpha1.PrivacyTask{ObjectMeta: metav1.ObjectMeta{Namespace: src.Namespace, Name: src.Task}}
		if err := r.Delete(ctx, task); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("delete PrivacyTask %s/%s: %w", src.Namespace, src.Task, err)
		}
	}
	for _, src := range pr.Status.Sources {
		if jobs.Finished(src.Phase) || src.Attempts == 0 || src.Task != "" {
			continue
		}
		ds := &privacyv1alpha1.DataSource{}
		if err := r.Get(ctx, types.NamespacedName{Namespace: src.Namespace, Name: src.Name}, ds); err != nil {
			continue
		}
		target, err := r.Keys.Target(ctx, ds, r.Clock.Now())
		if err != nil {
			continue
		}
		r.Dispatcher.Submit(dispatch.Work{Owner: owner, Op: dispatch.OpCancel, JobID: src.JobID, Target: target})
	}
	if !r.reconcileCancelledReceipt(ctx, pr) {
		// Woken by the Notary once the receipt is written (or failed).
		return nil
	}
	if r.Exports != nil && pr.Spec.Type == privacyv1alpha1.RequestTypeAccess {
		uid := string(pr.UID)
		_, err, pending := r.desk.do(pr.Name, uid+"/delete", func(ctx context.Context) (export.Ref, error) {
			return export.Ref{}, r.Exports.Delete(ctx, uid)
		})
		if err != nil {
			return fmt.Errorf("delete export: %w", err)
		}
		if pending {
			// Deleted off the workers; its end wakes the request.
			return nil
		}
		r.desk.forget(pr.Name)
	}
	r.Dispatcher.Forget(owner)
	r.overdue.set(pr.Name, false)
	r.dueSoon.set(pr.Name, false)
	controllerutil.RemoveFinalizer(pr, privacyv1alpha1.FinalizerCancelJobs)
	if err := r.Update(ctx, pr); client.IgnoreNotFound(err) != nil {
		return err
	}
	r.forgetCancelledReceipt(pr)
	return nil
}

// needsFinalizer reports whether deleting the request leaves work to do:
// an Access request files data into an export that deletion removes, a job
// a source accepted stays open there until it is cancelled, and a request
// that finished at some sources in an earlier pass but not at all of them
// has done something its Cancelled receipt must record. A request whose
// sources all answer at once (the common case: it finishes in the pass
// that records the answers) needs none, which saves a write per request.
func needsFinalizer(pr *privacyv1alpha1.PrivacyRequest, outcomes map[string]dispatch.Outcome) bool {
	if pr.Spec.Type == privacyv1alpha1.RequestTypeAccess {
		return true
	}
	ended, open := false, false
	for _, src := range pr.Status.Sources {
		if src.Phase == privacyv1alpha1.SourcePhaseDispatched {
			return true
		}
		if jobs.Finished(src.Phase) {
			ended = true
		} else {
			open = true
		}
	}
	if ended && open && pr.Status.CompletedAt == nil {
		return true
	}
	for _, o := range outcomes {
		if o.Result == dispatch.ResultAccepted || o.Result == dispatch.ResultRunning {
			return true
		}
	}
	return false
}

// requeueOnConflict turns a write conflict (the cache was behind) into a
// quiet retry: it is the normal price of optimistic concurrency, not an
// error worth an error log.
func requeueOnConflict(err error) (ctrl.Result, error) {
	if apierrors.IsConflict(err) {
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	return ctrl.Result{}, err
}

func ownerOf(key types.NamespacedName) dispatch.Owner {
	return dispatch.Owner{Kind: KindPrivacyRequest, NamespacedName: key}
}

// SetupWithManager registers the reconciler with the manager. The field
// indexes must be registered first (SetupIndexes).
func (r *PrivacyRequestReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.defaults()
	r.desk = newExportDesk(r.Wakeups)
	if r.Config.PollInterval <= 0 {
		r.Config.PollInterval = 30 * time.Second
	}
	r.overdue.gauge, r.dueSoon.gauge = overdueRequests, dueSoonRequests
	if r.Config.DueSoonShare <= 0 {
		r.Config.DueSoonShare = 0.75
	}
	if r.Config.NoSourcesRetry <= 0 {
		r.Config.NoSourcesRetry = time.Minute
	}
	if r.Config.ExportTTL <= 0 {
		r.Config.ExportTTL = 7 * 24 * time.Hour
	}
	tasks, outcomes := taskOwner(KindPrivacyRequest)
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.PrivacyRequest{}).
		Watches(&privacyv1alpha1.PrivacyTask{}, tasks, builder.WithPredicates(outcomes)).
		Watches(&privacyv1alpha1.DataSource{}, handler.EnqueueRequestsFromMapFunc(r.requestsForDataSource), builder.WithPredicates(dataSourceJobFacts)).
		// A hold filed or widened reaches Delete jobs already under way.
		Watches(&privacyv1alpha1.LegalHold{}, handler.EnqueueRequestsFromMapFunc(r.requestsForLegalHold), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(wakeSource(r.Wakeups, KindPrivacyRequest, func() *privacyv1alpha1.PrivacyRequest { return &privacyv1alpha1.PrivacyRequest{} })).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Config.Workers, 1)}).
		Named("privacyrequest").
		Complete(r)
}

// requestsForDataSource wakes the requests with open jobs at the DataSource
// and those still waiting for any source to match.
func (r *PrivacyRequestReconciler) requestsForDataSource(ctx context.Context, obj client.Object) []reconcile.Request {
	var reqs []reconcile.Request
	for _, key := range []string{obj.GetNamespace() + "/" + obj.GetName(), IndexValueAwaitingSources} {
		list := &privacyv1alpha1.PrivacyRequestList{}
		if err := r.List(ctx, list, client.MatchingFields{IndexRequestActiveSource: key}, client.UnsafeDisableDeepCopy); err != nil {
			log.FromContext(ctx).Error(err, "list requests of a DataSource", "datasource", obj.GetNamespace()+"/"+obj.GetName())
			continue
		}
		for _, pr := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: pr.Name}})
		}
	}
	return reqs
}
