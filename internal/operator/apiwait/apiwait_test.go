package apiwait

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// flakyAPIServer fails (drops the connection, as a TLS handshake timeout
// or a refused connection does) until up is set, then serves discovery
// for the operator's group.
func flakyAPIServer(t *testing.T, up *atomic.Bool, attempts *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		if !up.Load() {
			hj, ok := w.(http.Hijacker)
			if !ok {
				t.Error("no hijacker")
				return
			}
			conn, _, _ := hj.Hijack()
			_ = conn.Close()
			return
		}
		if r.URL.Path != "/apis/privacyoperator.io/v1alpha1" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(metav1.APIResourceList{
			TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
			GroupVersion: "privacyoperator.io/v1alpha1",
			APIResources: []metav1.APIResource{{Name: "privacyrequests", Kind: "PrivacyRequest"}},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func config(srv *httptest.Server) *rest.Config {
	return &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// A replica that starts while the API server is away waits, alive and not
// ready, logs each attempt without giving up, and goes on as soon as the
// API server serves the operator's group; the probe address is free again
// for the manager.
func TestWaitRidesOutAnAPIOutage(t *testing.T) {
	var up atomic.Bool
	var attempts, logged atomic.Int64
	srv := flakyAPIServer(t, &up, &attempts)
	probes := freeAddr(t)
	log := funcr.New(func(_, _ string) { logged.Add(1) }, funcr.Options{})

	done := make(chan error, 1)
	go func() {
		done <- Wait(context.Background(), config(srv), Options{
			GroupVersion: "privacyoperator.io/v1alpha1", ProbeAddress: probes,
			MinBackoff: 10 * time.Millisecond, MaxBackoff: 40 * time.Millisecond, AttemptTimeout: time.Second, Log: log,
		})
	}()

	deadline := time.Now().Add(10 * time.Second)
	for attempts.Load() < 5 || logged.Load() < 3 {
		select {
		case err := <-done:
			t.Fatalf("Wait returned %v while the API server was away", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d attempts, %d log lines: Wait does not retry", attempts.Load(), logged.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for path, want := range map[string]int{"/healthz": http.StatusOK, "/readyz": http.StatusServiceUnavailable} {
		resp, err := http.Get("http://" + probes + path)
		if err != nil {
			t.Fatalf("%s while waiting: %v", path, err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s while waiting: %d, want %d", path, resp.StatusCode, want)
		}
	}

	up.Store(true)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return once the API server was back")
	}
	l, err := net.Listen("tcp", probes)
	if err != nil {
		t.Fatalf("the probe address is still held after Wait: %v", err)
	}
	_ = l.Close()
}

// Wait ends with its context (a SIGTERM while waiting).
func TestWaitEndsWithItsContext(t *testing.T) {
	var up atomic.Bool
	var attempts atomic.Int64
	srv := flakyAPIServer(t, &up, &attempts)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := Wait(ctx, config(srv), Options{GroupVersion: "privacyoperator.io/v1alpha1", MinBackoff: 10 * time.Millisecond})
	if err == nil {
		t.Fatal("Wait returned nil with the API server away")
	}
}
