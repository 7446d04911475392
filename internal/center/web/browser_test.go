package web_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// browserEnv is what hack/browser.sh installs: Debian's chromium and
// axe-core.
func browserEnv(t *testing.T) (chromium, axe string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(testenv.RepoRoot(), "hack", "browser.sh"), "env")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("hack/browser.sh env: %v\n%s", err, stderr.String())
	}
	for sc := bufio.NewScanner(bytes.NewReader(out)); sc.Scan(); {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case "CHROMIUM":
			chromium = v
		case "AXE_CORE":
			axe = v
		}
	}
	if chromium == "" || axe == "" {
		t.Fatalf("hack/browser.sh env printed %q", out)
	}
	return chromium, axe
}

// browser starts a headless chromium for this test, as root needs it (no
// sandbox) and with nothing that reaches for the network.
func browser(t *testing.T, chromium string) context.Context {
	t.Helper()
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("disable-quic", true),
		chromedp.Flag("lang", "en-US"), chromedp.WindowSize(1024, 900),
		chromedp.UserDataDir(t.TempDir()))
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // start the browser
		t.Fatal(err)
	}
	return ctx
}

// artifacts is where the screenshots go (kept by CI as test artifacts).
func artifacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(), "_output", "artifacts")
	}
	dir = filepath.Join(dir, "privacy-center")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// check screenshots the page as name and runs axe-core in it: no serious or
// critical violation of WCAG 2.1 A and AA.
func check(t *testing.T, ctx context.Context, axeSource, dir, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](axeSource+";true")); err != nil {
		t.Fatalf("%s: load axe-core: %v", name, err)
	}
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](
		`axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}).then(r => JSON.stringify(r.violations))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("%s: axe.run: %v", name, err)
	}
	var violations []axeViolation
	if err := json.Unmarshal([]byte(raw), &violations); err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		msg := fmt.Sprintf("%s: axe %s (%s): %s at %v", name, v.ID, v.Impact, v.Help, v.Nodes)
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Error(msg)
		} else {
			t.Log(msg)
		}
	}
}

// TestInABrowser: a person files an Access request in a real browser, by
// keyboard-reachable controls, follows the mail's link and sees the status
// page; each page is screenshotted and checked by axe-core.
func TestInABrowser(t *testing.T) {
	chromium, axePath := browserEnv(t)
	axeSource, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
	c := newCenter(t, nil)
	ctx := browser(t, chromium)
	dir := artifacts(t)
	email := "ada.browser@example.com"
	run := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		step, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(step, steps...); err != nil {
			t.Fatal(err)
		}
	}

	run(chromedp.Navigate(c.URL+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("id-email")))
	check(t, ctx, string(axeSource), dir, "1-form")

	run(chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.ID("errors")))
	check(t, ctx, string(axeSource), dir, "2-form-errors")

	run(chromedp.Click(chromedp.ID("type-Access")),
		chromedp.SendKeys(chromedp.ID("id-email"), email),
		chromedp.Click(chromedp.CSS("button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("code")))
	check(t, ctx, string(axeSource), dir, "3-check-mail")

	link, _ := c.mailFor(t, email)
	run(chromedp.Navigate(c.URL+"/verify?t="+link), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")))
	check(t, ctx, string(axeSource), dir, "4-confirm")

	run(chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("dl.status")))
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("dl.status")))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text, "We have your request and are working on it.") {
		t.Fatalf("status page: %q", text)
	}
	check(t, ctx, string(axeSource), dir, "5-status")

	run(chromedp.Navigate(c.URL+"/?lang=de"), chromedp.WaitVisible(chromedp.ID("id-email")))
	check(t, ctx, string(axeSource), dir, "6-form-de")
	t.Logf("screenshots in %s", dir)

	// The check can fail: a page with an unlabelled field and no language
	// has serious violations.
	run(chromedp.Navigate(`data:text/html,<title>x</title><input id="e" type="email">`), chromedp.WaitVisible(chromedp.ID("e")))
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](string(axeSource)+`;axe.run(document).then(r => JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => v.id)))`, chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(raw, "label") {
		t.Fatalf("axe on an unlabelled field: %q, %v; want a label violation", raw, err)
	}
}
