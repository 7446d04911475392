package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/config"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/center/web"
)

// TestFileByLink: the form, the mail, the link's confirmation page, the
// request and its Secret, the status page; a second click finds the same
// request.
func TestFileByLink(t *testing.T) {
	const requester = "system:serviceaccount:privacy-center:privacy-center"
	c := newCenter(t, func(_ *config.Config, o *web.Options) { o.Requester = requester })
	email := "ada.link@example.com"

	code, body, header := c.do(t, "GET", "/", nil, "Accept-Language", "en")
	if code != http.StatusOK || !strings.Contains(body, `<label for="id-email">Your e-mail address</label>`) {
		t.Fatalf("form: %d\n%s", code, body)
	}
	if csp := header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	c.submit(t, email, nil)
	link, _ := c.mailFor(t, email)
	if strings.Contains(link, "ada") || strings.Contains(link, "example.com") {
		t.Fatalf("the link carries the identity in clear: %s", link)
	}
	before := len(requestsOfCenter(t))

	code, body, _ = c.do(t, "GET", "/verify?t="+link, nil)
	if code != http.StatusOK || !strings.Contains(body, `name="link"`) {
		t.Fatalf("confirm page: %d\n%s", code, body)
	}
	if n := len(requestsOfCenter(t)); n != before {
		t.Fatal("following the link (a GET, as a mail scanner does) filed a request")
	}
	status := ""
	for i := range 2 {
		code, _, header = c.do(t, "POST", "/verify", url.Values{"link": {link}})
		if code != http.StatusSeeOther || !strings.HasPrefix(header.Get("Location"), "/status/") {
			t.Fatalf("verify #%d: %d %v", i+1, code, header)
		}
		status = header.Get("Location")
	}
	prs := requestsOfCenter(t)
	if len(prs) != before+1 {
		t.Fatalf("%d requests filed, want one for two clicks", len(prs)-before)
	}
	pr := *c.requestAt(t, status)
	if pr.Spec.Type != privacyv1alpha1.RequestTypeAccess || pr.Spec.Regulation != privacyv1alpha1.RegulationGDPR ||
		pr.Spec.Subject.SecretRef == nil || len(pr.Spec.Subject.Identities) != 0 || pr.Spec.ReceivedAt == nil ||
		!strings.HasPrefix(pr.Name, intake.NamePrefix) || strings.Contains(pr.Name, "ada") || pr.Spec.Requester != requester {
		t.Fatalf("request %s: %+v", pr.Name, pr.Spec)
	}
	secret := &corev1.Secret{}
	if err := k8s.Get(context.Background(), client.ObjectKey{Namespace: pr.Spec.Subject.SecretRef.Namespace, Name: pr.Spec.Subject.SecretRef.Name}, secret); err != nil {
		t.Fatal(err)
	}
	if string(secret.Data["email"]) != email || secret.Labels[privacyv1alpha1.LabelSubjectSecret] != "true" ||
		len(secret.OwnerReferences) != 1 || secret.OwnerReferences[0].UID != pr.UID {
		t.Fatalf("subject Secret: labels %v, owners %v, keys %d", secret.Labels, secret.OwnerReferences, len(secret.Data))
	}

	code, body, _ = c.do(t, "GET", strings.SplitN(status, "?", 2)[0], nil, "Accept-Language", "en")
	if code != http.StatusOK || !strings.Contains(body, "We have your request and are working on it.") {
		t.Fatalf("status page: %d\n%s", code, body)
	}
	if strings.Contains(body, email) || strings.Contains(status, "ada") {
		t.Fatal("the status page or its link shows the identity")
	}
	if strings.Contains(c.logs.String(), email) {
		t.Fatalf("the log holds the identity:\n%s", c.logs)
	}
}

