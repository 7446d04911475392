package controllers_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// spoolFiles lists the files in the operator's spool that hold s.
func spoolFiles(s string) []string {
	entries, err := os.ReadDir(filepath.Join(op.exportDir, ".spool"))
	if os.IsNotExist(err) {
		return nil
	}
	Expect(err).NotTo(HaveOccurred())
	var out []string
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(op.exportDir, ".spool", e.Name()))
		if err == nil && strings.Contains(string(data), s) {
			out = append(out, e.Name())
		}
	}
	return out
}

var _ = Describe("The export spool", func() {
	It("keeps no answer that will never be filed: one left by a leader change mid-answer, or of a request that went", func() {
		ns := newNamespace()
		release := make(chan struct{})
		newSource(ns, "crm", func(_ *source, cfg *datasource.Config, _ *privacyv1alpha1.DataSourceSpec) {
			cfg.AsyncTypes = []protocol.JobType{protocol.JobAccess}
			cfg.Access = func(ctx context.Context, job *protocol.Job) (datasource.Result, error) {
				select {
				case <-release:
				case <-ctx.Done():
					return datasource.Result{}, ctx.Err()
				}
				return datasource.Result{Records: 1, Data: map[string]string{"email": job.Subject.Identities["email"], "name": "Ada Lovelace"}}, nil
			}
		})
		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		dispatchedEntry(pr, "crm")
		jobID := sourceEntry(pr, "crm").JobID

		By("a first answer that the previous leader spooled and never filed, and one of a request that is gone")
		spool := export.DirStore{Dir: op.exportDir}
		first, err := spool.Put(jobID, []byte(`{"email":"`+adaEmail+`","name":"Ada Lovelace","first":true}`))
		Expect(err).NotTo(HaveOccurred())
		gone, err := spool.Put("pr-00000000000000000000000000000000", []byte(`{"email":"`+adaEmail+`","gone":true}`))
		Expect(err).NotTo(HaveOccurred())
		Eventually(gone).WithTimeout(10*time.Second).ShouldNot(BeAnExistingFile(), "its request is gone")
		Expect(first).To(BeAnExistingFile(), "its job is still open: the answer may yet be filed")

		By("the source answers again, the new leader files that answer, and the request finishes")
		close(release)
		pr = finished(pr)
		Expect(pr.Status.Phase).To(Equal(privacyv1alpha1.RequestPhaseCompleted))
		Eventually(func() []string { return spoolFiles(adaEmail) }).WithTimeout(10*time.Second).Should(BeEmpty(),
			"no copy of Ada's data is left in the spool once her request finished")
	})
})
