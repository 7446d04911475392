// Package wiring wires the whole operator into a controller-runtime
// manager: field indexes, the dispatcher, the callback listener and the
// three controllers. cmd/manager, the envtest suites and the benchmark use
// it alike, so that what is tested is what runs.
package wiring

import (
	"context"
	"net"
	"os"
	"strings"
	"time"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"

	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"github.com/privacyoperator/privacy-operator/controllers"
	"github.com/privacyoperator/privacy-operator/internal/operator/callback"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/identity"
	"github.com/privacyoperator/privacy-operator/internal/operator/netguard"
	"github.com/privacyoperator/privacy-operator/internal/operator/nspolicy"
)

// Options configure the operator; cmd/manager fills them from flags.
type Options struct {
	// Namespaces decides which namespaces' DataSources are honoured.
	Namespaces nspolicy.Policy
	// AllowLoopbackEndpoints lets endpoints resolve to loopback (local
	// development and tests); link-local, metadata and the API server stay refused.
	AllowLoopbackEndpoints bool
	// APIServerHost is the API server's URL, whose addresses endpoints may not use.
	APIServerHost string
	// ProbeInterval is the period of the DataSource readiness probe.
	ProbeInterval time.Duration
	// CallbackBindAddress is where the callback listener listens; empty
	// (and no CallbackListener) disables it.
	CallbackBindAddress string
	// CallbackListener, when set, is served instead of CallbackBindAddress.
	CallbackListener net.Listener
	// CallbackBaseURL is the URL sources reach the listener at; empty sends
	// no callbackURL, so async jobs are polled.
	CallbackBaseURL string
	// CallbackCertDir holds tls.crt and tls.key for the listener (mounted,
	// e.g. by cert-manager; reloaded when they change).
	CallbackCertDir string
	// CallbackInsecure serves callbacks over plain HTTP. Without it and
	// without CallbackCertDir, the operator serves a certificate of its own
	// CA (see internal/operator/callbacktls).
	CallbackInsecure bool
	// OperatorNamespace holds the self-signed callback CA's Secret and the
	// ConfigMap that publishes its certificate.
	OperatorNamespace string
	// CallbackCAName names that Secret and ConfigMap.
	CallbackCAName string
	// CallbackAdvertiseURL is this replica's listener as the other
	// replicas reach it, published while it leads so that followers
	// forward callbacks to it. Empty: derived (see advertiseURL).
	CallbackAdvertiseURL string
	// CallbackTakeOverWindow is how long after it begins to lead a replica
	// answers callbacks for jobs it does not know yet with 503 (retry)
	// rather than 404: time for its first passes to register the jobs its
	// predecessor (or, without leader election, its earlier self before a
	// restart) handed over. Zero: 404 at once.
	CallbackTakeOverWindow time.Duration
	// LeaderElectionNamespace holds the Lease that publishes the leader's
	// listener (with the leader election Lease); default OperatorNamespace.
	LeaderElectionNamespace string
	// ExportDir holds Access exports and their parts, or with ExportS3
	// only this replica's spool (answers until they are filed, exports
	// while they are uploaded).
	ExportDir string
	// ExportS3, when set, keeps Access exports and their parts in
	// S3-compatible object storage.
	ExportS3 *export.S3Config
	// SpoolSweepInterval and SpoolGrace tune the sweep of answers in the
	// spool that will never be filed (controllers.SpoolSweeper; default
	// one minute each).
	SpoolSweepInterval, SpoolGrace time.Duration
	// ExportTTL, RequestTTL (default ttlSecondsAfterFinished), PollInterval
	// and NoSourcesRetry tune the PrivacyRequest engine.
	ExportTTL, RequestTTL, PollInterval, NoSourcesRetry time.Duration
	// DueSoonShare is the share of a request's time after which it is
	// DueSoon (controllers.EngineConfig.DueSoonShare).
	DueSoonShare float64
	// TaskGrace is how long a manual source's PrivacyTask outlives its
	// finished request (default controllers.DefaultTaskGrace).
	TaskGrace time.Duration
	// MaxResultBytes bounds a source's answer.
	MaxResultBytes int64
	// BodyBudgetBytes bounds the answer and callback bytes held in memory
	// at once; at least twice MaxResultBytes plus 1 MiB (the default).
	BodyBudgetBytes int64
	// MaxInFlight bounds the open HTTP exchanges.
	MaxInFlight int
	// RequestWorkers is the number of PrivacyRequests reconciled at once.
	RequestWorkers int
	// SubjectSecretNamespaces are the namespaces whose Secrets (labelled
	// privacyoperator.io/subject=true) a request's subject.secretRef may name.
	SubjectSecretNamespaces []string
	// MinRetainFor is the shortest retainFor a RetentionPolicy may ask for.
	MinRetainFor time.Duration
	// Receipts, when set, keeps a signed receipt of every finished request
	// and retention run in its store.
	Receipts *ReceiptOptions
	// Clock is the one clock of the operator: the three reconcilers, the
	// dispatcher, its HTTP client (signatures) and the callback listener
	// read it. Default: the real clock; tests move it.
	Clock clock.PassiveClock
}

