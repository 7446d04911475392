package demo

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// The paper archive is a system with no API: a manual DataSource whose
// jobs become PrivacyTasks. The demo's records clerk (a user of its own,
// with the privacy-task-worker role in the archive's namespace only)
// completes them with the kubectl privacy plugin, under the admission
// policy that makes each completion name its user.
const (
	archiveNamespace = "archive"
	archiveName      = "paper-archive"
	clerk            = "records-clerk"
)

const archiveManifest = `# The records office's paper archive has no privacy endpoint: people do its
# jobs, as PrivacyTasks in this namespace.
apiVersion: v1
kind: Namespace
metadata:
  name: ` + archiveNamespace + `
  labels:
    privacyoperator.io/datasource: "true"
---
apiVersion: privacyoperator.io/v1alpha1
kind: DataSource
metadata:
  name: ` + archiveName + `
  namespace: ` + archiveNamespace + `
spec:
  manual:
    instructions: Search the archive index (room 4, cabinet B) by e-mail. Access - scan what you find and post it to the address on the ticket. Delete - shred it.
    assigneeGroup: records-office
    slaDays: 10
  requestTypes: [Access, Delete]
  identities: [email]
  categories: [contact]
---
# Only the records office reads the archive's tasks (they hold the person's e-mail).
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: records-office
  namespace: ` + archiveNamespace + `
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: privacy-task-worker
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: ` + clerk + `
`

// registerArchive applies the task worker role and the completion policy
// from config/, the archive's DataSource and the clerk's RoleBinding, and
// gives the clerk a kubeconfig of their own.
func (r *run) registerArchive() error {
	for _, f := range []string{"config/rbac/privacy_task_worker_role.yaml", "config/admission/privacytask_completion_policy.yaml"} {
		if err := r.kubectl("apply", "-f", filepath.Join(r.Repo, f)); err != nil {
			return err
		}
	}
	if err := r.kubectlApply("archive.yaml", archiveManifest); err != nil {
		return err
	}
	user, err := r.cp.AddUser(envtest.User{Name: clerk}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	r.clerkKubeconfig = filepath.Join(r.Dir, clerk+".kubeconfig")
	return os.WriteFile(r.clerkKubeconfig, kubeconfig, 0o600)
}

// completeOpenTasks has the clerk list the archive's open tasks and
// complete each, as a person would: what they found, and a note without
// personal data. It reports whether it completed any.
func (r *run) completeOpenTasks(ctx context.Context) (bool, error) {
	list := &privacyv1alpha1.PrivacyTaskList{}
	if err := r.c.List(ctx, list, client.InNamespace(archiveNamespace)); err != nil {
		return false, err
	}
	var open []privacyv1alpha1.PrivacyTask
	for _, t := range list.Items {
		if t.Spec.Outcome == nil && !r.completed[t.Name] {
			open = append(open, t)
		}
	}
	if len(open) == 0 {
		return false, nil
	}
	r.step("The records clerk does the paper archive's tasks and completes them")
	if err := r.plugin("tasks", "-n", archiveNamespace); err != nil {
		return false, err
	}
	for _, t := range open {
		outcome, records, note := "Completed", "2", "Two letters found; scanned and posted to the address on the ticket"
		if t.Spec.Type == privacyv1alpha1.RequestTypeDelete {
			records, note = "2", "Two letters shredded (box 17)"
		}
		if err := r.plugin("complete", t.Name, "-n", archiveNamespace, "--outcome", outcome, "--records", records, "--note", note); err != nil {
			return false, err
		}
		r.completed[t.Name] = true
	}
	return true, nil
}

// plugin runs kubectl privacy as the clerk, showing the command.
func (r *run) plugin(args ...string) error {
	fmt.Fprintf(r.Out, "$ kubectl privacy %s\n", quoteArgs(args))
	cmd := exec.Command(filepath.Join(r.Bin, "kubectl-privacy"), append(args, "--kubeconfig", r.clerkKubeconfig)...)
	out, err := cmd.CombinedOutput()
	fmt.Fprint(r.Out, indent(string(out)))
	if err != nil {
		return fmt.Errorf("kubectl privacy %s: %w", args[0], err)
	}
	return nil
}

// kubectl runs kubectl as the admin, showing the command as a user would
// type it (kubectlApply uses it too).
func (r *run) kubectl(args ...string) error {
	fmt.Fprintf(r.Out, "$ kubectl %s\n", quoteArgs(args))
	out, err := exec.Command(filepath.Join(r.Assets, "kubectl"), append([]string{"--kubeconfig", r.cp.KubeconfigPath}, args...)...).CombinedOutput()
	fmt.Fprint(r.Out, indent(string(out)))
	if err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func quoteArgs(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if strings.ContainsAny(a, " ;()") {
			out[i] = fmt.Sprintf("%q", a)
		}
	}
	return strings.Join(out, " ")
}

// taskRows are the archive's tasks as progress rows: open until the
// clerk completes them.
func (r *run) taskRows(ctx context.Context) ([]row, int, error) {
	list := &privacyv1alpha1.PrivacyTaskList{}
	if err := r.c.List(ctx, list, client.InNamespace(archiveNamespace)); err != nil {
		return nil, 0, err
	}
	var rows []row
	done := 0
	for _, t := range list.Items {
		rw := row{name: "task " + t.Spec.Request.Name, kind: "Task", phase: "Open", sources: archiveName}
		if t.Spec.SLADueAt != nil {
			rw.due = "SLA " + t.Spec.SLADueAt.Format("2006-01-02")
		}
		if o := t.Spec.Outcome; o != nil {
			rw.phase, rw.due = string(o.Result), "by "+o.CompletedBy
			done++
		}
		rows = append(rows, rw)
	}
	return rows, done, nil
}
