package controllers

import (
	"context"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/legalhold"
)

// A LegalHold that is filed (or widened) must reach the Delete jobs and the
// purges already under way at the sources it selects (recheckHolds): their
// owners may wait for days on a PrivacyTask or an accepted job, and would
// not look at holds again until then. These map functions wake them.

// requestsForLegalHold wakes the Delete requests with open jobs at the
// DataSources the hold selects.
func (r *PrivacyRequestReconciler) requestsForLegalHold(ctx context.Context, obj client.Object) []reconcile.Request {
	h, ok := obj.(*privacyv1alpha1.LegalHold)
	if !ok {
		return nil
	}
	sources := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, sources); err != nil {
		log.FromContext(ctx).Error(err, "list DataSources for a LegalHold", "legalHold", h.Name)
		return nil
	}
	seen := map[string]labels.Set{}
	woken := map[string]bool{}
	var reqs []reconcile.Request
	for i := range sources.Items {
		ds := &sources.Items[i]
		set, err := namespaceLabels(ctx, r.Client, seen, ds.Namespace)
		if err != nil || !legalhold.Selects(h, ds, set) {
			continue
		}
		list := &privacyv1alpha1.PrivacyRequestList{}
		if err := r.List(ctx, list, client.MatchingFields{IndexRequestActiveSource: ds.Namespace + "/" + ds.Name}, client.UnsafeDisableDeepCopy); err != nil {
			log.FromContext(ctx).Error(err, "list requests of a DataSource", "datasource", ds.Namespace+"/"+ds.Name)
			continue
		}
		for _, pr := range list.Items {
			if pr.Spec.Type != privacyv1alpha1.RequestTypeDelete || woken[pr.Name] {
				continue
			}
			woken[pr.Name] = true
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: pr.Name}})
		}
	}
	return reqs
}

// policiesForLegalHold wakes the RetentionPolicies with a run under way.
func (r *RetentionPolicyReconciler) policiesForLegalHold(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &privacyv1alpha1.RetentionPolicyList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		log.FromContext(ctx).Error(err, "list RetentionPolicies for a LegalHold", "legalHold", obj.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for i := range list.Items {
		if activeRun(&list.Items[i]) != nil {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: list.Items[i].Name}})
		}
	}
	return reqs
}
