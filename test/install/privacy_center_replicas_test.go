package install_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/center/mail/mailtest"
)

var verifyToken = regexp.MustCompile(`/verify\?t=(\S+)`)

// twoReplicas runs two replicas of the center as the chart runs them, with
// the ServiceAccount's token and one key: a request submitted at one is
// verified at the other (any replica serves any link), the "received"
// notice is sent once (by the elected replica), and after a replica stops
// the other sends the next notice, once.
func twoReplicas(t *testing.T, admin client.Client, sa *rest.Config, objs []*unstructured.Unstructured) {
	mbox := mailtest.Start(t, mailtest.Options{})
	home := centerHome(t, sa, objs, func(cfg map[string]any) {
		cfg["smtp"] = map[string]any{"host": mbox.SMTPHost, "port": mbox.SMTPPort, "tls": "none", "from": "Example Privacy <privacy@example.com>"}
	})
	bin := buildCenter(t)
	first, second := startCenter(t, bin, home), startCenter(t, bin, home)
	noRedirect := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	post := func(c *centerProcess, path string, form url.Values) *http.Response {
		t.Helper()
		resp, err := noRedirect.PostForm("http://"+c.addr+path, form)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	count := func(email, subject string) int {
		n := 0
		for _, m := range mbox.To(t, email) {
			if strings.Contains(m.Subject, subject) {
				n++
			}
		}
		return n
	}

	email := "two.replicas@example.com"
	if resp := post(first, "/requests", url.Values{"regulation": {"GDPR"}, "type": {"Access"}, "id-email": {email}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("submit at the first replica: %s", resp.Status)
	}
	link := verifyToken.FindStringSubmatch(mbox.Await(t, email, 20*time.Second).Text)
	if link == nil {
		t.Fatal("no link in the verification mail")
	}
	resp := post(second, "/verify", url.Values{"link": {link[1]}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/status/") {
		t.Fatalf("verify at the second replica: %s", resp.Status)
	}
	var pr *privacyv1alpha1.PrivacyRequest
	eventuallyWithin(t, 30*time.Second, func() error {
		list := &privacyv1alpha1.PrivacyRequestList{}
		if err := admin.List(context.Background(), list); err != nil {
			return err
		}
		for i := range list.Items {
			if list.Items[i].Annotations[intake.AnnotationNoticesSent] == "received" {
				pr = &list.Items[i]
			}
		}
		if pr == nil || count(email, "We have your privacy request") != 1 {
			return fmt.Errorf("the received notice: %d mails, recorded on a request: %v", count(email, "We have your privacy request"), pr != nil)
		}
		return nil
	})
	// Both replicas watch the request: it stays one notice.
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if n := count(email, "We have your privacy request"); n != 1 {
			t.Fatalf("%d received notices from two replicas, want 1", n)
		}
	}

	first.stop()
	pr.Spec.Extension = &privacyv1alpha1.Extension{Days: 30, Reason: "Several systems must be searched by hand."}
	if err := admin.Update(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	eventuallyWithin(t, time.Minute, func() error {
		if n := count(email, "we need more time"); n != 1 {
			return fmt.Errorf("%d extension notices after the first replica stopped, want 1", n)
		}
		return nil
	})
}
