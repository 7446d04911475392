// Package demo is `make demo`: the whole product on one machine. It starts
// the local stack (control plane, operator, two SQL data sources on seeded
// SQLite files, the privacy center with mailpit as its mailbox), registers
// the sources and a manual one (a paper archive whose tasks a records
// clerk completes with kubectl privacy), applies a RetentionPolicy and one
// PrivacyRequest of each type for a sample person with kubectl, files one
// more Access request through the privacy center's form, shows their
// progress until all have finished, and says what happened in the
// databases.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/devtools/demo/fixtures"
	"github.com/privacyoperator/privacy-operator/internal/devtools/localstack"
)

// Options configure a demo run.
type Options struct {
	// Dir holds all state; a new run first clears what an earlier one left.
	Dir string
	// Assets holds etcd, kube-apiserver and kubectl.
	Assets string
	// Repo is the repository root (for config/crd).
	Repo string
	// Bin holds the manager, sql-datasource and privacy-center binaries.
	Bin string
	// Mailpit is the mailpit binary (hack/mailpit.sh build).
	Mailpit string
	// Once exits after the summary instead of running until ctx ends.
	Once bool
	// Out receives the demo's output; TTY redraws the progress table in place.
	Out io.Writer
	TTY bool
	// Timeout bounds the wait for everything to finish.
	Timeout time.Duration
}

// The sample person and the objects the demo applies.
const (
	subjectEmail = "ada.lovelace@example.com"
	policyName   = "usage-365d"
)

var requestNames = []string{"access-2026-0001", "correct-2026-0002", "optout-2026-0003", "delete-2026-0004"}

type run struct {
	Options
	cp      *localstack.ControlPlane
	op      *localstack.Operator
	sources []*localstack.SQLSource
	mailpit *localstack.Mailpit
	center  *localstack.Center
	c       client.Client
	// names are the requests the demo follows: requestNames and the one
	// filed at the center (centerRequest, with its status link).
	names                       []string
	centerRequest, centerStatus string
	// clerkKubeconfig is the records clerk's own; completed names the
	// tasks the clerk completed.
	clerkKubeconfig string
	completed       map[string]bool
}

// Run runs the demo until ctx ends (or, with Once, until the summary).
func Run(ctx context.Context, o Options) (err error) {
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	o.Dir = dir
	r := &run{Options: o, completed: map[string]bool{}, names: requestNames}
	defer func() { err = errors.Join(err, r.stop()) }()

	r.step("Starting a local control plane (etcd + kube-apiserver) in %s", o.Dir)
	if r.cp, err = localstack.StartControlPlane(o.Dir, o.Assets, o.Repo); err != nil {
		return err
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), privacyv1alpha1.AddToScheme(scheme)); err != nil {
		return err
	}
	if r.c, err = client.New(r.cp.Config, client.Options{Scheme: scheme}); err != nil {
		return err
	}
	if err := r.startSources(ctx); err != nil {
		return err
	}
	r.step("Starting the operator (logs: %s)", filepath.Join(o.Dir, "logs", "operator.log"))
	if r.op, err = localstack.StartOperator(ctx, r.cp, filepath.Join(o.Bin, "manager")); err != nil {
		return err
	}
	if err := r.startCenter(ctx); err != nil {
		return err
	}
	// From here on, a child that exits ends the demo at once, with its
	// reason and the last lines of its log.
	procs := []*localstack.Process{r.op.Process, r.mailpit.Process, r.center.Process}
	for _, s := range r.sources {
		procs = append(procs, s.Process)
	}
	ctx, stopSupervising := localstack.Supervise(ctx, procs...)
	defer stopSupervising()
	if err := r.register(ctx); err != nil {
		return err
	}
	taken, err := r.backupShop()
	if err != nil {
		return err
	}
	if err := r.apply(ctx); err != nil {
		return err
	}
	if err := r.summary(ctx); err != nil {
		return err
	}
	if err := r.restoreShop(ctx, taken); err != nil {
		return err
	}
	r.explore()
	if o.Once {
		return nil
	}
	fmt.Fprintln(o.Out, "\nThe stack keeps running; press Ctrl-C to stop it.")
	<-ctx.Done()
	return childExit(ctx)
}

