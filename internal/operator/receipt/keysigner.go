package receipt

import (
	"context"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// KeySigner is a Log's signer that reads the keys at every receipt through
// EnsureKeys: a rotated signing key is used, and published, from the next
// receipt on, and never signs a receipt before its public key is in the
// ConfigMap. A lost fingerprint key (ErrFingerprintKeyLost) fails it too:
// receipts wait, their owners saying why, until a person restores the key,
// rather than the next start making a new one.
func KeySigner(c client.Client, namespace string) func(context.Context) (Signer, error) {
	return func(ctx context.Context) (Signer, error) {
		keys, err := EnsureKeys(ctx, c, namespace)
		return keys.Signer, err
	}
}

// CachedSigner reuses what next returned for up to ttl (by now), so that a
// busy log does not read the key Secrets and the ConfigMap for every
// receipt: a rotated key is then used, and published first, within ttl.
// An error is not cached.
func CachedSigner(next func(context.Context) (Signer, error), ttl time.Duration, now func() time.Time) func(context.Context) (Signer, error) {
	var (
		mu      sync.Mutex
		cached  Signer
		fetched time.Time
	)
	return func(ctx context.Context) (Signer, error) {
		mu.Lock()
		defer mu.Unlock()
		if cached.Key != nil && now().Sub(fetched) < ttl {
			return cached, nil
		}
		s, err := next(ctx)
		if err != nil {
			return Signer{}, err
		}
		cached, fetched = s, now()
		return s, nil
	}
}
