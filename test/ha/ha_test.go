// Package ha_test runs two operator processes with leader election
// against one control plane, as a two-replica Deployment does, with an
// asynchronous data source whose callbacks reach both replicas in turn
// (as a Service spreads them), and kills the leader mid-run.
package ha_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// The lease settings of this test: a dead leader is replaced within about
// leaseDuration.
var leaseFlags = []string{
	"--leader-election-lease-duration=4s",
	"--leader-election-renew-deadline=3s",
	"--leader-election-retry-period=500ms",
}

func TestTwoReplicas(t *testing.T) {
	ctx := t.Context()
	assets, err := localstack.Assets()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "manager")
	build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cp, err := localstack.StartControlPlane(filepath.Join(t.TempDir(), "stack"), assets, testenv.RepoRoot())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cp.Stop() })
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = privacyv1alpha1.AddToScheme(scheme)
	c, err := client.New(cp.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	src := startSource(t)
	lb := &roundRobin{}
	proxy := httptest.NewServer(lb)
	t.Cleanup(proxy.Close)

	for _, ns := range []string{"privacy-operator-system", "ha-source"} {
		obj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"privacyoperator.io/datasource": "true"}}}
		if err := c.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	flags := append([]string{"--leader-elect", "--leader-election-namespace=privacy-operator-system",
		"--callback-base-url", proxy.URL, "--poll-interval=10s"}, leaseFlags...)
	var replicas []*localstack.Operator
	for _, name := range []string{"replica-a", "replica-b"} {
		op, err := localstack.StartReplica(ctx, cp, name, bin, flags...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(op.Stop)
		replicas = append(replicas, op)
	}
	lb.set(replicas[0].CallbackAddr, replicas[1].CallbackAddr)
	src.register(t, c)

	// 1. Every callback is taken on its first try, whichever replica it reaches.
	runRequests(t, c, "ha-a", 100)
	if got := lb.codes(); got[http.StatusNoContent] != 100 || len(got) != 1 {
		t.Fatalf("callback answers %v; want 100 x 204, each accepted on its first try", got)
	}
	for _, op := range replicas {
		if code := get(t, "http://"+op.HealthAddr+"/readyz"); code != http.StatusOK {
			t.Errorf("%s /readyz: %d; a follower is Ready too", op.Name, code)
		}
	}

	// 2. The leader is killed (SIGKILL) while 100 more are under way.
	leader, follower := replicas[0], replicas[1]
	if !isLeader(t, leader) {
		leader, follower = follower, leader
	}
	if !isLeader(t, leader) {
		t.Fatal("neither replica reports leading")
	}
	created := make(chan []string, 1)
	go func() { created <- createRequests(t, c, "ha-b", 100) }()
	waitFor(t, time.Minute, "jobs of the second batch to reach the source", func() bool { return len(src.executions()) >= 110 })
	leader.Kill()
	killed := time.Now()
	executedAtKill := src.executions()
	waitFor(t, time.Minute, "the follower's first reconcile", func() bool { return reconciles(t, follower) > 0 })
	failover := time.Since(killed)
	waitCompleted(t, c, <-created, 3*time.Minute)

	executed := src.executions()
	if len(executed) != 200 {
		t.Errorf("%d jobs executed at the source; want 200", len(executed))
	}
	for id, n := range executed {
		if n != 1 {
			t.Errorf("job %s executed %d times; want once", id, n)
		}
	}
	fmt.Printf("ha: leader killed with %d of 100 second-batch jobs executed; failover (SIGKILL to the new leader's first reconcile) %s "+
		"with lease duration 4s, renew deadline 3s, retry period 500ms; callback answers after the kill %v\n",
		len(executedAtKill)-100, failover.Round(10*time.Millisecond), lb.codes())

	// 3. One receipt log across the failover: every request has its
	// receipt, once, and the log verifies.
	checkReceipts(t, c, follower.ReceiptDir, 200)
}

