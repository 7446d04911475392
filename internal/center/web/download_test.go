package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/delivery"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
)

// sampleExport is an export document as the operator writes it, with
// markup in the data that the page must show as text.
const sampleExport = `{"manifest":{"request":"REQ","uid":"UID","createdAt":"2026-12-07T10:00:00Z","sources":[` +
	`{"namespace":"shop","name":"crm","status":"Completed","records":2,"categories":[` +
	`{"category":"contact","purposes":["Sending invoices"],"recipients":["Payment processor"],"origin":"Collected from you at sign-up","retention":[{"policy":"contact-2y","retainFor":"730d"}]}]}]},` +
	`"data":{"shop/crm":{"email":"dl@example.com","note":"<script>alert(1)</script>","orders":[{"id":1,"total":9.5},{"id":2,"total":null}]}}}`

// fileAndFinish files an Access request for email through the center and
// finishes it as the operator would: Completed, its export written to
// dir and located in status. It returns the request and its status link.
func fileAndFinish(t *testing.T, c *center, dir, email string) (*privacyv1alpha1.PrivacyRequest, string) {
	t.Helper()
	pr, status := c.fileByLink(t, email, nil)
	doc := strings.NewReplacer("REQ", pr.Name, "UID", string(pr.UID)).Replace(sampleExport)
	path := filepath.Join(dir, string(pr.UID), "export.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(doc))
	pr.Status.Phase = privacyv1alpha1.RequestPhaseCompleted
	pr.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: privacyv1alpha1.ReasonCompleted, Message: "All 1 data sources finished.", LastTransitionTime: metav1.Now()}}
	pr.Status.Export = &privacyv1alpha1.ExportReference{Location: path, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(doc)),
		ExpiresAt: metav1.NewTime(c.clock().Add(7 * 24 * time.Hour))}
	if err := k8s.Status().Update(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	return pr, status
}

var downloadForm = regexp.MustCompile(`action="(/status/[^"]+/download)"`)

// grant asks for a fresh code from the status page and types it: the page
// with the download buttons, and its token.
func grant(t *testing.T, c *center, status, email string) string {
	t.Helper()
	code, body, _ := c.do(t, "GET", status, nil, "Accept-Language", "en")
	m := downloadForm.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil || !strings.Contains(body, "Your data is ready to download until") {
		t.Fatalf("status page without the download: %d\n%s", code, body)
	}
	before := len(c.mailbox.To(t, email))
	code, body, _ = c.do(t, "POST", m[1], url.Values{"lang": {"en"}})
	token := hiddenToken.FindStringSubmatch(body)
	if code != http.StatusOK || token == nil || !strings.Contains(body, `action="/download"`) {
		t.Fatalf("asking for a code: %d\n%s", code, body)
	}
	mail := awaitNth(t, c, email, before+1)
	if !strings.Contains(mail.Subject, "download") {
		t.Fatalf("the code's mail: %q", mail.Subject)
	}
	fresh := mailCode.FindStringSubmatch(mail.Text)
	if fresh == nil {
		t.Fatalf("no code in the mail:\n%s", mail.Text)
	}
	code, body, _ = c.do(t, "POST", "/download", url.Values{"t": {token[1]}, "code": {fresh[1] + fresh[2]}, "lang": {"en"}})
	g := hiddenToken.FindStringSubmatch(body)
	if code != http.StatusOK || g == nil || !strings.Contains(body, `action="/download/json"`) {
		t.Fatalf("the right code: %d\n%s", code, body)
	}
	return g[1]
}

// awaitNth waits for the n-th mail to email and returns the newest
// (mailpit lists the newest first).
func awaitNth(t *testing.T, c *center, email string, n int) mailMessage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if got := c.mailbox.To(t, email); len(got) >= n {
			full := c.mailbox.Message(t, got[0].ID)
			return mailMessage{Subject: full.Subject, Text: full.Text}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no mail #%d to %s", n, email)
	return mailMessage{}
}

