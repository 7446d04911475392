package controllers

import (
	"context"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/nspolicy"
)

// KindRetentionPolicy names RetentionPolicies as dispatcher owners.
const KindRetentionPolicy = "RetentionPolicy"

// RetentionPolicyReconciler enforces a RetentionPolicy: at each slot of its
// schedule it sends a Purge job to every matching DataSource through the
// same Dispatcher as PrivacyRequests, and records each run in status.
type RetentionPolicyReconciler struct {
	client.Client
	APIReader  client.Reader
	Recorder   events.EventRecorder
	Dispatcher *dispatch.Dispatcher
	Keys       *KeyRing
	Policy     nspolicy.Policy
	// Clock tells the time of the schedule and of the purge jobs' attempts.
	Clock clock.PassiveClock
	// PollInterval is how long an accepted purge waits for its callback.
	PollInterval time.Duration
	// MinRetainFor is the shortest retainFor a policy may ask for: a typo
	// such as 1h for 1y must not purge a year of data. A policy below it
	// is Stalled and never runs.
	MinRetainFor time.Duration
	// Wakeups carries the dispatcher's outcomes back to this reconciler.
	Wakeups *Wakeups
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=retentionpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=retentionpolicies/status,verbs=get;update;patch

// Reconcile moves one RetentionPolicy forward.
func (r *RetentionPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rp := &privacyv1alpha1.RetentionPolicy{}
	if err := r.Get(ctx, req.NamespacedName, rp); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	pass := jobs.Ledger{Clock: r.Clock, PollInterval: r.PollInterval}.Pass(rp.Generation)
	s := &policyScope{
		passEffects: newPassEffects(r.Dispatcher, retentionOwner(req.Name)),
		pass:        pass,
		rp:          rp,
		before:      rp.DeepCopy(),
		now:         pass.Now(),
	}
	phaseErr := r.runPhases(ctx, s)
	r.computePolicyStatus(s)
	if phaseErr == nil {
		rp.Status.ObservedGeneration = rp.Generation
	}
	for _, run := range rp.Status.History {
		s.releaseEnded(run.Sources)
	}

	if conflict, err := s.commit(ctx, r.Client, r.Dispatcher, r.Recorder, s.before, rp); conflict || err != nil {
		if err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: conflictRetry}, nil
	}
	if phaseErr != nil {
		return ctrl.Result{}, phaseErr
	}
	return s.result(s.now), nil
}

func (r *RetentionPolicyReconciler) forget(name string) {
	r.Dispatcher.Forget(retentionOwner(name))
	forgetPolicyMetrics(name)
}

func retentionOwner(name string) dispatch.Owner {
	return dispatch.Owner{Kind: KindRetentionPolicy, NamespacedName: types.NamespacedName{Name: name}}
}

// SetupWithManager registers the reconciler with the manager.
func (r *RetentionPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.PollInterval <= 0 {
		r.PollInterval = 30 * time.Second
	}
	if r.Wakeups == nil {
		r.Wakeups = &Wakeups{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.RetentionPolicy{}).
		Watches(&privacyv1alpha1.DataSource{}, handler.EnqueueRequestsFromMapFunc(r.allPolicies), builder.WithPredicates(dataSourceJobFacts)).
		WatchesRawSource(wakeSource(r.Wakeups, KindRetentionPolicy, func() *privacyv1alpha1.RetentionPolicy { return &privacyv1alpha1.RetentionPolicy{} })).
		Named("retentionpolicy").
		Complete(r)
}

// allPolicies wakes every policy on a DataSource change: matching and
// overlaps depend on the DataSources, and policies are few.
func (r *RetentionPolicyReconciler) allPolicies(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &privacyv1alpha1.RetentionPolicyList{}
	if err := r.List(ctx, list); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, rp := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: rp.Name}})
	}
	return out
}
