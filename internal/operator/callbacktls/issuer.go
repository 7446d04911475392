// Package callbacktls gives the callback listener a TLS certificate when no
// certificate is mounted: a self-signed CA kept in a Secret of the
// operator's namespace (so that every replica and every restart serves
// under the same CA), a serving certificate issued from it and renewed
// before it expires, and the CA's certificate published in a ConfigMap, the
// caBundle data sources trust for their callbacks.
package callbacktls

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CAKey is the key of the CA certificate in the published ConfigMap (and
// in the CA Secret, with tls.key beside it).
const CAKey = "ca.crt"

// Issuer issues the listener's serving certificate. Create it with the
// fields set, call Ensure once the API is reachable, then serve with
// GetCertificate.
type Issuer struct {
	// Reader reads the Secret and ConfigMap uncached (no Secret informer);
	// Writer creates and updates them.
	Reader client.Reader
	Writer client.Writer
	// Namespace holds the CA Secret and the ConfigMap.
	Namespace                 string
	SecretName, ConfigMapName string
	// Hosts are the DNS names and IP addresses the serving certificate is
	// valid for: the host of --callback-base-url, and loopback.
	Hosts []string
	// Validity of a serving certificate (default 90 days); it is renewed
	// once two thirds of it have passed. The CA is valid for ten years.
	Validity time.Duration
	// Now tells the time; default time.Now.
	Now func() time.Time

	mu      sync.Mutex
	ca      *x509.Certificate
	caKey   crypto.Signer
	caPEM   []byte
	serving *tls.Certificate
	renewAt time.Time
}

// Ensure loads the CA from its Secret, creating it when missing, and
// publishes its certificate in the ConfigMap.
func (i *Issuer) Ensure(ctx context.Context) error {
	if i.Now == nil {
		i.Now = time.Now
	}
	if i.Validity <= 0 {
		i.Validity = 90 * 24 * time.Hour
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: i.Namespace, Name: i.SecretName}
	err := i.Reader.Get(ctx, key, secret)
	switch {
	case apierrors.IsNotFound(err):
		if secret, err = i.createCA(ctx); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("read callback CA Secret %s: %w", key, err)
	}
	if err := i.loadCA(secret); err != nil {
		return fmt.Errorf("callback CA Secret %s: %w (delete it to have a new CA made)", key, err)
	}
	return i.publish(ctx)
}

func (i *Issuer) createCA(ctx context.Context) (*corev1.Secret, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := i.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "privacy-operator callback CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: i.Namespace, Name: i.SecretName,
			Labels: map[string]string{"app.kubernetes.io/name": "privacy-operator"}},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			corev1.TLSCertKey:       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
			corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
		},
	}
	if err := i.Writer.Create(ctx, secret); err != nil {
		if apierrors.IsAlreadyExists(err) {
			// Another replica made it first: use theirs.
			existing := &corev1.Secret{}
			if err := i.Reader.Get(ctx, client.ObjectKeyFromObject(secret), existing); err != nil {
				return nil, err
			}
			return existing, nil
		}
		return nil, fmt.Errorf("create callback CA Secret %s/%s: %w", i.Namespace, i.SecretName, err)
	}
	return secret, nil
}

func (i *Issuer) loadCA(secret *corev1.Secret) error {
	pair, err := tls.X509KeyPair(secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return errors.New("tls.crt and tls.key do not form a key pair")
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil || !ca.IsCA {
		return errors.New("tls.crt is not a CA certificate")
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return errors.New("tls.key cannot sign")
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.ca, i.caKey, i.caPEM = ca, signer, secret.Data[corev1.TLSCertKey]
	i.serving = nil
	return nil
}

// publish writes the CA certificate to the ConfigMap when it differs.
func (i *Issuer) publish(ctx context.Context) error {
	cm := &corev1.ConfigMap{}
	key := client.ObjectKey{Namespace: i.Namespace, Name: i.ConfigMapName}
	err := i.Reader.Get(ctx, key, cm)
	if apierrors.IsNotFound(err) {
		cm = &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Namespace: i.Namespace, Name: i.ConfigMapName,
				Labels: map[string]string{"app.kubernetes.io/name": "privacy-operator"}},
			Data: map[string]string{CAKey: string(i.caPEM)},
		}
		if err := i.Writer.Create(ctx, cm); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("publish callback CA in ConfigMap %s: %w", key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("read callback CA ConfigMap %s: %w", key, err)
	}
	if cm.Data[CAKey] == string(i.caPEM) {
		return nil
	}
	if cm.Data == nil {
		cm.Data = map[string]string{}
	}
	cm.Data[CAKey] = string(i.caPEM)
	if err := i.Writer.Update(ctx, cm); err != nil {
		return fmt.Errorf("publish callback CA in ConfigMap %s: %w", key, err)
	}
	return nil
}

// CABundle is the PEM of the CA, as published.
func (i *Issuer) CABundle() []byte {
	i.mu.Lock()
	defer i.mu.Unlock()
	return bytes.Clone(i.caPEM)
}

// GetCertificate serves the current serving certificate, issuing a new one
// when none exists or two thirds of its validity have passed. It is a
// tls.Config GetCertificate function.
func (i *Issuer) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.ca == nil {
		return nil, errors.New("callback CA not loaded")
	}
	now := i.Now()
	if i.serving != nil && now.Before(i.renewAt) {
		return i.serving, nil
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "privacy-operator callbacks"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(i.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range i.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, i.ca, &k.PublicKey, i.caKey)
	if err != nil {
		return nil, err
	}
	i.serving = &tls.Certificate{Certificate: [][]byte{der, i.ca.Raw}, PrivateKey: k}
	i.renewAt = now.Add(i.Validity * 2 / 3)
	return i.serving, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
