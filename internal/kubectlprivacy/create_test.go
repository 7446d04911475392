package kubectlprivacy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/kubectlprivacy"
)

// subjects is the namespace of the tests' subject Secrets (the operator's
// own, privacy-operator-system, is another test's to create).
const subjects = "subjects"

// adaStdin is ada's identities as --identity-stdin reads them; newEmail is
// a correction's new value. No output of create may hold any of them.
const (
	adaStdin = "email=ada.lovelace@example.com\n\ncustomerId=cust-1815\n"
	newEmail = "ada.king@example.com"
)

// generatedName is what create names a request: prefix, date, five
// characters without vowels.
var generatedName = regexp.MustCompile(`privacyrequest/([a-z0-9-]+-\d{8}-[bcdfghjklmnpqrstvwxz2456789]{5})\b`)

// createAs runs kubectl privacy create in this process as the user of
// kubeconfig, with stdin, and checks that nothing personal is printed.
func createAs(t *testing.T, kubeconfig, stdin string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := kubectlprivacy.Run(append(append([]string{"create"}, args...), "--kubeconfig", kubeconfig),
		genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &stdout, ErrOut: &stderr})
	r := result{code: code, stdout: stdout.String(), stderr: stderr.String()}
	for _, v := range append([]string{newEmail}, identities["email"], identities["customerId"]) {
		if strings.Contains(r.stdout+r.stderr, v) {
			t.Errorf("kubectl privacy create %v printed personal data:\n%s%s", args, r.stdout, r.stderr)
		}
	}
	return r
}

// desk is a privacy desk member: the shipped privacy-requester role, and
// the Secrets of the subjects namespace (create, patch, delete) unless
// requests is false, in which case they may create Secrets but no
// PrivacyRequest. It returns their kubeconfig.
func desk(t *testing.T, name string, requests bool) string {
	t.Helper()
	ctx := context.Background()
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: subjects}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	role := &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "subject-secrets", Namespace: subjects},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets"}, Verbs: []string{"create", "patch", "delete"}}},
	}
	if err := admin.Create(ctx, role); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "subject-secrets-" + name, Namespace: subjects},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}},
	}); err != nil {
		t.Fatal(err)
	}
	if !requests {
		return userKubeconfig(t, name)
	}
	return reviewer(t, name)
}

// objects counts the PrivacyRequests and the subject Secrets.
func objects(t *testing.T) (requests, secrets int) {
	t.Helper()
	var prs privacyv1alpha1.PrivacyRequestList
	var ss corev1.SecretList
	if err := admin.List(context.Background(), &prs); err != nil {
		t.Fatal(err)
	}
	if err := admin.List(context.Background(), &ss, client.InNamespace(subjects), client.MatchingLabels{privacyv1alpha1.LabelSubjectSecret: "true"}); err != nil {
		t.Fatal(err)
	}
	return len(prs.Items), len(ss.Items)
}

// created reads the request a run of create named, and its Secret.
func created(t *testing.T, r result) (*privacyv1alpha1.PrivacyRequest, *corev1.Secret) {
	t.Helper()
	m := generatedName.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("%+v, want exit 0 and a generated name", r)
	}
	pr, secret := &privacyv1alpha1.PrivacyRequest{}, &corev1.Secret{}
	if err := admin.Get(context.Background(), client.ObjectKey{Name: m[1]}, pr); err != nil {
		t.Fatal(err)
	}
	if err := admin.Get(context.Background(), client.ObjectKey{Namespace: subjects, Name: m[1]}, secret); err != nil {
		t.Fatal(err)
	}
	return pr, secret
}

