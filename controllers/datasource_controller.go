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
	"github.com/privacyoperator/privacy-operator/internal/operator/netguard"
)

// KindDataSource names DataSources as dispatcher owners (their probes).
const KindDataSource = "DataSource"

// IndexDataSourceSecret indexes DataSources by the name of their signing
// Secret, so that a Secret change re-probes exactly its DataSources.
const IndexDataSourceSecret = "spec.signingSecretRef.name"

// DataSourceSecretName is the extractor of IndexDataSourceSecret.
func DataSourceSecretName(obj client.Object) []string {
	ds, ok := obj.(*privacyv1alpha1.DataSource)
	if !ok || ds.Spec.SigningSecretRef.Name == "" {
		return nil
	}
	return []string{ds.Spec.SigningSecretRef.Name}
}

// DataSourceReconciler keeps a DataSource's readiness true: it probes the
// endpoint's signed capabilities (off the reconcile path, through the
// Dispatcher) on create, on a spec or Secret change and periodically, and
// reports Ready with a reason a person can act on.
type DataSourceReconciler struct {
	Shared
	// Guard refuses endpoints the operator must not call.
	Guard *netguard.Guard
	// ProbeInterval is the period of the readiness probe (jittered by up to 10%).
	ProbeInterval time.Duration

	probes     probeScheduler
	activeJobs activeJobsPacer
	// active counts the requests with an unfinished job at each source.
	active activeTally
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=datasources,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=datasources/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one DataSource's status up to date: gather the facts
// (phases), derive status from them, then store it and carry out what the
// pass decided, as the other two reconcilers do.
func (r *DataSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ds := &privacyv1alpha1.DataSource{}
	if found, err := r.fetch(ctx, req.NamespacedName, ds, func() { r.forget(req.NamespacedName) }); !found {
		return ctrl.Result{}, err
	}
	s := &sourceScope{passEffects: r.newPass(dataSourceOwner(req.NamespacedName), ds.Generation, 0), ds: ds, before: ds.DeepCopy(), key: req.NamespacedName}
	phaseErr := r.runPhases(ctx, s)
	r.computeStatus(s)
	return s.finish(ctx, &r.Shared, s.before, ds, phaseErr)
}

func (r *DataSourceReconciler) forget(key types.NamespacedName) {
	uncoveredCategories.DeleteLabelValues(key.Namespace, key.Name)
	r.probes.forget(key)
	r.activeJobs.forget(key)
	r.Dispatcher.Forget(dataSourceOwner(key))
}

// SetupWithManager registers the reconciler. Secrets are watched as
// metadata only, so no Secret data is cached; they are read uncached when a
// DataSource needs its key.
func (r *DataSourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.defaults()
	if r.ProbeInterval <= 0 {
		r.ProbeInterval = 5 * time.Minute
	}
	r.probes.interval = r.ProbeInterval
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.DataSource{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.dataSourcesForSecret)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.dataSourcesInNamespace)).
		Watches(&privacyv1alpha1.PrivacyRequest{}, activeJobsHandler{tally: &r.active}).
		Watches(&privacyv1alpha1.RetentionPolicy{}, handler.EnqueueRequestsFromMapFunc(r.allDataSources),
			builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		// The coverage condition names the categories LegalHolds keep.
		Watches(&privacyv1alpha1.LegalHold{}, handler.EnqueueRequestsFromMapFunc(r.allDataSources),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(wakeSource(r.Wakeups, KindDataSource, func() *privacyv1alpha1.DataSource { return &privacyv1alpha1.DataSource{} })).
		Named("datasource").
		Complete(r)
}

func (r *DataSourceReconciler) dataSourcesForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{IndexDataSourceSecret: obj.GetName()}, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// allDataSources re-checks retention coverage when a policy changes.
func (r *DataSourceReconciler) allDataSources(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

func (r *DataSourceReconciler) dataSourcesInNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetName()), client.UnsafeDisableDeepCopy); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

func requestsFor(items []privacyv1alpha1.DataSource) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for _, ds := range items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name}})
	}
	return out
}

func dataSourceOwner(key types.NamespacedName) dispatch.Owner {
	return dispatch.Owner{Kind: KindDataSource, NamespacedName: key}
}