// Operator is what Setup wired.
type Operator struct {
	Dispatcher *dispatch.Dispatcher
	Requests   *controllers.PrivacyRequestReconciler
}

// CacheOptions are the manager cache settings the operator is built for:
// managedFields are dropped from every cached object (nothing reads them,
// and for requests with many sources they are as large as the status), and
// a finished PrivacyRequest is cached without status.sources (see
// compactFinishedRequest) once its receipt is recorded, when receipts
// are kept. cmd/manager and the envtest suites create their managers with
// them.
func CacheOptions(receipts bool) cache.Options {
	stripManagedFields := cache.TransformStripManagedFields()
	return cache.Options{
		DefaultTransform: stripManagedFields,
		ByObject: map[client.Object]cache.ByObject{
			&privacyv1alpha1.PrivacyRequest{}: {Transform: func(obj any) (any, error) {
				compactFinishedRequest(obj, receipts)
				return stripManagedFields(obj)
			}},
			&privacyv1alpha1.PrivacyTask{}: {Transform: func(obj any) (any, error) {
				forgetTaskSubject(obj)
				return stripManagedFields(obj)
			}},
		},
	}
}

// forgetTaskSubject drops the subject's identities and correction values
// from the cached copy of a PrivacyTask: the operator writes them once, at
// creation, and reads only outcomes afterwards, so its memory holds no
// more personal data than a request's dispatch needs.
func forgetTaskSubject(obj any) {
	if t, ok := obj.(*privacyv1alpha1.PrivacyTask); ok {
		t.Spec.Identities = nil
		for i := range t.Spec.Corrections {
			t.Spec.Corrections[i].Value = ""
		}
	}
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
	if o.MaxResultBytes <= 0 {
		o.MaxResultBytes = 16 << 20
	}
	exports := export.DirStore{Dir: o.ExportDir}
	store, err := exportStore(o, exports)
	if err != nil {
		return nil, err
	}
	// Answers and callbacks share one memory budget: two of the largest
	// answers at once (or one whose buffer is growing), however many arrive
	// together. The flood test in internal/operator/callback measures this size.
	budget := dispatch.NewBudget(max(o.BodyBudgetBytes, 2*o.MaxResultBytes+(1<<20)))
	guard := &netguard.Guard{AllowLoopback: o.AllowLoopbackEndpoints, Denied: netguard.APIServerAddrs(o.APIServerHost)}
	shared := controllers.Shared{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Keys:      &controllers.KeyRing{Reader: mgr.GetAPIReader()},
		Policy:    o.Namespaces,
		Clock:     o.Clock,
		Wakeups:   &controllers.Wakeups{},
	}
	d, exchanger, err := newDispatcher(o, shared.Wakeups, guard, budget, exports)
	if err != nil {
		return nil, err
	}
	shared.Dispatcher = d
	if err := mgr.Add(leaderOnly{d}); err != nil {
		return nil, err
	}
	if err := addCallbackListener(mgr, o, d, budget, exports); err != nil {
		return nil, err
	}
	if err := mgr.Add(&controllers.ExportSweeper{Reader: mgr.GetClient(), Store: store, Log: ctrl.Log.WithName("export-sweep")}); err != nil {
		return nil, err
	}
	if err := mgr.Add(&controllers.SpoolSweeper{Reader: mgr.GetClient(), Store: store, Interval: o.SpoolSweepInterval, Grace: o.SpoolGrace,
		Log: ctrl.Log.WithName("spool-sweep")}); err != nil {
		return nil, err
	}
	if o.Receipts != nil {
		if shared.Receipts, err = addNotary(mgr, o, shared.Wakeups); err != nil {
			return nil, err
		}
	}
	backups, err := addReplay(mgr, o, shared, exchanger)
	if err != nil {
		return nil, err
	}
	requests, err := addReconcilers(mgr, o, shared, guard, store, backups)
	if err != nil {
		return nil, err
	}
	return &Operator{Dispatcher: d, Requests: requests}, nil
}

// exportStore is where Access exports go: the export directory, or object
// storage with the directory as the spool (the spool in both cases).
func exportStore(o Options, dir export.DirStore) (export.Swept, error) {
	if o.ExportS3 == nil {
		return dir, nil
	}
	s, err := export.NewS3Store(dir, *o.ExportS3)
	if err != nil {
		return nil, err
	}
	ctrl.Log.WithName("setup").Info("Access exports go to object storage", "location", s.URL(o.ExportS3.Prefix), "spool", o.ExportDir)
	return s, nil
}

