package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/retention"
)

// exportCover fills in, for each source of an Access export, what the
// person is told about each category of their data there: the
// DataSource's disclosures (purposes, recipients, origin) and the terms of
// the RetentionPolicies that cover the category (GDPR Art. 15(1)). It reads
// the cache only; a DataSource that no longer exists tells nothing.
func (r *PrivacyRequestReconciler) exportCover(ctx context.Context, sources []export.Source) error {
	policies := &privacyv1alpha1.RetentionPolicyList{}
	if err := r.List(ctx, policies, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list RetentionPolicies: %w", err)
	}
	seen := map[string]labels.Set{}
	for i := range sources {
		ds := &privacyv1alpha1.DataSource{}
		if err := r.Get(ctx, client.ObjectKey{Namespace: sources[i].Namespace, Name: sources[i].Name}, ds); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return fmt.Errorf("read DataSource %s/%s: %w", sources[i].Namespace, sources[i].Name, err)
		}
		set, err := namespaceLabels(ctx, r.Client, seen, ds.Namespace)
		if err != nil {
			return err
		}
		sources[i].Categories = categoryCover(ds, retention.Terms(policies.Items, ds, set))
	}
	return nil
}

// categoryCover is the export's account of each category ds declares.
func categoryCover(ds *privacyv1alpha1.DataSource, terms map[privacyv1alpha1.DataCategory][]retention.Term) []export.Category {
	var out []export.Category
	for _, c := range ds.Spec.Categories {
		cat := export.Category{Category: string(c), Retention: []export.Retention{}}
		for _, d := range ds.Spec.Disclosures {
			if d.Category == c {
				cat.Purposes, cat.Recipients, cat.Origin = d.Purposes, d.Recipients, d.Origin
			}
		}
		for _, t := range terms[c] {
			cat.Retention = append(cat.Retention, export.Retention{Policy: t.Policy, RetainFor: string(t.RetainFor)})
		}
		out = append(out, cat)
	}
	return out
}
