package replay_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/export/exporttest"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// TestArchive, on a directory and on S3: records are stored sealed, read
// back for one source in the order they finished (not the order they
// were added), from a given time on; adding one twice stores it once; a
// sweep erases the periods before its cutoff (key, then records), and a
// restore from before that is no longer covered.
func TestArchive(t *testing.T) {
	stores := map[string]func(t *testing.T) replay.Store{
		"dir": func(t *testing.T) replay.Store {
			s, err := receipt.NewDirStore(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"s3": func(t *testing.T) replay.Store {
			s, err := receipt.NewS3Store(exporttest.Config(t))
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for kind, open := range stores {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			ns := "archive-" + kind
			if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Fatal(err)
			}
			day1 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
			clock := clocktesting.NewFakePassiveClock(day1.Add(10 * time.Hour))
			a := &replay.Archive{Store: open(t), Keys: &replay.Keys{Client: k8s, Namespace: ns, Clock: clock}}
			rec := func(source, job string, at time.Time, typ privacyv1alpha1.RequestType) replay.Record {
				return replay.Record{Namespace: "shop", Name: source, JobID: job, Type: typ, Identities: map[string]string{"email": "grace@example.com"}, FinishedAt: at}
			}
			add := func(r replay.Record) {
				t.Helper()
				if _, err := a.Add(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			add(rec("orders", "pr-delete", day1.Add(10*time.Hour), privacyv1alpha1.RequestTypeDelete))
			add(rec("crm", "pr-other", day1.Add(11*time.Hour), privacyv1alpha1.RequestTypeDelete))
			clock.SetTime(day1.Add(33 * time.Hour))
			add(rec("orders", "pr-optout", day1.Add(33*time.Hour), privacyv1alpha1.RequestTypeOptOut))
			add(rec("orders", "pr-correct", day1.Add(32*time.Hour), privacyv1alpha1.RequestTypeCorrect)) // added later, finished earlier
			add(rec("orders", "pr-correct", day1.Add(32*time.Hour), privacyv1alpha1.RequestTypeCorrect)) // again

			since := func(t0 time.Time) ([]string, error) {
				var jobs []string
				err := a.Since(ctx, "shop", "orders", t0, "", func(_ string, r replay.Record) error {
					if r.Identities["email"] != "grace@example.com" {
						t.Errorf("record %s opened wrong: %+v", r.JobID, r)
					}
					jobs = append(jobs, r.JobID)
					return nil
				})
				return jobs, err
			}
			if jobs, err := since(day1.Add(9 * time.Hour)); err != nil || !slices.Equal(jobs, []string{"pr-delete", "pr-correct", "pr-optout"}) {
				t.Fatalf("since the 1st 09:00: %q, %v, want orders' three in the order they finished", jobs, err)
			}
			if jobs, err := since(day1.Add(12 * time.Hour)); err != nil || !slices.Equal(jobs, []string{"pr-correct", "pr-optout"}) {
				t.Fatalf("since the 1st 12:00: %q, %v", jobs, err)
			}
			// Names lists the same records, without opening them; a replay
			// that goes on after the first handles the other two.
			var names, listed []string
			if err := a.Names(ctx, "shop", "orders", day1.Add(9*time.Hour), func(n, job string) error {
				names, listed = append(names, n), append(listed, job)
				return nil
			}); err != nil || !slices.Equal(listed, []string{"pr-delete", "pr-correct", "pr-optout"}) {
				t.Fatalf("names: %q, %v", listed, err)
			}
			var resumed []string
			if err := a.Since(ctx, "shop", "orders", day1.Add(9*time.Hour), names[0], func(_ string, r replay.Record) error {
				resumed = append(resumed, r.JobID)
				return nil
			}); err != nil || !slices.Equal(resumed, []string{"pr-correct", "pr-optout"}) {
				t.Fatalf("resumed after %s: %q, %v", names[0], resumed, err)
			}
			if ok, err := a.Covers(ctx, day1.Add(9*time.Hour)); err != nil || !ok {
				t.Fatalf("covers the 1st before the sweep: %v, %v", ok, err)
			}

			// Backups kept one day: on the 3rd, the 1st is erased.
			clock.SetTime(day1.Add(50 * time.Hour))
			erased, err := a.Sweep(ctx, clock.Now().Add(-24*time.Hour))
			if err != nil || !slices.Equal(erased, []string{"2026-12-01"}) {
				t.Fatalf("sweep: %q, %v", erased, err)
			}
			if ok, err := a.Covers(ctx, day1.Add(9*time.Hour)); err != nil || ok {
				t.Fatalf("covers the erased 1st: %v, %v, want not", ok, err)
			}
			if ok, err := a.Covers(ctx, day1.Add(25*time.Hour)); err != nil || !ok {
				t.Fatalf("covers the 2nd: %v, %v", ok, err)
			}
			if jobs, err := since(day1.Add(9 * time.Hour)); err != nil || !slices.Equal(jobs, []string{"pr-correct", "pr-optout"}) {
				t.Fatalf("after the sweep: %q, %v, want the 2nd's records only", jobs, err)
			}
			left, err := a.Store.ListDir(ctx, receipt.ReplayDir+"2026-12-01/", "")
			if err != nil || len(left) != 0 {
				t.Fatalf("records of the erased period left: %q, %v", left, err)
			}
			if _, err := a.Add(ctx, rec("orders", "pr-late", day1.Add(5*time.Hour), privacyv1alpha1.RequestTypeDelete)); !errors.Is(err, replay.ErrErased) {
				t.Fatalf("a record for an erased period: %v, want ErrErased", err)
			}
		})
	}
}
