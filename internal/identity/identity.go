// Package identity resolves a PrivacyRequest's subject to its identities and
// gives each data source only the identity types it declared.
package identity

import (
	"context"
	"fmt"
	"slices"
	"sort"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// Resolve returns the subject's identities: the inline map, or the keys of
// the referenced Secret. The Secret is read through reader, which should be
// uncached so that the operator does not cache Secrets cluster-wide. Errors
// name the Secret, never its values.
func Resolve(ctx context.Context, reader client.Reader, subject privacyv1alpha1.Subject) (map[string]string, error) {
	if subject.SecretRef == nil {
		return subject.Identities, nil
	}
	ref := subject.SecretRef
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		return nil, fmt.Errorf("read subject Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	ids := make(map[string]string, len(secret.Data))
	for k, v := range secret.Data {
		if len(v) > 0 {
			ids[k] = string(v)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("subject Secret %s/%s holds no identity", ref.Namespace, ref.Name)
	}
	return ids, nil
}

// Minimise returns the identities of the types a source declared, and the
// declared types that the request lacks (sorted).
func Minimise(all map[string]string, declared []privacyv1alpha1.IdentityType) (sent map[string]string, missing []string) {
	sent = map[string]string{}
	for _, t := range declared {
		if v, ok := all[string(t)]; ok {
			sent[string(t)] = v
		} else {
			missing = append(missing, string(t))
		}
	}
	sort.Strings(missing)
	return sent, slices.Compact(missing)
}
