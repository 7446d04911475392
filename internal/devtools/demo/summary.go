package demo

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/datasource/sqlsource"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// demoOperatorNamespace is where the demo's operator keeps its receipt
// keys: the manager's default namespace outside a cluster.
const demoOperatorNamespace = "privacy-operator-system"

// verbs say what a job's records mean, per request type.
var verbs = map[privacyv1alpha1.RequestType]string{
	privacyv1alpha1.RequestTypeAccess:  "returned",
	privacyv1alpha1.RequestTypeDelete:  "deleted or anonymized",
	privacyv1alpha1.RequestTypeCorrect: "corrected",
	privacyv1alpha1.RequestTypeOptOut:  "opted out",
}

// summary prints what each request and the retention run did at each
// source, where the export is, and what the databases hold now.
func (r *run) summary(ctx context.Context) error {
	r.step("What happened")
	w := nameWidth(r.names)
	for _, name := range r.names {
		pr := &privacyv1alpha1.PrivacyRequest{}
		if err := r.c.Get(ctx, client.ObjectKey{Name: name}, pr); err != nil {
			return err
		}
		var parts []string
		for _, s := range pr.Status.Sources {
			what := records(s.Records, verbs[pr.Spec.Type], s.Message)
			if s.CompletedBy != "" {
				what = fmt.Sprintf("%s, by %s (task %s)", strings.Replace(what, "row", "record", 1), s.CompletedBy, s.Task)
			}
			parts = append(parts, fmt.Sprintf("%s: %s", s.Namespace+"/"+s.Name, what))
		}
		fmt.Fprintf(r.Out, "  %-*s %-9s %-10s %s\n", w, name, r.kindOf(pr), pr.Status.Phase, strings.Join(parts, "; "))
		if e := pr.Status.Export; e != nil {
			fmt.Fprintf(r.Out, "  %-*s export: %s (%d bytes, sha256 %s, until %s)\n", w, "", e.Location, e.Bytes, e.SHA256, e.ExpiresAt.Format("2006-01-02"))
		}
	}
	rp := &privacyv1alpha1.RetentionPolicy{}
	if err := r.c.Get(ctx, client.ObjectKey{Name: policyName}, rp); err != nil {
		return err
	}
	if len(rp.Status.History) > 0 {
		run := rp.Status.History[0]
		var parts []string
		for _, s := range run.Sources {
			parts = append(parts, fmt.Sprintf("%s: %s", s.Namespace+"/"+s.Name, records(s.Records, "purged", s.Message)))
		}
		fmt.Fprintf(r.Out, "  %-*s %-9s %-10s %s (usage data older than %s)\n", w, policyName, "Retention", run.Outcome, strings.Join(parts, "; "),
			run.Before.Format("2006-01-02"))
	}

	if err := r.receipts(ctx); err != nil {
		return err
	}

	r.step("In the databases now")
	checks := []struct{ db, label, query string }{
		{"shop", "customers with Ada's email", "SELECT COUNT(*) FROM customers WHERE email = ?"},
		{"shop", "invoices kept, anonymized", "SELECT COUNT(*) FROM invoices WHERE billing_name LIKE 'anon:%'"},
		{"shop", "orders older than a year", "SELECT COUNT(*) FROM orders WHERE julianday(created_at) < julianday('now', '-365 days')"},
		{"crm", "contacts with Ada's email", "SELECT COUNT(*) FROM contacts WHERE email = ?"},
		{"crm", "support tickets kept, anonymized", "SELECT COUNT(*) FROM support_tickets WHERE requester_name LIKE 'anon:%'"},
		{"crm", "marketing e-mails older than a year", "SELECT COUNT(*) FROM marketing_events WHERE julianday(sent_at) < julianday('now', '-365 days')"},
	}
	for _, c := range checks {
		n, err := count(filepath.Join(r.Dir, c.db+".db"), c.query, strings.Count(c.query, "?"))
		if err != nil {
			return err
		}
		fmt.Fprintf(r.Out, "  %-5s %-36s %d\n", c.db, c.label, n)
	}
	return nil
}

