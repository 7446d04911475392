package e2e_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	"github.com/privacyoperator/privacy-operator/internal/datasource/sqlsource"
)

var _ = Describe("An operator killed mid-run", Serial, func() {
	It("finishes all 50 requests after a restart, each job applied once", func() {
		const n = 50
		var manifests []string
		// Each request goes to both the shop and the counter (and to no
		// other source the samples may have registered).
		both := "  dataSourceSelector:\n    matchExpressions:\n    - {key: app.kubernetes.io/name, operator: In, values: [shop, counter]}\n"
		for i := range n {
			manifests = append(manifests, request(fmt.Sprintf("e2e-kill-%02d", i), "Delete", people[60+i].Email, "", both))
		}
		apply(strings.Join(manifests, "---\n"))

		// Kill the operator (SIGKILL, no shutdown) once some jobs are done
		// and others are open.
		Eventually(func() int { return len(counter.counts()) }).WithTimeout(60 * time.Second).WithPolling(20 * time.Millisecond).
			Should(BeNumerically(">=", 5))
		op.Kill()
		done := finishedKillRequests()
		GinkgoWriter.Printf("operator killed with %d of %d requests finished and %d counter jobs applied\n", done, n, len(counter.counts()))
		Expect(done).To(BeNumerically("<", n), "every request had finished before the kill: the test proves nothing")
		Expect(op.Restart(ctx)).To(Succeed())

		Eventually(finishedKillRequests).WithTimeout(3 * time.Minute).WithPolling(time.Second).Should(Equal(n))

		// Each request completed at both sources...
		out, err := kubectl("get", "privacyrequests", "-o", "json")
		Expect(err).NotTo(HaveOccurred())
		var list struct {
			Items []struct {
				Metadata struct{ Name string }
				Status   struct {
					Phase   string
					Sources []struct{ Name, JobID, Phase string }
				}
			}
		}
		Expect(json.Unmarshal([]byte(out), &list)).To(Succeed())
		jobs := map[string]bool{}
		for _, pr := range list.Items {
			if !strings.HasPrefix(pr.Metadata.Name, "e2e-kill-") {
				continue
			}
			Expect(pr.Status.Phase).To(Equal("Completed"), pr.Metadata.Name)
			Expect(pr.Status.Sources).To(HaveLen(2), pr.Metadata.Name)
			for _, s := range pr.Status.Sources {
				if s.Name == "counter" {
					jobs[s.JobID] = true
				}
			}
		}
		Expect(jobs).To(HaveLen(n))
		// kubectl describe shows each source's part, and the request's end.
		out, err = kubectl("describe", "privacyrequest", "e2e-kill-49")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(MatchRegexp(`(?s)Sources:.*Name:\s+(shop|counter)\n.*Name:\s+(shop|counter)\n`))
		Expect(out).To(ContainSubstring("Request completed at all 2 data sources"))
		// ...and each job was applied exactly once at the counter,
		counts := counter.counts()
		for id := range jobs {
			Expect(counts[id]).To(Equal(1), "job %s applied %d times", id, counts[id])
		}
		// and recorded once at the shop, whose customers are gone.
		db, _, err := sqlsource.Open("sqlite:" + shop.DBPath)
		Expect(err).NotTo(HaveOccurred())
		defer db.Close()
		var gone int
		for i := range n {
			var left int
			Expect(db.QueryRow("SELECT COUNT(*) FROM customers WHERE email = ?", people[60+i].Email).Scan(&left)).To(Succeed())
			if left == 0 {
				gone++
			}
		}
		Expect(gone).To(Equal(n))

		// Write conflicts from the burst of creations are retried quietly:
		// the operator logs no errors for what works.
		logs, err := os.ReadFile(op.LogPath)
		Expect(err).NotTo(HaveOccurred())
		for _, line := range strings.Split(string(logs), "\n") {
			Expect(line).NotTo(ContainSubstring(`"level":"error"`))
		}
	})
})

// finishedKillRequests counts the e2e-kill requests in a final phase.
func finishedKillRequests() int {
	out, err := kubectl("get", "privacyrequests", "-o", "jsonpath={range .items[*]}{.metadata.name} {.status.phase}{\"\\n\"}{end}")
	if err != nil {
		return -1
	}
	n := 0
	for _, line := range strings.Split(out, "\n") {
		name, phase, _ := strings.Cut(line, " ")
		if strings.HasPrefix(name, "e2e-kill-") && (phase == "Completed" || phase == "Failed") {
			n++
		}
	}
	return n
}