// checkReceipts waits until n requests have status.receipt, then checks the
// log in dir: it verifies with the published keys, and holds exactly one
// receipt per request.
func checkReceipts(t *testing.T, c client.Client, dir string, n int) {
	t.Helper()
	waitFor(t, time.Minute, "every request's receipt", func() bool {
		list := &privacyv1alpha1.PrivacyRequestList{}
		if err := c.List(t.Context(), list); err != nil {
			return false
		}
		recorded := 0
		for _, pr := range list.Items {
			if pr.Status.Receipt != nil {
				recorded++
			}
		}
		return recorded == n
	})
	store, err := receipt.NewDirStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := receipt.ReadPublicKeys(t.Context(), c, "privacy-operator-system")
	if err != nil {
		t.Fatal(err)
	}
	report, err := receipt.Verify(t.Context(), store, keys)
	if err != nil {
		t.Fatal(err)
	}
	if !report.OK() {
		t.Errorf("the receipt log has breaks: %v", report.Breaks)
	}
	names, err := store.List(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	perRequest := map[string]int{}
	for _, name := range names {
		if _, ok := receipt.ParseName(name); !ok {
			continue
		}
		raw, err := store.Get(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		_, r, err := receipt.Decode(raw)
		if err != nil {
			t.Fatal(err)
		}
		if r.Request != nil {
			perRequest[r.Request.UID]++
		}
	}
	if len(perRequest) != n {
		t.Errorf("%d requests have receipts; want %d", len(perRequest), n)
	}
	for uid, k := range perRequest {
		if k != 1 {
			t.Errorf("request %s has %d receipts; want one", uid, k)
		}
	}
	fmt.Printf("ha: %d receipts across the failover, one per request, log verified (last sequence %d)\n", report.Receipts, report.Last)
}

// source is an asynchronous SDK data source that counts each job's executions.
type source struct {
	url, secret string
	mu          sync.Mutex
	runs        map[string]int
}

func startSource(t *testing.T) *source {
	s := &source{secret: protocol.NewSecret(), runs: map[string]int{}}
	h, err := datasource.New(datasource.Config{
		Secrets: []string{s.secret}, Identities: []string{"email"}, Async: true,
		// Enough attempts to outlast a failover.
		CallbackAttempts: 12, CallbackBackoff: 200 * time.Millisecond,
		Delete: func(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return datasource.Result{}, ctx.Err()
			}
			s.mu.Lock()
			s.runs[job.ID]++
			s.mu.Unlock()
			return datasource.Result{Records: 1}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() { srv.Close(); h.Close() })
	s.url = srv.URL
	return s
}

func (s *source) register(t *testing.T, c client.Client) {
	ctx := t.Context()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "signing", Namespace: "ha-source"}, StringData: map[string]string{"key": s.secret}}
	ds := &privacyv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "ha-source"},
		Spec: privacyv1alpha1.DataSourceSpec{
			Endpoint:         privacyv1alpha1.Endpoint{URL: s.url, Insecure: true, Timeout: &metav1.Duration{Duration: 10 * time.Second}},
			SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: "signing", Key: "key"},
			RequestTypes:     []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeDelete},
			Identities:       []privacyv1alpha1.IdentityType{"email"},
			MaxConcurrency:   8,
			Retry: privacyv1alpha1.RetryPolicy{MaxAttempts: 20, InitialBackoff: &metav1.Duration{Duration: time.Second},
				MaxBackoff: &metav1.Duration{Duration: 5 * time.Second}},
		},
	}
	for _, obj := range []client.Object{secret, ds} {
		if err := c.Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, time.Minute, "the DataSource to be Ready", func() bool {
		got := &privacyv1alpha1.DataSource{}
		return c.Get(ctx, client.ObjectKeyFromObject(ds), got) == nil && meta.IsStatusConditionTrue(got.Status.Conditions, "Ready")
	})
}

// executions returns each job's execution count.
func (s *source) executions() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.runs))
	for k, v := range s.runs {
		out[k] = v
	}
	return out
}

