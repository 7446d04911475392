package controllers

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/conditions"
	"github.com/privacyoperator/privacy-operator/internal/deadline"
	"github.com/privacyoperator/privacy-operator/internal/statuspatch"
)

// PrivacyRequestReconciler drives a PrivacyRequest to its end.
//
// This version records the due date and reports the request as Pending with
// Ready=Unknown: dispatching jobs belongs to the PrivacyRequest engine issue.
type PrivacyRequestReconciler struct {
	client.Client
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=privacyrequests,verbs=get;list;watch;update;patch;delete
// +kubebuilder:rbac:groups=privacyoperator.io,resources=privacyrequests/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=privacyrequests/finalizers,verbs=update

// Reconcile brings one PrivacyRequest's status up to date.
func (r *PrivacyRequestReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pr := &privacyv1alpha1.PrivacyRequest{}
	if err := r.Get(ctx, req.NamespacedName, pr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := pr.DeepCopy()

	if pr.Status.Phase == "" {
		pr.Status.Phase = privacyv1alpha1.RequestPhasePending
	}
	// The legal clock starts when the request was received, which is when
	// the object was created.
	due := metav1.NewTime(deadline.DueAt(pr.Spec, pr.CreationTimestamp.Time))
	pr.Status.DueAt = &due
	conditions.Set(&pr.Status.Conditions, pr.Generation, privacyv1alpha1.ConditionReady, metav1.ConditionUnknown,
		privacyv1alpha1.ReasonPending, "No job has been dispatched yet.")
	pr.Status.ObservedGeneration = pr.Generation

	_, err := statuspatch.Patch(ctx, r.Client, before, pr)
	return ctrl.Result{}, err
}

// SetupWithManager registers the reconciler with the manager.
func (r *PrivacyRequestReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.PrivacyRequest{}).
		Named("privacyrequest").
		Complete(r)
}
