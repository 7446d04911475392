// Package operator wires the whole operator into a controller-runtime
// manager: field indexes, the dispatcher, the callback listener and the
// three controllers. cmd/main.go, the envtest suites and the benchmark use
// it alike, so that what is tested is what runs.
package operator

import (
	"context"
	"net"
	"os"
	"strings"
	"time"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/privacyoperator/privacy-operator/controllers"
	"github.com/privacyoperator/privacy-operator/internal/callback"
	"github.com/privacyoperator/privacy-operator/internal/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/export"
)

// Options configure the operator; cmd/main.go fills them from flags.
type Options struct {
	// AllowedNamespaces lists the namespaces whose DataSources are honoured; empty: all.
	AllowedNamespaces []string
	// CallbackBindAddress is where the callback listener listens; empty
	// (and no CallbackListener) disables it.
	CallbackBindAddress string
	// CallbackListener, when set, is served instead of CallbackBindAddress.
	CallbackListener net.Listener
	// CallbackBaseURL is the URL sources reach the listener at; empty sends
	// no callbackURL, so async jobs are polled.
	CallbackBaseURL string
	// CallbackCertDir holds tls.crt and tls.key for the listener.
	CallbackCertDir string
	// ExportDir holds Access exports.
	ExportDir string
	// ExportTTL, RequestTTL (default ttlSecondsAfterFinished), PollInterval
	// and NoSourcesRetry tune the PrivacyRequest engine.
	ExportTTL, RequestTTL, PollInterval, NoSourcesRetry time.Duration
	// MaxResultBytes bounds a source's answer.
	MaxResultBytes int64
	// MaxInFlight bounds the open HTTP exchanges.
	MaxInFlight int
	// RequestWorkers is the number of PrivacyRequests reconciled at once.
	RequestWorkers int
	// Clock drives the RetentionPolicy schedule; default: the real clock.
	Clock clock.PassiveClock
}

// Operator is what Setup wired.
type Operator struct {
	Dispatcher *dispatch.Dispatcher
	Requests   *controllers.PrivacyRequestReconciler
}

// Setup adds the operator to mgr.
func Setup(mgr manager.Manager, o Options) (*Operator, error) {
	if err := controllers.SetupIndexes(context.Background(), mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.ExportDir, 0o700); err != nil {
		return nil, err
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}

	var callbackURL func(string) string
	if o.CallbackBaseURL != "" {
		base := strings.TrimSuffix(o.CallbackBaseURL, "/")
		callbackURL = func(id string) string { return callback.URL(base, id) }
	}
	requests := &controllers.PrivacyRequestReconciler{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder("privacyrequest-controller"),
		Exports:   export.DirStore{Dir: o.ExportDir},
		Config: controllers.EngineConfig{
			AllowedNamespaces:       o.AllowedNamespaces,
			PollInterval:            o.PollInterval,
			ExportTTL:               o.ExportTTL,
			DefaultTTLAfterFinished: o.RequestTTL,
			NoSourcesRetry:          o.NoSourcesRetry,
			Workers:                 o.RequestWorkers,
		},
	}
	d := dispatch.New(dispatch.Options{
		Exchanger:   dispatch.NewClient(dispatch.ClientOptions{MaxResponseBytes: o.MaxResultBytes, CallbackURL: callbackURL}),
		Notify:      requests.NotifyOwner,
		MaxInFlight: o.MaxInFlight,
	})
	requests.Dispatcher = d
	if err := mgr.Add(leaderOnly{d}); err != nil {
		return nil, err
	}
	if o.CallbackListener != nil || o.CallbackBindAddress != "" {
		if err := mgr.Add(&callback.Server{
			BindAddress:  o.CallbackBindAddress,
			Listener:     o.CallbackListener,
			CertDir:      o.CallbackCertDir,
			Dispatcher:   d,
			MaxBodyBytes: o.MaxResultBytes,
			Log:          ctrl.Log.WithName("callback"),
			Rejected:     controllers.CallbackRejectedEvents(mgr.GetClient(), mgr.GetEventRecorder("callback-listener")),
		}); err != nil {
			return nil, err
		}
	}

	if err := (&controllers.DataSourceReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := requests.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&controllers.RetentionPolicyReconciler{Client: mgr.GetClient(), Clock: o.Clock}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return &Operator{Dispatcher: d, Requests: requests}, nil
}

// leaderOnly runs the dispatcher on the leader only, like the controllers.
type leaderOnly struct{ *dispatch.Dispatcher }

func (leaderOnly) NeedLeaderElection() bool { return true }
