// Package browsertest drives a real browser in tests: Debian's chromium
// (headless, through chromedp) with axe-core for accessibility checks, as
// hack/browser.sh installs them. Each page a test checks is screenshotted
// into the artifacts directory.
package browsertest

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
	"time"

	"github.com/chromedp/chromedp"

	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// T is what the helpers need of a test (testing.T and GinkgoT() both).
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Error(args ...any)
	Log(args ...any)
	Logf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Browser is a headless chromium for one test, with axe-core to check
// pages and a directory for their screenshots.
type Browser struct {
	Ctx context.Context
	// Artifacts is where the screenshots go.
	Artifacts string
	axe       string
}

// Start installs what is missing (hack/browser.sh) and starts chromium as
// root needs it (no sandbox), with nothing that reaches for the network;
// screenshots go to ARTIFACTS_DIR (default _output/artifacts) under
// artifacts.
func Start(t T, artifacts string) *Browser {
	t.Helper()
	chromium, axePath := env(t)
	axe, err := os.ReadFile(axePath)
	if err != nil {
		t.Fatal(err)
	}
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
	dir := os.Getenv("ARTIFACTS_DIR")
	if dir == "" {
		dir = filepath.Join(testenv.RepoRoot(), "_output", "artifacts")
	}
	dir = filepath.Join(dir, artifacts)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Browser{Ctx: ctx, Artifacts: dir, axe: string(axe)}
}

// env is what hack/browser.sh installs: Debian's chromium and axe-core.
func env(t T) (chromium, axe string) {
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

// Run runs steps, each run bounded to 30 seconds.
func (b *Browser) Run(t T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	step, cancel := context.WithTimeout(b.Ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(step, steps...); err != nil {
		t.Fatal(err)
	}
}

// Text is the text of the element sel finds.
func (b *Browser) Text(t T, sel string) string {
	t.Helper()
	text, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		t.Fatal(err)
	}
	return text
}

type axeViolation struct {
	ID     string `json:"id"`
	Impact string `json:"impact"`
	Help   string `json:"help"`
	Nodes  []struct {
		Target []any `json:"target"`
	} `json:"nodes"`
}

// Check screenshots the page as name and runs axe-core in it: no serious
// or critical violation of WCAG 2.1 A and AA.
func (b *Browser) Check(t T, name string) {
	t.Helper()
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.Artifacts, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](b.axe+";true")); err != nil {
		t.Fatalf("%s: load axe-core: %v", name, err)
	}
	raw, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](
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

// SeriousViolations runs axe-core in the page and lists the ids of its
// serious and critical violations (to show the check can fail).
func (b *Browser) SeriousViolations(t T) string {
	t.Helper()
	raw, err := chromedp.Run(b.Ctx, chromedp.Evaluate[string](b.axe+`;axe.run(document).then(r => JSON.stringify(r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => v.id)))`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
