// Command bench measures the PrivacyRequest engine end to end: a real
// kube-apiserver and etcd (envtest), the operator in process, N data sources
// built on the SDK on loopback, and M Delete requests. It prints requests
// completed per second, p50/p99 create-to-Completed latency, API writes per
// request (from the API server's own metrics) and peak memory.
//
//	KUBEBUILDER_ASSETS=$(hack/envtest-binaries.sh) go run ./test/bench -requests 1000 -sources 10
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/nspolicy"
	"github.com/privacyoperator/privacy-operator/internal/operator/wiring"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

var (
	workers int
	// rate, when set, creates the requests on a fixed schedule (R per
	// second, whatever the engine does) instead of all at once.
	rate float64
)

func main() {
	requests := flag.Int("requests", 1000, "PrivacyRequests to create (M)")
	sources := flag.Int("sources", 10, "data sources (N)")
	timeout := flag.Duration("timeout", 20*time.Minute, "give up after this long")
	flag.IntVar(&workers, "workers", 8, "PrivacyRequest reconcile workers (--privacyrequest-workers)")
	flag.Float64Var(&rate, "rate", 0, "create requests at this many per second (open loop) instead of all at once")
	flag.Parse()
	ctrl.SetLogger(logr.Discard())
	if err := run(*requests, *sources, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(m, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	env, err := testenv.Start()
	if err != nil {
		return err
	}
	defer env.Stop()
	peak := &peakMemory{}
	stopSampling := peak.sample(100 * time.Millisecond)
	defer stopSampling()

	c, err := startOperator(ctx, env)
	if err != nil {
		return err
	}
	var executed atomic.Int64
	for i := range n {
		if err := startSource(ctx, c, fmt.Sprintf("source-%02d", i), &executed); err != nil {
			return err
		}
	}
	clientset, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	writesBefore, err := apiWrites(ctx, clientset)
	if err != nil {
		return err
	}
	start := time.Now()
	all, err := burst(ctx, c, m)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	writesAfter, err := apiWrites(ctx, clientset)
	if err != nil {
		return err
	}

	fmt.Printf("requests=%d sources=%d workers=%d rate=%g/s jobs_executed=%d\n", m, n, workers, rate, executed.Load())
	fmt.Printf("completed_per_second=%.1f elapsed=%s\n", float64(m)/elapsed.Seconds(), elapsed.Round(time.Millisecond))
	fmt.Printf("latency_p50=%s latency_p99=%s latency_max=%s\n",
		all[len(all)/2].Round(time.Millisecond), all[len(all)*99/100].Round(time.Millisecond), all[len(all)-1].Round(time.Millisecond))
	per := func(resource string) float64 {
		return float64(writesAfter[resource]-writesBefore[resource]) / float64(m)
	}
	fmt.Printf("api_writes_per_request=%.2f (privacyrequests POST/PUT/PATCH/DELETE incl. status, from apiserver_request_total)\n",
		per("privacyrequests"))
	fmt.Printf("datasource_writes_per_request=%.2f event_writes_per_request=%.2f\n", per("datasources"), per("events"))
	fmt.Printf("peak_heap_inuse=%dMiB peak_rss=%dMiB (one process: operator, %d sources, bench client)\n",
		peak.heap.Load()>>20, peakRSS()>>10, n)
	return nil
}

// startOperator runs the whole operator in this process against env, as
// cmd/manager wires it, and returns a client for the bench itself.
func startOperator(ctx context.Context, env *testenv.Env) (client.WithWatch, error) {
	scheme := k8sruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = privacyv1alpha1.AddToScheme(scheme)
	c, err := client.NewWithWatch(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		return nil, err
	}
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	policy, err := nspolicy.Parse("", nspolicy.DefaultSelector)
	if err != nil {
		return nil, err
	}
	if _, err := wiring.Setup(mgr, wiring.Options{
		CallbackListener: listener, CallbackBaseURL: "http://" + listener.Addr().String(), CallbackInsecure: true,
		ExportDir: filepath.Join(env.Dir, "exports"), PollInterval: time.Second, MaxResultBytes: 16 << 20, RequestWorkers: workers,
		Namespaces: policy, AllowLoopbackEndpoints: true, APIServerHost: env.Config.Host,
	}); err != nil {
		return nil, err
	}
	go func() { _ = mgr.Start(ctx) }()
	return c, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "bench", Labels: map[string]string{"privacyoperator.io/datasource": "true"},
	}})
}

