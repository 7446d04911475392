package wiring

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/privacyoperator/privacy-operator/internal/operator/callback"
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

// listenerTLS is how the callback listener serves, and how a follower
// trusts the leader's listener when it forwards a callback there.
type listenerTLS struct {
	server  *tls.Config
	prepare func(context.Context) error
	// client reaches another replica's listener; nil: plain HTTP.
	client func() *tls.Config
}

// callbackTLS decides how the listener serves: a mounted certificate, plain
// HTTP when explicitly asked, or else a certificate of the operator's own
// CA, for the host of the callback URL and loopback. Replicas reach each
// other by pod IP, so the client checks the certificate against the host
// of the callback URL, which every replica's certificate names.
func callbackTLS(mgr manager.Manager, o Options) (listenerTLS, error) {
	serverName := "localhost"
	if u, err := url.Parse(o.CallbackBaseURL); err == nil && u.Hostname() != "" {
		serverName = u.Hostname()
	}
	switch {
	case o.CallbackListener == nil && o.CallbackBindAddress == "":
		return listenerTLS{}, nil // no listener
	case o.CallbackInsecure:
		return listenerTLS{}, nil
	case o.CallbackCertDir != "":
		files := &callbacktls.Files{Dir: o.CallbackCertDir}
		if err := files.Load(); err != nil {
			return listenerTLS{}, err
		}
		return listenerTLS{
			server: &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: files.GetCertificate},
			client: func() *tls.Config {
				// cert-manager's Secret carries its issuer as ca.crt;
				// without it, the system's roots.
				var roots *x509.CertPool
				if pem, err := os.ReadFile(filepath.Join(o.CallbackCertDir, "ca.crt")); err == nil {
					roots = x509.NewCertPool()
					roots.AppendCertsFromPEM(pem)
				}
				return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: serverName}
			},
		}, nil
	}
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if u, err := url.Parse(o.CallbackBaseURL); err == nil && u.Hostname() != "" {
		hosts = append([]string{u.Hostname()}, hosts...)
	}
	if h, _, err := net.SplitHostPort(o.CallbackBindAddress); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if o.OperatorNamespace == "" {
		return listenerTLS{}, fmt.Errorf("the operator's namespace is unknown: set POD_NAMESPACE, mount a certificate with --callback-cert-dir, or use --callback-insecure")
	}
	name := o.CallbackCAName
	if name == "" {
		name = "privacy-operator-callback-ca"
	}
	issuer := &callbacktls.Issuer{
		Reader: mgr.GetAPIReader(), Writer: mgr.GetClient(),
		Namespace: o.OperatorNamespace, SecretName: name, ConfigMapName: name, Hosts: hosts,
	}
	return listenerTLS{
		server:  &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: issuer.GetCertificate},
		prepare: issuer.Ensure,
		client: func() *tls.Config {
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM(issuer.CABundle())
			return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: roots, ServerName: serverName}
		},
	}, nil
}

// callbackLeaseName names the Lease in which the leader publishes its
// callback listener's URL.
const callbackLeaseName = "privacy-operator-callback-leader"

// forwardToLeader lets every replica take callbacks: the leader publishes
// its listener's URL while it leads, and the others forward to it. Without
// leader election every replica leads and nothing is forwarded.
func forwardToLeader(mgr manager.Manager, o Options, srv *callback.Server, lt listenerTLS) error {
	srv.IsLeader = func() bool {
		select {
		case <-mgr.Elected():
			return true
		default:
			return false
		}
	}
	scheme := "http"
	if lt.server != nil {
		scheme = "https"
	}
	self, err := advertiseURL(o, scheme)
	if err != nil {
		return err
	}
	ns := o.LeaderElectionNamespace
	if ns == "" {
		ns = o.OperatorNamespace
	}
	identity, _ := os.Hostname()
	leader := &callback.LeaderURL{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
		Namespace: ns, Name: callbackLeaseName, Identity: identity, URL: self,
	}
	srv.Forward = &callback.Forwarder{Leader: leader.Lookup, Unreachable: leader.Forget, Transport: forwardTransport(lt), Scheme: scheme}
	if o.CallbackTakeOverWindow > 0 {
		since := &callback.LeadingSince{}
		srv.Starting = func() bool { return since.Within(o.CallbackTakeOverWindow) }
		if err := mgr.Add(since); err != nil {
			return err
		}
	}
	return mgr.Add(leader)
}

// forwardTransport reaches the leader's listener: no proxy from the
// environment (callbacks carry Access data), bounded dial, handshake and
// answer times, and TLS with the listener's own trust. The CA is known
// once the listener's Prepare has run, so TLS settings are built per
// connection.
func forwardTransport(lt listenerTLS) *http.Transport {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ResponseHeaderTimeout: time.Minute, // the leader may wait up to 10 s for memory, then reads up to 16 MiB
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   16,
		ForceAttemptHTTP2:     false,
	}
	if lt.client != nil {
		t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second) // dial and handshake
			defer cancel()
			d := &tls.Dialer{NetDialer: dialer, Config: lt.client()}
			return d.DialContext(ctx, network, addr)
		}
	}
	return t
}

// advertiseURL is this replica's listener as the others reach it: the
// given URL, else the pod's IP (POD_IP, which the Deployment sets) with
// the listener's port, else the listener's own address when it names a
// host (loopback, in tests and make run).
func advertiseURL(o Options, scheme string) (string, error) {
	if o.CallbackAdvertiseURL != "" {
		u, err := url.Parse(o.CallbackAdvertiseURL)
		if err != nil || u.Host == "" || u.Port() == "" || u.Path != "" && u.Path != "/" || u.RawQuery != "" {
			return "", fmt.Errorf("--callback-advertise-url %q is not %s://host:port", o.CallbackAdvertiseURL, scheme)
		}
		if u.Scheme != scheme {
			return "", fmt.Errorf("--callback-advertise-url is %s:// but the callback listener serves %s: use %s://", u.Scheme, scheme, scheme)
		}
		return strings.TrimSuffix(o.CallbackAdvertiseURL, "/"), nil
	}
	addr := o.CallbackBindAddress
	if o.CallbackListener != nil {
		addr = o.CallbackListener.Addr().String()
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("callback listener address %q: %w", addr, err)
	}
	if ip := os.Getenv("POD_IP"); ip != "" {
		return scheme + "://" + net.JoinHostPort(ip, port), nil
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		return "", nil // followers answer 503 until a leader they can reach publishes
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}
