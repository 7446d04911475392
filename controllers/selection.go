package controllers

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/legalhold"
)

// What both job owners use to pick their DataSources.

func handles(ds *privacyv1alpha1.DataSource, t privacyv1alpha1.RequestType) bool {
	return slices.Contains(ds.Spec.RequestTypes, t)
}

// invalidSelectorError is a selector that admission let through but that
// does not parse (an unknown operator, say): no pass can ever succeed.
type invalidSelectorError struct {
	field string
	err   error
}

func (e *invalidSelectorError) Error() string {
	return fmt.Sprintf("%s cannot be used: %v; change it to a valid label selector", e.field, e.err)
}

func (e *invalidSelectorError) Unwrap() error { return e.err }

func selectorOf(sel *metav1.LabelSelector) (labels.Selector, error) {
	if sel == nil {
		return labels.Everything(), nil
	}
	return metav1.LabelSelectorAsSelector(sel)
}

// truncate shortens a message to n bytes for a status field or an Event.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// namespaceLabels reads a namespace's labels through the cache, once per pass.
func namespaceLabels(ctx context.Context, c client.Reader, seen map[string]labels.Set, namespace string) (labels.Set, error) {
	if set, ok := seen[namespace]; ok {
		return set, nil
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return nil, fmt.Errorf("read namespace %s: %w", namespace, err)
	}
	seen[namespace] = labels.Set(ns.Labels)
	return seen[namespace], nil
}

// activeHolds reads the LegalHolds (from the cache) and keeps those active
// at now.
func activeHolds(ctx context.Context, c client.Reader, now time.Time) (legalhold.Set, error) {
	list := &privacyv1alpha1.LegalHoldList{}
	if err := c.List(ctx, list); err != nil {
		return nil, fmt.Errorf("list LegalHolds: %w", err)
	}
	return legalhold.NewSet(list.Items, now), nil
}
