// Package nspolicy decides which namespaces' DataSources the operator
// honours. A DataSource receives the identities of every subject, so a
// namespace must be let in explicitly: by name (--datasource-namespaces) or
// by a label on the namespace (--datasource-namespace-selector, default
// privacyoperator.io/datasource=true), which only cluster administrators set.
package nspolicy

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultSelector is the namespace label that lets a namespace register DataSources.
const DefaultSelector = "privacyoperator.io/datasource=true"

// Policy lets a namespace in when it is listed by name or its labels match
// the selector.
type Policy struct {
	Names    []string
	Selector labels.Selector
}

// Parse builds a Policy from the flags: a comma-separated list of names and
// a label selector ("" matches every namespace).
func Parse(names, selector string) (Policy, error) {
	p := Policy{}
	for _, n := range strings.Split(names, ",") {
		if n = strings.TrimSpace(n); n != "" {
			p.Names = append(p.Names, n)
		}
	}
	sel, err := labels.Parse(selector)
	if err != nil {
		return Policy{}, fmt.Errorf("--datasource-namespace-selector %q: %w", selector, err)
	}
	p.Selector = sel
	return p, nil
}

// Allows reports whether DataSources in the namespace with these labels are honoured.
func (p Policy) Allows(namespace string, nsLabels map[string]string) bool {
	if slices.Contains(p.Names, namespace) {
		return true
	}
	return p.Selector != nil && p.Selector.Matches(labels.Set(nsLabels))
}

// AllowsNamespace reads the namespace's labels (from the cache) and applies Allows.
func (p Policy) AllowsNamespace(ctx context.Context, c client.Reader, namespace string) (bool, error) {
	if slices.Contains(p.Names, namespace) {
		return true, nil
	}
	ns := &corev1.Namespace{}
	if err := c.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return p.Allows(namespace, ns.Labels), nil
}

// String describes the policy for messages.
func (p Policy) String() string {
	var parts []string
	if len(p.Names) > 0 {
		parts = append(parts, "namespaces "+strings.Join(p.Names, ", "))
	}
	if p.Selector != nil && !p.Selector.Empty() {
		parts = append(parts, "namespaces labelled "+p.Selector.String())
	}
	if p.Selector != nil && p.Selector.Empty() {
		parts = append(parts, "every namespace")
	}
	if len(parts) == 0 {
		return "no namespace"
	}
	return strings.Join(parts, " or ")
}