// TestFileByCode: the code from the mail, typed on the page; a wrong code
// is refused next to the field, and enough of them lock the submission.
func TestFileByCode(t *testing.T) {
	c := newCenter(t, nil)
	email := "grace.code@example.com"
	token := c.submit(t, email, nil)
	_, good := c.mailFor(t, email)
	wrong := "000000"
	if wrong == good {
		wrong = "111111"
	}
	code, body, _ := c.do(t, "POST", "/verify", url.Values{"t": {token}, "code": {wrong}})
	if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="code-error"`) || !strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("wrong code: %d\n%s", code, body)
	}
	code, _, header := c.do(t, "POST", "/verify", url.Values{"t": {token}, "code": {good[:3] + " " + good[3:]}})
	if code != http.StatusSeeOther || !strings.HasPrefix(header.Get("Location"), "/status/") {
		t.Fatalf("right code: %d", code)
	}

	// Lock-out: a new submission, five wrong codes, then even the right
	// one is refused.
	token = c.submit(t, "lock.out@example.com", nil)
	_, good = c.mailFor(t, "lock.out@example.com")
	for range 5 {
		c.do(t, "POST", "/verify", url.Values{"t": {token}, "code": {wrong}})
	}
	code, body, _ = c.do(t, "POST", "/verify", url.Values{"t": {token}, "code": {good}})
	if code != http.StatusTooManyRequests || !strings.Contains(body, "Too many wrong codes") {
		t.Fatalf("after five wrong codes: %d\n%s", code, body)
	}
}

// TestBadInput: each field's error next to it, and nothing mailed.
func TestBadInput(t *testing.T) {
	c := newCenter(t, nil)
	for _, tc := range []struct {
		name  string
		form  url.Values
		field string
		text  string
	}{
		{"no e-mail", url.Values{"regulation": {"GDPR"}, "type": {"Access"}}, "id-email-error", "Fill in this field."},
		{"not an e-mail", url.Values{"regulation": {"GDPR"}, "type": {"Access"}, "id-email": {"ada at example"}}, "id-email-error", "Enter an e-mail address"},
		{"no type", url.Values{"regulation": {"GDPR"}, "id-email": {"x@example.com"}}, "type-error", "Choose one of the options."},
		{"unknown type", url.Values{"regulation": {"GDPR"}, "type": {"Purge"}, "id-email": {"x@example.com"}}, "type-error", "Choose one of the options."},
		{"unknown regulation", url.Values{"regulation": {"XYZ"}, "type": {"Access"}, "id-email": {"x@example.com"}}, "regulation-error", "Choose one of the options."},
		{"correct without a value", url.Values{"regulation": {"GDPR"}, "type": {"Correct"}, "id-email": {"x@example.com"}, "correct-field": {"name"}}, "correct-value-error", "Fill in this field."},
		{"opt out of nothing", url.Values{"regulation": {"CCPA"}, "type": {"OptOut"}, "id-email": {"x@example.com"}}, "scopes-error", "Choose at least one."},
		{"opt out of an unknown scope", url.Values{"regulation": {"CCPA"}, "type": {"OptOut"}, "id-email": {"x@example.com"}, "scope": {"everything"}}, "scopes-error", "Choose one of the options."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body, _ := c.do(t, "POST", "/requests", tc.form)
			if code != http.StatusUnprocessableEntity || !strings.Contains(body, `id="`+tc.field+`"`) || !strings.Contains(body, tc.text) {
				t.Fatalf("%d, want 422 with %s %q:\n%s", code, tc.field, tc.text, body)
			}
			if !strings.Contains(body, `role="alert"`) {
				t.Error("no error summary")
			}
		})
	}
	if n := len(c.mailbox.Messages(t)); n != 0 {
		t.Fatalf("%d mails sent for refused forms", n)
	}
}

// TestLinks: an expired link, a tampered one, a token used for another
// purpose, a status link after its request is gone.
func TestLinks(t *testing.T) {
	c := newCenter(t, nil)
	token := c.submit(t, "links@example.com", nil)
	link, _ := c.mailFor(t, "links@example.com")

	tampered := []byte(link)
	tampered[len(tampered)/2] ^= 1
	if tampered[len(tampered)/2] == '-' || tampered[len(tampered)/2] == '_' {
		tampered[len(tampered)/2] = 'A'
	}
	for _, tc := range []struct {
		name, path string
		want       int
		text       string
	}{
		{"tampered", "/verify?t=" + string(tampered), http.StatusBadRequest, "This link does not work"},
		{"page token as a link", "/verify?t=" + token, http.StatusBadRequest, "This link does not work"},
		{"empty", "/verify", http.StatusBadRequest, "This link does not work"},
		{"link as a status link", "/status/" + link, http.StatusBadRequest, "This link does not work"},
	} {
		code, body, _ := c.do(t, "GET", tc.path, nil)
		if code != tc.want || !strings.Contains(body, tc.text) {
			t.Errorf("%s: %d, want %d with %q", tc.name, code, tc.want, tc.text)
		}
	}
	c.advance(31 * time.Minute)
	code, body, _ := c.do(t, "GET", "/verify?t="+link, nil)
	if code != http.StatusGone || !strings.Contains(body, "This link has expired") {
		t.Fatalf("expired link: %d\n%s", code, body)
	}
	code, _, _ = c.do(t, "POST", "/verify", url.Values{"link": {link}})
	if code != http.StatusGone {
		t.Fatalf("expired link, posted: %d", code)
	}
}

// TestAbuse: a form posted from another site is refused; a flood from one
// client is answered 429; the body is bounded.
func TestAbuse(t *testing.T) {
	c := newCenter(t, nil)
	form := url.Values{"regulation": {"GDPR"}, "type": {"Access"}, "id-email": {"abuse@example.com"}}
	code, _, _ := c.do(t, "POST", "/requests", form, "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if code != http.StatusForbidden {
		t.Fatalf("cross-site post: %d, want 403", code)
	}
	code, _, _ = c.do(t, "POST", "/requests", url.Values{"id-email": {strings.Repeat("a", 20<<10)}})
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %d, want 413", code)
	}
	limited := 0
	for range 40 {
		if code, _, _ := c.do(t, "POST", "/requests", url.Values{"type": {"Access"}}); code == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited == 0 {
		t.Fatal("40 submissions in a row from one client were never limited")
	}
}

// TestLanguage: Accept-Language picks German, the switch picks English.
func TestLanguage(t *testing.T) {
	c := newCenter(t, nil)
	_, body, _ := c.do(t, "GET", "/", nil, "Accept-Language", "de-DE,de;q=0.9,en;q=0.5")
	if !strings.Contains(body, `<html lang="de">`) || !strings.Contains(body, "Ihre Datenschutzrechte") {
		t.Fatalf("German page:\n%s", body)
	}
	_, body, _ = c.do(t, "GET", "/?lang=en", nil, "Accept-Language", "de")
	if !strings.Contains(body, `<html lang="en">`) || !strings.Contains(body, "Your privacy rights") {
		t.Fatalf("switched to English:\n%s", body)
	}
}

// TestRefusedRequestLeavesNoSecret: when the API refuses the request, the
// subject Secret made for it is deleted again.
func TestRefusedRequestLeavesNoSecret(t *testing.T) {
	sub := intake.Submission{Nonce: "refused0000000000000000000", Type: privacyv1alpha1.RequestTypeCorrect,
		Regulation: privacyv1alpha1.RegulationGDPR, Identities: map[string]string{"email": "refused@example.com"}, ReceivedAt: time.Now()}
	// A Correct without corrections: the CRD refuses it.
	if _, err := intake.File(context.Background(), k8s, intake.Options{SubjectNamespace: "privacy-operator-system"}, sub); err == nil {
		t.Fatal("a Correct without corrections was filed")
	}
	err := k8s.Get(context.Background(), client.ObjectKey{Namespace: "privacy-operator-system", Name: sub.Name()}, &corev1.Secret{})
	if err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("the subject Secret of a refused request: %v, want it gone", err)
	}
}

// TestSecondFilingOwnsTheSecret: a filing that stopped before the owner
// patch is completed by the next (a second click).
func TestSecondFilingOwnsTheSecret(t *testing.T) {
	ctx := context.Background()
	sub := intake.Submission{Nonce: "owner00000000000000000000a", Type: privacyv1alpha1.RequestTypeAccess,
		Regulation: privacyv1alpha1.RegulationGDPR, Identities: map[string]string{"email": "owner@example.com"}, ReceivedAt: time.Now()}
	o := intake.Options{SubjectNamespace: "privacy-operator-system"}
	pr, err := intake.File(ctx, k8s, o, sub)
	if err != nil {
		t.Fatal(err)
	}
	secret := &corev1.Secret{}
	key := client.ObjectKey{Namespace: o.SubjectNamespace, Name: sub.Name()}
	if err := k8s.Get(ctx, key, secret); err != nil {
		t.Fatal(err)
	}
	secret.OwnerReferences = nil // as if the first call stopped before its patch
	if err := k8s.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	if _, err := intake.File(ctx, k8s, o, sub); err != nil {
		t.Fatal(err)
	}
	if err := k8s.Get(ctx, key, secret); err != nil {
		t.Fatal(err)
	}
	if len(secret.OwnerReferences) != 1 || secret.OwnerReferences[0].UID != pr.UID {
		t.Fatalf("owners after the second filing: %v, want the request %s", secret.OwnerReferences, pr.UID)
	}
}
