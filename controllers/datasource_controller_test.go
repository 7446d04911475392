package controllers_test

import (
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/controllers"
)

func newDataSource(ns string) *privacyv1alpha1.DataSource {
	return &privacyv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "billing-", Namespace: ns},
		Spec: privacyv1alpha1.DataSourceSpec{
			Endpoint:         privacyv1alpha1.Endpoint{Service: &privacyv1alpha1.ServiceReference{Name: "billing", Port: 8443, Path: "/privacy"}},
			SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: "billing-signing"},
			RequestTypes:     []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess},
			Identities:       []privacyv1alpha1.IdentityType{"email"},
		},
	}
}

var _ = Describe("DataSource controller", func() {
	It("reports the observed generation, the endpoint host and Ready=Unknown", func() {
		ns := newNamespace()
		ds := newDataSource(ns)
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())

		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
			g.Expect(ds.Status.ObservedGeneration).To(Equal(ds.Generation))
			g.Expect(ds.Status.EndpointHost).To(Equal("billing." + ns + ".svc:8443"))
			ready := meta.FindStatusCondition(ds.Status.Conditions, privacyv1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(metav1.ConditionUnknown))
			g.Expect(ready.Reason).To(Equal(privacyv1alpha1.ReasonInitializing))
			g.Expect(ready.ObservedGeneration).To(Equal(ds.Generation))
			g.Expect(kstatusOf(g, ds)).To(Equal(status.InProgressStatus))
		}).Should(Succeed())

		By("following a spec change")
		ds.Spec.Endpoint = privacyv1alpha1.Endpoint{URL: "https://billing.example.com:9443/privacy"}
		Expect(k8sClient.Update(ctx, ds)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
			g.Expect(ds.Generation).To(Equal(int64(2)))
			g.Expect(ds.Status.ObservedGeneration).To(Equal(int64(2)))
			g.Expect(ds.Status.EndpointHost).To(Equal("billing.example.com:9443"))
		}).Should(Succeed())
	})

	It("writes nothing when a pass learns nothing new", func() {
		ds := newDataSource(newNamespace())
		Expect(k8sClient.Create(ctx, ds)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
			g.Expect(ds.Status.ObservedGeneration).To(Equal(ds.Generation))
		}).Should(Succeed())
		settled := ds.ResourceVersion

		r := &controllers.DataSourceReconciler{Client: k8sClient}
		_, err := r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(ds)})
		Expect(err).NotTo(HaveOccurred())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(ds), ds)).To(Succeed())
		Expect(ds.ResourceVersion).To(Equal(settled), "a pass over an unchanged object must not write")
	})
})
