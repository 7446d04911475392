// Package identity resolves a PrivacyRequest's subject to its identities and
// gives each data source only the identity types it declared.
package identity

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// typePattern is what an identity type looks like (the API's IdentityType
// pattern). Only Secret keys of this shape are read as identities: keys
// such as tls.crt or .dockerconfigjson never are.
var typePattern = regexp.MustCompile(`^[a-z][a-zA-Z0-9]{0,62}$`)

// ErrSecretRefused marks a subject Secret the operator will not read. Its
// message is the same whether the Secret is missing, unlabelled or in a
// namespace not configured, so that a request cannot probe for Secrets.
var ErrSecretRefused = errors.New("subject Secret refused")

// SecretPolicy says which Secrets may hold a subject's identities.
type SecretPolicy struct {
	// Namespaces are the namespaces subject Secrets may live in.
	Namespaces []string
}

func (p SecretPolicy) refusal(ref *privacyv1alpha1.NamespacedSecretReference) error {
	return fmt.Errorf("%w: subject.secretRef %s/%s cannot be used. Subject Secrets must exist in one of the namespaces %s "+
		"(the operator's --subject-secret-namespaces) and carry the label %s=true",
		ErrSecretRefused, ref.Namespace, ref.Name, strings.Join(p.Namespaces, ", "), privacyv1alpha1.LabelSubjectSecret)
}

// Resolve returns the subject's identities, each in its one spelling
// (protocol.NormalizeIdentity): the inline map, or the keys of the
// referenced Secret that are identity type names. Everything downstream,
// the jobs sources receive, fingerprints and LegalHold matching, uses
// these values, so that all of them speak of the same person. The Secret is read
// through reader, which should be uncached so that the operator does not
// cache Secrets cluster-wide, and only when policy allows its namespace.
// Errors name the Secret, never its values.
func Resolve(ctx context.Context, reader client.Reader, policy SecretPolicy, subject privacyv1alpha1.Subject) (map[string]string, error) {
	if subject.SecretRef == nil {
		return normalized(subject.Identities, "subject.identities")
	}
	ref := subject.SecretRef
	if !slices.Contains(policy.Namespaces, ref.Namespace) {
		return nil, policy.refusal(ref)
	}
	secret := &corev1.Secret{}
	if err := reader.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
			return nil, policy.refusal(ref)
		}
		return nil, fmt.Errorf("read subject Secret %s/%s: %w", ref.Namespace, ref.Name, err)
	}
	if secret.Labels[privacyv1alpha1.LabelSubjectSecret] != "true" {
		return nil, policy.refusal(ref)
	}
	ids := make(map[string]string, len(secret.Data))
	for k, v := range secret.Data {
		if len(v) > 0 && typePattern.MatchString(k) {
			ids[k] = string(v)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("subject Secret %s/%s holds no identity (keys must be identity types such as email or userId)", ref.Namespace, ref.Name)
	}
	if len(ids) > MaxIdentities {
		return nil, fmt.Errorf("subject Secret %s/%s holds %d identities; a subject has at most %d (as subject.identities): remove the keys that are not the person's identities",
			ref.Namespace, ref.Name, len(ids), MaxIdentities)
	}
	return normalized(ids, fmt.Sprintf("subject Secret %s/%s", ref.Namespace, ref.Name))
}

// normalized is ids in their one spelling each. An identity that is only
// white space is an error naming its type (never its value): it would
// match nothing, or everything, at a source.
func normalized(ids map[string]string, where string) (map[string]string, error) {
	out := make(map[string]string, len(ids))
	for t, v := range ids {
		n := protocol.NormalizeIdentity(t, v)
		if n == "" {
			return nil, fmt.Errorf("%s: identity %q is empty once white space is removed", where, t)
		}
		out[t] = n
	}
	return out, nil
}

// MaxIdentities is the most identities a subject has, inline (the API's
// limit on subject.identities) or in its Secret.
const MaxIdentities = 16

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
