package replay_test

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/internal/operator/replay"
)

// flaky fails its first creates, as a store that is briefly down.
type flaky struct {
	replay.Store
	failures atomic.Int32
}

func (f *flaky) Create(ctx context.Context, name string, data []byte) error {
	if f.failures.Add(-1) >= 0 {
		return errors.New("store unavailable")
	}
	return f.Store.Create(ctx, name, data)
}

// TestRecorder: records handed over are stored in order, off the caller,
// through a store that fails at first; none is lost, and the failure is
// reported while it lasts.
func TestRecorder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "recorder"}}); err != nil {
		t.Fatal(err)
	}
	dir, err := receipt.NewDirStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	store := &flaky{Store: dir}
	store.failures.Store(2)
	a := &replay.Archive{Store: store, Keys: &replay.Keys{Client: k8s, Namespace: "recorder"}}
	rc := &replay.Recorder{Archive: a, Log: logr.Discard(), Backoff: 10 * time.Millisecond}
	now := time.Now().UTC()
	var done atomic.Int32
	for i, job := range []string{"pr-a", "pr-b", "pr-c"} {
		rc.Record(replay.Record{Namespace: "shop", Name: "orders", JobID: job, Type: privacyv1alpha1.RequestTypeDelete,
			Identities: map[string]string{"email": "alan@example.com"}, FinishedAt: now.Add(time.Duration(i) * time.Millisecond)}, func() { done.Add(1) })
	}
	if n, _ := rc.Pending(); n != 3 {
		t.Fatalf("%d pending before the recorder runs, want 3", n)
	}
	if waiting, stored := rc.State("pr-b"); !waiting || stored {
		t.Fatalf("pr-b before the recorder runs: waiting %v, stored %v", waiting, stored)
	}
	if waiting, stored := rc.State("pr-z"); waiting || stored {
		t.Fatalf("a job never handed over: waiting %v, stored %v", waiting, stored)
	}
	go func() { _ = rc.Start(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	sawFailure := false
	for {
		n, err := rc.Pending()
		sawFailure = sawFailure || err != nil
		if n == 0 && err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d records still pending (%v)", n, err)
		}
		time.Sleep(10 * time.Millisecond) // polled, as Eventually does
	}
	if !sawFailure {
		t.Error("the store's failure was never reported")
	}
	if waiting, stored := rc.State("pr-b"); waiting || !stored {
		t.Fatalf("pr-b once stored: waiting %v, stored %v", waiting, stored)
	}
	for done.Load() != 3 { // told right after the last is stored
		if time.Now().After(deadline) {
			t.Fatalf("the owners were told of %d records, want 3", done.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A record of a day already erased (no backup can need it) is not
	// kept, and does not stop the ones behind it: it counts as stored.
	if _, err := a.Sweep(ctx, now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	rc.Record(replay.Record{Namespace: "shop", Name: "orders", JobID: "pr-old", Type: privacyv1alpha1.RequestTypeDelete,
		Identities: map[string]string{"email": "alan@example.com"}, FinishedAt: now.Add(-72 * time.Hour)}, func() { done.Add(1) })
	rc.Record(replay.Record{Namespace: "shop", Name: "orders", JobID: "pr-d", Type: privacyv1alpha1.RequestTypeDelete,
		Identities: map[string]string{"email": "alan@example.com"}, FinishedAt: now.Add(3 * time.Millisecond)}, func() { done.Add(1) })
	for done.Load() != 5 {
		if time.Now().After(deadline) {
			t.Fatalf("told of %d records, want 5: an erased day's record stopped the queue", done.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, stored := rc.State("pr-old"); !stored {
		t.Fatal("the erased day's record does not count as kept: its owner would wait for ever")
	}
	var jobs []string
	if err := a.Since(ctx, "shop", "orders", now.Add(-time.Second), "", func(_ string, r replay.Record) error { jobs = append(jobs, r.JobID); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(jobs, []string{"pr-a", "pr-b", "pr-c", "pr-d"}) {
		t.Fatalf("stored %q, want all four in order", jobs)
	}
}