// burst creates m Delete requests at once (8 clients), or at -rate per
// second, and returns each one's time from create to Completed, sorted.
func burst(ctx context.Context, c client.WithWatch, m int) ([]time.Duration, error) {
	w, err := c.Watch(ctx, &privacyv1alpha1.PrivacyRequestList{})
	if err != nil {
		return nil, err
	}
	defer w.Stop()
	created := sync.Map{}
	latencies := make(chan time.Duration, m)
	go func() {
		done := map[string]bool{}
		for ev := range w.ResultChan() {
			pr, ok := ev.Object.(*privacyv1alpha1.PrivacyRequest)
			if !ok || ev.Type == watch.Deleted || done[pr.Name] || pr.Status.Phase != privacyv1alpha1.RequestPhaseCompleted {
				continue
			}
			if at, ok := created.Load(pr.Name); ok {
				done[pr.Name] = true
				latencies <- time.Since(at.(time.Time))
			}
		}
	}()
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				name := fmt.Sprintf("bench-%05d", i)
				created.Store(name, time.Now())
				if err := c.Create(ctx, deleteRequest(name, i)); err != nil {
					fmt.Fprintln(os.Stderr, "create:", err)
				}
			}
		})
	}
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	for i := range m {
		if tick != nil {
			<-tick
		}
		work <- i
	}
	close(work)
	wg.Wait()

	var all []time.Duration
	for len(all) < m {
		select {
		case l := <-latencies:
			all = append(all, l)
		case <-ctx.Done():
			return nil, fmt.Errorf("only %d of %d requests completed", len(all), m)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all, nil
}

func deleteRequest(name string, i int) *privacyv1alpha1.PrivacyRequest {
	return &privacyv1alpha1.PrivacyRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: privacyv1alpha1.PrivacyRequestSpec{
			Type:    privacyv1alpha1.RequestTypeDelete,
			Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": fmt.Sprintf("user%d@example.com", i)}},
		},
	}
}

func startSource(ctx context.Context, c client.Client, name string, executed *atomic.Int64) error {
	secret := protocol.NewSecret()
	run := func(context.Context, *protocol.Job) (datasource.Result, error) {
		executed.Add(1)
		return datasource.Result{Records: 1}, nil
	}
	h, err := datasource.New(datasource.Config{Secrets: []string{secret}, Identities: []string{"email"}, Delete: run})
	if err != nil {
		return err
	}
	srv := httptest.NewServer(h)
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"},
		StringData: map[string]string{"signingSecret": secret},
	}); err != nil {
		return err
	}
	return c.Create(ctx, &privacyv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"},
		Spec: privacyv1alpha1.DataSourceSpec{
			Endpoint:         privacyv1alpha1.Endpoint{URL: srv.URL, Insecure: true},
			SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: name, Key: "signingSecret"},
			RequestTypes:     []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeDelete},
			Identities:       []privacyv1alpha1.IdentityType{"email"},
			MaxConcurrency:   8,
		},
	})
}

var (
	writeMetric   = regexp.MustCompile(`^apiserver_request_total\{(.*)\} ([0-9.e+]+)$`)
	writeVerb     = regexp.MustCompile(`verb="(POST|PUT|PATCH|DELETE|APPLY|UPDATE|CREATE)"`)
	writeResource = regexp.MustCompile(`resource="([a-z]+)"`)
)

// apiWrites sums the API server's count of write requests per resource
// (privacyrequests, datasources, events, ...), status subresource included.
func apiWrites(ctx context.Context, cs *kubernetes.Clientset) (map[string]int64, error) {
	raw, err := cs.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("read apiserver metrics: %w", err)
	}
	totals := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := writeMetric.FindStringSubmatch(sc.Text())
		if m == nil || !writeVerb.MatchString(m[1]) {
			continue
		}
		r := writeResource.FindStringSubmatch(m[1])
		if r == nil {
			continue
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		totals[r[1]] += v
	}
	out := make(map[string]int64, len(totals))
	for k, v := range totals {
		out[k] = int64(v)
	}
	return out, sc.Err()
}

type peakMemory struct{ heap atomic.Uint64 }

func (p *peakMemory) sample(every time.Duration) func() {
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > p.heap.Load() {
					p.heap.Store(ms.HeapInuse)
				}
			}
		}
	}()
	return func() { close(stop) }
}

// peakRSS is VmHWM from /proc/self/status, in KiB.
func peakRSS() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			v, _ := strconv.ParseUint(f[1], 10, 64)
			return v
		}
	}
	return 0
}
