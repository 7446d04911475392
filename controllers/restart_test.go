package controllers_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

var _ = Describe("An operator restart in the middle of dispatch", Serial, func() {
	It("finishes every request with each job executed once at each source", func() {
		const requests = 20
		ns := newNamespace()
		// Slow enough that the first operator stops with jobs open.
		slow := func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			run := cfg.Delete
			cfg.Delete = func(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
				time.Sleep(200 * time.Millisecond)
				return run(ctx, job)
			}
		}
		syncSrc := newSource(ns, "sync", slow)
		asyncSrc := newSource(ns, "async", slow, async)

		op.stop()
		first := startOperator(op.exportDir)
		var prs []*privacyv1alpha1.PrivacyRequest
		for range requests {
			pr := request(ns, privacyv1alpha1.RequestTypeDelete, ada)
			Expect(k8sClient.Create(ctx, pr)).To(Succeed())
			prs = append(prs, pr)
		}
		Eventually(func() int { return len(syncSrc.jobRuns()) + len(asyncSrc.jobRuns()) }).Should(BeNumerically(">=", 3))
		first.stop()
		Expect(len(syncSrc.jobRuns())+len(asyncSrc.jobRuns())).To(BeNumerically("<", 2*requests), "the first operator must stop mid-dispatch")

		op = startOperator(op.exportDir)
		for _, pr := range prs {
			Eventually(func(g Gomega) {
				g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pr), pr)).To(Succeed())
				g.Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
			}).WithTimeout(20*time.Second).Should(Succeed(), "a delivery lost with the first operator is sent again at once, not after its lease")
		}
		for _, src := range []*source{syncSrc, asyncSrc} {
			runs := src.jobRuns()
			Expect(runs).To(HaveLen(requests), src.name)
			for id, n := range runs {
				Expect(n).To(Equal(1), "job %s ran %d times at %s", id, n, src.name)
			}
		}
	})
})
