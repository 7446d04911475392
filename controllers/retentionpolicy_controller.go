package controllers

import (
	"context"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/conditions"
	"github.com/privacyoperator/privacy-operator/internal/schedule"
	"github.com/privacyoperator/privacy-operator/internal/statuspatch"
)

// RetentionPolicyReconciler enforces a RetentionPolicy.
//
// This version checks what admission cannot (the cron fields' ranges, the
// time zone, the period's size), reports a bad spec as Stalled, and
// otherwise reports Ready=Unknown with the next slot: dispatching purges
// belongs to the RetentionPolicy controller issue.
type RetentionPolicyReconciler struct {
	client.Client
	// Clock tells the time; tests inject a fake one.
	Clock clock.PassiveClock
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=retentionpolicies,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=retentionpolicies/status,verbs=get;update;patch

// Reconcile brings one RetentionPolicy's status up to date.
func (r *RetentionPolicyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rp := &privacyv1alpha1.RetentionPolicy{}
	if err := r.Get(ctx, req.NamespacedName, rp); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := rp.DeepCopy()

	r.reconcileSpecCheck(rp)
	rp.Status.ObservedGeneration = rp.Generation

	if _, err := statuspatch.Patch(ctx, r.Client, before, rp); err != nil {
		return ctrl.Result{}, err
	}
	// Come back at the next slot so that nextScheduleTime never goes stale.
	if next := rp.Status.NextScheduleTime; next != nil {
		return ctrl.Result{RequeueAfter: max(next.Sub(r.Clock.Now()), time.Second)}, nil
	}
	return ctrl.Result{}, nil
}

// reconcileSpecCheck sets Stalled (and Ready=False) for a spec that passed
// admission but cannot be scheduled, and nextScheduleTime otherwise.
func (r *RetentionPolicyReconciler) reconcileSpecCheck(rp *privacyv1alpha1.RetentionPolicy) {
	gen := rp.Generation
	tz := ""
	if rp.Spec.TimeZone != nil {
		tz = *rp.Spec.TimeZone
	}
	sched, err := schedule.Parse(rp.Spec.Schedule, tz)
	if err == nil {
		_, err = schedule.ParsePeriod(string(rp.Spec.RetainFor))
	}
	if err != nil {
		// The message names the bad field; the spec holds no personal data.
		conditions.Set(&rp.Status.Conditions, gen, privacyv1alpha1.ConditionStalled, metav1.ConditionTrue,
			privacyv1alpha1.ReasonInvalidSchedule, err.Error())
		conditions.Set(&rp.Status.Conditions, gen, privacyv1alpha1.ConditionReady, metav1.ConditionFalse,
			privacyv1alpha1.ReasonInvalidSchedule, err.Error())
		rp.Status.NextScheduleTime = nil
		return
	}
	conditions.Remove(&rp.Status.Conditions, privacyv1alpha1.ConditionStalled)
	if rp.Spec.Suspend {
		conditions.Set(&rp.Status.Conditions, gen, privacyv1alpha1.ConditionReady, metav1.ConditionUnknown,
			privacyv1alpha1.ReasonSuspended, "The policy is suspended; no purge is scheduled.")
		rp.Status.NextScheduleTime = nil
		return
	}
	next := metav1.NewTime(sched.Next(r.Clock.Now()).UTC())
	rp.Status.NextScheduleTime = &next
	conditions.Set(&rp.Status.Conditions, gen, privacyv1alpha1.ConditionReady, metav1.ConditionUnknown,
		privacyv1alpha1.ReasonInitializing, "No purge has run yet.")
}

// SetupWithManager registers the reconciler with the manager.
func (r *RetentionPolicyReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.RetentionPolicy{}).
		Named("retentionpolicy").
		Complete(r)
}
