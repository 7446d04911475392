package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// stack is one control plane with the operator running as its own process
// (as users run it, so that its heap, RSS and CPU are its own) and N SDK
// data sources served by this process.
type stack struct {
	env       *testenv.Env
	c         client.WithWatch
	clientset *kubernetes.Clientset
	op        *localstack.Operator
	pprofAddr string
	executed  atomic.Int64
	servers   []*httptest.Server
}

// buildManager builds cmd/manager once for all the stacks of a run.
func buildManager(dir string) (string, error) {
	bin := filepath.Join(dir, "manager")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/manager: %v\n%s", err, out)
	}
	return bin, nil
}

// startStack starts a control plane, the operator binary and n sources.
func startStack(ctx context.Context, managerBin string, n int) (*stack, error) {
	env, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	s := &stack{env: env}
	if err := s.connect(); err != nil {
		s.stop()
		return nil, err
	}
	if s.pprofAddr, err = localstack.FreePort(); err != nil {
		s.stop()
		return nil, err
	}
	var opEnv []string
	if operatorMemLimit != "" {
		opEnv = []string{"GOMEMLIMIT=" + operatorMemLimit}
	}
	s.op, err = localstack.StartOperatorEnv(ctx, env.ControlPlane, managerBin, opEnv,
		"--privacyrequest-workers", strconv.Itoa(workers), "--poll-interval", "1s",
		"--zap-log-level", "error", "--pprof-bind-address", s.pprofAddr)
	if err != nil {
		s.stop()
		return nil, err
	}
	if err := s.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: "bench", Labels: map[string]string{"privacyoperator.io/datasource": "true"},
	}}); err != nil {
		s.stop()
		return nil, err
	}
	for i := range n {
		if err := s.startSource(ctx, fmt.Sprintf("source-%03d", i)); err != nil {
			s.stop()
			return nil, err
		}
	}
	return s, s.waitReady(ctx, n)
}

