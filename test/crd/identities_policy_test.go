package crd_test

import (
	"time"

	"path/filepath"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// The ValidatingAdmissionPolicy of config/admission, enforced by the real
// API server: an editor of a namespace may register a DataSource's endpoint
// but not declare which identities it receives, unless the platform team
// bound datasource-identity-declarer to them there.
var _ = Describe("Declaring identity types", func() {
	It("needs the declare-identities right; updates that keep spec.identities do not", func() {
		repo := testenv.RepoRoot()
		applyAdmission()
		out, err := env.Kubectl("apply", "--server-side", "-f", filepath.Join(repo, "config", "rbac", "datasource_editor_role.yaml"))
		Expect(err).NotTo(HaveOccurred(), out)

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "team-"}}
		Expect(k8sClient.Create(ctx, ns)).To(Succeed())
		bind := func(name, role string) *rbacv1.RoleBinding {
			rb := &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns.Name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "team-dev"}},
			}
			Expect(k8sClient.Create(ctx, rb)).To(Succeed())
			return rb
		}
		bind("editors", "datasource-editor")
		user, err := env.AddUser(envtest.User{Name: "team-dev"}, nil)
		Expect(err).NotTo(HaveOccurred())
		dev, err := client.New(user.Config(), client.Options{Scheme: k8sClient.Scheme()})
		Expect(err).NotTo(HaveOccurred())

		newDS := func() *privacyv1alpha1.DataSource {
			return &privacyv1alpha1.DataSource{
				ObjectMeta: metav1.ObjectMeta{Name: "billing", Namespace: ns.Name},
				Spec: privacyv1alpha1.DataSourceSpec{
					Endpoint:         privacyv1alpha1.Endpoint{URL: "https://billing.example.com/privacy"},
					SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: "billing-signing"},
					RequestTypes:     []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeDelete},
					Identities:       []privacyv1alpha1.IdentityType{"email"},
				},
			}
		}
		By("refusing an editor without the right, with a message that says how to get it")
		Eventually(func(g Gomega) {
			// A server dry run, so that an attempt made before the policy
			// is in force leaves nothing behind.
			err := dev.Create(ctx, newDS(), client.DryRunAll)
			g.Expect(err).To(HaveOccurred(), "the policy is in force")
			g.Expect(err.Error()).To(ContainSubstring("needs the declare-identities right on datasources in namespace " + ns.Name))
			g.Expect(err.Error()).To(ContainSubstring("datasource-identity-declarer"))
		}).WithTimeout(30 * time.Second).Should(Succeed())

		By("admitting it once the platform team bound datasource-identity-declarer")
		declarer := bind("identities", "datasource-identity-declarer")
		ds := newDS()
		Eventually(func() error { return dev.Create(ctx, ds) }).WithTimeout(30 * time.Second).Should(Succeed())

		By("letting the editor change the endpoint alone, but not the identities, once the right is gone")
		Expect(k8sClient.Delete(ctx, declarer)).To(Succeed())
		Eventually(func(g Gomega) {
			cur := &privacyv1alpha1.DataSource{}
			g.Expect(dev.Get(ctx, client.ObjectKeyFromObject(ds), cur)).To(Succeed())
			cur.Spec.Identities = append(cur.Spec.Identities, "userId")
			err := dev.Update(ctx, cur)
			g.Expect(err).To(HaveOccurred())
			g.Expect(err.Error()).To(ContainSubstring("declare-identities"))
		}).WithTimeout(30 * time.Second).Should(Succeed())
		Eventually(func() error {
			cur := &privacyv1alpha1.DataSource{}
			if err := dev.Get(ctx, client.ObjectKeyFromObject(ds), cur); err != nil {
				return err
			}
			cur.Spec.Endpoint.URL = "https://billing-v2.example.com/privacy"
			return dev.Update(ctx, cur)
		}).WithTimeout(30 * time.Second).Should(Succeed())
	})
})
