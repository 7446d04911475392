package controllers_test

import (
	"encoding/json"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/pkg/datasource"
)

// disclosing declares what the source tells a person about its contact data.
func disclosing(d ...privacyv1alpha1.CategoryDisclosure) sourceOption {
	return func(_ *source, _ *datasource.Config, spec *privacyv1alpha1.DataSourceSpec) {
		spec.Disclosures = d
	}
}

var _ = Describe("What an Access export tells the person about their data", func() {
	It("carries each category's purposes, recipients and origin from the DataSource, and its retention from the RetentionPolicies", func() {
		ns := newNamespace()
		newSource(ns, "billing", purging("contact", "usage"), disclosing(privacyv1alpha1.CategoryDisclosure{
			Category:   "contact",
			Purposes:   []string{"Invoices and tax records"},
			Recipients: []string{"Payment processor", "Tax authorities"},
			Origin:     "Collected from you at sign-up",
		}))
		rp := newPolicy(ns, "0 3 * * *", nil) // usage, 30d, this namespace only
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		suspended := newPolicy(ns, "0 3 * * *", nil)
		suspended.Spec.Categories, suspended.Spec.RetainFor, suspended.Spec.Suspend = []privacyv1alpha1.DataCategory{"contact"}, "7d", true
		Expect(k8sClient.Create(ctx, suspended)).To(Succeed())
		DeferCleanup(func() {
			Expect(k8sClient.Delete(ctx, rp)).To(Succeed())
			Expect(k8sClient.Delete(ctx, suspended)).To(Succeed())
		})

		pr := request(ns, privacyv1alpha1.RequestTypeAccess, ada)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		pr = finished(pr)
		Expect(pr.Status.Export).NotTo(BeNil())
		data, err := os.ReadFile(pr.Status.Export.Location)
		Expect(err).NotTo(HaveOccurred())
		var doc struct {
			Manifest export.Manifest `json:"manifest"`
		}
		Expect(json.Unmarshal(data, &doc)).To(Succeed())
		Expect(doc.Manifest.Sources).To(HaveLen(1))
		Expect(doc.Manifest.Sources[0].Categories).To(Equal([]export.Category{
			{
				Category: "contact", Purposes: []string{"Invoices and tax records"},
				Recipients: []string{"Payment processor", "Tax authorities"}, Origin: "Collected from you at sign-up",
				// A suspended policy enforces nothing: it is not a retention period.
				Retention: []export.Retention{},
			},
			{Category: "usage", Retention: []export.Retention{{Policy: rp.Name, RetainFor: "30d"}}},
		}))
	})
})
