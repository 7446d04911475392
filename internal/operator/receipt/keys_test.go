package receipt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt/receipttest"
)

// namespace creates a namespace for one subtest.
func namespace(t *testing.T, c client.Client, name string) string {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// ensuredKeys creates a namespace and its keys for one subtest.
func ensuredKeys(t *testing.T, c client.Client, name string) (string, Keys) {
	t.Helper()
	ns := namespace(t, c, name)
	keys, err := EnsureKeys(context.Background(), c, ns)
	if err != nil {
		t.Fatal(err)
	}
	return ns, keys
}

// keysConfigMap reads the public keys ConfigMap of ns.
func keysConfigMap(t *testing.T, c client.Client, ns string) corev1.ConfigMap {
	t.Helper()
	var cm corev1.ConfigMap
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: PublicKeysConfigMap}, &cm); err != nil {
		t.Fatal(err)
	}
	return cm
}

// rotateSigningKey does what an admin does to rotate the signing key of
// ns: it replaces the key in the Secret; it returns the new key.
func rotateSigningKey(t *testing.T, c client.Client, ns string) Signer {
	t.Helper()
	ctx := context.Background()
	fresh := newSigner(t)
	pemKey, err := EncodeSigningKey(fresh.Key)
	if err != nil {
		t.Fatal(err)
	}
	var s corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: SigningKeySecret}, &s); err != nil {
		t.Fatal(err)
	}
	s.Data[SigningKeyData] = pemKey
	if err := c.Update(ctx, &s); err != nil {
		t.Fatal(err)
	}
	return fresh
}

