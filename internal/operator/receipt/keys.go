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
	// PEM under "<keyID>.pub", and the id of the fingerprint key under
	// FingerprintKeyIDData. Entries are only ever added, so receipts
	// signed before a rotation still verify.
	PublicKeysConfigMap = "privacy-operator-receipt-keys"
	publicKeySuffix     = ".pub"
	// FingerprintKeyIDData records the FingerprintKeyID of the key
	// EnsureKeys issued: once it is there, a missing fingerprint key
	// Secret is restored by a person, never replaced by a new key.
	FingerprintKeyIDData = "fingerprint-key-id"
)

// ErrFingerprintKeyLost: the fingerprint key Secret is missing, or holds
// another key than the one issued (recorded under FingerprintKeyIDData).
// EnsureKeys then makes no key and uses none: every fingerprint already
// in receipts and LegalHolds was made with the issued key, so only that
// key, restored from a backup, can match them.
var ErrFingerprintKeyLost = errors.New("a new key would make every fingerprint in receipts and LegalHolds unmatchable")

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
// half and the fingerprint key's id in the ConfigMap, adding to what is
// there. Call it again after a rotation (KeySigner does) to publish the
// new signing key.
//
// The fingerprint key is created only if none was ever issued: when the
// ConfigMap records one, a missing Secret, or one holding another key, is
// an error wrapping ErrFingerprintKeyLost.
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
	cm, err := readKeysConfigMap(ctx, c, namespace)
	if err != nil {
		return Keys{}, err
	}
	issued := ""
	if cm != nil {
		issued = cm.Data[FingerprintKeyIDData]
	}
	fpKey, err := ensureFingerprintKey(ctx, c, namespace, issued)
	if err != nil {
		return Keys{}, err
	}
	pub, err := encodePublicKey(signer.Key.Public().(ed25519.PublicKey))
	if err != nil {
		return Keys{}, err
	}
	entries := map[string]string{signer.KeyID() + publicKeySuffix: pub, FingerprintKeyIDData: FingerprintKeyID(fpKey)}
	if err := publish(ctx, c, namespace, cm, entries); err != nil {
		return Keys{}, err
	}
	if cm != nil {
		if signer.Trusted, err = PublicKeys(cm); err != nil {
			return Keys{}, err
		}
	}
	return Keys{Signer: signer, FingerprintKey: fpKey}, nil
}

// ensureFingerprintKey reads the fingerprint key, creating it only when
// no key was issued before (issued, the id the ConfigMap records, is "").
func ensureFingerprintKey(ctx context.Context, c client.Client, namespace, issued string) ([]byte, error) {
	generate := newFingerprintKey
	if issued != "" {
		generate = func() ([]byte, error) {
			return nil, fmt.Errorf("the fingerprint key Secret %s/%s is missing but key %s was issued: restore it from backup; %w",
				namespace, FingerprintKeySecret, issued, ErrFingerprintKeyLost)
		}
	}
	key, err := ensureSecret(ctx, c, namespace, FingerprintKeySecret, FingerprintKeyData, generate)
	if err != nil {
		return nil, err
	}
	if len(key) < fingerprintKeySize {
		return nil, fmt.Errorf("secret %s/%s: %s has %d bytes, want at least %d", namespace, FingerprintKeySecret, FingerprintKeyData, len(key), fingerprintKeySize)
	}
	if id := FingerprintKeyID(key); issued != "" && id != issued {
		return nil, fmt.Errorf("the fingerprint key Secret %s/%s holds key %s but key %s was issued: restore key %s from backup "+
			"(a deliberate change: remove %s from ConfigMap %s/%s); %w",
			namespace, FingerprintKeySecret, id, issued, issued, FingerprintKeyIDData, namespace, PublicKeysConfigMap, ErrFingerprintKeyLost)
	}
	return key, nil
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

// readKeysConfigMap reads the public keys ConfigMap; nil when there is none.
func readKeysConfigMap(ctx context.Context, c client.Reader, namespace string) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: PublicKeysConfigMap}, &cm)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read ConfigMap %s/%s: %w", namespace, PublicKeysConfigMap, err)
	}
	return &cm, nil
}

// publish adds entries to the public keys ConfigMap, creating it if
// needed. read is the ConfigMap as EnsureKeys read it (nil: none), used
// for the first attempt to spare a read. An entry that is there with
// another value is an error: entries are never replaced.
func publish(ctx context.Context, c client.Client, namespace string, read *corev1.ConfigMap, entries map[string]string) error {
	err := retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)
	}, func() error {
		cm := read
		read = nil
		if cm == nil {
			cm = &corev1.ConfigMap{}
			err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: PublicKeysConfigMap}, cm)
			if apierrors.IsNotFound(err) {
				cm = &corev1.ConfigMap{
					ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: PublicKeysConfigMap, Labels: keyLabels()},
					Data:       entries,
				}
				return c.Create(ctx, cm)
			}
			if err != nil {
				return err
			}
		}
		added := false
		for name, entry := range entries {
			switch old, ok := cm.Data[name]; {
			case ok && old == entry:
				continue
			case ok:
				return fmt.Errorf("its entry %s holds another value than this operator's; entries are never replaced", name)
			}
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[name], added = entry, true
		}
		if !added {
			return nil
		}
		return c.Update(ctx, cm)
	})
	if err != nil {
		return fmt.Errorf("publish the receipt keys in ConfigMap %s/%s: %w", namespace, PublicKeysConfigMap, err)
	}
	return nil
}

// keyLabels mark the objects EnsureKeys creates as the operator's.
func keyLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": "privacy-operator", "app.kubernetes.io/component": "receipts"}
}

// PublicKeys reads the public keys ConfigMap: every "<keyID>.pub" entry,
// each checked against its keyID (an entry under another key's id would
// let a forged receipt pass as signed by that key). Other entries, such
// as FingerprintKeyIDData, are not keys and are passed over.
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
