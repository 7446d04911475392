package kubectlprivacy

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// restorePoll is how often restore reads the Restore while it follows it.
const restorePoll = time.Second

func newRestoreCommand(o *options) *cobra.Command {
	var takenAt string
	var wait bool
	var waitTimeout time.Duration
	cmd := &cobra.Command{
		Use:   "restore SOURCE --backup-taken-at TIME [-n NAMESPACE]",
		Short: "After a data source restored a backup, send again every deletion, correction and opt-out made since, and follow it",
		Long: "Creates a Restore for the DataSource SOURCE (in the namespace of -n, or the kubeconfig's) and the time the\n" +
			"restored backup was taken, then follows it to its end: the operator sends the source, in their original order,\n" +
			"every Delete, Correct and OptOut that finished there after that time (legal holds in force now apply), then\n" +
			"runs the source's retention purges once, and keeps a signed receipt. The source must declare spec.backups;\n" +
			"a backup older than its backups.retainFor, or in the future, is refused. See docs/backups.md.\n\n" +
			"Exit codes: 0 the Restore completed, 1 it was refused or a job failed at the source, 2 usage or errors.",
		Example: "  kubectl privacy restore orders -n shop --backup-taken-at 2026-12-06T02:00:00Z\n" +
			"  kubectl privacy restore orders -n shop --backup-taken-at 2026-12-06T02:00:00+01:00 --wait=false",
		Args: exactArgs(1, "one DataSource name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			taken, err := time.Parse(time.RFC3339, takenAt)
			if err != nil {
				return usageError(fmt.Errorf("--backup-taken-at: want the backup's time in RFC 3339, such as 2026-12-06T02:00:00Z: %w", err))
			}
			now, err := o.clock()
			if err != nil {
				return usageError(err)
			}
			if taken.After(now.Add(time.Minute)) {
				return usageError(fmt.Errorf("--backup-taken-at %s is in the future", taken.UTC().Format(time.RFC3339)))
			}
			c, ns, err := o.namespacedClient()
			if err != nil {
				return err
			}
			if err := checkBackups(cmd, c, ns, args[0], taken, now); err != nil {
				return err
			}
			rs := &privacyv1alpha1.Restore{
				// Named after the source: nothing personal.
				ObjectMeta: metav1.ObjectMeta{GenerateName: args[0] + "-restore-", Namespace: ns},
				Spec:       privacyv1alpha1.RestoreSpec{DataSource: args[0], BackupTakenAt: metav1.NewTime(taken)},
			}
			if err := c.Create(cmd.Context(), rs); err != nil {
				return &exitError{code: ExitError, err: fmt.Errorf("create the Restore: %w", err)}
			}
			fmt.Fprintf(o.streams.Out, "restore/%s created in %s: every Delete, Correct and OptOut that finished at %s after %s is sent again\n",
				rs.Name, ns, args[0], taken.UTC().Format(time.RFC3339))
			if !wait {
				fmt.Fprintf(o.streams.Out, "follow it: kubectl get restore %s -n %s -w\n", rs.Name, ns)
				return nil
			}
			return followRestore(cmd, c, rs, o.streams.Out, waitTimeout)
		},
	}
	cmd.Flags().StringVar(&takenAt, "backup-taken-at", "", "when the restored backup was taken, RFC 3339 (required)")
	cmd.Flags().BoolVar(&wait, "wait", true, "follow the Restore to its end")
	cmd.Flags().DurationVar(&waitTimeout, "wait-timeout", time.Hour, "how long to follow it before giving up (the Restore goes on)")
	return cmd
}

// checkBackups refuses, before anything is created, a source that does not
// exist or keeps no backups, and a backup older than its window.
func checkBackups(cmd *cobra.Command, c client.Client, ns, name string, taken, now time.Time) error {
	ds := &privacyv1alpha1.DataSource{}
	err := c.Get(cmd.Context(), client.ObjectKey{Namespace: ns, Name: name}, ds)
	switch {
	case apierrors.IsNotFound(err):
		return &exitError{code: ExitError, err: fmt.Errorf("no DataSource %q in namespace %s (-n names the source's namespace)", name, ns)}
	case err != nil:
		return &exitError{code: ExitError, err: fmt.Errorf("read DataSource %s/%s: %w", ns, name, err)}
	case ds.Spec.Backups == nil:
		return &exitError{code: ExitError, err: fmt.Errorf("DataSource %s/%s declares no spec.backups: no replay records were kept for it, "+
			"so the requests since the backup must be followed up by hand (docs/backups.md)", ns, name)}
	}
	if w := ds.Spec.Backups.Window(); w > 0 && taken.Before(now.Add(-w)) {
		return &exitError{code: ExitError, err: fmt.Errorf("the backup (%s) is older than DataSource %s/%s keeps backups (backups.retainFor %s): "+
			"no such backup should exist, and the records since may be erased", taken.UTC().Format(time.RFC3339), ns, name, ds.Spec.Backups.RetainFor)}
	}
	return nil
}

