package main

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	replayrec "github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// operatorNamespace is where the local operator keeps its keys (the
// manager's default outside a cluster).
const operatorNamespace = "privacy-operator-system"

// benchRestore measures Restores (docs/backups.md): every source declares
// backups, records replay records of records/n Deletes per source in the
// operator's receipt store (sealed under the operator's own keys, as the
// operator writes them), then files one Restore per source at once and
// reports the time until all have their receipts, the operator's peak
// heap while they ran (records are streamed from the store, so it should
// not grow with the records), and that the sources did every job.
func benchRestore(ctx context.Context, s *stack, n, records int) error {
	for i := range n {
		ds := &privacyv1alpha1.DataSource{}
		key := client.ObjectKey{Namespace: "bench", Name: fmt.Sprintf("source-%03d", i)}
		if err := s.c.Get(ctx, key, ds); err != nil {
			return err
		}
		// A patch: the operator writes the DataSource's status meanwhile.
		orig := ds.DeepCopy()
		ds.Spec.Backups = &privacyv1alpha1.DataSourceBackups{RetainFor: "35d"}
		if err := s.c.Patch(ctx, ds, client.MergeFrom(orig)); err != nil {
			return err
		}
	}
	store, err := receipt.NewDirStore(s.op.ReceiptDir)
	if err != nil {
		return err
	}
	archive := &replayrec.Archive{Store: store, Keys: &replayrec.Keys{Client: s.c, Namespace: operatorNamespace}}
	taken := time.Now().Add(-2 * time.Hour)
	seeded := time.Now()
	// Spread over the two hours since the backup, whatever their number.
	step := (2*time.Hour - time.Minute) / time.Duration(records+1)
	for j := range records {
		r := replayrec.Record{
			Namespace: "bench", Name: fmt.Sprintf("source-%03d", j%n), JobID: fmt.Sprintf("pr-bench-%06d", j),
			Type: privacyv1alpha1.RequestTypeDelete, Identities: map[string]string{"email": fmt.Sprintf("person-%06d@example.com", j)},
			FinishedAt: taken.Add(time.Duration(j+1) * step),
		}
		if _, err := archive.Add(ctx, r); err != nil {
			return fmt.Errorf("seed replay records: %w", err)
		}
	}
	fmt.Printf("restore: %d replay records at %d sources written in %s\n", records, n, ms(time.Since(seeded)))

	before := s.executed.Load()
	peak := s.peaks(ctx, 500*time.Millisecond)
	start := time.Now()
	var names []client.ObjectKey
	for i := range n {
		rs := &privacyv1alpha1.Restore{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("restore-%03d", i), Namespace: "bench"},
			Spec:       privacyv1alpha1.RestoreSpec{DataSource: fmt.Sprintf("source-%03d", i), BackupTakenAt: metav1.NewTime(taken)},
		}
		if err := s.c.Create(ctx, rs); err != nil {
			return err
		}
		names = append(names, client.ObjectKeyFromObject(rs))
	}
	var sent int32
	for _, key := range names {
		for {
			rs := &privacyv1alpha1.Restore{}
			if err := s.c.Get(ctx, key, rs); err != nil {
				return err
			}
			if rs.Status.Phase == privacyv1alpha1.RestorePhaseRefused || rs.Status.Phase == privacyv1alpha1.RestorePhaseFailed {
				return fmt.Errorf("restore %s ended %s: %+v", key.Name, rs.Status.Phase, rs.Status.Conditions)
			}
			if rs.Status.Phase == privacyv1alpha1.RestorePhaseCompleted && rs.Status.Receipt != nil {
				sent += rs.Status.Counts.Sent
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	took := time.Since(start)
	p := peak()
	fmt.Printf("restore: %d Restores, %d jobs sent again (sources executed %d) in %s = %.0f jobs/s; manager peak heap_inuse=%.0fMiB rss=%.0fMiB\n",
		n, sent, s.executed.Load()-before, ms(took), float64(sent)/took.Seconds(), p.heapInuse/(1<<20), p.rss/(1<<20))
	if int(sent) != records {
		return fmt.Errorf("restore: %d jobs sent again, want %d", sent, records)
	}
	return nil
}