func TestKeysInKubernetes(t *testing.T) {
	c, _ := receipttest.APIServer(t)
	ctx := context.Background()

	t.Run("created once, then read", func(t *testing.T) {
		ns := namespace(t, c, "keys-created")
		first, err := EnsureKeys(ctx, c, ns)
		if err != nil {
			t.Fatal(err)
		}
		if len(first.FingerprintKey) != 32 || len(first.Signer.Key) != ed25519.PrivateKeySize {
			t.Fatalf("keys %d/%d bytes", len(first.FingerprintKey), len(first.Signer.Key))
		}
		again, err := EnsureKeys(ctx, c, ns)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(again.FingerprintKey, first.FingerprintKey) || !again.Signer.Key.Equal(first.Signer.Key) {
			t.Fatal("a second EnsureKeys made new keys")
		}
		keys, err := ReadPublicKeys(ctx, c, ns)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 1 || !keys[first.Signer.KeyID()].Equal(first.Signer.Key.Public()) {
			t.Fatalf("published keys %v", keys)
		}
		fp, err := ReadFingerprintKey(ctx, c, ns)
		if err != nil || !bytes.Equal(fp, first.FingerprintKey) {
			t.Fatalf("fingerprint key: %v", err)
		}
	})

	t.Run("two replicas at once agree", func(t *testing.T) {
		ns := namespace(t, c, "keys-race")
		var wg sync.WaitGroup
		got := make([]Keys, 4)
		for i := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := EnsureKeys(ctx, c, ns)
				if err != nil {
					t.Errorf("replica %d: %v", i, err)
				}
				got[i] = k
			}()
		}
		wg.Wait()
		for i, k := range got[1:] {
			if !k.Signer.Key.Equal(got[0].Signer.Key) || !bytes.Equal(k.FingerprintKey, got[0].FingerprintKey) {
				t.Fatalf("replica %d has other keys", i+1)
			}
		}
	})

	// An admin replaces the signing key: the next receipt is signed with
	// it, its public key is published beside the old one, and the whole
	// log verifies with the ConfigMap.
	t.Run("rotation", func(t *testing.T) {
		ns := namespace(t, c, "keys-rotation")
		store := dirStore(t)
		l, err := OpenLog(ctx, store, KeySigner(c, ns), newClock().Now)
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, l, 2)
		fresh := rotateSigningKey(t, c, ns)
		ref := appendN(t, l, 1)[0]
		if stored, _, _ := Decode(mustGet(t, store, ref.Name)); stored.Signature.KeyID != fresh.KeyID() {
			t.Fatalf("signed by %s after the rotation, want %s", stored.Signature.KeyID, fresh.KeyID())
		}
		keys, err := ReadPublicKeys(ctx, c, ns)
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) != 2 {
			t.Fatalf("%d public keys after a rotation, want the old and the new", len(keys))
		}
		if rep, err := Verify(ctx, store, keys); err != nil || !rep.OK() {
			t.Fatalf("verify: %+v %v", rep, err)
		}
	})

	// EnsureKeys records the fingerprint key's id; from then on a missing
	// fingerprint key Secret is an error, not a new key, and so is one
	// holding another key. The signing key still rotates.
	t.Run("a lost fingerprint key is not replaced", func(t *testing.T) {
		ns, issued := ensuredKeys(t, c, "keys-fingerprint-lost")
		id := FingerprintKeyID(issued.FingerprintKey)
		if cm := keysConfigMap(t, c, ns); cm.Data[FingerprintKeyIDData] != id {
			t.Fatalf("ConfigMap records %q, want the fingerprint key's id %s", cm.Data[FingerprintKeyIDData], id)
		}
		if keys, err := ReadPublicKeys(ctx, c, ns); err != nil || len(keys) != 1 {
			t.Fatalf("public keys beside the fingerprint key id: %v, %v", keys, err)
		}

		secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: FingerprintKeySecret}}
		if err := c.Delete(ctx, secret); err != nil {
			t.Fatal(err)
		}
		_, err := EnsureKeys(ctx, c, ns)
		want := "the fingerprint key Secret " + ns + "/" + FingerprintKeySecret + " is missing but key " + id +
			" was issued: restore it from backup; a new key would make every fingerprint in receipts and LegalHolds unmatchable"
		if !errors.Is(err, ErrFingerprintKeyLost) || err.Error() != want {
			t.Fatalf("EnsureKeys without the fingerprint key Secret: %v\nwant %s", err, want)
		}
		if err := c.Get(ctx, client.ObjectKeyFromObject(secret), &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Fatalf("a fingerprint key Secret was made: %v", err)
		}
		if _, err := KeySigner(c, ns)(ctx); !errors.Is(err, ErrFingerprintKeyLost) {
			t.Fatalf("KeySigner signs while the fingerprint key is lost: %v", err)
		}

		other := bytes.Repeat([]byte{7}, 32)
		secret.Data = map[string][]byte{FingerprintKeyData: other}
		if err := c.Create(ctx, secret); err != nil {
			t.Fatal(err)
		}
		if _, err := EnsureKeys(ctx, c, ns); !errors.Is(err, ErrFingerprintKeyLost) || !strings.Contains(err.Error(), "holds key "+FingerprintKeyID(other)+" but key "+id+" was issued") {
			t.Fatalf("EnsureKeys with another fingerprint key: %v", err)
		}

		// Restored from the backup: the keys work again, and rotate.
		secret.Data = map[string][]byte{FingerprintKeyData: issued.FingerprintKey}
		if err := c.Update(ctx, secret); err != nil {
			t.Fatal(err)
		}
		fresh := rotateSigningKey(t, c, ns)
		restored, err := EnsureKeys(ctx, c, ns)
		if err != nil || !bytes.Equal(restored.FingerprintKey, issued.FingerprintKey) || restored.Signer.KeyID() != fresh.KeyID() {
			t.Fatalf("after the restore and a rotation: %v", err)
		}
		if keys, err := ReadPublicKeys(ctx, c, ns); err != nil || len(keys) != 2 {
			t.Fatalf("public keys after a rotation: %v, %v", keys, err)
		}
	})

	// A ConfigMap from before the id was recorded gets it at the next
	// EnsureKeys, with the key that is there.
	t.Run("the fingerprint key id is recorded on upgrade", func(t *testing.T) {
		ns, issued := ensuredKeys(t, c, "keys-fingerprint-upgrade")
		cm := keysConfigMap(t, c, ns)
		delete(cm.Data, FingerprintKeyIDData)
		if err := c.Update(ctx, &cm); err != nil {
			t.Fatal(err)
		}
		if _, err := EnsureKeys(ctx, c, ns); err != nil {
			t.Fatal(err)
		}
		if cm := keysConfigMap(t, c, ns); cm.Data[FingerprintKeyIDData] != FingerprintKeyID(issued.FingerprintKey) {
			t.Fatalf("recorded %q after the upgrade", cm.Data[FingerprintKeyIDData])
		}
	})

	t.Run("a bad signing key is refused", func(t *testing.T) {
		ns := namespace(t, c, "keys-bad")
		bad := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: SigningKeySecret},
			Data:       map[string][]byte{SigningKeyData: []byte("not a key")},
		}
		if err := c.Create(ctx, bad); err != nil {
			t.Fatal(err)
		}
		if _, err := EnsureKeys(ctx, c, ns); err == nil || !strings.Contains(err.Error(), SigningKeyData) {
			t.Fatalf("EnsureKeys with a bad key: %v", err)
		}
	})
}

// PublicKeys refuses an entry filed under another key's id: a forger could
// otherwise pass their key off as the operator's.
func TestPublicKeysChecksKeyIDs(t *testing.T) {
	a, b := newSigner(t), newSigner(t)
	pemA, err := encodePublicKey(a.Key.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	pemB, _ := encodePublicKey(b.Key.Public().(ed25519.PublicKey))
	good := &corev1.ConfigMap{Data: map[string]string{a.KeyID() + ".pub": pemA, b.KeyID() + ".pub": pemB, "README": "not a key", FingerprintKeyIDData: "0123456789abcdef"}}
	keys, err := PublicKeys(good)
	if err != nil || len(keys) != 2 {
		t.Fatalf("keys %v, %v", keys, err)
	}
	for what, cm := range map[string]*corev1.ConfigMap{
		"another key's id": {Data: map[string]string{a.KeyID() + ".pub": pemB}},
		"not PEM":          {Data: map[string]string{a.KeyID() + ".pub": "garbage"}},
		"two keys":         {Data: map[string]string{a.KeyID() + ".pub": pemA + pemB}},
	} {
		if _, err := PublicKeys(cm); err == nil {
			t.Errorf("an entry with %s was accepted", what)
		}
	}
	all, err := ParsePublicKeys([]byte(pemA + pemB))
	if err != nil || len(all) != 2 {
		t.Fatalf("a PEM file of two keys: %v %v", all, err)
	}
}
