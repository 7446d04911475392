package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
)

// centerLabel tells the request Ada files at the privacy center from the
// ones the demo applies with kubectl.
const centerLabel = "Access (privacy center)"

// startCenter starts mailpit and the privacy center, whose mail goes there.
func (r *run) startCenter(ctx context.Context) (err error) {
	if r.Mailpit == "" {
		return errors.New("the demo needs mailpit for the privacy center's mail: --mailpit (make demo builds it with hack/mailpit.sh build)")
	}
	r.step("Starting mailpit, a mailbox for the privacy center's mail (logs: %s)", filepath.Join(r.Dir, "logs", "mailpit.log"))
	if r.mailpit, err = localstack.StartMailpit(ctx, r.Dir, r.Mailpit); err != nil {
		return err
	}
	r.step("Starting the privacy center (logs: %s)", filepath.Join(r.Dir, "logs", "privacy-center.log"))
	r.center, err = localstack.StartCenter(ctx, r.cp, filepath.Join(r.Bin, "privacy-center"), r.mailpit, r.op.ExportDir)
	return err
}

// fileAtCenter files Ada's Access request at the privacy center exactly
// as her browser would: the form, the verification mail (read from
// mailpit's API), the confirm page and its button. It records the
// request's name and its status link.
func (r *run) fileAtCenter(ctx context.Context) error {
	r.step("Ada asks for her data at the privacy center, %s (the demo drives its form over HTTP)", r.center.URL)
	// The subject Secret goes to the operator's namespace, which the
	// operator creates at start.
	if err := r.waitFor(ctx, "the namespace "+r.center.SubjectNamespace, func() (bool, error) {
		err := r.c.Get(ctx, client.ObjectKey{Name: r.center.SubjectNamespace}, &corev1.Namespace{})
		return err == nil, client.IgnoreNotFound(err)
	}); err != nil {
		return err
	}
	b := &browser{run: r, base: r.center.URL, http: &http.Client{Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if _, err := b.do(ctx, "GET", "/", nil, http.StatusOK, "the form"); err != nil {
		return err
	}
	form := url.Values{"lang": {"en"}, "regulation": {"GDPR"}, "type": {"Access"}, "id-email": {subjectEmail}}
	if _, err := b.do(ctx, "POST", "/requests", form, http.StatusOK, "regulation=GDPR type=Access id-email="+subjectEmail); err != nil {
		return err
	}
	link, err := r.verificationLink(ctx)
	if err != nil {
		return err
	}
	if _, err := b.do(ctx, "GET", "/verify?t="+link, nil, http.StatusOK, "the mail's link: a page with a button"); err != nil {
		return err
	}
	resp, err := b.do(ctx, "POST", "/verify", url.Values{"lang": {"en"}, "link": {link}}, http.StatusSeeOther, "the button")
	if err != nil {
		return err
	}
	status := resp.Header.Get("Location")
	if !strings.HasPrefix(status, "/status/") {
		return fmt.Errorf("privacy center: POST /verify redirected to %q, not a status page", status)
	}
	r.centerStatus = r.center.URL + status
	if _, err := b.do(ctx, "GET", status, nil, http.StatusOK, "her status page"); err != nil {
		return err
	}
	list := &privacyv1alpha1.PrivacyRequestList{}
	if err := r.c.List(ctx, list); err != nil {
		return err
	}
	for _, pr := range list.Items {
		if pr.Annotations[privacyv1alpha1.AnnotationChannel] == intake.Channel {
			r.centerRequest = pr.Name
		}
	}
	if r.centerRequest == "" {
		return errors.New("privacy center: the verified request is not in the API")
	}
	fmt.Fprintf(r.Out, "  filed as PrivacyRequest %s (her e-mail in a subject Secret in %s, not in the request)\n", r.centerRequest, r.center.SubjectNamespace)
	return nil
}

// browser is a client of the center that behaves like a browser on its
// pages: same-origin form posts, redirects shown rather than followed.
type browser struct {
	*run
	base string
	http *http.Client
}

// do sends one request and wants the status want; what says what it is.
func (b *browser) do(ctx context.Context, method, path string, form url.Values, want int, what string) (*http.Response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, b.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept-Language", "en")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := b.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("privacy center: %s %s: %w", method, short(path), err)
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	shown := resp.Status
	if loc := resp.Header.Get("Location"); loc != "" {
		shown += " -> " + short(loc)
	}
	fmt.Fprintf(b.Out, "  %-4s %-22s %s  (%s)\n", method, short(path), shown, what)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("privacy center: %s %s: %s, want %d: %s; logs: %s", method, short(path), resp.Status, want,
			strings.TrimSpace(string(page)), filepath.Join(b.Dir, "logs", "privacy-center.log"))
	}
	return resp, nil
}

// short shortens a path's sealed token for the screen.
func short(path string) string {
	for _, p := range []string{"/verify?t=", "/status/"} {
		if strings.HasPrefix(path, p) && len(path) > len(p)+12 {
			return path[:len(p)+8] + "..."
		}
	}
	return path
}

var verifyLink = regexp.MustCompile(`/verify\?t=(\S+)`)

// verificationLink waits for the center's mail to Ada in mailpit and
// returns its link's token.
func (r *run) verificationLink(ctx context.Context) (string, error) {
	var link string
	err := r.waitFor(ctx, "the verification mail in mailpit", func() (bool, error) {
		var list struct {
			Messages []struct {
				ID      string
				Subject string
				To      []struct{ Address string }
			} `json:"messages"`
		}
		if err := r.mailpitGet(ctx, "/api/v1/messages", &list); err != nil {
			return false, err
		}
		for _, m := range list.Messages {
			if len(m.To) == 0 || !strings.EqualFold(m.To[0].Address, subjectEmail) || !strings.HasPrefix(m.Subject, "Confirm") {
				continue
			}
			var msg struct{ Text string }
			if err := r.mailpitGet(ctx, "/api/v1/message/"+m.ID, &msg); err != nil {
				return false, err
			}
			found := verifyLink.FindStringSubmatch(msg.Text)
			if found == nil {
				return false, fmt.Errorf("mail %q has no verification link", m.Subject)
			}
			link = found[1]
			fmt.Fprintf(r.Out, "  mail  %q read from mailpit's API (%s/api/v1/message/%s)\n", m.Subject, r.mailpit.API, m.ID)
			return true, nil
		}
		return false, nil
	})
	return link, err
}

// mailpitGet reads one JSON answer of mailpit's API.
func (r *run) mailpitGet(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", r.mailpit.API+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("mailpit: GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(into)
}

// exploreCenter says where the privacy center, Ada's status page and the
// mailbox are.
func (r *run) exploreCenter() {
	fmt.Fprintf(r.Out, "  Privacy center: %s/   (file a request of your own; its mail arrives in the mailbox)\n", r.center.URL)
	fmt.Fprintf(r.Out, "  Ada's status page (%s): %s\n", r.centerRequest, r.centerStatus)
	fmt.Fprintf(r.Out, "  Mailbox (mailpit's API; its web page is not in this build): %s/api/v1/messages\n", r.mailpit.API)
	fmt.Fprintf(r.Out, "  The newest mail, with its link: %s/view/latest.txt\n", r.mailpit.API)
}
