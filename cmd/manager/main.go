// Command manager runs the Privacy Operator: the DataSource, PrivacyRequest
// and RetentionPolicy controllers, the job dispatcher and the callback
// listener, with leader election, metrics and health probes.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // exec and OIDC auth for `make run` against real clusters
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/apiwait"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/nspolicy"
	"github.com/privacyoperator/privacy-operator/internal/operator/wiring"
	"github.com/privacyoperator/privacy-operator/internal/version"
)

var (
	scheme   = runtime.NewScheme()
	setupLog = ctrl.Log.WithName("setup")
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(privacyv1alpha1.AddToScheme(scheme))
}

// flags holds the command line.
type flags struct {
	metricsAddr, probeAddr                         string
	leaderElect                                    bool
	leaderElectionNS                               string
	secureMetrics, enableHTTP2                     bool
	callbackAddr, callbackBaseURL, callbackCert    string
	callbackInsecure                               bool
	callbackCAName, callbackAdvertiseURL           string
	leaseDuration, renewDeadline, retryPeriod      time.Duration
	exportDir, exportURL                           string
	exportS3                                       export.S3Config
	exportTTL, requestTTL, pollInterval, taskGrace time.Duration
	dueSoonShare                                   float64
	maxResultBytes                                 int64
	maxInFlight, requestWorkers                    int
	dataSourceNamespaces, dataSourceSelector       string
	allowLoopback                                  bool
	probeInterval                                  time.Duration
	subjectSecretNamespaces                        string
	// namespace is the operator's own (ownNamespace), read once.
	namespace    string
	minRetainFor time.Duration
	pprofAddr    string
	receipts     receiptFlags
	// version: print the build and exit (--version).
	version bool
}