// newDispatcher builds the dispatcher and its HTTP client, which sends
// sources the callback URL of each job when the listener has one.
func newDispatcher(o Options, wakeups *controllers.Wakeups, guard *netguard.Guard, budget *dispatch.Budget, exports export.DirStore) (*dispatch.Dispatcher, dispatch.Exchanger, error) {
	baseURL, err := callbackBaseURL(o)
	if err != nil {
		return nil, nil, err
	}
	var callbackURL func(string) string
	if baseURL != "" {
		base := strings.TrimSuffix(baseURL, "/")
		callbackURL = func(id string) string { return callback.URL(base, id) }
	}
	exchanger := dispatch.NewClient(dispatch.ClientOptions{
		MaxResponseBytes: o.MaxResultBytes, CallbackURL: callbackURL, Guard: guard,
		Budget: budget, Spool: exports, Log: ctrl.Log.WithName("dispatch"), Now: o.Clock.Now,
	})
	return dispatch.New(dispatch.Options{
		Exchanger:   exchanger,
		Notify:      wakeups.Notify,
		Now:         o.Clock.Now,
		MaxInFlight: o.MaxInFlight,
	}), exchanger, nil
}

// addCallbackListener serves the callbacks of async jobs, when configured.
func addCallbackListener(mgr manager.Manager, o Options, d *dispatch.Dispatcher, budget *dispatch.Budget, exports export.DirStore) error {
	if o.CallbackListener == nil && o.CallbackBindAddress == "" {
		return nil
	}
	lt, err := callbackTLS(mgr, o)
	if err != nil {
		return err
	}
	srv := &callback.Server{
		BindAddress:  o.CallbackBindAddress,
		Listener:     o.CallbackListener,
		TLS:          lt.server,
		Prepare:      lt.prepare,
		Dispatcher:   d,
		Now:          o.Clock.Now,
		MaxBodyBytes: o.MaxResultBytes,
		Budget:       budget,
		Spool:        exports,
		Log:          ctrl.Log.WithName("callback"),
		Rejected:     controllers.CallbackRejectedEvents(mgr.GetClient(), mgr.GetEventRecorder("callback-listener")),
	}
	if err := forwardToLeader(mgr, o, srv, lt); err != nil {
		return err
	}
	return mgr.Add(srv)
}

// addReconcilers sets up the six reconcilers on what they share, each
// with an Event recorder of its own.
func addReconcilers(mgr manager.Manager, o Options, shared controllers.Shared, guard *netguard.Guard, exports export.Store, backups replayParts) (*controllers.PrivacyRequestReconciler, error) {
	recording := func(name string) controllers.Shared {
		s := shared
		s.Recorder = mgr.GetEventRecorder(name)
		return s
	}
	sources := &controllers.DataSourceReconciler{Shared: recording("datasource-controller"), Guard: guard, ProbeInterval: o.ProbeInterval}
	requests := &controllers.PrivacyRequestReconciler{
		Shared:  recording("privacyrequest-controller"),
		Exports: exports,
		Config: controllers.EngineConfig{
			PollInterval:            o.PollInterval,
			ExportTTL:               o.ExportTTL,
			DefaultTTLAfterFinished: o.RequestTTL,
			NoSourcesRetry:          o.NoSourcesRetry,
			DueSoonShare:            o.DueSoonShare,
			Workers:                 o.RequestWorkers,
			SubjectSecrets:          identity.SecretPolicy{Namespaces: o.SubjectSecretNamespaces},
		},
		Replay: backups.recorder,
	}
	restores := &controllers.RestoreReconciler{Shared: recording("restore-controller"), Runner: backups.runner}
	if err := restores.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	policies := &controllers.RetentionPolicyReconciler{
		Shared:       recording("retentionpolicy-controller"),
		PollInterval: o.PollInterval,
		MinRetainFor: o.MinRetainFor,
	}
	holds := &controllers.LegalHoldReconciler{Shared: recording("legalhold-controller")}
	tasks := &controllers.PrivacyTaskReconciler{Shared: recording("privacytask-controller"), Grace: o.TaskGrace}
	if err := tasks.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := sources.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := holds.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := requests.SetupWithManager(mgr); err != nil {
		return nil, err
	}
	return requests, policies.SetupWithManager(mgr)
}

// leaderOnly runs the dispatcher on the leader only, like the controllers.
type leaderOnly struct{ *dispatch.Dispatcher }

func (leaderOnly) NeedLeaderElection() bool { return true }
