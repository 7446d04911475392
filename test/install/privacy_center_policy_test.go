package install_test

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/hack/packaging"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// subjects is the privacy center's subject namespace in
// ci/privacy-center-values.yaml.
const subjects = "privacy-center-subjects"

// TestPrivacyCenterPolicy installs the privacy center's RBAC and admission
// policies as the chart renders them (ci/privacy-center-values.yaml: subject
// Secrets in a namespace of their own, every request reviewed) on the real
// API server, and acts as the center's ServiceAccount with a real token:
// cmd/privacy-center runs with it (runCenter), the center's own filing code
// (intake.File) works, and each thing the center must not do is refused.
// Then the chart's other admission policies join, and the center's filing
// still works, stamped with its identity.
func TestPrivacyCenterPolicy(t *testing.T) {
	cluster(t)
	ctx := context.Background()
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), privacyv1alpha1.AddToScheme(scheme)); err != nil {
		t.Fatal(err)
	}
	admin, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	objs := renderChart(t, nil, "ci/privacy-center-values.yaml")
	if err := applyCRDs(ctx, objs); err != nil {
		t.Fatal(err)
	}
	ensureNamespace(t, packaging.DefaultRelease.Namespace, nil)
	ensureNamespace(t, subjects, nil)
	rbacAndPolicies := []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
	applyForReal(t, centerObjects(objs), rbacAndPolicies...)
	centerConfig := serviceAccountConfig(t, admin, packaging.DefaultRelease.Namespace, centerName)
	center, err := client.New(centerConfig, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	// Filed as the center files under requireApproval: suspended.
	file := func(s intake.Submission) (*privacyv1alpha1.PrivacyRequest, error) {
		return intake.File(ctx, center, intake.Options{SubjectNamespace: subjects, Suspend: true, Annotations: map[string]string{intake.AnnotationNotify: "sealed"}}, s)
	}
	// Both policies in force: an admin's request with the center's channel,
	// and the center's Secret without its marks, are refused.
	eventually(t, func() error {
		if err := admin.Create(ctx, request(newNonce(), nil), client.DryRunAll); !policyRefused(err, "only the privacy center") {
			return errors.New("the privacy-center policy is not in force yet")
		}
		if err := center.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: subjects}}, client.DryRunAll); !policyRefused(err, "only its own subject Secrets") {
			return errors.New("the privacy-center-secrets policy or the RBAC is not in force yet")
		}
		return nil
	})

	t.Run("the center runs as its ServiceAccount: /healthz answers, it wins the notices' Lease, its watch of requests syncs", func(t *testing.T) {
		runCenter(t, admin, centerConfig, objs)
	})

	t.Run("two replicas: either serves any link, one sends each notice, the other takes over", func(t *testing.T) {
		twoReplicas(t, admin, centerConfig, objs)
	})

	t.Run("the center files a request as intake.File does: its subject Secret, owned by the request; a second click finds it", func(t *testing.T) {
		s := submission()
		pr, err := file(s)
		if err != nil {
			t.Fatal(err)
		}
		secret := &corev1.Secret{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: subjects, Name: pr.Name}, secret); err != nil {
			t.Fatal(err)
		}
		if pr.Annotations[privacyv1alpha1.AnnotationChannel] != intake.Channel || pr.Spec.Subject.SecretRef == nil || len(pr.Spec.Subject.Identities) != 0 ||
			len(secret.OwnerReferences) != 1 || secret.OwnerReferences[0].UID != pr.UID {
			t.Errorf("request %s annotations %v subject %+v; Secret owners %+v", pr.Name, pr.Annotations, pr.Spec.Subject, secret.OwnerReferences)
		}
		again, err := file(s)
		if err != nil || again.UID != pr.UID {
			t.Errorf("a second filing: %v, uid %s, want the first request %s", err, again.GetUID(), pr.UID)
		}
		// The notices' record, the one change the center makes.
		patch := client.MergeFrom(pr.DeepCopy())
		pr.Annotations[intake.AnnotationNoticesSent] = "received"
		if err := center.Patch(ctx, pr, patch); err != nil {
			t.Errorf("record a notice: %v", err)
		}
	})

	t.Run("a request the API refuses leaves no Secret behind", func(t *testing.T) {
		s := submission()
		s.Type = "Erase"
		if _, err := file(s); err == nil || !strings.Contains(err.Error(), "create the request") {
			t.Fatalf("a request of type Erase: %v, want it refused after its Secret was made", err)
		}
		err := admin.Get(ctx, client.ObjectKey{Namespace: subjects, Name: s.Name()}, &corev1.Secret{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("the subject Secret of a refused request: %v, want it deleted", err)
		}
	})

	t.Run("the center's requests: the channel, a subject Secret of their own, no approval, suspended under requireApproval", func(t *testing.T) {
		for _, c := range []struct {
			name string
			edit func(*privacyv1alpha1.PrivacyRequest)
			want string
		}{
			{"without the channel annotation", func(pr *privacyv1alpha1.PrivacyRequest) { delete(pr.Annotations, privacyv1alpha1.AnnotationChannel) },
				"the privacy center's requests carry the annotation"},
			{"with inline identities", func(pr *privacyv1alpha1.PrivacyRequest) {
				pr.Spec.Subject = privacyv1alpha1.Subject{Identities: map[string]string{"email": "ada@example.com"}}
			}, "never inline in spec.subject.identities"},
			{"naming another Secret", func(pr *privacyv1alpha1.PrivacyRequest) { pr.Spec.Subject.SecretRef.Name = "desk-ticket-7" },
				"the Secret of the request's own name in namespace " + subjects},
			{"naming a Secret in another namespace", func(pr *privacyv1alpha1.PrivacyRequest) {
				pr.Spec.Subject.SecretRef.Namespace = "privacy-operator-system"
			},
				"the Secret of the request's own name in namespace " + subjects},
			{"approved", func(pr *privacyv1alpha1.PrivacyRequest) {
				pr.Spec.Approval = &privacyv1alpha1.Approval{Approver: "system:serviceaccount:" + packaging.DefaultRelease.Namespace + ":" + centerName, Reason: "verified", ApprovedAt: metav1.Now()}
			}, "the privacy center cannot approve a request"},
			{"not suspended under requireApproval", func(pr *privacyv1alpha1.PrivacyRequest) { pr.Spec.Suspend = false },
				"with requireApproval the privacy center files every request suspended"},
		} {
			if err := center.Create(ctx, request(newNonce(), c.edit)); !policyRefused(err, c.want) {
				t.Errorf("%s: %v, want refused with %q", c.name, err, c.want)
			}
		}
	})

	t.Run("nobody else uses the channel: not on create, not added or removed later, not even by an admin", func(t *testing.T) {
		if err := admin.Create(ctx, request(newNonce(), nil)); !policyRefused(err, "only the privacy center (system:serviceaccount:privacy-operator-system:"+centerName+")") {
			t.Errorf("an admin's request with the channel: %v", err)
		}
		desk := request(newNonce(), func(pr *privacyv1alpha1.PrivacyRequest) { pr.Annotations = map[string]string{"team": "desk"} })
		if err := admin.Create(ctx, desk); err != nil {
			t.Fatal(err)
		}
		desk.Annotations[privacyv1alpha1.AnnotationChannel] = intake.Channel
		if err := admin.Update(ctx, desk); !policyRefused(err, "is never added or removed afterwards") {
			t.Errorf("adding the channel to a desk's request: %v", err)
		}
		filed, err := file(submission())
		if err != nil {
			t.Fatal(err)
		}
		delete(filed.Annotations, privacyv1alpha1.AnnotationChannel)
		if err := admin.Update(ctx, filed); !policyRefused(err, "is never added or removed afterwards") {
			t.Errorf("removing the channel from the center's request: %v", err)
		}
	})

	t.Run("the center changes no request but its record of notices on its own, and cannot update, delete or write status", func(t *testing.T) {
		filed, err := file(submission())
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name string
			edit func(*privacyv1alpha1.PrivacyRequest)
			want string
		}{
			{"clear suspend", func(pr *privacyv1alpha1.PrivacyRequest) { pr.Spec.Suspend = false }, "never their spec"},
			{"another annotation", func(pr *privacyv1alpha1.PrivacyRequest) { pr.Annotations[intake.AnnotationNotify] = "elsewhere" }, "changes only its records of the notices"},
			{"a label", func(pr *privacyv1alpha1.PrivacyRequest) { pr.Labels = map[string]string{"x": "y"} }, "changes only its records of the notices"},
		} {
			cur := filed.DeepCopy()
			patch := client.MergeFrom(filed.DeepCopy())
			c.edit(cur)
			if err := center.Patch(ctx, cur, patch); !policyRefused(err, c.want) {
				t.Errorf("%s: %v, want refused with %q", c.name, err, c.want)
			}
		}
		desk := request(newNonce(), func(pr *privacyv1alpha1.PrivacyRequest) { pr.Annotations = map[string]string{"team": "desk"} })
		if err := admin.Create(ctx, desk); err != nil {
			t.Fatal(err)
		}
		patch := client.MergeFrom(desk.DeepCopy())
		desk.Annotations[intake.AnnotationNoticesSent] = "received"
		if err := center.Patch(ctx, desk, patch); !policyRefused(err, "changes only requests it filed") {
			t.Errorf("a notice record on a desk's request: %v", err)
		}
		if err := center.Update(ctx, filed); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "cannot update") {
			t.Errorf("update: %v, want Forbidden by RBAC", err)
		}
		if err := center.Delete(ctx, filed); !policyRefused(err, "deletes only the requests it filed for an authorized agent") {
			t.Errorf("delete of a request filed at the form: %v, want refused by privacy-center-revoke", err)
		}
		revocable, err := intake.File(ctx, center, intake.Options{SubjectNamespace: subjects, Suspend: true,
			Annotations: map[string]string{"privacyoperator.io/authorized-agent": "AGENT_A"}}, submission())
		if err != nil {
			t.Fatal(err)
		}
		stolen := filed.DeepCopy()
		if err := admin.Get(ctx, client.ObjectKeyFromObject(stolen), stolen); err != nil {
			t.Fatal(err)
		}
		patch = client.MergeFrom(stolen.DeepCopy())
		stolen.Annotations["privacyoperator.io/authorized-agent"] = "AGENT_A"
		if err := admin.Patch(ctx, stolen, patch); !policyRefused(err, "only the privacy center gives it") {
			t.Errorf("an admin naming an agent on a form's request: %v", err)
		}
		for _, mark := range []string{"privacyoperator.io/agent-request-id", "privacyoperator.io/unsubscribe"} {
			changed := revocable.DeepCopy()
			if err := admin.Get(ctx, client.ObjectKeyFromObject(changed), changed); err != nil {
				t.Fatal(err)
			}
			patch = client.MergeFrom(changed.DeepCopy())
			changed.Annotations[mark] = "forged"
			if err := admin.Patch(ctx, changed, patch); !policyRefused(err, "only it gives them") {
				t.Errorf("an admin setting %s on the center's request: %v", mark, err)
			}
			own := &privacyv1alpha1.PrivacyRequest{ObjectMeta: metav1.ObjectMeta{GenerateName: "desk-", Annotations: map[string]string{mark: "one-click"}},
				Spec: privacyv1alpha1.PrivacyRequestSpec{Type: privacyv1alpha1.RequestTypeOptOut, Suspend: true,
					OptOut:  &privacyv1alpha1.OptOutSpec{Scopes: []string{"email-marketing"}},
					Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": "desk@example.com"}}}}
			if err := admin.Create(ctx, own); !policyRefused(err, "only it gives them") {
				t.Errorf("a desk's request created with %s: %v", mark, err)
			}
		}
		if err := center.Delete(ctx, revocable); err != nil {
			t.Errorf("delete of a request filed for an agent (its revocation): %v", err)
		}
		if err := center.Status().Update(ctx, filed); !apierrors.IsForbidden(err) {
			t.Errorf("a status update: %v, want Forbidden", err)
		}
	})

	t.Run("only the center records the deliveries of an export, on its own requests, only by adding", func(t *testing.T) {
		deliveriesRecord(t, admin, center, file)
	})

	t.Run("the center reads no Secret, and writes only its own subject Secrets, in its subject namespace only", func(t *testing.T) {
		other := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "pc-receipt-signing-key", Namespace: subjects, Labels: subjectMarks().Labels, Annotations: map[string]string{"team": "ops"}},
			StringData: map[string]string{"key": "secret"}}
		if err := admin.Create(ctx, other); err != nil {
			t.Fatal(err)
		}
		for ns, want := range map[string]string{subjects: "cannot get", "privacy-operator-system": "cannot get"} {
			if err := center.Get(ctx, client.ObjectKey{Namespace: ns, Name: other.Name}, &corev1.Secret{}); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), want) {
				t.Errorf("get a Secret in %s: %v", ns, err)
			}
			if err := center.List(ctx, &corev1.SecretList{}, client.InNamespace(ns)); !apierrors.IsForbidden(err) {
				t.Errorf("list the Secrets of %s: %v", ns, err)
			}
		}
		if err := center.List(ctx, &privacyv1alpha1.PrivacyRequestList{}); err != nil {
			t.Errorf("list PrivacyRequests (the notices watch them): %v", err)
		}
		marked := subjectMarks()
		marked.Name, marked.Namespace = "pc-"+newNonce(), "privacy-operator-system"
		if err := center.Create(ctx, marked); !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "cannot create") {
			t.Errorf("a subject Secret in another namespace: %v, want Forbidden by RBAC", err)
		}
		for _, c := range []struct {
			name string
			edit func(*corev1.Secret)
			want string
		}{
			{"unnamed by the center", func(s *corev1.Secret) { s.Name = "receipt-signing-key" }, "only its own subject Secrets"},
			{"unlabelled", func(s *corev1.Secret) { s.Labels = nil }, "only its own subject Secrets"},
			{"a ServiceAccount token", func(s *corev1.Secret) {
				s.Type = corev1.SecretTypeServiceAccountToken
				s.Annotations[corev1.ServiceAccountNameKey] = "privacy-operator-controller-manager"
			}, "of type Opaque"},
		} {
			s := subjectMarks()
			s.Name, s.Namespace = "pc-"+newNonce(), subjects
			c.edit(s)
			if err := center.Create(ctx, s); !policyRefused(err, c.want) {
				t.Errorf("create a Secret %s: %v, want refused with %q", c.name, err, c.want)
			}
		}
		// Another's Secret in the namespace: neither patched (the response
		// would hold its data) nor deleted.
		patch := client.MergeFrom(other.DeepCopy())
		probe := other.DeepCopy()
		probe.OwnerReferences = []metav1.OwnerReference{{APIVersion: "privacyoperator.io/v1alpha1", Kind: "PrivacyRequest", Name: "x", UID: "0b6e1d6c-0000-4000-8000-000000000001"}}
		if err := center.Patch(ctx, probe, patch); !policyRefused(err, "only its own subject Secrets") {
			t.Errorf("patch another's Secret: %v", err)
		}
		if err := center.Delete(ctx, other); !policyRefused(err, "only its own subject Secrets") {
			t.Errorf("delete another's Secret: %v", err)
		}
		// Its own: only the owner may change.
		own := subjectMarks()
		own.Name, own.Namespace = "pc-"+newNonce(), subjects
		if err := center.Create(ctx, own); err != nil {
			t.Fatal(err)
		}
		relabel := own.DeepCopy()
		relabel.Labels["extra"] = "x"
		if err := center.Patch(ctx, relabel, client.MergeFrom(own.DeepCopy())); !policyRefused(err, "only its own subject Secrets") {
			t.Errorf("relabel its own Secret: %v", err)
		}
		owned := own.DeepCopy()
		owned.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "0b6e1d6c-0000-4000-8000-000000000002"}}
		if err := center.Patch(ctx, owned, client.MergeFrom(own.DeepCopy())); !policyRefused(err, "changes only the owner of its subject Secret") {
			t.Errorf("another kind of owner: %v", err)
		}
		if err := center.Delete(ctx, own); err != nil {
			t.Errorf("delete its own Secret: %v", err)
		}
	})

	t.Run("the center holds its notices' Lease in the release namespace, no other", func(t *testing.T) {
		ns := packaging.DefaultRelease.Namespace
		lease := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "privacy-center-notices", Namespace: ns}}
		if err := admin.Delete(ctx, lease); client.IgnoreNotFound(err) != nil { // the running center's
			t.Fatal(err)
		}
		if err := center.Create(ctx, lease); err != nil {
			t.Fatal(err)
		}
		lease.Spec.HolderIdentity = ptr.To("replica-1")
		if err := center.Update(ctx, lease); err != nil {
			t.Errorf("renew its Lease: %v", err)
		}
		for _, key := range []client.ObjectKey{{Namespace: ns, Name: "privacy-operator-leader"}, {Namespace: subjects, Name: lease.Name}} {
			if err := center.Get(ctx, key, &coordinationv1.Lease{}); !apierrors.IsForbidden(err) {
				t.Errorf("get Lease %s: %v, want Forbidden", key, err)
			}
		}
	})

	t.Run("with the chart's other admission policies the center's filing works, stamped with its identity", func(t *testing.T) {
		others := slices.DeleteFunc(slices.Clone(objs), func(o *unstructured.Unstructured) bool {
			return slices.Contains(centerObjects(objs), o) || (o.GetKind() == "ConfigMap" && !strings.HasSuffix(o.GetName(), "-approval-policy"))
		})
		applyForReal(t, others, "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding", "ConfigMap")
		user := "system:serviceaccount:" + packaging.DefaultRelease.Namespace + ":" + centerName
		eventually(t, func() error {
			pr := request(newNonce(), nil)
			if err := center.Create(ctx, pr, client.DryRunAll); err != nil {
				return err
			}
			if pr.Spec.Requester != user {
				return errors.New("the requester stamp is not in force yet")
			}
			return nil
		})
		pr, err := file(submission())
		if err != nil {
			t.Fatal(err)
		}
		if pr.Spec.Requester != user || !pr.Spec.Suspend {
			t.Errorf("requester %q, suspended %v; want %s, suspended", pr.Spec.Requester, pr.Spec.Suspend, user)
		}
	})
}