// TestDownload: the status page offers the export; a fresh code proves the
// address again; the JSON is the export byte for byte with its checksum;
// the page shows it readably and escaped; each delivery is marked on the
// request; a wrong code is refused; nothing of the person reaches the log.
func TestDownload(t *testing.T) {
	dir := t.TempDir()
	c := newCenter(t, func(_ *config.Config, o *web.Options) { o.Exports = delivery.Dir{Root: dir} })
	email := "dl@example.com"
	pr, status := fileAndFinish(t, c, dir, email)

	// A wrong code is refused next to its field; enough of them lock the
	// code, the right one included.
	_, body, _ := c.do(t, "GET", status, nil)
	before := len(c.mailbox.To(t, email))
	_, body, _ = c.do(t, "POST", downloadForm.FindStringSubmatch(body)[1], url.Values{})
	tok := hiddenToken.FindStringSubmatch(body)[1]
	sent := mailCode.FindStringSubmatch(awaitNth(t, c, email, before+1).Text)
	right, wrong := sent[1]+sent[2], "000000"
	if wrong == right {
		wrong = "111111"
	}
	if code, body, _ := c.do(t, "POST", "/download", url.Values{"t": {tok}, "code": {wrong}}); code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="code-error"`) {
		t.Fatalf("wrong code: %d\n%s", code, body)
	}
	for range 4 {
		c.do(t, "POST", "/download", url.Values{"t": {tok}, "code": {wrong}})
	}
	if code, body, _ := c.do(t, "POST", "/download", url.Values{"t": {tok}, "code": {right}}); code != http.StatusTooManyRequests || !strings.Contains(body, "Too many wrong codes") {
		t.Fatalf("the right code after five wrong ones: %d\n%s", code, body)
	}

	g := grant(t, c, status, email)
	resp := c.post(t, "/download/json", url.Values{"t": {g}})
	got, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("JSON download: %d %v", resp.StatusCode, err)
	}
	sum := sha256.Sum256(got)
	if hex.EncodeToString(sum[:]) != pr.Status.Export.SHA256 {
		t.Fatal("the download's sha256 is not status.export.sha256")
	}
	if d := resp.Header.Get("Repr-Digest"); d != "sha-256=:"+base64.StdEncoding.EncodeToString(sum[:])+":" {
		t.Errorf("Repr-Digest %q", d)
	}
	if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+pr.Name+`.json"` {
		t.Errorf("Content-Disposition %q", cd)
	}

	code, page, _ := c.do(t, "POST", "/download/html", url.Values{"t": {g}, "lang": {"en"}})
	for _, want := range []string{"Where your data is and what we do with it", "<th scope=\"row\">contact</th>", "Sending invoices", "Payment processor",
		"Collected from you at sign-up", "730d", "<dt>email</dt><dd>dl@example.com</dd>", "&lt;script&gt;alert(1)&lt;/script&gt;", "<li><dl><dt>id</dt><dd>1</dd>", "&mdash;", "</html>"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if code != http.StatusOK || strings.Contains(page, "<script>") {
		t.Fatalf("export page: %d\n%s", code, page)
	}

	marks, err := privacyv1alpha1.ParseDeliveries(request(t, pr.Name).Annotations[privacyv1alpha1.AnnotationDeliveries])
	if err != nil || len(marks) != 2 || marks[0].Format != privacyv1alpha1.DeliveryJSON || marks[1].Format != privacyv1alpha1.DeliveryHTML {
		t.Fatalf("deliveries recorded: %v %v", marks, err)
	}
	if strings.Contains(c.logs.String(), email) {
		t.Fatalf("the log holds the identity:\n%s", c.logs)
	}
}