// followRestore prints the Restore's progress as it changes, then its end.
func followRestore(cmd *cobra.Command, c client.Client, rs *privacyv1alpha1.Restore, out io.Writer, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	last := ""
	tick := time.NewTicker(restorePoll)
	defer tick.Stop()
	for {
		if err := c.Get(cmd.Context(), client.ObjectKeyFromObject(rs), rs); err != nil {
			return &exitError{code: ExitError, err: fmt.Errorf("read restore/%s: %w", rs.Name, err)}
		}
		st := rs.Status
		if st.Phase == privacyv1alpha1.RestorePhaseRefused || ((st.Phase == privacyv1alpha1.RestorePhaseCompleted || st.Phase == privacyv1alpha1.RestorePhaseFailed) && st.Receipt != nil) {
			return restoreEnd(rs, out)
		}
		if line := restoreProgress(rs); line != last {
			fmt.Fprintln(out, line)
			last = line
		}
		if time.Now().After(deadline) {
			return &exitError{code: ExitError, err: fmt.Errorf("restore/%s is still %s after %s; it goes on (kubectl get restore %s -n %s -w)",
				rs.Name, orPending(st.Phase), timeout, rs.Name, rs.Namespace)}
		}
		select {
		case <-cmd.Context().Done():
			return &exitError{code: ExitError, err: errors.New("interrupted; the Restore goes on")}
		case <-tick.C:
		}
	}
}

func orPending(p privacyv1alpha1.RestorePhase) string {
	if p == "" {
		return string(privacyv1alpha1.RestorePhasePending)
	}
	return string(p)
}

// restoreProgress is one line of a Restore under way.
func restoreProgress(rs *privacyv1alpha1.Restore) string {
	c := rs.Status.Counts
	if rs.Status.Phase == "" {
		return "Pending: waiting for the operator to take it up"
	}
	line := fmt.Sprintf("%s: %d/%d sent (%d completed, %d failed), %d held", orPending(rs.Status.Phase), c.Sent, c.ToReplay, c.Completed, c.Failed, c.Held)
	if ready := meta.FindStatusCondition(rs.Status.Conditions, privacyv1alpha1.ConditionReady); ready != nil && strings.Contains(ready.Message, "Waiting") {
		line += " - " + ready.Message[strings.Index(ready.Message, "Waiting"):]
	}
	return line
}

// restoreEnd prints how the Restore ended: 0 Completed, 1 otherwise.
func restoreEnd(rs *privacyv1alpha1.Restore, out io.Writer) error {
	st := rs.Status
	ready := meta.FindStatusCondition(st.Conditions, privacyv1alpha1.ConditionReady)
	msg, reason := "", ""
	if ready != nil {
		msg, reason = ready.Message, ready.Reason
	}
	fmt.Fprintf(out, "%s (%s): %s\n", st.Phase, reason, msg)
	if st.Phase == privacyv1alpha1.RestorePhaseRefused {
		return &exitError{code: ExitFindings}
	}
	c := st.Counts
	rows := [][2]string{{"replayed", fmt.Sprintf("%d of %d sent: %d completed, %d failed; %d held", c.Sent, c.ToReplay, c.Completed, c.Failed, c.Held)}}
	if len(st.HeldBy) > 0 {
		rows = append(rows, [2]string{"held by", strings.Join(st.HeldBy, ", ")})
	}
	for _, p := range st.Purges {
		v := p.Policy + " " + p.Outcome
		if p.Records != nil {
			v += fmt.Sprintf(" (%d records)", *p.Records)
		}
		if p.Hold != "" {
			v += ", categories held by " + p.Hold
		}
		if p.Message != "" {
			v += ": " + p.Message
		}
		rows = append(rows, [2]string{"purge", v})
	}
	for _, f := range st.Failures {
		rows = append(rows, [2]string{"failed", f.JobID + " (replays " + f.OriginalJobID + "): " + f.Message})
	}
	if r := st.Receipt; r != nil {
		rows = append(rows, [2]string{"receipt", fmt.Sprintf("%s (sequence %d)", r.Location, r.Sequence)})
	}
	for _, r := range rows {
		fmt.Fprintf(out, "  %-9s %s\n", r[0]+":", printable(r[1]))
	}
	if st.Phase != privacyv1alpha1.RestorePhaseCompleted {
		return &exitError{code: ExitFindings}
	}
	return nil
}
