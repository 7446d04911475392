package e2e_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// kstatusOf computes an object's GitOps health as Flux and Argo CD do.
func kstatusOf(args ...string) status.Status {
	GinkgoHelper()
	res, err := status.Compute(getJSON(args...))
	Expect(err).NotTo(HaveOccurred())
	return res.Status
}

var _ = Describe("Requests of each type, with kubectl", func() {
	for i, tc := range []struct{ typ, extra string }{
		{"Access", ""},
		{"Correct", "  corrections:\n  - {field: phone, value: \"+44 20 7946 9999\"}\n"},
		{"OptOut", "  optOut: {scopes: [email-marketing]}\n"},
		{"Delete", ""},
	} {
		It("kubectl wait --for=condition=Ready returns for "+tc.typ+", and describe shows each source", func() {
			name := "e2e-" + strings.ToLower(tc.typ)
			apply(request(name, tc.typ, people[10+i].Email, "shop", tc.extra))
			out, err := kubectl("wait", "--for=condition=Ready", "--timeout=60s", "privacyrequest/"+name)
			Expect(err).NotTo(HaveOccurred(), out)
			Expect(out).To(ContainSubstring("privacyrequest.privacyoperator.io/" + name + " condition met"))

			out, err = kubectl("describe", "privacyrequest", name)
			Expect(err).NotTo(HaveOccurred(), out)
			GinkgoWriter.Println(out)
			Expect(out).To(MatchRegexp(`(?m)^  Phase:\s+Completed$`))
			// The per-source record: attempts, job id, name, phase, records
			// (a job that succeeded keeps no condition: these say it all).
			Expect(out).To(MatchRegexp(`(?s)Sources:.*Attempts:\s+1.*Job ID:\s+pr-[0-9a-f]+.*Name:\s+shop.*Namespace:\s+shop-e2e.*Phase:\s+Completed.*Records:\s+[1-9]`))
			Expect(out).To(MatchRegexp(`(?s)Events:.*Normal\s+\S+`))
			_, statusAndEvents, _ := strings.Cut(out, "\nStatus:")
			Expect(statusAndEvents).NotTo(ContainSubstring(people[10+i].Email), "the subject's identity leaked into status or Events")

			Expect(kstatusOf("privacyrequest", name)).To(Equal(status.CurrentStatus), "a finished request is Current for GitOps tools")
		})
	}
})

var _ = Describe("GitOps health (kstatus)", func() {
	It("is InProgress while a source works, then Current", func() {
		apply(request("e2e-held", "Access", people[20].Email, "counter", ""))
		Eventually(func() status.Status { return kstatusOf("privacyrequest", "e2e-held") }).
			WithTimeout(30 * 1e9).Should(Equal(status.InProgressStatus))
		Consistently(func() status.Status { return kstatusOf("privacyrequest", "e2e-held") }).
			WithTimeout(2 * 1e9).Should(Equal(status.InProgressStatus))
		counter.release()
		out, err := kubectl("wait", "--for=condition=Ready", "--timeout=60s", "privacyrequest/e2e-held")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(kstatusOf("privacyrequest", "e2e-held")).To(Equal(status.CurrentStatus))
	})

	It("is Failed for a request a source refuses for good", func() {
		// The shop may not correct last_seen_at: the source answers 422.
		apply(request("e2e-refused", "Correct", people[21].Email, "shop", "  corrections:\n  - {field: last_seen_at, value: \"2020-01-01\"}\n"))
		Eventually(func() status.Status { return kstatusOf("privacyrequest", "e2e-refused") }).
			WithTimeout(60 * 1e9).Should(Equal(status.FailedStatus))
		out, err := kubectl("describe", "privacyrequest", "e2e-refused")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring(`field "last_seen_at" may not be corrected here`))
		Expect(out).To(MatchRegexp(`(?s)Events:.*Warning`))
	})
})

// squash collapses runs of spaces, so that column widths do not matter.
func squash(s string) string { return strings.Join(strings.Fields(s), " ") }