// policyRefused reports whether err is an admission policy's refusal
// saying want.
func policyRefused(err error, want string) bool {
	return apierrors.IsForbidden(err) && strings.Contains(err.Error(), "ValidatingAdmissionPolicy") && strings.Contains(err.Error(), want)
}

func newNonce() string { return strings.ToLower(rand.Text()) }

// submission is a verified person's Access request.
func submission() intake.Submission {
	return intake.Submission{Nonce: newNonce(), Type: privacyv1alpha1.RequestTypeAccess, Regulation: privacyv1alpha1.RegulationGDPR,
		Identities: map[string]string{"email": "ada@example.com"}, Lang: "en", ReceivedAt: time.Now()}
}

// request is a request as the center files it (suspended, as
// ci/privacy-center-values.yaml's requireApproval wants), after edit.
func request(nonce string, edit func(*privacyv1alpha1.PrivacyRequest)) *privacyv1alpha1.PrivacyRequest {
	pr := &privacyv1alpha1.PrivacyRequest{
		ObjectMeta: metav1.ObjectMeta{Name: intake.NamePrefix + nonce, Annotations: map[string]string{privacyv1alpha1.AnnotationChannel: intake.Channel}},
		Spec: privacyv1alpha1.PrivacyRequestSpec{
			Type:    privacyv1alpha1.RequestTypeAccess,
			Subject: privacyv1alpha1.Subject{SecretRef: &privacyv1alpha1.NamespacedSecretReference{Namespace: subjects, Name: intake.NamePrefix + nonce}},
			Suspend: true,
		},
	}
	if edit != nil {
		edit(pr)
	}
	return pr
}

// subjectMarks is a Secret with the marks of the center's subject Secrets.
func subjectMarks() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Labels:      map[string]string{privacyv1alpha1.LabelSubjectSecret: "true"},
			Annotations: map[string]string{privacyv1alpha1.AnnotationChannel: intake.Channel},
		},
		StringData: map[string]string{"email": "ada@example.com"},
	}
}