func TestCreateAccess(t *testing.T) {
	kubeconfig := desk(t, "desk-dora", true)
	received := time.Now().UTC().AddDate(0, 0, -3).Truncate(24 * time.Hour)
	r := createAs(t, kubeconfig, adaStdin, "--type", "access", "--regulation", "ccpa", "--identity-stdin",
		"--subject-namespace", subjects, "--received-at", received.Format(time.DateOnly))
	pr, secret := created(t, r)
	if !strings.HasPrefix(r.stdout, "privacyrequest/"+pr.Name+" created: Access under CCPA, due ") ||
		!strings.Contains(r.stdout, "subject:    Secret subjects/"+pr.Name+" (customerId, email), deleted with the request") ||
		!strings.Contains(r.stdout, "kubectl privacy status "+pr.Name) || !strings.HasPrefix(pr.Name, "access-") {
		t.Errorf("summary:\n%s", r.stdout)
	}
	s := pr.Spec
	if s.Type != privacyv1alpha1.RequestTypeAccess || s.Regulation != privacyv1alpha1.RegulationCCPA || s.Requester != "desk-dora" || s.Suspend ||
		s.Subject.Identities != nil || s.Subject.SecretRef == nil || *s.Subject.SecretRef != (privacyv1alpha1.NamespacedSecretReference{Namespace: subjects, Name: pr.Name}) ||
		s.ReceivedAt == nil || !s.ReceivedAt.Equal(&metav1.Time{Time: received}) {
		t.Errorf("spec: %+v", s)
	}
	if b, _ := json.Marshal(pr); bytes.Contains(b, []byte(identities["email"])) || bytes.Contains(b, []byte(identities["customerId"])) {
		t.Errorf("the request holds an identity: %s", b)
	}
	if secret.Labels[privacyv1alpha1.LabelSubjectSecret] != "true" || secret.Immutable == nil || !*secret.Immutable ||
		len(secret.Data) != 2 || string(secret.Data["email"]) != identities["email"] || string(secret.Data["customerId"]) != identities["customerId"] {
		t.Errorf("subject Secret: labels %v, immutable %v, %d keys", secret.Labels, secret.Immutable, len(secret.Data))
	}
	if o := secret.OwnerReferences; len(o) != 1 || o[0].Kind != "PrivacyRequest" || o[0].Name != pr.Name || o[0].UID != pr.UID {
		t.Errorf("the Secret is not owned by its request (deleted with it): %+v", o)
	}

	// Suspended, named after a ticket, with -o name: nothing but the name.
	r = createAs(t, kubeconfig, adaStdin, "--type", "OptOut", "--scope", "profiling", "--suspend", "--name-prefix", "ticket-4711",
		"--identity-stdin", "--subject-namespace", subjects, "-o", "name")
	if m := generatedName.FindStringSubmatch(r.stdout); m == nil || r.stdout != m[0]+"\n" || !strings.HasPrefix(m[1], "ticket-4711-") {
		t.Fatalf("-o name: %+v", r)
	}
	pr, _ = created(t, r)
	if !pr.Spec.Suspend || pr.Spec.Requester != "desk-dora" || pr.Spec.OptOut == nil || len(pr.Spec.OptOut.Scopes) != 1 {
		t.Errorf("spec: %+v", pr.Spec)
	}
	r = createAs(t, kubeconfig, adaStdin, "--type", "Delete", "--child", "--suspend", "--ttl-seconds-after-finished", "0", "--identity-stdin", "--subject-namespace", subjects)
	if pr, _ = created(t, r); !strings.Contains(r.stdout, "next:       suspended, nothing is sent until a reviewer approves it") ||
		!strings.Contains(r.stdout, "kubectl privacy approve "+pr.Name+" --reason") || !pr.Spec.Child || pr.Spec.TTLSecondsAfterFinished == nil {
		t.Errorf("a suspended request's summary says who acts next: %s (spec %+v)", r.stdout, pr.Spec)
	}

	requests, secrets := objects(t)
	r = createAs(t, kubeconfig, adaStdin, "--type", "Access", "--identity-stdin", "--subject-namespace", subjects, "--dry-run")
	if r.code != 0 || !strings.Contains(r.stdout, "(dry run): nothing was created") {
		t.Errorf("--dry-run: %+v", r)
	}
	if rq, sc := objects(t); rq != requests || sc != secrets {
		t.Errorf("--dry-run created objects: requests %d -> %d, Secrets %d -> %d", requests, rq, secrets, sc)
	}
}

