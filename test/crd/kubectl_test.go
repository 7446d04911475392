package crd_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

func minimalDataSource(ns string) *privacyv1alpha1.DataSource {
	return &privacyv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "ds-", Namespace: ns},
		Spec: privacyv1alpha1.DataSourceSpec{
			Endpoint:         privacyv1alpha1.Endpoint{Service: &privacyv1alpha1.ServiceReference{Name: "billing", Port: 8443}},
			SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: "billing-signing"},
			RequestTypes:     []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess, privacyv1alpha1.RequestTypeDelete},
			Identities:       []privacyv1alpha1.IdentityType{"email"},
		},
	}
}

func minimalRequest(t privacyv1alpha1.RequestType) *privacyv1alpha1.PrivacyRequest {
	return &privacyv1alpha1.PrivacyRequest{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "preq-"},
		Spec: privacyv1alpha1.PrivacyRequestSpec{
			Type:    t,
			Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": "ada@example.com"}},
		},
	}
}

func minimalPolicy() *privacyv1alpha1.RetentionPolicy {
	return &privacyv1alpha1.RetentionPolicy{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "rp-"},
		Spec: privacyv1alpha1.RetentionPolicySpec{
			Categories: []privacyv1alpha1.DataCategory{"usage"},
			RetainFor:  "400d",
			Schedule:   "0 3 * * *",
		},
	}
}

// header returns the column names of kubectl's table output.
func header(out string) []string {
	first, _, _ := strings.Cut(out, "\n")
	return strings.Fields(first)
}

var _ = Describe("kubectl", func() {
	It("lists all three kinds under the privacy category", func() {
		ns := newNamespace()
		ds := minimalDataSource(ns)
		pr := minimalRequest(privacyv1alpha1.RequestTypeAccess)
		rp := minimalPolicy()
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())

		out, err := env.Kubectl("get", "privacy", "--namespace", ns, "-o", "name")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("datasource.privacyoperator.io/" + ds.Name))
		Expect(out).To(ContainSubstring("privacyrequest.privacyoperator.io/" + pr.Name))
		Expect(out).To(ContainSubstring("retentionpolicy.privacyoperator.io/" + rp.Name))
	})

	It("shows the PrivacyRequest columns", func() {
		pr := minimalRequest(privacyv1alpha1.RequestTypeDelete)
		Expect(k8sClient.Create(ctx, pr)).To(Succeed())
		out, err := env.Kubectl("get", "preq", pr.Name)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(header(out)).To(Equal([]string{"NAME", "TYPE", "PHASE", "REASON", "SOURCES", "DUE", "OVERDUE", "AGE"}))
		Expect(out).To(ContainSubstring("Delete"))
		wide, err := env.Kubectl("get", "preq", pr.Name, "-o", "wide")
		Expect(err).NotTo(HaveOccurred(), wide)
		Expect(header(wide)).To(Equal([]string{"NAME", "TYPE", "PHASE", "REASON", "SOURCES", "DUE", "OVERDUE", "DUESOON", "CHILD", "AGE"}))
	})

	It("shows the DataSource columns", func() {
		ns := newNamespace()
		Expect(k8sClient.Create(ctx, minimalDataSource(ns))).To(Succeed())
		out, err := env.Kubectl("get", "dsrc", "--namespace", ns)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(header(out)).To(Equal([]string{"NAME", "READY", "REASON", "SUSPENDED", "TYPES", "ENDPOINT", "AGE"}))
		Expect(out).To(ContainSubstring(`["Access","Delete"]`))
	})

	It("shows the RetentionPolicy columns", func() {
		rp := minimalPolicy()
		Expect(k8sClient.Create(ctx, rp)).To(Succeed())
		out, err := env.Kubectl("get", "rp", rp.Name)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(header(out)).To(Equal([]string{"NAME", "RETAIN-FOR", "SCHEDULE", "LAST-RUN", "MATCHED", "AGE"}))
		Expect(out).To(ContainSubstring("400d"))
		Expect(out).To(ContainSubstring("0 3 * * *"))

		wide, err := env.Kubectl("get", "rp", rp.Name, "-o", "wide")
		Expect(err).NotTo(HaveOccurred(), wide)
		Expect(header(wide)).To(ContainElement("READY"))
	})
})
