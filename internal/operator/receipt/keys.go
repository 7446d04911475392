package receipt

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Where the keys live, in the operator's namespace.
const (
	// SigningKeySecret holds the Ed25519 private key receipts are signed
	// with, PKCS#8 PEM under SigningKeyData. Rotating the key is replacing
	// that data; the next receipt is signed with the new key.
	SigningKeySecret = "privacy-operator-receipt-signing-key"
	SigningKeyData   = "ed25519.key"
	// FingerprintKeySecret holds the HMAC key of the fingerprints, 32
	// random bytes under FingerprintKeyData. Changing it makes the
	// receipts written before unfindable without the old key: keep a copy.
	FingerprintKeySecret = "privacy-operator-receipt-fingerprint-key"
	FingerprintKeyData   = "hmac.key"
	// PublicKeysConfigMap publishes every signing key's public half, PKIX
	// PEM under "<keyID>.pub". Entries are only ever added, so receipts
	// signed before a rotation still verify.
	PublicKeysConfigMap = "privacy-operator-receipt-keys"
	publicKeySuffix     = ".pub"
)

// fingerprintKeySize is the size of a generated fingerprint key, and the
// least a key given by an admin must have.
const fingerprintKeySize = 32

// Keys are what the operator needs to write receipts.
type Keys struct {
	Signer         Signer
	FingerprintKey []byte
}

// EnsureKeys makes the receipt keys exist in namespace and returns them:
// it creates either Secret when it is missing (another replica creating it
// first is fine: its key is read), and publishes the signing key's public
// half in the ConfigMap, adding to what is there. Call it again after a
// rotation (KeySigner does at every receipt) to publish the new key.
//
// c should read Secrets from the API server, not from a cache: a cached
// client would start a watch on every Secret of the cluster.
func EnsureKeys(ctx context.Context, c client.Client, namespace string) (Keys, error) {
	signing, err := ensureSecret(ctx, c, namespace, SigningKeySecret, SigningKeyData, newSigningKey)
	if err != nil {
		return Keys{}, err
	}
	signer, err := parseSigningKey(signing)
	if err != nil {
		return Keys{}, fmt.Errorf("secret %s/%s: %w", namespace, SigningKeySecret, err)
	}
	fpKey, err := ensureSecret(ctx, c, namespace, FingerprintKeySecret, FingerprintKeyData, newFingerprintKey)
	if err != nil {
		return Keys{}, err
	}
	if len(fpKey) < fingerprintKeySize {
		return Keys{}, fmt.Errorf("secret %s/%s: %s has %d bytes, want at least %d", namespace, FingerprintKeySecret, FingerprintKeyData, len(fpKey), fingerprintKeySize)
	}
	if err := publish(ctx, c, namespace, signer.Key.Public().(ed25519.PublicKey)); err != nil {
		return Keys{}, err
	}
	return Keys{Signer: signer, FingerprintKey: fpKey}, nil
}

// ensureSecret returns the data under key of the Secret name, creating the
// Secret with generate's data when there is none.
func ensureSecret(ctx context.Context, c client.Client, namespace, name, key string, generate func() ([]byte, error)) ([]byte, error) {
	var s corev1.Secret
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s)
	if apierrors.IsNotFound(err) {
		data, genErr := generate()
		if genErr != nil {
			return nil, genErr
		}
		s = corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: keyLabels()},
			Type:       corev1.SecretTypeOpaque,
			Data:       map[string][]byte{key: data},
		}
		err = c.Create(ctx, &s)
		if apierrors.IsAlreadyExists(err) {
			// Another replica won: its key counts.
			err = c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, &s)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s/%s: %w", namespace, name, err)
	}
	data, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s has no %s", namespace, name, key)
	}
	return data, nil
}

// publish adds pub to the public keys ConfigMap, creating it if needed.
func publish(ctx context.Context, c client.Client, namespace string, pub ed25519.PublicKey) error {
	id := KeyID(pub)
	entry, err := encodePublicKey(pub)
	if err != nil {
		return err
	}
	err = retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error {
		var cm corev1.ConfigMap
		err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: PublicKeysConfigMap}, &cm)
		if apierrors.IsNotFound(err) {
			cm = corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: PublicKeysConfigMap, Labels: keyLabels()},
				Data:       map[string]string{id + publicKeySuffix: entry},
			}
			return c.Create(ctx, &cm)
		}
		if err != nil {
			return err
		}
		switch old, ok := cm.Data[id+publicKeySuffix]; {
		case ok && old == entry:
			return nil
		case ok:
			return fmt.Errorf("its entry %s%s is not the signing key's public key; entries are never replaced", id, publicKeySuffix)
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		cm.Data[id+publicKeySuffix] = entry
		return c.Update(ctx, &cm)
	})
	if err != nil {
		return fmt.Errorf("publish the receipt signing key in ConfigMap %s/%s: %w", namespace, PublicKeysConfigMap, err)
	}
	return nil
}