// TestDownloadRefused: an export that no longer matches its checksum is
// broken off, never handed over whole; past the deliveries' bound the
// center refuses; once expired, the status page no longer offers it and
// the code is not sent.
func TestDownloadRefused(t *testing.T) {
	dir := t.TempDir()
	c := newCenter(t, func(_ *config.Config, o *web.Options) { o.Exports = delivery.Dir{Root: dir} })
	email := "refused@example.com"
	pr, status := fileAndFinish(t, c, dir, email)
	g := grant(t, c, status, email)

	path := filepath.Join(dir, string(pr.UID), "export.json")
	doc, _ := os.ReadFile(path)
	tampered := strings.Replace(string(doc), "dl@example.com", "xx@example.com", 1)
	if err := os.WriteFile(path, []byte(tampered), 0o600); err != nil {
		t.Fatal(err)
	}
	// Broken off before the headers (a small export is held back whole)
	// or during the body: never a complete response.
	if resp, err := c.http.PostForm(c.URL+"/download/json", url.Values{"t": {g}}); err == nil {
		if _, err := io.ReadAll(resp.Body); err == nil {
			t.Fatal("a tampered export was handed over whole")
		}
		resp.Body.Close()
	}
	// The page is checked whole before any of it is shown: a refusal,
	// without the changed data.
	if code, page, _ := c.do(t, "POST", "/download/html", url.Values{"t": {g}}); code != http.StatusServiceUnavailable || strings.Contains(page, "xx@example.com") {
		t.Fatalf("a tampered export as a page: %d\n%s", code, page)
	}
	if err := os.WriteFile(path, doc, 0o600); err != nil {
		t.Fatal(err)
	}

	// The bound: the MaxDeliveries-th delivery goes through, then no more.
	cur := request(t, pr.Name)
	marks := make([]privacyv1alpha1.DeliveryMark, privacyv1alpha1.MaxDeliveries-1)
	for i := range marks {
		marks[i] = privacyv1alpha1.DeliveryMark{Format: privacyv1alpha1.DeliveryJSON, At: time.Date(2026, 12, 7, 10, i, 0, 0, time.UTC)}
	}
	cur.Annotations[privacyv1alpha1.AnnotationDeliveries] = privacyv1alpha1.FormatDeliveries(marks)
	if err := k8s.Update(context.Background(), cur); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := c.do(t, "POST", "/download/json", url.Values{"t": {g}}); code != http.StatusOK {
		t.Fatalf("delivery #%d: %d", privacyv1alpha1.MaxDeliveries, code)
	}
	if code, body, _ := c.do(t, "POST", "/download/json", url.Values{"t": {g}}); code != http.StatusTooManyRequests || !strings.Contains(body, "Downloaded too often") {
		t.Fatalf("past the bound: %d\n%s", code, body)
	}

	// Expired: the page says so and offers nothing; no code is sent.
	c.advance(8 * 24 * time.Hour)
	_, body, _ := c.do(t, "GET", status, nil, "Accept-Language", "en")
	if downloadForm.MatchString(body) || !strings.Contains(body, "has been deleted") {
		t.Fatalf("status page after expiry:\n%s", body)
	}
	before := len(c.mailbox.To(t, email))
	if code, _, _ := c.do(t, "POST", status+"/download", url.Values{}); code != http.StatusGone {
		t.Fatalf("asking for a code after expiry: %d", code)
	}
	if n := len(c.mailbox.To(t, email)); n != before {
		t.Fatal("a code was sent for an expired export")
	}
}

// post sends a form and returns the response, its body unread.
func (c *center) post(t *testing.T, path string, form url.Values) *http.Response {
	t.Helper()
	req, err := http.NewRequest("POST", c.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestReadyNotice: a finished Access request with an export is told "your
// data is ready" with its status link and the export's expiry, once, in
// place of "done".
func TestReadyNotice(t *testing.T) {
	dir := t.TempDir()
	c := newCenter(t, func(_ *config.Config, o *web.Options) { o.Exports = delivery.Dir{Root: dir} })
	email := "ready@example.com"
	pr, _ := fileAndFinish(t, c, dir, email)
	stop := startNotifier(t, c, true)
	defer stop()
	ready := awaitSubject(t, c, email, "is ready")
	expires := pr.Status.Export.ExpiresAt.UTC().Format("2006-01-02")
	if !strings.Contains(ready.Text, c.cfg.BaseURL+"/status/") || !strings.Contains(ready.Text, "until "+expires) {
		t.Fatalf("ready notice:\n%s", ready.Text)
	}
	waitSent(t, pr.Name, "received,ready")
	for _, m := range c.mailbox.To(t, email) {
		if strings.Contains(m.Subject, "is done") {
			t.Fatalf("a 'done' notice besides 'ready': %q", m.Subject)
		}
	}
}

// TestNoReadyNoticeWithoutDelivery: a center that does not hand exports
// over (no exports store) tells "done", never "your data is ready".
func TestNoReadyNoticeWithoutDelivery(t *testing.T) {
	dir := t.TempDir()
	c := newCenter(t, nil)
	email := "no-delivery@example.com"
	pr, _ := fileAndFinish(t, c, dir, email)
	stop := startNotifier(t, c, false)
	defer stop()
	awaitSubject(t, c, email, "is done")
	waitSent(t, pr.Name, "received,completed")
	for _, m := range c.mailbox.To(t, email) {
		if strings.Contains(m.Subject, "is ready") {
			t.Fatalf("a 'ready' notice from a center that cannot deliver: %q", m.Subject)
		}
	}
}