func TestCreateRefusesIdentitiesOnTheCommandLine(t *testing.T) {
	requests, secrets := objects(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--identity", "email=" + identities["email"]}, "--identity is refused"},
		{[]string{"--identity=email=" + identities["email"]}, "--identity is refused"},
		{[]string{identities["email"]}, "create takes no arguments, got 1"},
		{[]string{"--email", identities["email"]}, "unknown flag --email"},
		{[]string{"-" + identities["email"]}, "the command line is not valid"},
	} {
		r := createAs(t, env.KubeconfigPath, adaStdin, append([]string{"--type", "Access", "--identity-stdin", "--subject-namespace", subjects}, c.args...)...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%d arguments: %+v, want exit 2 and %q", len(c.args), r, c.want)
		}
	}
	// Without --identity-stdin, identities are asked for on a terminal only.
	if r := createAs(t, env.KubeconfigPath, adaStdin, "--type", "Access", "--subject-namespace", subjects); r.code != 2 ||
		!strings.Contains(r.stderr, "standard input is not a terminal to ask on") {
		t.Errorf("no terminal: %+v", r)
	}
	if rq, sc := objects(t); rq != requests || sc != secrets {
		t.Errorf("refused command lines created objects: requests %d -> %d, Secrets %d -> %d", requests, rq, secrets, sc)
	}
}

func TestCreateRefusesBadInputBeforeCreating(t *testing.T) {
	requests, secrets := objects(t)
	future := time.Now().Add(48 * time.Hour).UTC().Format(time.DateOnly)
	for _, c := range []struct {
		stdin string
		args  []string
		want  string
	}{
		{adaStdin, []string{"--type", "Erase"}, "--type: want Access, Delete, Correct or OptOut"},
		{adaStdin, []string{"--regulation", "LGPD"}, "--type is required"},
		{adaStdin, []string{"--type", "Access", "--regulation", "LGPD"}, "--regulation: want GDPR, CCPA or Other"},
		{adaStdin, []string{"--type", "Correct"}, "--correct is required with --type Correct"},
		{adaStdin, []string{"--type", "Access", "--correct", "email"}, "corrections are only allowed when type is Correct"},
		{adaStdin, []string{"--type", "Access", "--scope", "sale"}, "optOut is only allowed when type is OptOut"},
		{adaStdin, []string{"--type", "OptOut", "--scope", "Sale!"}, "--scope number 1: want a scope such as email-marketing"},
		{adaStdin, []string{"--type", "Access", "--child"}, "only --type Delete may set it"},
		{adaStdin, []string{"--type", "Access", "--received-at", future}, "--received-at is in the future"},
		{adaStdin, []string{"--type", "Access", "--received-at", "2001-01-01"}, "more than 366 days ago"},
		{adaStdin, []string{"--type", "Access", "-o", "wide"}, "-o: want name, json or yaml"},
		{adaStdin, []string{"--type", "Access", "-n", "default"}, "-n does not apply"},
		{identities["email"] + "\n", []string{"--type", "Access"}, "standard input, line 1: want type=value"},
		{"email=a@example.com\nemail=b@example.com\n", []string{"--type", "Access"}, "identity email is given twice"},
		{"e-mail=" + identities["email"] + "\n", []string{"--type", "Access"}, "identity number 1: its type is not a camelCase name"},
		{"\n", []string{"--type", "Access"}, "no identity was given"},
	} {
		r := createAs(t, env.KubeconfigPath, c.stdin, append(c.args, "--identity-stdin", "--subject-namespace", subjects)...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%v: %+v, want exit 2 and %q", c.args, r, c.want)
		}
	}
	if rq, sc := objects(t); rq != requests || sc != secrets {
		t.Errorf("refused input created objects: requests %d -> %d, Secrets %d -> %d", requests, rq, secrets, sc)
	}
}

