package controllers

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/conditions"
	"github.com/privacyoperator/privacy-operator/internal/endpoint"
	"github.com/privacyoperator/privacy-operator/internal/statuspatch"
)

// DataSourceReconciler keeps a DataSource's status current.
//
// This version resolves the endpoint for display and reports Ready=Unknown:
// probing the endpoint belongs to the DataSource controller issue.
type DataSourceReconciler struct {
	client.Client
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=datasources,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=datasources/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=datasources/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one DataSource's status up to date.
func (r *DataSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ds := &privacyv1alpha1.DataSource{}
	if err := r.Get(ctx, req.NamespacedName, ds); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := ds.DeepCopy()

	ds.Status.EndpointHost = endpoint.Host(ds.Namespace, ds.Spec.Endpoint)
	conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionReady, metav1.ConditionUnknown,
		privacyv1alpha1.ReasonInitializing, "The endpoint has not been probed yet.")
	ds.Status.ObservedGeneration = ds.Generation

	_, err := statuspatch.Patch(ctx, r.Client, before, ds)
	return ctrl.Result{}, err
}

// SetupWithManager registers the reconciler with the manager.
func (r *DataSourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.DataSource{}).
		Named("datasource").
		Complete(r)
}