func parseFlags() (flags, zap.Options) {
	var f flags
	flag.StringVar(&f.metricsAddr, "metrics-bind-address", "0",
		"The address the metrics endpoint binds to, e.g. :8443 (HTTPS) or :8080 (HTTP). 0 disables it.")
	flag.StringVar(&f.probeAddr, "health-probe-bind-address", ":8081", "The address the health probe endpoint binds to.")
	flag.BoolVar(&f.leaderElect, "leader-elect", false,
		"Enable leader election, so that only one of several replicas is active at a time.")
	flag.StringVar(&f.leaderElectionNS, "leader-election-namespace", "",
		"Namespace of the leader election Lease; defaults to the namespace the manager runs in.")
	flag.BoolVar(&f.secureMetrics, "metrics-secure", true,
		"Serve metrics over HTTPS with authentication and authorization. Use --metrics-secure=false for HTTP.")
	flag.BoolVar(&f.enableHTTP2, "enable-http2", false,
		"Enable HTTP/2 for the metrics server (off by default: HTTP/2 Stream Cancellation and Rapid Reset CVEs).")
	flag.StringVar(&f.callbackAddr, "callback-bind-address", ":9443",
		"The address the callback listener binds to (data sources POST async job results there). 0 disables it.")
	flag.StringVar(&f.callbackBaseURL, "callback-base-url", "",
		"The URL data sources reach the callback listener at, e.g. https://privacy-operator-callbacks.privacy-operator-system.svc:9443. "+
			"Empty: derived from --callback-bind-address when that names a host (127.0.0.1:9443); otherwise no callbackURL is sent and async jobs are polled.")
	flag.StringVar(&f.callbackCert, "callback-cert-dir", "",
		"Directory with tls.crt and tls.key for the callback listener (e.g. a cert-manager Certificate's Secret), reloaded when they change. "+
			"Empty: the operator serves a certificate of its own CA, kept in the Secret --callback-ca-name and published as ca.crt in the ConfigMap of the same name.")
	flag.BoolVar(&f.callbackInsecure, "callback-insecure", false,
		"Serve callbacks over plain HTTP. Not for production: callbacks carry Access results (personal data) and would cross the network unencrypted. "+
			"Only for local development on loopback (make run, the local stack).")
	flag.DurationVar(&f.leaseDuration, "leader-election-lease-duration", 15*time.Second,
		"How long a leader's Lease holds without renewal: after a leader dies, another replica takes over within it.")
	flag.DurationVar(&f.renewDeadline, "leader-election-renew-deadline", 10*time.Second,
		"How long the leader keeps trying to renew its Lease before it gives up leading (and exits); less than the lease duration.")
	flag.DurationVar(&f.retryPeriod, "leader-election-retry-period", 2*time.Second,
		"How often replicas try to acquire or renew the Lease.")
	flag.StringVar(&f.callbackAdvertiseURL, "callback-advertise-url", "",
		"This replica's callback listener as the other replicas reach it; the leader publishes it in the Lease privacy-operator-callback-leader "+
			"and followers forward the callbacks they receive there; scheme://host:port only, with the listener's scheme. "+
			"Empty: https://$POD_IP:<listener port> (http:// with --callback-insecure; the Deployment sets POD_IP), or the listener's address when it names a host.")
	flag.StringVar(&f.callbackCAName, "callback-ca-name", "privacy-operator-callback-ca",
		"Name of the Secret (CA key) and ConfigMap (ca.crt, the caBundle data sources trust) of the operator's own callback CA, in the operator's namespace.")
	flag.StringVar(&f.exportDir, "export-dir", defaultExportDir,
		"Directory where Access exports are written (a PersistentVolume in a cluster). When the default cannot be created (not root), "+
			"$XDG_STATE_HOME/privacy-operator/exports (~/.local/state/...) is used and the log says so.")
	flag.StringVar(&f.exportURL, "export-url", "",
		"Write Access exports to S3-compatible object storage: s3://bucket/prefix, the prefix required and this install's alone "+
			"(the export sweep deletes what this install wrote there for requests that no longer exist), with optional parameters "+
			"endpoint, region, pathStyle, caFile, sse, sseKMSKeyID, credentialsDir, installID (or the --export-s3-* flags); see docs/exports.md. "+
			"The sources' data waits there for the export too; --export-dir is then only this replica's spool of answers "+
			"on their way to the bucket (no shared volume needed). Empty: exports stay in --export-dir.")
	f.exportS3.BindFlags(flag.CommandLine)
	flag.DurationVar(&f.exportTTL, "export-ttl", 7*24*time.Hour, "How long an Access export is kept before it is deleted.")
	flag.DurationVar(&f.requestTTL, "request-ttl", 30*24*time.Hour,
		"Default ttlSecondsAfterFinished: finished PrivacyRequests (which hold personal data) are deleted after it. 0 keeps them.")
	flag.Float64Var(&f.dueSoonShare, "due-soon-share", 0.75,
		"Share of a PrivacyRequest's time (from receipt to its due date) after which an unfinished request is DueSoon: a condition, "+
			"a Warning Event and the gauge privacyoperator_requests_due_soon (alert PrivacyRequestsDueSoon). Between 0 and 1; 1 turns the warning off.")
	flag.DurationVar(&f.taskGrace, "task-grace", 24*time.Hour,
		"How long a manual DataSource's PrivacyTask (it holds the subject's identities) is kept after its request or retention run finished; "+
			"a task of a deleted request goes at once.")
	flag.DurationVar(&f.pollInterval, "poll-interval", 30*time.Second,
		"How long an accepted async job waits for its callback before the operator asks the source.")
	flag.Int64Var(&f.maxResultBytes, "max-result-bytes", 16<<20,
		"Largest answer (an Access result included) a data source may send; a larger one fails that source.")
	flag.IntVar(&f.maxInFlight, "max-in-flight", 256, "Largest number of HTTP exchanges open at all data sources together.")
	flag.IntVar(&f.requestWorkers, "privacyrequest-workers", 8, "Number of PrivacyRequests reconciled at once.")
	flag.StringVar(&f.dataSourceNamespaces, "datasource-namespaces", "",
		"Comma-separated namespaces whose DataSources are honoured, besides those matching --datasource-namespace-selector.")
	flag.StringVar(&f.dataSourceSelector, "datasource-namespace-selector", nspolicy.DefaultSelector,
		"Label selector of the namespaces whose DataSources are honoured; an empty value honours every namespace.")
	flag.BoolVar(&f.allowLoopback, "allow-loopback-endpoints", false,
		"Let DataSource endpoints resolve to loopback addresses (local development only). Link-local, cloud metadata and the API server's addresses are always refused.")
	flag.DurationVar(&f.probeInterval, "probe-interval", 5*time.Minute,
		"Period of the DataSource readiness probe (jittered; a failing endpoint is probed ten times as often).")
	f.namespace = ownNamespace()
	flag.StringVar(&f.subjectSecretNamespaces, "subject-secret-namespaces", f.namespace,
		"Comma-separated namespaces whose Secrets a PrivacyRequest's subject.secretRef may name (each Secret must also carry the label "+
			privacyv1alpha1.LabelSubjectSecret+"=true). Default: the namespace the operator runs in.")
	flag.DurationVar(&f.minRetainFor, "min-retain-for", 24*time.Hour,
		"Shortest retainFor a RetentionPolicy may ask for; a policy below it is Stalled (RetainForBelowMinimum) and never runs, so that a typo cannot purge data that must be kept.")
	f.receipts.bind(flag.CommandLine)
	opts := zap.Options{Development: false}
	flag.StringVar(&f.pprofAddr, "pprof-bind-address", "",
		"The address of Go's profiling endpoints (/debug/pprof/...), e.g. 127.0.0.1:6060; empty disables them. They reveal memory contents: bind to loopback only.")
	flag.BoolVar(&f.version, "version", false, "Print the version and the commit it was built from, then exit.")
	opts.BindFlags(flag.CommandLine)
	flag.Parse()
	return f, opts
}

