package e2e_test

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// The README's commands, run as a newcomer types them (make reads the
// Makefile of the repository; KUBEBUILDER_ASSETS is already cached).
var _ = Describe("The README's commands", Ordered, func() {
	// makeCmd is `make args...` at the repository root, outside the make
	// that may be running this test.
	makeCmd := func(env []string, args ...string) *exec.Cmd {
		cmd := exec.Command("make", args...)
		cmd.Dir = repo
		for _, kv := range os.Environ() {
			if k, _, _ := strings.Cut(kv, "="); k != "MAKEFLAGS" && k != "MAKELEVEL" && k != "MFLAGS" {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		cmd.Env = append(cmd.Env, env...)
		return cmd
	}
	// startMake starts make in a process group of its own (so that the
	// whole group can be signalled) and collects its output.
	startMake := func(env []string, args ...string) (*exec.Cmd, *testenv.SyncBuffer) {
		GinkgoHelper()
		cmd, out := makeCmd(env, args...), &testenv.SyncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		Expect(cmd.Start()).To(Succeed())
		return cmd, out
	}
	run := func(env []string, args ...string) string {
		GinkgoHelper()
		out, err := makeCmd(env, args...).CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), "make %s:\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	localDir := filepath.Join(os.TempDir(), "privacy-operator-e2e-local")
	kubeconfig := filepath.Join(localDir, "kubeconfig")
	localKubectl := func(args ...string) (string, error) {
		out, err := exec.Command(filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", kubeconfig}, args...)...).CombinedOutput()
		return string(out), err
	}

	It("make local-up starts a control plane with the CRDs, and a second make local-up finds it", func() {
		DeferCleanup(func() { run([]string{"LOCAL_DIR=" + localDir}, "local-down") })
		out := run([]string{"LOCAL_DIR=" + localDir}, "local-up")
		Expect(out).To(ContainSubstring("export KUBECONFIG=" + kubeconfig))
		Expect(run([]string{"LOCAL_DIR=" + localDir}, "local-up")).To(ContainSubstring("already running"))
		got, err := localKubectl("get", "crd", "-o", "name")
		Expect(err).NotTo(HaveOccurred(), got)
		Expect(got).To(ContainSubstring("privacyrequests.privacyoperator.io"))

		By("make run runs the operator against it")
		mk, logs := startMake([]string{"KUBECONFIG=" + kubeconfig}, "run")
		defer func() {
			_ = syscall.Kill(-mk.Process.Pid, syscall.SIGINT)
			_ = mk.Wait()
		}()
		Eventually(func() int {
			resp, err := http.Get("http://127.0.0.1:8081/readyz")
			if err != nil {
				return 0
			}
			_ = resp.Body.Close()
			return resp.StatusCode
		}).WithTimeout(3*time.Minute).WithPolling(time.Second).Should(Equal(http.StatusOK), func() string { return logs.String() })
		apply := exec.Command(filepath.Join(assets, "kubectl"), "--kubeconfig", kubeconfig, "apply", "-f", "-")
		apply.Stdin = strings.NewReader(request("local-run", "Access", "nobody@example.com", "", ""))
		out2, err := apply.CombinedOutput()
		Expect(err).NotTo(HaveOccurred(), string(out2))
		Eventually(func() string {
			out, _ := localKubectl("get", "privacyrequest", "local-run", "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].reason}`)
			return out
		}).WithTimeout(time.Minute).Should(Equal("NoMatchingSources"), "the operator reconciles the request (there is no data source here)")

		By("make install and make uninstall manage the CRDs (the operator runs, so it releases its finalizers)")
		Expect(run([]string{"KUBECONFIG=" + kubeconfig, "KUBECTL=" + filepath.Join(assets, "kubectl")}, "install")).
			To(ContainSubstring("customresourcedefinition.apiextensions.k8s.io/privacyrequests.privacyoperator.io serverside-applied"))
		Expect(run([]string{"KUBECONFIG=" + kubeconfig, "KUBECTL=" + filepath.Join(assets, "kubectl")}, "uninstall")).
			To(ContainSubstring(`customresourcedefinition.apiextensions.k8s.io "privacyrequests.privacyoperator.io" deleted`))

		By("make deploy installs the operator's manifests")
		out = run([]string{"KUBECONFIG=" + kubeconfig, "KUBECTL=" + filepath.Join(assets, "kubectl"), "IMG=registry.example.com/privacy-operator:v0.1.0"}, "deploy")
		Expect(out).To(ContainSubstring("deployment.apps/privacy-operator-controller-manager serverside-applied"))
		got, err = localKubectl("get", "deployment", "-n", "privacy-operator-system", "privacy-operator-controller-manager", "-o", "jsonpath={.spec.template.spec.containers[0].image}")
		Expect(err).NotTo(HaveOccurred(), got)
		Expect(got).To(Equal("registry.example.com/privacy-operator:v0.1.0"))
	})

	It("make local-down stops it and removes its state", func() {
		run([]string{"LOCAL_DIR=" + localDir}, "local-down")
		Expect(localDir).NotTo(BeADirectory())
	})

	It("make bench runs the benchmarks (here with a small load)", func() {
		out := run([]string{"BENCH_REQUESTS=20", "BENCH_SOURCES=2", "BENCH_RATE=10", "BENCH_RATE_FOR=2s", "BENCH_RESTORE_RECORDS=200", "BENCH_FLAGS=-benchtime=1x"}, "bench")
		GinkgoWriter.Println(out)
		if strings.Contains(out, "POSTGRESQL UNAVAILABLE") {
			// The SQL data source's tests already said so loudly.
			GinkgoWriter.Println("PostgreSQL is unavailable: the PostgreSQL benchmarks were skipped")
		} else {
			Expect(out).To(MatchRegexp(`BenchmarkPostgresDelete\S*\s+1\s+\d+ ns/op\s+[\d.]+ jobs/s`))
			Expect(out).To(MatchRegexp(`BenchmarkPostgresPurge\S*\s+1\s+\d+ ns/op.* [\d.]+ rows/s`))
		}
		Expect(out).To(ContainSubstring("bench: N=2 sources, 8 workers, burst M=20, open loop 10/s for 2s"))
		Expect(out).To(MatchRegexp(`ceiling: the engine's writes per request \[create( update)?( status)+( event)+\], replayed by a plain client: [\d.]+ requests/s`))
		Expect(out).To(MatchRegexp(`burst: requests=20 completed_per_second=[\d.]+`))
		Expect(out).To(MatchRegexp(`engine / ceiling = [\d.]+`))
		Expect(out).To(MatchRegexp(`at rest: 20 finished requests kept; manager heap_inuse=\d+MiB`))
		Expect(out).To(MatchRegexp(`restore: 2 Restores, 200 jobs sent again \(sources executed 200\) in \S+ = \d+ jobs/s; manager peak heap_inuse=\d+MiB`))
		Expect(out).To(MatchRegexp(`open loop 10/s: requests=20 completed_per_second=[\d.]+`))
	})

	It("make demo shows the whole product and says what happened (DEMO_ONCE=1), also after a crashed run", func() {
		demoDir := filepath.Join(GinkgoT().TempDir(), "demo")

		By("a first run that crashes (SIGKILL) once its processes are up")
		first, firstOut := startMake([]string{"DEMO_DIR=" + demoDir}, "demo")
		Eventually(firstOut.String).WithTimeout(5 * time.Minute).WithPolling(time.Second).Should(ContainSubstring("Waiting for the three DataSources"))
		Expect(syscall.Kill(-first.Process.Pid, syscall.SIGKILL)).To(Succeed())
		_ = first.Wait()
		left, err := localstack.Running(demoDir)
		Expect(err).NotTo(HaveOccurred())
		Expect(left).NotTo(BeEmpty(), "the crash left nothing behind: this run proves nothing")

		By("a second run finds and stops the leftovers, rebuilds the state, and keeps running")
		second, secondOut := startMake([]string{"DEMO_DIR=" + demoDir}, "demo")
		Eventually(secondOut.String).WithTimeout(8 * time.Minute).WithPolling(time.Second).Should(ContainSubstring("The stack keeps running"))
		out := secondOut.String()
		GinkgoWriter.Println(out)

		By("the README's samples apply to the running demo as written (\"Explore with kubectl\")")
		for _, c := range readmeBlock("## Explore with kubectl") {
			sh := exec.Command("sh", "-c", c)
			sh.Dir = repo
			sh.Env = append(os.Environ(), "KUBECONFIG="+filepath.Join(demoDir, "kubeconfig"), "PATH="+assets+string(os.PathListSeparator)+os.Getenv("PATH"))
			got, err := sh.CombinedOutput()
			Expect(err).NotTo(HaveOccurred(), "README command %q with the demo running:\n%s", c, got)
			GinkgoWriter.Printf("$ %s\n%s", c, got)
		}

		By("Ada's Access request, filed through the privacy center's form, is done; its mail is in mailpit; its status page says so")
		Expect(out).To(ContainSubstring("POST /verify                303 See Other -> /status/"))
		Expect(out).To(MatchRegexp(`pc-[a-z2-7]{26} +Access \(privacy center\) +Completed +archive/paper-archive: 2 records returned`))
		Expect(out).To(MatchRegexp(`Privacy center: http://127\.0\.0\.1:\d+/`))
		mailbox := regexp.MustCompile(`Mailbox \(mailpit's API[^)]*\): (http://127\.0\.0\.1:\d+)/api/v1/messages`).FindStringSubmatch(out)
		Expect(mailbox).NotTo(BeNil(), "the mailbox's URL is printed")
		Eventually(func(g Gomega) {
			body := httpGet(g, mailbox[1]+"/api/v1/messages", http.StatusOK)
			g.Expect(body).To(ContainSubstring(`"Subject":"We have your privacy request`), "the received notice")
			g.Expect(body).To(ContainSubstring("ada.lovelace@example.com"))
		}).WithTimeout(time.Minute).WithPolling(time.Second).Should(Succeed())
		status := regexp.MustCompile(`Ada's status page \(pc-[a-z2-7]{26}\): (http://127\.0\.0\.1:\d+/status/\S+)`).FindStringSubmatch(out)
		Expect(status).NotTo(BeNil(), "the status link is printed")
		Expect(httpGet(Default, status[1], http.StatusOK)).To(ContainSubstring("Done: we have done what you asked."))

		By("Ctrl-C stops it cleanly")
		Expect(syscall.Kill(-second.Process.Pid, syscall.SIGINT)).To(Succeed())
		_ = second.Wait()
		left, err = localstack.Running(demoDir)
		Expect(err).NotTo(HaveOccurred())
		Expect(left).To(BeEmpty(), "processes of the demo are still running")
		for _, want := range []string{
			"export: " + filepath.Join(demoDir, "exports"),
			"shop  customers with Ada's email           0",
			"crm   contacts with Ada's email            0",
			"export KUBECONFIG=" + filepath.Join(demoDir, "kubeconfig"),
		} {
			Expect(out).To(ContainSubstring(want))
		}
		Expect(out).To(MatchRegexp(`usage-365d +Retention Succeeded .* shop-?\S*: [1-9]\d* rows purged`))
		for _, name := range []string{"access-2026-0001 +Access", "pc-[a-z2-7]{26} +Access \\(privacy center\\)", "correct-2026-0002 +Correct", "optout-2026-0003 +OptOut", "delete-2026-0004 +Delete"} {
			Expect(out).To(MatchRegexp(name+` +Completed`), "request names are ticket numbers: they carry no personal data")
		}
		By("the paper archive's tasks, completed by the records clerk with kubectl privacy")
		Expect(out).To(ContainSubstring("$ kubectl privacy complete "))
		Expect(out).To(MatchRegexp(`access-2026-0001 .* archive/paper-archive: 2 records returned, by records-clerk \(task pr-[0-9a-f]+\)`))
		Expect(out).To(MatchRegexp(`delete-2026-0004 .* archive/paper-archive: 2 records deleted or anonymized, by records-clerk`))
		Expect(out).To(MatchRegexp(`delete-2026-0004 +receipt \d+: ` + regexp.QuoteMeta(filepath.Join(demoDir, "receipts")) + `/receipts/\d{20}\.json`))
		Expect(out).To(MatchRegexp(`pc-[a-z2-7]{26} +receipt \d+: `))
		Expect(out).To(MatchRegexp(`log: [4-9]\d* receipts in .*, verified, no break`))
		By("the shop restores its backup: Ada is back, and a Restore deletes her again and purges the old orders once")
		Expect(out).To(MatchRegexp(`back from the backup: customers with Ada's email [1-9]\d*, orders older than a year [1-9]\d*`))
		Expect(out).To(ContainSubstring("$ kubectl privacy restore shop -n shop --backup-taken-at "))
		Expect(out).To(MatchRegexp(`Completed \(Restored\): Sent 3 jobs again, all done`), "the Correct, the OptOut and the Delete")
		Expect(out).To(ContainSubstring("after the Restore:    customers with Ada's email 0, orders older than a year 0"))
	})
})

// httpGet reads url and wants the status code want.
func httpGet(g Gomega, url string, want int) string {
	resp, err := http.Get(url)
	g.Expect(err).NotTo(HaveOccurred())
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(resp.StatusCode).To(Equal(want), "GET %s: %s", url, body)
	return string(body)
}
