package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
)

// KindRetentionPolicy names RetentionPolicies as dispatcher owners.
const KindRetentionPolicy = "RetentionPolicy"

// RetentionPolicyReconciler enforces a RetentionPolicy: at each slot of its
// schedule it sends a Purge job to every matching DataSource through the
// same Dispatcher as PrivacyRequests, and records each run in status.
type RetentionPolicyReconciler struct {
	Shared
	// PollInterval is how long an accepted purge waits for its callback.
	PollInterval time.Duration
	// MinRetainFor is the shortest retainFor a policy may ask for: a typo
	// such as 1h for 1y must not purge a year of data. A policy below it
	// is Stalled and never runs.
	MinRetainFor time.Duration
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=retentionpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=retentionpolicies/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=legalholds,verbs=get;list;watch

// Reconcile moves one RetentionPolicy forward.
func (r *RetentionPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rp := &privacyv1alpha1.RetentionPolicy{}
	if found, err := r.fetch(ctx, req.NamespacedName, rp, func() { r.forget(req.Name) }); !found {
		return ctrl.Result{}, err
	}
	s := &policyScope{passEffects: r.newPass(retentionOwner(req.Name), rp.Generation, r.PollInterval), rp: rp, before: rp.DeepCopy()}
	phaseErr := r.runPhases(ctx, s)
	r.computePolicyStatus(s)
	return s.finish(ctx, &r.Shared, s.before, rp, phaseErr)
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
	r.defaults()
	if r.PollInterval <= 0 {
		r.PollInterval = 30 * time.Second
	}
	tasks, outcomes := taskOwner(KindRetentionPolicy)
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.RetentionPolicy{}).
		// Overlaps are between policies: one created, changed or deleted
		// changes what the others report (CI saw a policy created just
		// after another report no overlap until the poll).
		Watches(&privacyv1alpha1.RetentionPolicy{}, handler.EnqueueRequestsFromMapFunc(r.allPolicies), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&privacyv1alpha1.PrivacyTask{}, tasks, builder.WithPredicates(outcomes)).
		Watches(&privacyv1alpha1.DataSource{}, handler.EnqueueRequestsFromMapFunc(r.allPolicies), builder.WithPredicates(dataSourceJobFacts)).
		// namespaceSelector and the namespace policy read namespace labels.
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.allPolicies), builder.WithPredicates(predicate.LabelChangedPredicate{})).
		// A hold filed or widened reaches purges already under way.
		Watches(&privacyv1alpha1.LegalHold{}, handler.EnqueueRequestsFromMapFunc(r.policiesForLegalHold), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(wakeSource(r.Wakeups, KindRetentionPolicy, func() *privacyv1alpha1.RetentionPolicy { return &privacyv1alpha1.RetentionPolicy{} })).
		Named("retentionpolicy").
		Complete(r)
}

// allPolicies wakes every policy on a DataSource change: matching and
// overlaps depend on the DataSources, and policies are few.
func (r *RetentionPolicyReconciler) allPolicies(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &privacyv1alpha1.RetentionPolicyList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	out := make([]reconcile.Request, 0, len(list.Items))
	for _, rp := range list.Items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: rp.Name}})
	}
	return out
}
