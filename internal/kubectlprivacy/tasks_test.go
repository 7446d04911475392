package kubectlprivacy_test

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// completedAt is the wall clock of a completion: golden files mask it.
var completedAt = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ`)

// worker is a user with the privacy-task-worker role in namespace ns only
// (config/rbac, bound as the docs say); it returns their kubeconfig.
func worker(t *testing.T, name, ns string) string {
	t.Helper()
	out, err := env.Kubectl("apply", "--server-side", "-f", filepath.Join(testenv.RepoRoot(), "config", "rbac", "privacy_task_worker_role.yaml"))
	if err != nil {
		t.Fatal(err, out)
	}
	if err := admin.Create(context.Background(), &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "tasks-" + name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "privacy-task-worker"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}},
	}); err != nil {
		t.Fatal(err)
	}
	return userKubeconfig(t, name)
}

func userKubeconfig(t *testing.T, name string) string {
	t.Helper()
	user, err := env.AddUser(envtest.User{Name: name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// task creates a PrivacyTask as the operator would, with status.
func task(t *testing.T, ns, name string, typ privacyv1alpha1.RequestType, due, sla time.Duration, late string) *privacyv1alpha1.PrivacyTask {
	t.Helper()
	ctx := context.Background()
	pt := &privacyv1alpha1.PrivacyTask{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: privacyv1alpha1.PrivacyTaskSpec{
			Request:    privacyv1alpha1.TaskRequestReference{Kind: "PrivacyRequest", Name: strings.ToLower(string(typ)) + "-ada", UID: "0b6e1d6c-0000-4000-8000-00000000000" + name[len(name)-1:]},
			DataSource: "paper-archive", JobID: name, Type: typ,
			DueAt: at(due), SLADueAt: at(sla),
			Instructions:  "Search the archive index (room 4) by e-mail.\nShred what a Delete asks for.",
			AssigneeGroup: "records-office",
			Identities:    map[string]string{"email": identities["email"]},
		},
	}
	switch typ {
	case privacyv1alpha1.RequestTypeCorrect:
		pt.Spec.Corrections = []privacyv1alpha1.Correction{{Field: "phone", Value: identities["customerId"]}}
	case privacyv1alpha1.RequestTypeOptOut:
		pt.Spec.OptOutScopes = []string{"marketing", "profiling"}
	case privacyv1alpha1.RequestTypePurge:
		// A retention run's task: no subject, no due date.
		pt.Spec.Request = privacyv1alpha1.TaskRequestReference{Kind: "RetentionPolicy", Name: "orders-7y", UID: pt.Spec.Request.UID}
		pt.Spec.DueAt, pt.Spec.Identities = nil, nil
		pt.Spec.Purge = &privacyv1alpha1.TaskPurge{Categories: []privacyv1alpha1.DataCategory{"billing", "contact"}, Before: metav1.NewTime(now.Add(-7 * 365 * 24 * time.Hour)), Action: "Delete"}
	}
	if err := admin.Create(ctx, pt); err != nil {
		t.Fatal(err)
	}
	reason, status := privacyv1alpha1.ReasonOnTime, metav1.ConditionFalse
	if late != "" {
		reason, status = late, metav1.ConditionTrue
	}
	pt.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.TaskConditionLate, Status: status, Reason: reason, Message: "-", LastTransitionTime: metav1.NewTime(now)}}
	if late == privacyv1alpha1.ReasonRequestFinished {
		// Moot, as the operator marks a task whose request ended without it.
		pt.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.TaskConditionCompleted, Status: metav1.ConditionFalse, Reason: late, Message: "-", LastTransitionTime: metav1.NewTime(now)}}
	}
	if err := admin.Status().Update(ctx, pt); err != nil {
		t.Fatal(err)
	}
	return pt
}

func TestTasks(t *testing.T) {
	ctx := context.Background()
	for _, ns := range []string{"archive", "vendor"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := env.Kubectl("apply", "--server-side", "-f", filepath.Join(testenv.RepoRoot(), "config", "admission", "privacytask_completion_policy.yaml")); err != nil {
		t.Fatal(err, out)
	}
	clerk := worker(t, "clerk-carl", "archive")
	task(t, "archive", "pr-a1", privacyv1alpha1.RequestTypeDelete, 20*24*time.Hour, 2*24*time.Hour, privacyv1alpha1.ReasonPastHalfSLA)
	task(t, "archive", "pr-a2", privacyv1alpha1.RequestTypeCorrect, 10*24*time.Hour, 5*24*time.Hour, "")
	task(t, "archive", "pr-a3", privacyv1alpha1.RequestTypeAccess, -2*24*time.Hour, -5*24*time.Hour, privacyv1alpha1.ReasonPastDueDate)
	task(t, "archive", "pr-a4", privacyv1alpha1.RequestTypeDelete, -time.Hour, -3*24*time.Hour, privacyv1alpha1.ReasonRequestFinished)
	task(t, "vendor", "pr-v1", privacyv1alpha1.RequestTypeOptOut, 30*24*time.Hour, 7*24*time.Hour, "")
	task(t, "vendor", "pr-p1", privacyv1alpha1.RequestTypePurge, 0, 36*time.Hour, privacyv1alpha1.ReasonPastHalfSLA)

	// The policy is in force once a dry-run completion in another's name
	// is refused by it.
	probe := &privacyv1alpha1.PrivacyTask{}
	if err := admin.Get(ctx, client.ObjectKey{Namespace: "archive", Name: "pr-a2"}, probe); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; {
		cur := probe.DeepCopy()
		cur.Spec.Outcome = &privacyv1alpha1.TaskOutcome{Result: privacyv1alpha1.TaskResultNotFound, CompletedBy: "not-the-admin", CompletedAt: metav1.NewTime(now)}
		if err := admin.Update(ctx, cur, client.DryRunAll); err != nil && strings.Contains(err.Error(), "privacytask-completion") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the privacytask-completion policy is not in force after 30s")
		}
		time.Sleep(500 * time.Millisecond)
	}

	t.Run("list, piped: plain, open first by due date, no identities", func(t *testing.T) {
		r := run(t, clerk, "tasks", "-n", "archive")
		if r.code != 0 {
			t.Fatalf("%+v", r)
		}
		if strings.Contains(r.stdout, "\x1b[") {
			t.Error("colour when piped")
		}
		golden(t, "tasks-list.txt", r.stdout)
	})

	t.Run("all namespaces as the admin", func(t *testing.T) {
		r := run(t, "", "tasks", "-A")
		if r.code != 0 {
			t.Fatalf("%+v", r)
		}
		golden(t, "tasks-all.txt", r.stdout)
	})

	t.Run("-o yaml redacts identities and corrections", func(t *testing.T) {
		// run fails the test if an identity or a correction value is printed.
		r := run(t, clerk, "tasks", "pr-a2", "-n", "archive", "-o", "yaml")
		if r.code != 0 || !strings.Contains(r.stdout, "email: <redacted>") || !strings.Contains(r.stdout, "value: <redacted>") ||
			!strings.Contains(r.stdout, "field: phone") || strings.Contains(r.stdout, "managedFields") {
			t.Fatalf("%+v", r)
		}
		r = run(t, clerk, "tasks", "-n", "archive", "-o", "yaml")
		if r.code != 0 || !strings.Contains(r.stdout, "kind: PrivacyTaskList") || strings.Count(r.stdout, "email: <redacted>") != 4 ||
			!strings.Contains(r.stdout, "value: <redacted>") || strings.Contains(r.stdout, "managedFields") {
			t.Fatalf("list -o yaml: %+v", r)
		}
		r = run(t, "", "tasks", "-A", "-o", "json")
		if r.code != 0 || !strings.Contains(r.stdout, `"email": "\u003credacted\u003e"`) && !strings.Contains(r.stdout, `"email": "<redacted>"`) {
			t.Fatalf("list -A -o json: %+v", r)
		}
		if r := run(t, clerk, "tasks", "-n", "archive", "-o", "wide"); r.code != 2 || !strings.Contains(r.stderr, "want json or yaml") {
			t.Errorf("-o wide: %+v", r)
		}
	})

	t.Run("one task shows the job, identities included, to the worker", func(t *testing.T) {
		r := execPlugin(t, clerk, "tasks", "pr-a2", "-n", "archive")
		if r.code != 0 || !strings.Contains(r.stdout, identities["email"]) || !strings.Contains(r.stdout, "Correct phone:") {
			t.Fatalf("%+v", r)
		}
		golden(t, "tasks-show.txt", r.stdout)

		r = run(t, "", "tasks", "pr-p1", "-n", "vendor")
		if r.code != 0 {
			t.Fatalf("%+v", r)
		}
		golden(t, "tasks-show-purge.txt", r.stdout)
		r = execPlugin(t, "", "tasks", "pr-v1", "-n", "vendor")
		if r.code != 0 || !regexp.MustCompile(`(?m)^Opt out of: +marketing, profiling$`).MatchString(r.stdout) {
			t.Fatalf("opt-out scopes: %+v", r)
		}
		r = execPlugin(t, clerk, "tasks", "pr-a4", "-n", "archive")
		if r.code != 0 || !regexp.MustCompile(`(?m)^State: +RequestFinished$`).MatchString(r.stdout) || strings.Contains(r.stdout, "When done") {
			t.Fatalf("a moot task: %+v", r)
		}
		if r := run(t, clerk, "tasks", "pr-zz", "-n", "archive"); r.code != 2 || !strings.Contains(r.stderr, `privacytask "pr-zz" not found in namespace archive`) {
			t.Errorf("a missing task: %+v", r)
		}
	})

	t.Run("a user without the role is refused", func(t *testing.T) {
		other := userKubeconfig(t, "dora")
		r := run(t, other, "tasks", "-n", "archive")
		if r.code != 2 || !strings.Contains(r.stderr, "ask for the privacy-task-worker role") {
			t.Fatalf("%+v", r)
		}
		r = run(t, clerk, "tasks", "-n", "vendor")
		if r.code != 2 || !strings.Contains(r.stderr, "forbidden") {
			t.Fatalf("the role is bound in archive only: %+v", r)
		}
		r = run(t, clerk, "tasks", "-A")
		if r.code != 2 || !strings.Contains(r.stderr, "-A needs the privacy-task-worker role in every namespace") {
			t.Fatalf("-A with a RoleBinding: %+v", r)
		}
		for _, tc := range []struct{ kubeconfig, ns, name string }{{other, "archive", "pr-a2"}, {clerk, "vendor", "pr-v1"}} {
			r := run(t, tc.kubeconfig, "complete", tc.name, "-n", tc.ns, "--outcome", "NotFound")
			if r.code != 2 || r.stdout != "" || strings.Count(r.stderr, "\n") != 1 ||
				!strings.Contains(r.stderr, "is forbidden") || !strings.Contains(r.stderr, "ask for the privacy-task-worker role") {
				t.Errorf("complete %s/%s without the role: %+v, want exit 2 and one line", tc.ns, tc.name, r)
			}
			got := &privacyv1alpha1.PrivacyTask{}
			if err := admin.Get(ctx, client.ObjectKey{Namespace: tc.ns, Name: tc.name}, got); err != nil || got.Spec.Outcome != nil {
				t.Errorf("%s/%s: %v %+v", tc.ns, tc.name, err, got.Spec.Outcome)
			}
		}
	})

	t.Run("bad flags fail before any API call", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"complete", "pr-a1"}, "--outcome is required"},
			{[]string{"complete", "pr-a1", "--outcome", "Done"}, `--outcome "Done": want Completed, NotFound, Failed or Refused`},
			{[]string{"complete", "pr-a1", "--outcome", "Completed"}, "--records is required with --outcome Completed"},
			{[]string{"complete", "pr-a1", "--outcome", "Completed", "--records", "-3"}, "--records: want a count of 0 or more"},
			{[]string{"complete", "pr-a1", "--outcome", "NotFound", "--records", "-1"}, "--records: want a count of 0 or more"},
			{[]string{"complete", "pr-a1", "--outcome", "Refused", "--note", "kept"}, "--exemption is required with --outcome Refused"},
			{[]string{"complete", "pr-a1", "--outcome", "Failed", "--note", "x", "--exemption", "GDPR Art. 17(3)(b)"}, "--exemption is only for --outcome Refused"},
			{[]string{"complete", "pr-a1", "--outcome", "NotFound", "--note", strings.Repeat("x", 1025)}, "--note is 1025 characters; at most 1024"},
			{[]string{"complete", "pr-a1", "--outcome", "Failed", "--note", "  "}, "--note is required with --outcome Failed"},
			{[]string{"complete", "pr-a1", "pr-a2", "--outcome", "NotFound"}, "want one PrivacyTask name, got 2 arguments"},
			{[]string{"complete", "pr-a1", "--outcome", "NotFound", "--records", "many"}, `invalid argument "many" for "--records"`},
			{[]string{"complete"}, "want one PrivacyTask name"},
			{[]string{"tasks", "pr-a1", "-A"}, "give no name with it"},
		} {
			// A kubeconfig that reaches nothing: only flag checks can answer.
			r := run(t, filepath.Join(t.TempDir(), "missing"), append(tc.args, "-n", "archive")...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("%v: %+v, want exit 2 with %q", tc.args, r, tc.want)
			}
		}
	})

	t.Run("complete in your own name, once", func(t *testing.T) {
		r := run(t, clerk, "complete", "pr-a1", "-n", "archive", "--outcome", "Completed", "--records", "2", "--note", "Two letters shredded (box 17)")
		if r.code != 0 || r.stdout != "privacytask archive/pr-a1 completed: Completed, 2 records, by clerk-carl\n" {
			t.Fatalf("%+v", r)
		}
		got := &privacyv1alpha1.PrivacyTask{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: "archive", Name: "pr-a1"}, got); err != nil {
			t.Fatal(err)
		}
		o := got.Spec.Outcome
		if o == nil || o.CompletedBy != "clerk-carl" || o.Result != privacyv1alpha1.TaskResultCompleted || o.Records == nil || *o.Records != 2 ||
			o.Note != "Two letters shredded (box 17)" || time.Since(o.CompletedAt.Time) > time.Minute {
			t.Fatalf("outcome %+v", o)
		}
		r = run(t, clerk, "complete", "pr-a1", "-n", "archive", "--outcome", "NotFound")
		if r.code != 2 || !strings.Contains(r.stderr, "was already completed by clerk-carl") {
			t.Fatalf("a second completion: %+v", r)
		}
		r = run(t, clerk, "complete", "pr-a4", "-n", "archive", "--outcome", "NotFound")
		if r.code != 2 || !strings.Contains(r.stderr, "privacytask archive/pr-a4 can no longer be completed: its PrivacyRequest delete-ada finished without it") {
			t.Fatalf("a moot task: %+v", r)
		}
		r = run(t, clerk, "complete", "pr-a3", "-n", "archive", "--outcome", "notfound", "--records", "0")
		if r.code != 0 || r.stdout != "privacytask archive/pr-a3 completed: NotFound, 0 records, by clerk-carl\n" {
			t.Fatalf("%+v", r)
		}
		r = run(t, clerk, "tasks", "-n", "archive")
		golden(t, "tasks-list-after.txt", r.stdout)
		r = execPlugin(t, clerk, "tasks", "pr-a1", "-n", "archive")
		golden(t, "tasks-show-completed.txt", completedAt.ReplaceAllStringFunc(r.stdout, func(s string) string {
			if s == o.CompletedAt.UTC().Format(time.RFC3339) {
				return "COMPLETED-AT"
			}
			return s
		}))
	})

	t.Run("the policy's refusal is printed as it is", func(t *testing.T) {
		// As the admin, who may write anything RBAC allows: the policy
		// still wants completedBy to be the admin's own name.
		pt := &privacyv1alpha1.PrivacyTask{}
		if err := admin.Get(ctx, client.ObjectKey{Namespace: "archive", Name: "pr-a2"}, pt); err != nil {
			t.Fatal(err)
		}
		pt.Spec.Outcome = &privacyv1alpha1.TaskOutcome{Result: privacyv1alpha1.TaskResultNotFound, Records: ptr.To[int64](0), CompletedBy: "clerk-carl", CompletedAt: metav1.NewTime(now)}
		err := admin.Update(ctx, pt)
		if err == nil || !strings.Contains(err.Error(), "spec.outcome.completedBy must be the user completing the task") {
			t.Fatalf("completing in another's name: %v", err)
		}
	})
}