// keyLabels mark the objects EnsureKeys creates as the operator's.
func keyLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": "privacy-operator", "app.kubernetes.io/component": "receipts"}
}

// PublicKeys reads the public keys ConfigMap: every "<keyID>.pub" entry,
// each checked against its keyID (an entry under another key's id would
// let a forged receipt pass as signed by that key).
func PublicKeys(cm *corev1.ConfigMap) (map[string]ed25519.PublicKey, error) {
	keys := map[string]ed25519.PublicKey{}
	names := make([]string, 0, len(cm.Data))
	for name := range cm.Data {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		id, ok := strings.CutSuffix(name, publicKeySuffix)
		if !ok {
			continue
		}
		got, err := ParsePublicKeys([]byte(cm.Data[name]))
		if err != nil || len(got) != 1 {
			return nil, fmt.Errorf("ConfigMap %s/%s: %s is not one Ed25519 public key in PEM", cm.Namespace, cm.Name, name)
		}
		if _, ok := got[id]; !ok {
			return nil, fmt.Errorf("ConfigMap %s/%s: the key under %s has another keyID", cm.Namespace, cm.Name, name)
		}
		keys[id] = got[id]
	}
	return keys, nil
}

// ReadPublicKeys reads the public keys ConfigMap of namespace.
func ReadPublicKeys(ctx context.Context, c client.Reader, namespace string) (map[string]ed25519.PublicKey, error) {
	var cm corev1.ConfigMap
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: PublicKeysConfigMap}, &cm); err != nil {
		return nil, fmt.Errorf("read the receipt public keys: ConfigMap %s/%s: %w", namespace, PublicKeysConfigMap, err)
	}
	return PublicKeys(&cm)
}

// ReadFingerprintKey reads the fingerprint key Secret of namespace.
func ReadFingerprintKey(ctx context.Context, c client.Reader, namespace string) ([]byte, error) {
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: FingerprintKeySecret}, &s); err != nil {
		return nil, fmt.Errorf("read the fingerprint key: Secret %s/%s: %w", namespace, FingerprintKeySecret, err)
	}
	key, ok := s.Data[FingerprintKeyData]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s has no %s", namespace, FingerprintKeySecret, FingerprintKeyData)
	}
	return key, nil
}

// ParsePublicKeys reads every PUBLIC KEY block of a PEM file (the
// ConfigMap's entries, concatenated, or one of them) by keyID.
func ParsePublicKeys(data []byte) (map[string]ed25519.PublicKey, error) {
	keys := map[string]ed25519.PublicKey{}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "PUBLIC KEY" {
			continue
		}
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, errors.New("public key: not an Ed25519 key")
		}
		keys[KeyID(pub)] = pub
	}
	if len(keys) == 0 {
		return nil, errors.New("no PUBLIC KEY in PEM")
	}
	return keys, nil
}

// encodePublicKey is pub as PKIX PEM.
func encodePublicKey(pub ed25519.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("encode the receipt public key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// newSigningKey is a new Ed25519 key as PKCS#8 PEM.
func newSigningKey() ([]byte, error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate the receipt signing key: %w", err)
	}
	return EncodeSigningKey(key)
}

// EncodeSigningKey is key as PKCS#8 PEM, the form SigningKeyData holds (for
// an admin's rotation tooling and tests).
func EncodeSigningKey(key ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode the receipt signing key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseSigningKey reads a PKCS#8 PEM Ed25519 private key.
func parseSigningKey(data []byte) (Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return Signer{}, fmt.Errorf("%s is not a PEM PRIVATE KEY (PKCS#8)", SigningKeyData)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return Signer{}, fmt.Errorf("%s: %w", SigningKeyData, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return Signer{}, fmt.Errorf("%s is not an Ed25519 key", SigningKeyData)
	}
	return Signer{Key: key}, nil
}

// newFingerprintKey is 32 random bytes.
func newFingerprintKey() ([]byte, error) {
	key := make([]byte, fingerprintKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("generate the fingerprint key: %w", err)
	}
	return key, nil
}

// KeySigner is a Log's signer that reads the keys at every receipt through
// EnsureKeys: a rotated signing key is used, and published, from the next
// receipt on, and never signs a receipt before its public key is in the
// ConfigMap.
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