func (s *stack) connect() error {
	scheme := k8sruntime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = privacyv1alpha1.AddToScheme(scheme)
	cfg := *s.env.Config
	// The bench's own client must not be the bottleneck it measures.
	cfg.QPS, cfg.Burst = 5000, 5000
	var err error
	if s.c, err = client.NewWithWatch(&cfg, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	s.clientset, err = kubernetes.NewForConfig(&cfg)
	return err
}

func (s *stack) stop() {
	if s.op != nil && s.op.Process != nil {
		s.op.Stop()
	}
	for _, srv := range s.servers {
		srv.Close()
	}
	_ = s.env.Stop()
}

func (s *stack) startSource(ctx context.Context, name string) error {
	secret := protocol.NewSecret()
	run := func(context.Context, *protocol.Job) (datasource.Result, error) {
		s.executed.Add(1)
		return datasource.Result{Records: 1}, nil
	}
	h, err := datasource.New(datasource.Config{Secrets: []string{secret}, Identities: []string{"email"}, Delete: run})
	if err != nil {
		return err
	}
	srv := httptest.NewServer(h)
	s.servers = append(s.servers, srv)
	if err := s.c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "bench"},
		StringData: map[string]string{"signingSecret": secret},
	}); err != nil {
		return err
	}
	return s.c.Create(ctx, &privacyv1alpha1.DataSource{
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

// waitReady waits until the operator reports every source Ready, so that
// the measurement starts with probes done.
func (s *stack) waitReady(ctx context.Context, n int) error {
	for {
		list := &privacyv1alpha1.DataSourceList{}
		if err := s.c.List(ctx, list); err != nil {
			return err
		}
		ready := 0
		for _, ds := range list.Items {
			for _, c := range ds.Status.Conditions {
				if c.Type == privacyv1alpha1.ConditionReady && c.Status == metav1.ConditionTrue {
					ready++
				}
			}
		}
		if ready == n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d data sources Ready: %w", ready, n, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var (
	writeMetric   = regexp.MustCompile(`^apiserver_request_total\{(.*)\} ([0-9.e+]+)$`)
	latencyMetric = regexp.MustCompile(`^apiserver_request_duration_seconds_(sum|count)\{(.*)\} ([0-9.e+]+)$`)
	writeVerb     = regexp.MustCompile(`verb="(POST|PUT|PATCH|DELETE|APPLY|UPDATE|CREATE)"`)
	writeResource = regexp.MustCompile(`resource="([a-z]+)"`)
)

// apiWrites sums the API server's count of write requests per resource
// (privacyrequests, datasources, events, ...), status subresource included.
func (s *stack) apiWrites(ctx context.Context) (map[string]float64, error) {
	raw, err := s.clientset.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
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
		if r := writeResource.FindStringSubmatch(m[1]); r != nil {
			v, _ := strconv.ParseFloat(m[2], 64)
			totals[r[1]] += v
		}
	}
	return totals, sc.Err()
}

// writeSeconds sums the API server's own time spent on write requests to
// privacyrequests (status included), and counts them.
func (s *stack) writeSeconds(ctx context.Context) (seconds, count float64, err error) {
	raw, err := s.clientset.RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("read apiserver metrics: %w", err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := latencyMetric.FindStringSubmatch(sc.Text())
		if m == nil || !writeVerb.MatchString(m[2]) || !strings.Contains(m[2], `resource="privacyrequests"`) {
			continue
		}
		v, _ := strconv.ParseFloat(m[3], 64)
		if m[1] == "sum" {
			seconds += v
		} else {
			count += v
		}
	}
	return seconds, count, sc.Err()
}

// managerSample is what the operator process reports about itself.
type managerSample struct {
	// heapInuse counts the spans holding live objects (what the issue's
	// targets name); heapLive the live objects alone.
	heapInuse, heapLive, rss, cpuSeconds float64
}

var sampleMetric = regexp.MustCompile(`^(go_memstats_heap_inuse_bytes|go_memstats_heap_alloc_bytes|process_resident_memory_bytes|process_cpu_seconds_total) ([0-9.e+]+)$`)

// scrape reads the operator's own metrics endpoint, line by line.
func (s *stack) scrape(ctx context.Context, line func(string)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.op.MetricsAddr+"/metrics", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line(sc.Text())
	}
	return sc.Err()
}

// sample reads what the operator reports about its memory and CPU.
func (s *stack) sample(ctx context.Context) (managerSample, error) {
	var out managerSample
	err := s.scrape(ctx, func(line string) {
		m := sampleMetric.FindStringSubmatch(line)
		if m == nil {
			return
		}
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[1] {
		case "go_memstats_heap_inuse_bytes":
			out.heapInuse = v
		case "go_memstats_heap_alloc_bytes":
			out.heapLive = v
		case "process_resident_memory_bytes":
			out.rss = v
		case "process_cpu_seconds_total":
			out.cpuSeconds = v
		}
	})
	return out, err
}

var busyMetric = regexp.MustCompile(`^(workqueue_depth|controller_runtime_active_workers)\{[^}]*\} ([0-9.e+]+)$`)

// waitIdle waits until the operator's work queues are empty and no
// reconcile runs, in two samples in a row a second apart.
func (s *stack) waitIdle(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for quiet := 0; quiet < 2; {
		if time.Now().After(deadline) {
			return fmt.Errorf("the operator was still busy %s after the requests finished", limit)
		}
		var busy float64
		err := s.scrape(ctx, func(line string) {
			if m := busyMetric.FindStringSubmatch(line); m != nil {
				v, _ := strconv.ParseFloat(m[2], 64)
				busy += v
			}
		})
		if err != nil {
			return err
		}
		quiet++
		if busy > 0 {
			quiet = 0
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
	return nil
}

// peaks samples the operator every interval until stop is called and
// returns the highest heap and RSS seen.
func (s *stack) peaks(ctx context.Context, every time.Duration) func() managerSample {
	var mu sync.Mutex
	var peak managerSample
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := s.sample(ctx); err == nil {
				mu.Lock()
				peak.heapInuse, peak.rss = max(peak.heapInuse, m.heapInuse), max(peak.rss, m.rss)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	}()
	return func() managerSample {
		close(done)
		<-stopped
		mu.Lock()
		defer mu.Unlock()
		return peak
	}
}

// pprof fetches a profile from the operator into file.
func (s *stack) pprof(ctx context.Context, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.pprofAddr+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
