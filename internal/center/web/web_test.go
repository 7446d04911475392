package web_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/center/mail"
	"github.com/privacyoperator/privacy-operator/internal/center/mail/mailtest"
	"github.com/privacyoperator/privacy-operator/internal/center/seal"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

var (
	k8s     client.Client
	restCfg *rest.Config
)

func TestMain(m *testing.M) {
	env, err := testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "envtest:", err)
		os.Exit(1)
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = privacyv1alpha1.AddToScheme(scheme)
	restCfg = env.Config
	if k8s, err = client.New(env.Config, client.Options{Scheme: scheme}); err == nil {
		err = k8s.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "privacy-operator-system"}})
	}
	code := 1
	if err == nil {
		code = m.Run()
	} else {
		fmt.Fprintln(os.Stderr, err)
	}
	_ = env.Stop()
	os.Exit(code)
}

// center is a privacy center on a test server, its mailbox and its clock.
type center struct {
	*httptest.Server
	mailbox *mailtest.Server
	logs    *bytes.Buffer
	mu      sync.Mutex
	now     time.Time
	http    *http.Client
	ring    *seal.Ring
	sender  *mail.Sender
	cfg     config.Config
}

func newCenter(t testing.TB, edit func(*config.Config, *web.Options)) *center {
	t.Helper()
	c := &center{mailbox: mailtest.Start(t, mailtest.Options{}), logs: &bytes.Buffer{}, now: time.Now()}
	c.Server = httptest.NewUnstartedServer(nil)
	cfg := config.Defaults()
	cfg.BaseURL = "http://" + c.Listener.Addr().String()
	cfg.SMTP = config.SMTP{Host: c.mailbox.SMTPHost, Port: c.mailbox.SMTPPort, TLS: "none", From: "Example Privacy <privacy@example.com>"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ring, err := seal.New(map[string][]byte{"k1": key}, "", seal.WithClock(c.clock))
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.New(mail.Config{Host: c.mailbox.SMTPHost, Port: c.mailbox.SMTPPort, TLS: mail.TLSNone, From: cfg.SMTP.From})
	if err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	o := web.Options{Ring: ring, Mailer: sender, Client: k8s, Now: c.clock,
		Log: funcr.New(func(prefix, args string) { logMu.Lock(); c.logs.WriteString(args + "\n"); logMu.Unlock() }, funcr.Options{})}
	if edit != nil {
		edit(&cfg, &o)
	}
	o.Config = cfg
	srv, err := web.New(o)
	if err != nil {
		t.Fatal(err)
	}
	c.Config.Handler = srv
	c.ring, c.sender, c.cfg = ring, sender, cfg
	c.Start()
	t.Cleanup(c.Close)
	c.http = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return c
}

func (c *center) clock() time.Time        { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *center) advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// do sends a request and returns the status and body.
func (c *center) do(t *testing.T, method, path string, form url.Values, header ...string) (int, string, http.Header) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, c.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var (
	hiddenToken = regexp.MustCompile(`name="t" value="([^"]+)"`)
	mailLink    = regexp.MustCompile(`https?://\S+/verify\?t=(\S+)`)
	mailCode    = regexp.MustCompile(`(?i)code(?: ein)?: (\d{3}) (\d{3})`)
)

// submit files the form for email and returns the page's token.
func (c *center) submit(t *testing.T, email string, extra url.Values) string {
	t.Helper()
	form := url.Values{"regulation": {"GDPR"}, "type": {"Access"}, "id-email": {email}}
	for k, v := range extra {
		form[k] = v
	}
	code, body, _ := c.do(t, "POST", "/requests", form)
	if code != http.StatusOK || !strings.Contains(body, `name="code"`) {
		t.Fatalf("submit: %d\n%s", code, body)
	}
	m := hiddenToken.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no token in the page:\n%s", body)
	}
	return m[1]
}

// mailFor waits for the verification mail to email and returns its link
// token and code.
func (c *center) mailFor(t *testing.T, email string) (link, code string) {
	t.Helper()
	msg := c.mailbox.Await(t, email, 10*time.Second)
	l, k := mailLink.FindStringSubmatch(msg.Text), mailCode.FindStringSubmatch(msg.Text)
	if l == nil || k == nil {
		t.Fatalf("the mail has no link or code:\n%s", msg.Text)
	}
	return l[1], k[1] + k[2]
}

func request(t *testing.T, name string) *privacyv1alpha1.PrivacyRequest {
	t.Helper()
	pr := &privacyv1alpha1.PrivacyRequest{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Name: name}, pr); err != nil {
		t.Fatal(err)
	}
	return pr
}

func requestsOfCenter(t *testing.T) []privacyv1alpha1.PrivacyRequest {
	t.Helper()
	list := &privacyv1alpha1.PrivacyRequestList{}
	if err := k8s.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	var out []privacyv1alpha1.PrivacyRequest
	for _, pr := range list.Items {
		if pr.Annotations[privacyv1alpha1.AnnotationChannel] == intake.Channel {
			out = append(out, pr)
		}
	}
	return out
}

// fileByLink submits the form for email (with extra fields), follows the
// mail's link and presses its button: the request filed, and its status
// page's path.
func (c *center) fileByLink(t *testing.T, email string, extra url.Values) (*privacyv1alpha1.PrivacyRequest, string) {
	t.Helper()
	c.submit(t, email, extra)
	link, _ := c.mailFor(t, email)
	_, _, header := c.do(t, "POST", "/verify", url.Values{"link": {link}})
	status := strings.SplitN(header.Get("Location"), "?", 2)[0]
	if !strings.HasPrefix(status, "/status/") {
		t.Fatalf("no request filed (%v)", header)
	}
	return c.requestAt(t, status), status
}

// requestAt reads the request a status link names (creation times have
// only a second's resolution: another test's request may share one).
func (c *center) requestAt(t *testing.T, status string) *privacyv1alpha1.PrivacyRequest {
	t.Helper()
	opened, err := c.ring.Open(strings.TrimPrefix(strings.SplitN(status, "?", 2)[0], "/status/"), intake.PurposeStatus, c.clock())
	if err != nil {
		t.Fatal(err)
	}
	return request(t, string(opened.Payload))
}