// childExit is the error of a child that ended the demo's context, if one did.
func childExit(ctx context.Context) error {
	var exit *localstack.ExitError
	if cause := context.Cause(ctx); errors.As(cause, &exit) {
		return exit
	}
	return nil
}

func (r *run) step(format string, args ...any) {
	fmt.Fprintf(r.Out, "==> "+format+"\n", args...)
}

func (r *run) stop() error {
	if r.center != nil {
		r.center.Stop()
	}
	if r.mailpit != nil {
		r.mailpit.Stop()
	}
	for _, s := range r.sources {
		s.Stop()
	}
	if r.op != nil {
		r.op.Stop()
	}
	if r.cp != nil {
		return r.cp.Stop()
	}
	return nil
}

// startSources seeds the shop and CRM databases and starts a SQL data
// source on each.
func (r *run) startSources(ctx context.Context) error {
	people := fixtures.People(200)
	now := time.Now()
	for _, s := range []struct {
		name    string
		mapping []byte
		seed    func(string, []fixtures.Person, time.Time) error
	}{
		{"shop", fixtures.ShopMapping, fixtures.SeedShop},
		{"crm", fixtures.CRMMapping, fixtures.SeedCRM},
	} {
		db := filepath.Join(r.Dir, s.name+".db")
		r.step("Seeding %s with %d people and their data; starting its SQL data source", db, len(people))
		if err := s.seed(db, people, now); err != nil {
			return err
		}
		src, err := localstack.StartSQLSource(ctx, r.Dir, s.name, filepath.Join(r.Bin, "sql-datasource"), db, s.mapping)
		if err != nil {
			return err
		}
		r.sources = append(r.sources, src)
	}
	return nil
}

// register applies each source's namespace, Secret and DataSource with
// kubectl (and the paper archive's, a manual one) and waits until the
// operator reports them Ready.
func (r *run) register(ctx context.Context) error {
	manifests := map[string]string{
		"shop": r.sources[0].Manifest("shop", []string{"Access", "Delete", "Correct", "OptOut", "Purge"}, []string{"email", "userId"}, []string{"billing", "contact", "usage"}) + shopBackups,
		"crm":  r.sources[1].Manifest("crm", []string{"Access", "Delete", "Correct", "OptOut", "Purge"}, []string{"email", "phone"}, []string{"contact", "support", "usage"}),
	}
	for _, name := range []string{"shop", "crm"} {
		if err := r.kubectlApply(name+".yaml", manifests[name]); err != nil {
			return err
		}
	}
	if err := r.registerArchive(); err != nil {
		return err
	}
	r.step("Waiting for the three DataSources to be Ready")
	return r.waitFor(ctx, "the DataSources to be Ready", func() (bool, error) {
		for _, key := range []client.ObjectKey{{Namespace: "shop", Name: "shop"}, {Namespace: "crm", Name: "crm"}, {Namespace: archiveNamespace, Name: archiveName}} {
			ds := &privacyv1alpha1.DataSource{}
			if err := r.c.Get(ctx, key, ds); err != nil {
				return false, err
			}
			if !meta.IsStatusConditionTrue(ds.Status.Conditions, privacyv1alpha1.ConditionReady) {
				return false, nil
			}
		}
		return true, nil
	})
}

// kubectlApply writes manifest to Dir/manifests/file and applies it with
// kubectl, showing the command as a user would type it.
func (r *run) kubectlApply(file, manifest string) error {
	path := filepath.Join(r.Dir, "manifests", file)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(manifest), 0o600); err != nil {
		return err
	}
	return r.kubectl("apply", "-f", path)
}

func (r *run) waitFor(ctx context.Context, what string, done func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, r.Timeout)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := done()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			if exit := childExit(ctx); exit != nil {
				return fmt.Errorf("waiting for %s: %w", what, exit)
			}
			if err != nil {
				return fmt.Errorf("waiting for %s: %w (last error: %v)", what, ctx.Err(), err)
			}
			return fmt.Errorf("waiting for %s: %w; logs are in %s", what, ctx.Err(), filepath.Join(r.Dir, "logs"))
		case <-tick.C:
		}
	}
}

func indent(s string) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(s, "\n", "\n    ") + "\n"
}
