package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/privacyoperator/privacy-operator/test/browsertest"
)

// TestInABrowser: a person files an Access request in a real browser, by
// keyboard-reachable controls, follows the mail's link and sees the status
// page; each page is screenshotted and checked by axe-core.
func TestInABrowser(t *testing.T) {
	c := newCenter(t, nil)
	b := browsertest.Start(t, "privacy-center")
	email := "ada.browser@example.com"
	run := func(steps ...chromedp.Action[chromedp.Void]) { t.Helper(); b.Run(t, steps...) }

	run(chromedp.Navigate(c.URL+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("id-email")))
	b.Check(t, "1-form")

	run(chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.ID("errors")))
	b.Check(t, "2-form-errors")

	run(chromedp.Click(chromedp.ID("type-Access")),
		chromedp.SendKeys(chromedp.ID("id-email"), email),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("code")))
	b.Check(t, "3-check-mail")

	link, _ := c.mailFor(t, email)
	run(chromedp.Navigate(c.URL+"/verify?t="+link), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")))
	b.Check(t, "4-confirm")

	run(chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("dl.status")))
	if text := b.Text(t, "dl.status"); !strings.Contains(text, "We have your request and are working on it.") {
		t.Fatalf("status page: %q", text)
	}
	b.Check(t, "5-status")

	run(chromedp.Navigate(c.URL+"/?lang=de"), chromedp.WaitVisible(chromedp.ID("id-email")))
	b.Check(t, "6-form-de")
	t.Logf("screenshots in %s", b.Artifacts)

	// The check can fail: a page with an unlabelled field and no language
	// has serious violations.
	run(chromedp.Navigate(`data:text/html,<title>x</title><input id="e" type="email">`), chromedp.WaitVisible(chromedp.ID("e")))
	if raw := b.SeriousViolations(t); !strings.Contains(raw, "label") {
		t.Fatalf("axe on an unlabelled field: %q; want a label violation", raw)
	}
}
