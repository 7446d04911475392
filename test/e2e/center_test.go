package e2e_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chromedp/chromedp"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/privacyoperator/privacy-operator/internal/center/mail/mailtest"
	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
	"github.com/privacyoperator/privacy-operator/test/browsertest"
)

var (
	verifyLink = regexp.MustCompile(`/verify\?t=(\S+)`)
	statusLink = regexp.MustCompile(`https?://\S+/status/\S+`)
	mailedCode = regexp.MustCompile(`(?i)code: (\d{3}) (\d{3})`)
)

// The whole journey of a person at the privacy center, in a real browser,
// against the operator binary and real data sources: the form, the mail,
// the link, the status page; the sources answer; the "your data is ready"
// notice arrives once; a fresh code opens the download; the file is the
// export the operator wrote, byte for byte; the page shows it readably.
var _ = Describe("A person at the privacy center", Ordered, func() {
	var (
		center  *localstack.Center
		mailbox *mailtest.Server
		b       *browsertest.Browser
		person  = people[115] // no other spec acts on people[110:]
	)

	BeforeAll(func() {
		bin := filepath.Join(binDir, "privacy-center")
		build := exec.Command("go", "build", "-o", bin, "./cmd/privacy-center")
		build.Dir = repo
		out, err := build.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "go build ./cmd/privacy-center: %s", out)
		mailbox = mailtest.Start(GinkgoT(), mailtest.Options{})
		mp := &localstack.Mailpit{SMTPAddr: net.JoinHostPort(mailbox.SMTPHost, strconv.Itoa(mailbox.SMTPPort)), API: mailbox.API}
		center, err = localstack.StartCenter(ctx, cp, bin, mp, op.ExportDir)
		Expect(err).NotTo(HaveOccurred())
		DeferCleanup(center.Stop)
		b = browsertest.Start(GinkgoT(), "journey")

		// The center's requests go to every source: only the suite's own
		// may be registered (the README's spec leaves sample DataSources
		// whose endpoints do not exist here).
		list := getJSON("datasources", "-A")
		items, _, _ := unstructured.NestedSlice(list.Object, "items")
		for _, item := range items {
			ds := &unstructured.Unstructured{Object: item.(map[string]any)}
			if key := ds.GetNamespace() + "/" + ds.GetName(); key != "shop-e2e/shop" && key != "counter-e2e/counter" {
				out, err := kubectl("delete", "datasource", "-n", ds.GetNamespace(), ds.GetName(), "--wait=false")
				Expect(err).NotTo(HaveOccurred(), out)
			}
		}
	})

	mailsTo := func(subject string) []mailtest.Summary {
		var out []mailtest.Summary
		for _, m := range mailbox.To(GinkgoT(), person.Email) {
			if strings.Contains(m.Subject, subject) {
				out = append(out, m)
			}
		}
		return out
	}
	newest := func(subject string) mailtest.Message {
		GinkgoHelper()
		var found []mailtest.Summary
		Eventually(func() []mailtest.Summary { found = mailsTo(subject); return found }).WithTimeout(30 * time.Second).ShouldNot(BeEmpty())
		return mailbox.Message(GinkgoT(), found[0].ID)
	}

	It("files, verifies, follows, is told once, and receives the export after a fresh code", func() {
		t := GinkgoT()
		By("filling in the form")
		b.Run(t, chromedp.Navigate(center.URL+"/?lang=en"), chromedp.WaitVisible(chromedp.ID("id-email")))
		b.Run(t, chromedp.Click(chromedp.ID("type-Access")), chromedp.SendKeys(chromedp.ID("id-email"), person.Email),
			chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.ID("code")))

		By("following the link in the verification mail")
		link := verifyLink.FindStringSubmatch(newest("Confirm").Text)
		Expect(link).NotTo(BeNil())
		b.Run(t, chromedp.Navigate(center.URL+"/verify?t="+link[1]), chromedp.WaitVisible(chromedp.CSS("button[type=submit]")),
			chromedp.Click(chromedp.CSS("button[type=submit]")), chromedp.WaitVisible(chromedp.CSS("dl.status")))
		b.Check(t, "1-status-received")

		By("waiting for the operator to finish the request at the sources")
		var pr *unstructured.Unstructured
		Eventually(func(g Gomega) {
			list := getJSON("privacyrequests")
			items, _, _ := unstructured.NestedSlice(list.Object, "items")
			var filed []*unstructured.Unstructured
			for _, item := range items {
				u := &unstructured.Unstructured{Object: item.(map[string]any)}
				if u.GetAnnotations()["privacyoperator.io/channel"] == "privacy-center" {
					filed = append(filed, u)
				}
			}
			g.Expect(filed).To(HaveLen(1), "one request filed at the center")
			pr = filed[0]
			phase, _, _ := unstructured.NestedString(pr.Object, "status", "phase")
			g.Expect(phase).To(Equal("Completed"))
		}).WithTimeout(2 * time.Minute).WithPolling(time.Second).Should(Succeed())
		sha, _, _ := unstructured.NestedString(pr.Object, "status", "export", "sha256")
		Expect(sha).To(HaveLen(64))

		By("receiving 'your data is ready' once, and no other final notice")
		ready := newest("is ready")
		Consistently(func(g Gomega) {
			g.Expect(mailsTo("is ready")).To(HaveLen(1))
			g.Expect(mailsTo("We have your privacy request")).To(HaveLen(1))
			g.Expect(mailsTo("is done")).To(BeEmpty())
		}).WithTimeout(3 * time.Second).Should(Succeed())

		By("asking for a fresh code from the status page")
		status := statusLink.FindString(ready.Text)
		Expect(status).NotTo(BeEmpty())
		b.Run(t, chromedp.Navigate(status), chromedp.WaitVisible(chromedp.CSS(`form[action$="/download"] button`)))
		b.Check(t, "2-status-ready")
		b.Run(t, chromedp.Click(chromedp.CSS(`form[action$="/download"] button`)), chromedp.WaitVisible(chromedp.ID("code")))
		b.Check(t, "3-download-code")
		code := mailedCode.FindStringSubmatch(newest("download").Text)
		Expect(code).NotTo(BeNil())
		b.Run(t, chromedp.SendKeys(chromedp.ID("code"), code[1]+code[2]), chromedp.Click(chromedp.CSS("button[type=submit]")),
			chromedp.WaitVisible(chromedp.CSS(`form[action="/download/json"] button`)))
		b.Check(t, "4-download")

		By("downloading the file: the export the operator wrote, byte for byte")
		file := b.Download(t, `form[action="/download/json"] button`)
		sum := sha256.Sum256(file)
		Expect(hex.EncodeToString(sum[:])).To(Equal(sha), "the download's sha256 is status.export.sha256")
		Expect(string(file)).To(ContainSubstring(person.Email))

		By("reading it as a page")
		b.Run(t, chromedp.Click(chromedp.CSS(`form[action="/download/html"] button`)), chromedp.WaitVisible(chromedp.ID("data")))
		Expect(b.Text(t, "main")).To(ContainSubstring(person.Email))
		b.Check(t, "5-export-page")

		By("the operator recording both deliveries, each with its receipt")
		Eventually(func(g Gomega) {
			cur := getJSON("privacyrequest", pr.GetName())
			deliveries, _, _ := unstructured.NestedSlice(cur.Object, "status", "deliveries")
			g.Expect(deliveries).To(HaveLen(2))
			for _, d := range deliveries {
				g.Expect(d).To(HaveKey("receipt"))
			}
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})

	It("serves an authorized agent: pairing, a deletion and an access followed to fulfilled, an opt-in denied, a revocation", func() {
		pub, priv, err := ed25519.GenerateKey(nil)
		Expect(err).NotTo(HaveOccurred())
		agent := `{"apiVersion":"privacyoperator.io/v1alpha1","kind":"AuthorizedAgent","metadata":{"name":"e2e-agent"},` +
			`"spec":{"agentID":"E2E_AGENT","verifyKey":"` + base64.StdEncoding.EncodeToString(pub) + `","callbackHosts":["agent.example.com"]}}`
		out, err := kubectlIn(agent, "apply", "-f", "-")
		Expect(err).NotTo(HaveOccurred(), out)
		DeferCleanup(func() { _, _ = kubectl("delete", "authorizedagent", "e2e-agent", "--ignore-not-found") })
		a := &drpAgent{id: "E2E_AGENT", base: center.URL, priv: priv}
		code, paired := a.call("POST", "/v1/agent/E2E_AGENT", map[string]any{})
		Expect(code).To(Equal(http.StatusOK), "pairing: %v", paired)
		a.token = paired["token"].(string)

		follow := func(id string) map[string]any {
			GinkgoHelper()
			var st map[string]any
			Eventually(func(g Gomega) {
				var code int
				code, st = a.call("GET", "/v1/data-rights-request/"+id, nil)
				g.Expect(code).To(Equal(http.StatusOK), "%v", st)
				if s := st["status"]; s == "denied" || s == "revoked" || s == "expired" {
					StopTrying(fmt.Sprintf("the request ended %v, not fulfilled: %v", s, st)).Now()
				}
				g.Expect(st["status"]).To(Equal("fulfilled"), "the request as the operator finishes it at the sources")
			}).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(Succeed(), func() string {
				// Read once, on failure: what the operator made of the
				// request (no identity is in status).
				out, _ := kubectl("get", "privacyrequest", id, "-o", "jsonpath={.status.phase} {.status.conditions} {.status.sources}")
				return fmt.Sprintf("last answer %v; the request's status: %s", st, out)
			})
			return st
		}
		deleted, accessed := people[116], people[117]
		code, st := a.call("POST", "/v1/data-rights-request", map[string]any{"exercise": "deletion", "regime": "ccpa", "agent-request-id": "e2e-del",
			"email": deleted.Email, "email_verified": true})
		Expect(code).To(Equal(http.StatusOK), "%v", st)
		done := follow(st["request_id"].(string))
		Expect(done["expected_by"]).To(HaveSuffix("+00:00"))

		code, st = a.call("POST", "/v1/data-rights-request", map[string]any{"exercise": "access", "agent-request-id": "e2e-acc",
			"email": accessed.Email, "email_verified": true})
		Expect(code).To(Equal(http.StatusOK), "%v", st)
		got := follow(st["request_id"].(string))
		Expect(got["results_url"]).To(HavePrefix(center.URL+"/status/"), "an Access request's results are collected at the center")
		Expect(got["expires_at"]).To(HaveSuffix("+00:00"))

		code, st = a.call("POST", "/v1/data-rights-request", map[string]any{"exercise": "sale:opt-in", "email": accessed.Email, "email_verified": true})
		Expect(code).To(Equal(http.StatusOK))
		Expect(st["status"]).To(Equal("denied"))
		Expect(st["reason"]).To(Equal("claim_not_covered"))

		code, st = a.call("POST", "/v1/data-rights-request", map[string]any{"exercise": "access", "email": accessed.Email})
		Expect(code).To(Equal(http.StatusOK))
		Expect(st["reason"]).To(Equal("need_user_verification"))
		code, st = a.call("DELETE", "/v1/data-rights-request/"+st["request_id"].(string), map[string]any{"reason": "changed my mind"})
		Expect(code).To(Equal(http.StatusOK))
		Expect(st["status"]).To(Equal("revoked"))
	})
})
