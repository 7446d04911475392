package kubectlprivacy_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/test/testenv"
)

// sourceTeam is a member of a data-source team: the datasource-editor
// role (which may create Restores) in namespace ns, nothing else.
func sourceTeam(t *testing.T, ns, name string) string {
	t.Helper()
	ctx := context.Background()
	if out, err := env.Kubectl("apply", "--server-side", "-f", filepath.Join(testenv.RepoRoot(), "config", "rbac", "datasource_editor_role.yaml")); err != nil {
		t.Fatal(err, out)
	}
	if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := admin.Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "team-" + name, Namespace: ns},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "datasource-editor"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: name}},
	}); err != nil {
		t.Fatal(err)
	}
	return userKubeconfig(t, name)
}

func dataSource(t *testing.T, ns, name string, backups *privacyv1alpha1.DataSourceBackups) {
	t.Helper()
	ds := &privacyv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: privacyv1alpha1.DataSourceSpec{
			Endpoint:         privacyv1alpha1.Endpoint{URL: "https://" + name + ".example.com/privacy"},
			SigningSecretRef: privacyv1alpha1.SecretKeySelector{Name: name + "-signing", Key: "signingSecret"},
			RequestTypes:     []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeDelete},
			Identities:       []privacyv1alpha1.IdentityType{"email"},
			Backups:          backups,
		},
	}
	if err := admin.Create(context.Background(), ds); err != nil {
		t.Fatal(err)
	}
}

// restoreBy waits for the one Restore of ns made by the plugin, then sets
// its status as the operator would, in steps.
func restoreBy(t *testing.T, ns string, steps ...privacyv1alpha1.RestoreStatus) *privacyv1alpha1.Restore {
	t.Helper()
	ctx := context.Background()
	var rs privacyv1alpha1.Restore
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := &privacyv1alpha1.RestoreList{}
		if err := admin.List(ctx, list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 1 {
			rs = list.Items[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Restores in %s, want the plugin's one", len(list.Items), ns)
		}
		time.Sleep(50 * time.Millisecond) // polled, as Eventually does
	}
	for _, st := range steps {
		rs.Status = st
		if err := admin.Status().Update(ctx, &rs); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1500 * time.Millisecond) // the plugin reads every second: each step is seen
	}
	return &rs
}

func cond(reason, msg string, status metav1.ConditionStatus) []metav1.Condition {
	return []metav1.Condition{{Type: privacyv1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.NewTime(now)}}
}

func TestRestore(t *testing.T) {
	kubeconfig := sourceTeam(t, "orders-team", "sam")
	dataSource(t, "orders-team", "orders", &privacyv1alpha1.DataSourceBackups{RetainFor: "35d"})
	dataSource(t, "orders-team", "plain", nil)
	taken := now.Add(-30 * time.Hour).Format(time.RFC3339)

	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"restore", "orders", "-n", "orders-team"}, "--backup-taken-at"},
		{[]string{"restore", "orders", "-n", "orders-team", "--backup-taken-at", "yesterday"}, "RFC 3339"},
		{[]string{"restore", "orders", "-n", "orders-team", "--backup-taken-at", now.Add(time.Hour).Format(time.RFC3339)}, "is in the future"},
		{[]string{"restore", "orders", "-n", "orders-team", "--backup-taken-at", now.Add(-40 * 24 * time.Hour).Format(time.RFC3339)}, "backups.retainFor 35d"},
		{[]string{"restore", "plain", "-n", "orders-team", "--backup-taken-at", taken}, "declares no spec.backups"},
		{[]string{"restore", "missing", "-n", "orders-team", "--backup-taken-at", taken}, `no DataSource "missing" in namespace orders-team`},
	} {
		if r := run(t, kubeconfig, bad.args...); r.code != 2 || !strings.Contains(r.stderr, bad.want) {
			t.Errorf("%v: %+v, want exit 2 and %q", bad.args, r, bad.want)
		}
	}
	list := &privacyv1alpha1.RestoreList{}
	if err := admin.List(context.Background(), list, client.InNamespace("orders-team")); err != nil || len(list.Items) != 0 {
		t.Fatalf("Restores made by refused commands: %d, %v", len(list.Items), err)
	}

	done := make(chan result, 1)
	go func() {
		done <- run(t, kubeconfig, "restore", "orders", "-n", "orders-team", "--backup-taken-at", taken)
	}()
	rs := restoreBy(t, "orders-team",
		privacyv1alpha1.RestoreStatus{Phase: privacyv1alpha1.RestorePhaseReplaying, Counts: privacyv1alpha1.RestoreCounts{ToReplay: 3, Sent: 1, Completed: 1},
			Conditions: cond(privacyv1alpha1.ReasonReplaying, "Sent 1 of 3 jobs again (1 completed, 0 failed), 0 held.", metav1.ConditionFalse)},
		privacyv1alpha1.RestoreStatus{Phase: privacyv1alpha1.RestorePhaseCompleted,
			Counts: privacyv1alpha1.RestoreCounts{ToReplay: 3, Sent: 2, Completed: 2, Held: 1}, HeldBy: []string{"matter-114"},
			Purges:     []privacyv1alpha1.RestorePurge{{Policy: "contact-400d", Outcome: "Completed", Records: ptr.To[int64](4)}},
			Receipt:    &privacyv1alpha1.ReceiptReference{Location: "receipts/00000000000000000009.json", SHA256: strings.Repeat("a", 64), Sequence: 9},
			Conditions: cond(privacyv1alpha1.ReasonRestored, "Sent 2 jobs again, all done; 1 held by a LegalHold; 1 retention purges run.", metav1.ConditionTrue)},
	)
	if rs.Spec.DataSource != "orders" || rs.Spec.BackupTakenAt.Format(time.RFC3339) != taken || !strings.HasPrefix(rs.Name, "orders-restore-") {
		t.Errorf("the Restore made: %s %+v", rs.Name, rs.Spec)
	}
	r := <-done
	for _, want := range []string{
		"restore/" + rs.Name + " created in orders-team: every Delete, Correct and OptOut that finished at orders after " + taken + " is sent again\n",
		"Replaying: 1/3 sent (1 completed, 0 failed), 0 held\n",
		"Completed (Restored): Sent 2 jobs again, all done; 1 held by a LegalHold; 1 retention purges run.\n",
		"  held by:  matter-114\n",
		"  purge:    contact-400d Completed (4 records)\n",
		"  receipt:  receipts/00000000000000000009.json (sequence 9)\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if r.code != 0 {
		t.Errorf("exit %d, want 0: %s", r.code, r.stderr)
	}

	// A Restore the operator refuses ends the command with 1.
	if err := admin.Delete(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
	go func() {
		done <- run(t, kubeconfig, "restore", "orders", "-n", "orders-team", "--backup-taken-at", taken)
	}()
	restoreBy(t, "orders-team", privacyv1alpha1.RestoreStatus{Phase: privacyv1alpha1.RestorePhaseRefused,
		Conditions: cond(privacyv1alpha1.ReasonRecordsErased, "The replay records of the days through 2026-02-27 are erased.", metav1.ConditionFalse)})
	if r := <-done; r.code != 1 || !strings.Contains(r.stdout, "Refused (RecordsErased): The replay records of the days through 2026-02-27 are erased.") {
		t.Errorf("refused: %+v", r)
	}
}