// explore says how to look around with kubectl, and where the logs,
// manifests, metrics and the privacy center are.
func (r *run) explore() {
	r.step("Explore it")
	fmt.Fprintf(r.Out, "  export KUBECONFIG=%s\n", r.cp.KubeconfigPath)
	fmt.Fprintf(r.Out, "  export PATH=%s:$PATH   # kubectl %s\n", r.Assets, "built for this control plane")
	fmt.Fprintln(r.Out, "  kubectl get privacy -A")
	fmt.Fprintln(r.Out, "  kubectl describe privacyrequest delete-2026-0004")
	fmt.Fprintf(r.Out, "  %s/kubectl-privacy status access-2026-0001\n", r.Bin)
	fmt.Fprintf(r.Out, "  %s/kubectl-privacy tasks -A\n", r.Bin)
	fmt.Fprintln(r.Out, "  kubectl get restores -n shop")
	fmt.Fprintf(r.Out, "  go run ./cmd/privacyctl receipts verify --dir %s --kubeconfig %s\n", r.op.ReceiptDir, r.cp.KubeconfigPath)
	fmt.Fprintf(r.Out, "  Logs: %s   Manifests: %s   Metrics: http://%s/metrics\n",
		filepath.Join(r.Dir, "logs"), filepath.Join(r.Dir, "manifests"), r.op.MetricsAddr)
	r.exploreCenter()
}

// nameWidth is the width of the name column: the longest name.
func nameWidth(names []string) int {
	w := len(policyName)
	for _, n := range names {
		w = max(w, len(n))
	}
	return w
}

func records(n *int64, verb, message string) string {
	if n == nil {
		if message != "" {
			return message
		}
		return "no result"
	}
	if *n == 1 {
		return "1 row " + verb
	}
	return fmt.Sprintf("%d rows %s", *n, verb)
}

// count runs a COUNT(*) query on a SQLite file; args of "?" are Ada's email.
func count(path, query string, args int) (int, error) {
	db, _, err := sqlsource.Open("sqlite:" + path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var params []any
	for range args {
		params = append(params, subjectEmail)
	}
	var n int
	if err := db.QueryRow(query, params...).Scan(&n); err != nil && err != sql.ErrNoRows {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// receipts waits for the requests' signed receipts, verifies the log with
// the published public keys, and says where each receipt is.
func (r *run) receipts(ctx context.Context) error {
	r.step("Receipts (signed, chained; no personal data)")
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	w := nameWidth(r.names)
	for _, name := range r.names {
		pr := &privacyv1alpha1.PrivacyRequest{}
		for {
			if err := r.c.Get(ctx, client.ObjectKey{Name: name}, pr); err != nil {
				return err
			}
			if pr.Status.Receipt != nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("no receipt for %s: %w", name, ctx.Err())
			case <-time.After(200 * time.Millisecond):
			}
		}
		fmt.Fprintf(r.Out, "  %-*s receipt %d: %s\n", w, name, pr.Status.Receipt.Sequence, pr.Status.Receipt.Location)
	}
	store, err := receipt.NewDirStore(r.op.ReceiptDir)
	if err != nil {
		return err
	}
	keys, err := receipt.ReadPublicKeys(ctx, r.c, demoOperatorNamespace)
	if err != nil {
		return err
	}
	report, err := receipt.Verify(ctx, store, keys)
	if err != nil {
		return err
	}
	verdict := "verified, no break"
	if !report.OK() {
		verdict = fmt.Sprintf("%d BREAKS: %v", len(report.Breaks), report.Breaks)
	}
	fmt.Fprintf(r.Out, "  log: %d receipts in %s, %s (last sha256 %s)\n", report.Receipts, r.op.ReceiptDir, verdict, report.LastSHA256)
	return nil
}