func TestCreateRemovesTheSecretWhenTheRequestFails(t *testing.T) {
	// Dan may write Secrets in subjects, but not create PrivacyRequests:
	// the Secret is created, the request refused.
	kubeconfig := desk(t, "desk-dan", false)
	requests, secrets := objects(t)
	r := createAs(t, kubeconfig, adaStdin, "--type", "Delete", "--identity-stdin", "--subject-namespace", subjects)
	if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, `cannot create resource "privacyrequests"`) ||
		!strings.Contains(r.stderr, "was deleted again: nothing was left behind") {
		t.Errorf("%+v, want exit 2 with the API's refusal and the Secret deleted", r)
	}
	if rq, sc := objects(t); rq != requests || sc != secrets {
		t.Errorf("a refused request left objects: requests %d -> %d, subject Secrets %d -> %d", requests, rq, secrets, sc)
	}
}

func TestCreateCorrect(t *testing.T) {
	kubeconfig := desk(t, "desk-cora", true)
	stdin := adaStdin + "correct.email=" + newEmail + "\n"
	r := createAs(t, kubeconfig, stdin, "--type", "Correct", "--correct", "email", "--identity-stdin", "--subject-namespace", subjects)
	pr, secret := created(t, r)
	if c := pr.Spec.Corrections; len(c) != 1 || c[0] != (privacyv1alpha1.Correction{Field: "email", Value: newEmail}) {
		t.Errorf("corrections: %+v", c)
	}
	if !strings.Contains(r.stdout, "corrects:   email\n") {
		t.Errorf("the summary names the corrected field: %s", r.stdout)
	}
	if len(secret.Data) != 2 || string(secret.Data["email"]) != identities["email"] {
		t.Errorf("the Secret holds the identities only: %d keys", len(secret.Data))
	}

	// -o yaml prints the request with its new values redacted.
	r = createAs(t, kubeconfig, stdin, "--type", "Correct", "--correct", "email", "--identity-stdin", "--subject-namespace", subjects, "-o", "yaml")
	if r.code != 0 || !strings.Contains(r.stdout, "kind: PrivacyRequest") || !strings.Contains(r.stdout, "field: email") || !strings.Contains(r.stdout, "<redacted>") {
		t.Errorf("-o yaml: %+v", r)
	}

	// Asked on the terminal: an empty answer skips an identity type.
	r = createAs(t, kubeconfig, identities["email"]+"\n\n"+newEmail+"\n", "--type", "Correct", "--correct", "email",
		"--identity-types", "email,customerId", "--prompt", "--subject-namespace", subjects)
	pr, secret = created(t, r)
	if r.stderr != "email: customerId: new email: " || len(secret.Data) != 1 || pr.Spec.Corrections[0].Value != newEmail {
		t.Errorf("prompted: %+v, Secret keys %d, corrections %+v", r, len(secret.Data), pr.Spec.Corrections)
	}

	requests, secrets := objects(t)
	for _, c := range []struct{ stdin, want string }{
		{adaStdin, "no new value of email was given: a line correct.email=VALUE"},
		{stdin + "correct.phone=+44 20 7946 0000\n", "is the new value of a field no --correct names"},
	} {
		r := createAs(t, kubeconfig, c.stdin, "--type", "Correct", "--correct", "email", "--identity-stdin", "--subject-namespace", subjects)
		if r.code != 2 || !strings.Contains(r.stderr, c.want) || strings.Contains(r.stderr, "7946") {
			t.Errorf("%+v, want exit 2 and %q", r, c.want)
		}
	}
	if rq, sc := objects(t); rq != requests || sc != secrets {
		t.Errorf("refused corrections created objects: requests %d -> %d, Secrets %d -> %d", requests, rq, secrets, sc)
	}
}