func main() {
	f, zapOpts := parseFlags()
	if f.version {
		version.Print(os.Stdout, "manager")
		return
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	exitOn(checkFlags(f), "invalid flags")

	cfg, ctx := ctrl.GetConfigOrDie(), ctrl.SetupSignalHandler()
	// A replica that starts during an API outage waits for the API server
	// (alive, not ready) instead of exiting into CrashLoopBackOff.
	err := apiwait.Wait(ctx, cfg, apiwait.Options{
		GroupVersion: privacyv1alpha1.GroupVersion.String(), ProbeAddress: f.probeAddr, Log: setupLog,
	})
	if ctx.Err() != nil {
		return
	}
	exitOn(err, "unable to reach the API server")

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                        scheme,
		Metrics:                       metricsOptions(f),
		HealthProbeBindAddress:        f.probeAddr,
		LeaderElection:                f.leaderElect,
		LeaderElectionID:              "privacy-operator.privacyoperator.io",
		LeaderElectionNamespace:       f.leaderElectionNS,
		LeaseDuration:                 &f.leaseDuration,
		RenewDeadline:                 &f.renewDeadline,
		RetryPeriod:                   &f.retryPeriod,
		LeaderElectionReleaseOnCancel: true,
		PprofBindAddress:              f.pprofAddr,
		Cache:                         wiring.CacheOptions(true),
	})
	exitOn(err, "unable to create manager")
	exitOn(setup(mgr, f), "unable to set up the operator")

	exitOn(mgr.AddHealthzCheck("healthz", healthz.Ping), "unable to set up health check")
	exitOn(mgr.AddReadyzCheck("readyz", healthz.Ping), "unable to set up ready check")

	setupLog.Info("starting manager", "version", version.Get().String())
	exitOn(mgr.Start(ctx), "problem running manager")
}