// roundRobin hands each request to the next backend, as a Service
// spreads connections over its endpoints, and counts the answers.
type roundRobin struct {
	mu       sync.Mutex
	backends []*httputil.ReverseProxy
	next     int
	answers  map[int]int
}

func (r *roundRobin) set(addrs ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backends = nil
	for _, a := range addrs {
		p := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: a})
		// A killed replica's connections are refused: 502, as a Service
		// whose endpoint is not yet removed answers.
		p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
		r.backends = append(r.backends, p)
	}
}

func (r *roundRobin) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	b := r.backends[r.next%len(r.backends)]
	r.next++
	r.mu.Unlock()
	rec := &codeRecorder{ResponseWriter: w, code: http.StatusOK}
	b.ServeHTTP(rec, req)
	r.mu.Lock()
	if r.answers == nil {
		r.answers = map[int]int{}
	}
	r.answers[rec.code]++
	r.mu.Unlock()
}

// codes returns the answers counted so far, and starts counting afresh.
func (r *roundRobin) codes() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.answers
	r.answers = nil
	return out
}

type codeRecorder struct {
	http.ResponseWriter
	code int
}

func (c *codeRecorder) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// createRequests creates n Delete requests; it may run in a goroutine of
// its own (it reports errors with t.Error).
func createRequests(t *testing.T, c client.Client, prefix string, n int) []string {
	var names []string
	for i := range n {
		pr := &privacyv1alpha1.PrivacyRequest{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%03d", prefix, i)},
			Spec: privacyv1alpha1.PrivacyRequestSpec{Type: privacyv1alpha1.RequestTypeDelete,
				Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": fmt.Sprintf("%s-%d@example.com", prefix, i)}}},
		}
		if err := c.Create(t.Context(), pr); err != nil {
			t.Error(err)
			return names
		}
		names = append(names, pr.Name)
	}
	return names
}

func runRequests(t *testing.T, c client.Client, prefix string, n int) {
	t.Helper()
	waitCompleted(t, c, createRequests(t, c, prefix, n), 3*time.Minute)
}

func waitCompleted(t *testing.T, c client.Client, names []string, limit time.Duration) {
	t.Helper()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var done int
	waitFor(t, limit, "the requests to complete", func() bool {
		list := &privacyv1alpha1.PrivacyRequestList{}
		if err := c.List(t.Context(), list); err != nil {
			return false
		}
		done = 0
		for _, pr := range list.Items {
			if !want[pr.Name] {
				continue
			}
			switch pr.Status.Phase {
			case privacyv1alpha1.RequestPhaseCompleted:
				done++
			case privacyv1alpha1.RequestPhaseFailed:
				t.Fatalf("request %s failed: %+v", pr.Name, pr.Status)
			}
		}
		return done == len(names)
	})
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting %s for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond) // polling an outside process; no event to wait on
	}
}

func get(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

var (
	leaderMetric    = regexp.MustCompile(`^leader_election_master_status\{name="privacy-operator.privacyoperator.io"\} 1$`)
	reconcileMetric = regexp.MustCompile(`^controller_runtime_reconcile_total\{controller="privacyrequest",result="[a-z_]+"\} ([0-9.e+]+)$`)
)

func isLeader(t *testing.T, op *localstack.Operator) bool {
	leads := false
	scrape(t, op, func(line string) { leads = leads || leaderMetric.MatchString(line) })
	return leads
}

func reconciles(t *testing.T, op *localstack.Operator) float64 {
	var n float64
	scrape(t, op, func(line string) {
		if m := reconcileMetric.FindStringSubmatch(line); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			n += v
		}
	})
	return n
}

func scrape(t *testing.T, op *localstack.Operator, line func(string)) {
	t.Helper()
	resp, err := http.Get("http://" + op.MetricsAddr + "/metrics")
	if err != nil {
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line(sc.Text())
	}
}
