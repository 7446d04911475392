package controllers

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// The API's bounds of status.kept.
const (
	maxKeptBases      = 32
	maxKeptCategories = 64
)

// computeKept tells the person what LegalHolds kept from a request that
// finishes in this pass: per basis (the hold's spec.basis), the categories
// of data at the held sources that the hold covers, never a source's or a
// hold's name. It reads the holds and DataSources from the cache. It is
// the only writer of status.kept, written once, with the finish.
func (r *PrivacyRequestReconciler) computeKept(ctx context.Context, s *requestScope) {
	pr := s.pr
	if requestFinished(s.before) || !requestFinished(pr) {
		return
	}
	pr.Status.Kept = nil
	for _, src := range pr.Status.Sources {
		if src.Phase != privacyv1alpha1.SourcePhaseHeld {
			continue
		}
		basis, scope := "", []privacyv1alpha1.DataCategory(nil)
		h := &privacyv1alpha1.LegalHold{}
		if err := r.Get(ctx, types.NamespacedName{Name: src.Hold}, h); err == nil {
			basis, scope = h.Spec.Basis, h.Spec.Scope.Categories
		}
		var cats []privacyv1alpha1.DataCategory
		if ds := s.dataSources[types.NamespacedName{Namespace: src.Namespace, Name: src.Name}]; ds != nil {
			cats = ds.Spec.Categories
		}
		if len(scope) > 0 {
			cats = slices.DeleteFunc(slices.Clone(cats), func(c privacyv1alpha1.DataCategory) bool { return !slices.Contains(scope, c) })
		}
		i := slices.IndexFunc(pr.Status.Kept, func(k privacyv1alpha1.KeptData) bool { return k.Basis == basis })
		if i < 0 && len(pr.Status.Kept) == maxKeptBases {
			// The API's bound: the last entry takes the rest.
			i = maxKeptBases - 1
		}
		if i < 0 {
			pr.Status.Kept = append(pr.Status.Kept, privacyv1alpha1.KeptData{Basis: basis})
			i = len(pr.Status.Kept) - 1
		}
		for _, c := range cats {
			if len(pr.Status.Kept[i].Categories) < maxKeptCategories && !slices.Contains(pr.Status.Kept[i].Categories, c) {
				pr.Status.Kept[i].Categories = append(pr.Status.Kept[i].Categories, c)
			}
		}
		slices.Sort(pr.Status.Kept[i].Categories)
	}
}
