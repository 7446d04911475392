package controllers_test

import (
	"context"
	"errors"
	"flag"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/nspolicy"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/wiring"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

var (
	env       *testenv.Env
	k8sClient client.WithWatch
	ctx       context.Context
	scheme    = runtime.NewScheme()
	// fakeClock is the operator's one clock, and the test sources' (their
	// signatures must agree with it): real time until the RetentionPolicy
	// specs move it to their schedule slots.
	fakeClock = &shiftClock{}
	// logs captures everything the managers log, for the privacy checks.
	logs = &testenv.SyncBuffer{}
	// op is the running operator.
	op *runningOperator
	// receipts is the receipt store of every operator the suite starts: a
	// real directory store that a spec can make fail.
	receipts *faultyStore
)

// operatorNamespace holds the receipt keys.
const operatorNamespace = "privacy-operator-system"

// Engine settings of the suite: short enough that retries, polls and
// expiries happen within a test, and a small result limit to test it.
const (
	pollInterval   = 300 * time.Millisecond
	exportTTL      = 3 * time.Second
	maxResultBytes = 64 << 10
	probeInterval  = 2 * time.Second
	// taskGrace keeps a finished request's PrivacyTasks long enough to
	// read them, and deletes them within a test.
	taskGrace = 5 * time.Second
	// subjectNamespace is the one namespace whose (labelled) Secrets may
	// hold a subject's identities.
	subjectNamespace = "privacy-subjects"
)

var logsTo = flag.String("logs-to", "", "write the managers' logs to this file")

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(20 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	RunSpecs(t, "Controller suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(logs), zap.UseDevMode(true)))
	ctx = context.Background()

	Expect(clientgoscheme.AddToScheme(scheme)).To(Succeed())
	Expect(privacyv1alpha1.AddToScheme(scheme)).To(Succeed())

	var err error
	env, err = testenv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.NewWithWatch(env.Config, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: subjectNamespace}})).To(Succeed())
	Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}})).To(Succeed())
	dir, err := receipt.NewDirStore(GinkgoT().TempDir())
	Expect(err).NotTo(HaveOccurred())
	receipts = &faultyStore{Store: dir}
	exportDir := GinkgoT().TempDir()
	op = startOperator(exportDir)
})

var _ = AfterSuite(func() {
	// The managers' logs, for a failed run: go test ./controllers/ -args -logs-to=FILE.
	if *logsTo != "" {
		_ = os.WriteFile(*logsTo, logs.Bytes(), 0o600)
	}
	if op != nil {
		op.stop()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// runningOperator is one running manager with the whole operator, wired as
// cmd/manager wires it, with its callback listener on loopback.
type runningOperator struct {
	cancel      context.CancelFunc
	done        chan struct{}
	dispatcher  *dispatch.Dispatcher
	callbackURL string
	exportDir   string
}

// startOperator starts the operator with its exports in exportDir, or in
// s3 (with exportDir as its spool) when given.
func startOperator(exportDir string, s3 ...*export.S3Config) *runningOperator {
	GinkgoHelper()
	var exportS3 *export.S3Config
	if len(s3) > 0 {
		exportS3 = s3[0]
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:     scheme,
		Metrics:    metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		Cache:      wiring.CacheOptions(true),
	})
	Expect(err).NotTo(HaveOccurred())
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	base := "http://" + listener.Addr().String()
	policy, err := nspolicy.Parse("", nspolicy.DefaultSelector)
	Expect(err).NotTo(HaveOccurred())
	wired, err := wiring.Setup(mgr, wiring.Options{
		Namespaces:              policy,
		AllowLoopbackEndpoints:  true, // the data sources of the tests listen on loopback
		APIServerHost:           env.Config.Host,
		ProbeInterval:           probeInterval,
		CallbackListener:        listener,
		CallbackBaseURL:         base,
		CallbackInsecure:        true, // the test sources call back over loopback
		ExportDir:               exportDir,
		ExportS3:                exportS3,
		ExportTTL:               exportTTL,
		PollInterval:            pollInterval,
		NoSourcesRetry:          time.Second,
		MaxResultBytes:          maxResultBytes,
		Clock:                   fakeClock,
		SubjectSecretNamespaces: []string{subjectNamespace},
		MinRetainFor:            24 * time.Hour,
		TaskGrace:               taskGrace,
		SpoolSweepInterval:      200 * time.Millisecond,
		SpoolGrace:              time.Second,
		OperatorNamespace:       operatorNamespace,
		Receipts: &wiring.ReceiptOptions{
			Store: receipts, Retention: 731 * 24 * time.Hour,
			MinBackoff: 100 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
			ReplaySweepInterval: 200 * time.Millisecond,
		},
	})
	Expect(err).NotTo(HaveOccurred())

	mctx, cancel := context.WithCancel(ctx)
	o := &runningOperator{cancel: cancel, done: make(chan struct{}), dispatcher: wired.Dispatcher, callbackURL: base, exportDir: exportDir}
	go func() {
		defer GinkgoRecover()
		defer close(o.done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	return o
}

func (o *runningOperator) stop() {
	o.cancel()
	<-o.done
}

// shiftClock is real time plus an offset that a test sets: it runs like a
// real clock (retries and polls are paced in real time) and jumps when a
// spec needs tomorrow's schedule slot.
type shiftClock struct{ offset atomic.Int64 }

func (c *shiftClock) Now() time.Time                  { return time.Now().Add(time.Duration(c.offset.Load())) }
func (c *shiftClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// SetTime makes it t now.
func (c *shiftClock) SetTime(t time.Time) { c.offset.Store(int64(time.Until(t))) }

// Reset goes back to real time.
func (c *shiftClock) Reset() { c.offset.Store(0) }

// faultyStore is a receipt store that refuses writes while fail is set, as
// a bucket that is down would.
type faultyStore struct {
	receipt.Store
	fail atomic.Bool
}

// ListDir lists the replay records (receipt.DirLister) of a store that
// can, so that the operator keeps them in this store too.
func (f *faultyStore) ListDir(ctx context.Context, dir, after string) ([]string, error) {
	l, ok := f.Store.(receipt.DirLister)
	if !ok {
		return nil, errors.New("the receipt store cannot list directories (test)")
	}
	return l.ListDir(ctx, dir, after)
}

func (f *faultyStore) Create(ctx context.Context, name string, data []byte) error {
	if f.fail.Load() {
		return errors.New("receipt store unavailable (test)")
	}
	return f.Store.Create(ctx, name, data)
}
