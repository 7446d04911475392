package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/legalhold"
	"github.com/privacyoperator/privacy-operator/internal/operator/statuspatch"
)

// LegalHoldReconciler keeps a LegalHold's own account: whether it is in
// force (Active, until spec.expiresAt) and how many requests and purges it
// held back. What a hold does to requests and purges is decided by their
// reconcilers when they deliver (package legalhold), from the hold's spec
// and the clock, never from this status: a hold acts even before its
// status is written.
type LegalHoldReconciler struct {
	Shared
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=legalholds,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=legalholds/status,verbs=get;update;patch

// Reconcile brings one LegalHold's status up to date.
func (r *LegalHoldReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	lh := &privacyv1alpha1.LegalHold{}
	if found, err := r.fetch(ctx, req.NamespacedName, lh, func() {}); !found {
		return ctrl.Result{}, err
	}
	if !lh.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := lh.DeepCopy()
	now := r.Clock.Now()
	var res ctrl.Result
	if legalhold.Active(lh, now) {
		msg := "The hold keeps Delete requests and retention purges from the data it selects."
		if exp := lh.Spec.ExpiresAt; exp != nil {
			msg = fmt.Sprintf("The hold keeps Delete requests and retention purges from the data it selects until %s.", exp.UTC().Format(time.RFC3339))
			res.RequeueAfter = exp.Sub(now)
		}
		conditions.Set(&lh.Status.Conditions, lh.Generation, privacyv1alpha1.ConditionActive, metav1.ConditionTrue, privacyv1alpha1.ReasonHoldActive, msg)
	} else {
		conditions.Set(&lh.Status.Conditions, lh.Generation, privacyv1alpha1.ConditionActive, metav1.ConditionFalse, privacyv1alpha1.ReasonHoldExpired,
			fmt.Sprintf("The hold expired at %s: requests and purges proceed (a purge it held runs at its policy's next slot).", lh.Spec.ExpiresAt.UTC().Format(time.RFC3339)))
	}
	if errs := legalhold.SelectorErrors(lh); len(errs) > 0 {
		// The hold still holds, more than meant: a selector that does not
		// parse selects everything.
		conditions.Set(&lh.Status.Conditions, lh.Generation, privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, privacyv1alpha1.ReasonInvalidSpec,
			"A selector does not parse, so the hold selects every DataSource until it is fixed: "+strings.Join(errs, "; "))
	} else {
		conditions.Remove(&lh.Status.Conditions, privacyv1alpha1.ConditionStalled)
	}
	requests := &privacyv1alpha1.PrivacyRequestList{}
	if err := r.List(ctx, requests, client.MatchingFields{IndexRequestHeldBy: lh.Name}, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("list held requests: %w", err)
	}
	lh.Status.RequestsHeld = int32(len(requests.Items))
	policies := &privacyv1alpha1.RetentionPolicyList{}
	if err := r.List(ctx, policies, client.UnsafeDisableDeepCopy); err != nil {
		return ctrl.Result{}, fmt.Errorf("list RetentionPolicies: %w", err)
	}
	lh.Status.PurgesHeld = 0
	for _, rp := range policies.Items {
		lh.Status.PurgesHeld += int32(purgesHeldBy(&rp, lh.Name))
	}
	lh.Status.ObservedGeneration = lh.Generation
	if _, err := statuspatch.Patch(ctx, r.Client, before, lh); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	return res, nil
}

// purgesHeldBy counts the purges in rp's history that hold stopped or
// narrowed at a source.
func purgesHeldBy(rp *privacyv1alpha1.RetentionPolicy, hold string) int {
	n := 0
	for _, run := range rp.Status.History {
		for _, src := range run.Sources {
			if src.Hold == hold {
				n++
			}
		}
	}
	return n
}

// SetupWithManager registers the reconciler with the manager. The field
// indexes must be registered first (SetupIndexes).
func (r *LegalHoldReconciler) SetupWithManager(mgr ctrl.Manager) error {
	r.defaults()
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.LegalHold{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&privacyv1alpha1.PrivacyRequest{}, handler.EnqueueRequestsFromMapFunc(holdsNamed(func(obj client.Object) []string {
			return obj.(*privacyv1alpha1.PrivacyRequest).Status.HeldBy
		})), builder.WithPredicates(heldByChanged)).
		Watches(&privacyv1alpha1.RetentionPolicy{}, handler.EnqueueRequestsFromMapFunc(holdsNamed(func(obj client.Object) []string {
			rp := obj.(*privacyv1alpha1.RetentionPolicy)
			var names []string
			for _, run := range rp.Status.History {
				for _, src := range run.Sources {
					if src.Hold != "" && !slices.Contains(names, src.Hold) {
						names = append(names, src.Hold)
					}
				}
			}
			return names
		}))).
		Named("legalhold").
		Complete(r)
}

// holdsNamed wakes the holds an object names.
func holdsNamed(names func(client.Object) []string) handler.MapFunc {
	return func(_ context.Context, obj client.Object) []reconcile.Request {
		var out []reconcile.Request
		for _, n := range names(obj) {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: n}})
		}
		return out
	}
}

// heldByChanged passes the request events that can change a hold's count:
// a request that names holds appearing or going, or its heldBy changing.
var heldByChanged = predicate.Funcs{
	CreateFunc: func(e event.CreateEvent) bool {
		return len(e.Object.(*privacyv1alpha1.PrivacyRequest).Status.HeldBy) > 0
	},
	DeleteFunc: func(e event.DeleteEvent) bool {
		pr, ok := e.Object.(*privacyv1alpha1.PrivacyRequest)
		return ok && len(pr.Status.HeldBy) > 0
	},
	UpdateFunc: func(e event.UpdateEvent) bool {
		return !slices.Equal(e.ObjectOld.(*privacyv1alpha1.PrivacyRequest).Status.HeldBy, e.ObjectNew.(*privacyv1alpha1.PrivacyRequest).Status.HeldBy)
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}