func metricsOptions(f flags) metricsserver.Options {
	var tlsOpts []func(*tls.Config)
	if !f.enableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	opts := metricsserver.Options{BindAddress: f.metricsAddr, SecureServing: f.secureMetrics, TLSOpts: tlsOpts}
	if f.secureMetrics {
		opts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return opts
}

// takeOverWindow: a new leader, or without leader election a restarted
// operator, asks sources to retry callbacks of jobs it does not know yet
// (503) for twice the lease duration: its first passes register the jobs
// its predecessor (or its earlier self) handed over. A 404 then would make
// the source give up, and the job's answer wait for a poll.
func takeOverWindow(f flags) time.Duration {
	return 2 * f.leaseDuration
}

// defaultNamespace is the operator's namespace in the shipped manifests,
// used when it runs outside a cluster (make run).
const defaultNamespace = "privacy-operator-system"

// ownNamespace is the namespace the operator runs in: POD_NAMESPACE (the
// Deployment sets it), the service account's namespace, or the one the
// shipped manifests use.
func ownNamespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(b) > 0 {
		return strings.TrimSpace(string(b))
	}
	return defaultNamespace
}

// defaultExportDir is --export-dir's default, the PersistentVolume's mount
// point in the shipped Deployment.
const defaultExportDir = "/var/lib/privacy-operator/exports"

// exportS3 is the object storage of --export-url, if any.
func exportS3(f flags) (*export.S3Config, error) {
	if f.exportURL == "" {
		if f.exportS3 != (export.S3Config{}) {
			return nil, errors.New("the --export-s3-* flags need --export-url")
		}
		return nil, nil
	}
	cfg, err := export.ParseS3URL(f.exportURL, f.exportS3)
	return &cfg, err
}

// splitList splits a comma-separated flag value, dropping empty entries.
func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// setup wires the operator into the manager.
func setup(mgr manager.Manager, f flags) error {
	callbackAddr := f.callbackAddr
	if callbackAddr == "0" {
		callbackAddr = ""
	}
	policy, err := nspolicy.Parse(f.dataSourceNamespaces, f.dataSourceSelector)
	if err != nil {
		return err
	}
	exports, err := stateDir("export-dir", f.exportDir, defaultExportDir, "exports")
	if err != nil {
		return err
	}
	receipts, err := f.receipts.store()
	if err != nil {
		return err
	}
	s3, err := exportS3(f)
	if err != nil {
		return err
	}
	_, err = wiring.Setup(mgr, wiring.Options{
		Namespaces:              policy,
		AllowLoopbackEndpoints:  f.allowLoopback,
		APIServerHost:           mgr.GetConfig().Host,
		ProbeInterval:           f.probeInterval,
		CallbackBindAddress:     callbackAddr,
		CallbackBaseURL:         f.callbackBaseURL,
		CallbackCertDir:         f.callbackCert,
		CallbackInsecure:        f.callbackInsecure,
		CallbackCAName:          f.callbackCAName,
		CallbackAdvertiseURL:    f.callbackAdvertiseURL,
		LeaderElectionNamespace: f.leaderElectionNS,
		CallbackTakeOverWindow:  takeOverWindow(f),
		OperatorNamespace:       f.namespace,
		ExportDir:               exports,
		ExportS3:                s3,
		ExportTTL:               f.exportTTL,
		RequestTTL:              f.requestTTL,
		DueSoonShare:            f.dueSoonShare,
		TaskGrace:               f.taskGrace,
		PollInterval:            f.pollInterval,
		MaxResultBytes:          f.maxResultBytes,
		MaxInFlight:             f.maxInFlight,
		RequestWorkers:          f.requestWorkers,
		SubjectSecretNamespaces: splitList(f.subjectSecretNamespaces),
		MinRetainFor:            f.minRetainFor,
		Receipts:                receipts,
	})
	return err
}

// checkFlags refuses, before anything starts, values the flags' help
// rules out.
func checkFlags(f flags) error {
	if !(f.dueSoonShare > 0 && f.dueSoonShare <= 1) {
		return fmt.Errorf("--due-soon-share %v: want a share of the time between 0 (excluded) and 1 (1 turns the warning off), e.g. 0.75", f.dueSoonShare)
	}
	return nil
}

func exitOn(err error, msg string) {
	if err != nil {
		setupLog.Error(err, msg)
		os.Exit(1)
	}
}
