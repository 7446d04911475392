package wiring

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/url"

	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/privacyoperator/privacy-operator/internal/operator/callbacktls"
)

// callbackBaseURL is the URL sources reach the listener at: the one given,
// or, when none is and the listener binds an explicit host (make run's
// 127.0.0.1:9443), that address. An unspecified host (:9443) cannot be
// derived: async jobs are then polled.
func callbackBaseURL(o Options) (string, error) {
	scheme := "https"
	if o.CallbackInsecure {
		scheme = "http"
	}
	if o.CallbackBaseURL != "" {
		u, err := url.Parse(o.CallbackBaseURL)
		if err != nil || u.Host == "" {
			return "", fmt.Errorf("--callback-base-url %q is not an absolute URL", o.CallbackBaseURL)
		}
		if u.Scheme != scheme && (o.CallbackListener != nil || o.CallbackBindAddress != "") {
			return "", fmt.Errorf("--callback-base-url is %s:// but the callback listener serves %s: use %s:// (or --callback-insecure for plain HTTP)", u.Scheme, scheme, scheme)
		}
		return o.CallbackBaseURL, nil
	}
	addr := o.CallbackBindAddress
	if o.CallbackListener != nil {
		addr = o.CallbackListener.Addr().String()
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		return "", nil
	}
	return scheme + "://" + addr, nil
}

// callbackTLS decides how the listener serves: a mounted certificate, plain
// HTTP when explicitly asked, or else a certificate of the operator's own
// CA, for the host of the callback URL and loopback.
func callbackTLS(mgr manager.Manager, o Options) (*tls.Config, func(context.Context) error, error) {
	switch {
	case o.CallbackListener == nil && o.CallbackBindAddress == "":
		return nil, nil, nil // no listener
	case o.CallbackInsecure:
		return nil, nil, nil
	case o.CallbackCertDir != "":
		files := &callbacktls.Files{Dir: o.CallbackCertDir}
		if err := files.Load(); err != nil {
			return nil, nil, err
		}
		return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: files.GetCertificate}, nil, nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if u, err := url.Parse(o.CallbackBaseURL); err == nil && u.Hostname() != "" {
		hosts = append([]string{u.Hostname()}, hosts...)
	}
	if h, _, err := net.SplitHostPort(o.CallbackBindAddress); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if o.OperatorNamespace == "" {
		return nil, nil, fmt.Errorf("the operator's namespace is unknown: set POD_NAMESPACE, mount a certificate with --callback-cert-dir, or use --callback-insecure")
	}
	name := o.CallbackCAName
	if name == "" {
		name = "privacy-operator-callback-ca"
	}
	issuer := &callbacktls.Issuer{
		Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(),
		Namespace: o.OperatorNamespace, SecretName: name, ConfigMapName: name, Hosts: hosts,
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: issuer.GetCertificate}, issuer.Ensure, nil
}
