package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/endpoint"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// keyCacheTTL bounds how long a parsed signing key is reused before its
// Secret is read again (Secrets are read uncached, never watched).
const keyCacheTTL = 15 * time.Second

type cachedKey struct {
	keys    []protocol.Key
	fetched time.Time
}

// KeyRing reads DataSource signing keys from their Secrets, uncached at the
// API but reused for a few seconds in memory.
type KeyRing struct {
	Reader client.Reader
	mu     sync.Mutex
	keys   map[keyRef]cachedKey
}

// keyRef names one key of one Secret: two DataSources sharing a Secret
// under different keys have different signing keys.
type keyRef struct {
	types.NamespacedName
	key string
}

// Keys returns the signing keys of ds: the Secret's value holds one
// "whsec_" secret, or several separated by spaces during a rotation (the
// operator then signs with all and accepts any). Errors name the Secret and
// key, never the value.
func (k *KeyRing) Keys(ctx context.Context, ds *privacyv1alpha1.DataSource, now time.Time) ([]protocol.Key, error) {
	ref := ds.Spec.SigningSecretRef
	name := types.NamespacedName{Namespace: ds.Namespace, Name: ref.Name}
	cacheKey := keyRef{NamespacedName: name, key: signingKeyName(ref.Key)}
	k.mu.Lock()
	if c, ok := k.keys[cacheKey]; ok && now.Sub(c.fetched) < keyCacheTTL {
		k.mu.Unlock()
		return c.keys, nil
	}
	k.mu.Unlock()

	secret := &corev1.Secret{}
	if err := k.Reader.Get(ctx, name, secret); err != nil {
		return nil, fmt.Errorf("signing Secret %s: %w", name, err)
	}
	keys, err := ParseSigningKeys(secret, ref.Key)
	if err != nil {
		return nil, fmt.Errorf("signing Secret %s: %w", name, err)
	}
	k.mu.Lock()
	if k.keys == nil {
		k.keys = map[keyRef]cachedKey{}
	}
	k.keys[cacheKey] = cachedKey{keys: keys, fetched: now}
	k.mu.Unlock()
	return keys, nil
}

// Invalidate drops the cached keys of a Secret (every key of it), so that
// the next use reads it again (the DataSource controller calls it when it
// sees a change).
func (k *KeyRing) Invalidate(name types.NamespacedName) {
	k.mu.Lock()
	for ref := range k.keys {
		if ref.NamespacedName == name {
			delete(k.keys, ref)
		}
	}
	k.mu.Unlock()
}

// signingKeyName is the Secret key a SecretKeySelector names, with its default.
func signingKeyName(key string) string {
	if key == "" {
		return "signingSecret"
	}
	return key
}

// errSecretKeyMissing marks a Secret without the named key.
var errSecretKeyMissing = errors.New("key missing")

// ParseSigningKeys reads the "whsec_" secrets (one, or several separated by
// spaces during a rotation) under keyName (default signingSecret). Errors
// never contain the value.
func ParseSigningKeys(secret *corev1.Secret, keyName string) ([]protocol.Key, error) {
	keyName = signingKeyName(keyName)
	raw, ok := secret.Data[keyName]
	if !ok {
		return nil, fmt.Errorf("%w: the Secret has no key %q", errSecretKeyMissing, keyName)
	}
	var keys []protocol.Key
	for i, field := range strings.Fields(string(raw)) {
		key, err := protocol.ParseKey(field)
		if err != nil {
			return nil, fmt.Errorf("key %q, secret %d: %w", keyName, i+1, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key %q is empty", keyName)
	}
	return keys, nil
}

// Target describes how to reach ds for the dispatcher, with its current keys.
func (k *KeyRing) Target(ctx context.Context, ds *privacyv1alpha1.DataSource, now time.Time) (dispatch.Target, error) {
	keys, err := k.Keys(ctx, ds, now)
	if err != nil {
		return dispatch.Target{}, err
	}
	return targetFor(ds, keys)
}

// targetFor describes how to reach ds with the given signing keys.
func targetFor(ds *privacyv1alpha1.DataSource, keys []protocol.Key) (dispatch.Target, error) {
	base, err := endpoint.BaseURL(ds.Namespace, ds.Spec.Endpoint)
	if err == nil {
		err = endpoint.CheckScheme(base, ds.Spec.Endpoint)
	}
	if err != nil {
		return dispatch.Target{}, err
	}
	return dispatch.Target{
		Source:         types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name},
		BaseURL:        base.String(),
		Keys:           keys,
		CABundle:       ds.Spec.Endpoint.CABundle,
		Timeout:        endpointTimeout(ds),
		MaxConcurrency: int(max(ds.Spec.MaxConcurrency, 1)),
	}, nil
}
