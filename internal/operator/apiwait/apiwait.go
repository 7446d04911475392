// Package apiwait holds the manager back until the API server serves the
// operator's API group, so that a replica starting during an API outage
// waits (alive, not ready) instead of exiting and landing in the kubelet's
// CrashLoopBackOff, whose growing delay would then postpone recovery long
// after the API server is back.
package apiwait

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
)

// Options tune Wait; zero fields take the defaults.
type Options struct {
	// GroupVersion must be served before Wait returns (e.g.
	// privacyoperator.io/v1alpha1): the manager's first step is to map the
	// operator's kinds to resources.
	GroupVersion string
	// ProbeAddress, if set, is where /healthz answers 200 (the process is
	// alive) and /readyz 503 (it is not ready) while Wait waits; the
	// manager serves both there once it runs. "" or "0": none.
	ProbeAddress string
	// AttemptTimeout bounds one attempt (default 10 s).
	AttemptTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between attempts (default
	// 1 s and 30 s), doubling from one to the other.
	MinBackoff, MaxBackoff time.Duration
	// Log receives a line for each failed attempt and one when the API
	// server answers after a failure.
	Log logr.Logger
}

// Wait returns once the API server at cfg serves opts.GroupVersion, or
// ctx's error when ctx ends first. It never gives up by itself: the
// operator can do nothing without the API server, and a process that
// waits recovers the moment it is back.
func Wait(ctx context.Context, cfg *rest.Config, opts Options) error {
	if opts.AttemptTimeout <= 0 {
		opts.AttemptTimeout = 10 * time.Second
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(30*time.Second, opts.MinBackoff)
	}
	attemptCfg := rest.CopyConfig(cfg)
	attemptCfg.Timeout = opts.AttemptTimeout
	dc, err := discovery.NewDiscoveryClientForConfig(attemptCfg)
	if err != nil {
		return fmt.Errorf("API server client: %w", err)
	}
	var stop func()
	defer func() {
		if stop != nil {
			stop()
		}
	}()
	backoff := opts.MinBackoff
	for attempt := 1; ; attempt++ {
		_, err := dc.ServerResourcesForGroupVersion(opts.GroupVersion)
		if err == nil {
			if attempt > 1 {
				opts.Log.Info("the API server answers; starting", "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		opts.Log.Error(err, "the API server does not serve the operator's API yet; waiting", "groupVersion", opts.GroupVersion,
			"attempt", attempt, "retryIn", backoff.String())
		if stop == nil {
			if stop, err = serveProbes(opts.ProbeAddress); err != nil {
				return err
			}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, opts.MaxBackoff)
	}
}

// serveProbes answers the kubelet's probes at addr while Wait waits: alive,
// not ready. The listener is closed before the manager binds the address.
func serveProbes(addr string) (stop func(), err error) {
	if addr == "" || addr == "0" {
		return func() {}, nil
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("health probes on %s while waiting for the API server: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok: waiting for the API server\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "waiting for the API server", http.StatusServiceUnavailable)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}
