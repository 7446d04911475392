package controllers

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
)

func dataSourceWithReady(status metav1.ConditionStatus, reason string) *privacyv1alpha1.DataSource {
	ds := &privacyv1alpha1.DataSource{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "db", Generation: 1, Labels: map[string]string{"tier": "a"}}}
	conditions.Set(&ds.Status.Conditions, 1, privacyv1alpha1.ConditionReady, status, reason, "msg")
	return ds
}

// setCondition is a change that sets one condition of a DataSource.
func setCondition(t string, status metav1.ConditionStatus, reason, message string) func(*privacyv1alpha1.DataSource) {
	return func(ds *privacyv1alpha1.DataSource) {
		conditions.Set(&ds.Status.Conditions, 1, t, status, reason, message)
	}
}

// TestDataSourceJobFacts: a DataSource status write wakes requests and
// policies only when it changes something they decide on.
func TestDataSourceJobFacts(t *testing.T) {
	now := metav1.Now()
	for _, tc := range []struct {
		name   string
		change func(ds *privacyv1alpha1.DataSource)
		wakes  bool
	}{
		{"activeJobs moved", func(ds *privacyv1alpha1.DataSource) { ds.Status.ActiveJobs = 7 }, false},
		{"probed again, nothing new", func(ds *privacyv1alpha1.DataSource) { ds.Status.LastProbeTime = &now }, false},
		{"retention coverage changed", setCondition(privacyv1alpha1.ConditionRetentionCovered, metav1.ConditionFalse, privacyv1alpha1.ReasonUncoveredCategories, "x"), false},
		{"Ready message only", setCondition(privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded, "other"), false},
		{"became not Ready", setCondition(privacyv1alpha1.ConditionReady, metav1.ConditionFalse, privacyv1alpha1.ReasonEndpointUnreachable, "down"), true},
		{"Ready reason changed", setCondition(privacyv1alpha1.ConditionReady, metav1.ConditionTrue, privacyv1alpha1.ReasonInitializing, "msg"), true},
		{"spec changed", func(ds *privacyv1alpha1.DataSource) { ds.Generation = 2 }, true},
		{"labels changed", func(ds *privacyv1alpha1.DataSource) { ds.Labels["tier"] = "b" }, true},
		{"being deleted", func(ds *privacyv1alpha1.DataSource) { ds.DeletionTimestamp = &now }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := dataSourceWithReady(metav1.ConditionTrue, privacyv1alpha1.ReasonProbeSucceeded)
			cur := old.DeepCopy()
			tc.change(cur)
			if got := dataSourceJobFacts.Update(event.UpdateEvent{ObjectOld: old, ObjectNew: cur}); got != tc.wakes {
				t.Errorf("wakes = %v, want %v", got, tc.wakes)
			}
		})
	}
}

// recordingQueue records AddAfter; the handler calls nothing else.
type recordingQueue struct {
	workqueue.TypedRateLimitingInterface[reconcile.Request]
	added map[reconcile.Request]time.Duration
}

func (q *recordingQueue) AddAfter(r reconcile.Request, d time.Duration) { q.added[r] = d }

func requestAt(phases map[string]privacyv1alpha1.SourcePhase) *privacyv1alpha1.PrivacyRequest {
	pr := &privacyv1alpha1.PrivacyRequest{ObjectMeta: metav1.ObjectMeta{Name: "r"}}
	for name, phase := range phases {
		pr.Status.Sources = append(pr.Status.Sources, privacyv1alpha1.SourceStatus{Namespace: "shop", Name: name, Phase: phase})
	}
	return pr
}

// TestActiveJobsHandler: a request's change wakes the DataSources whose
// count it moved, a second later, and no other.
func TestActiveJobsHandler(t *testing.T) {
	pending, done := privacyv1alpha1.SourcePhasePending, privacyv1alpha1.SourcePhaseCompleted
	for _, tc := range []struct {
		name     string
		old, cur map[string]privacyv1alpha1.SourcePhase
		want     []string
	}{
		{"sources fixed", nil, map[string]privacyv1alpha1.SourcePhase{"a": pending, "b": pending}, []string{"a", "b"}},
		{"an attempt counted, sets unchanged", map[string]privacyv1alpha1.SourcePhase{"a": pending, "b": pending},
			map[string]privacyv1alpha1.SourcePhase{"a": privacyv1alpha1.SourcePhaseDispatched, "b": pending}, nil},
		{"one source finished", map[string]privacyv1alpha1.SourcePhase{"a": pending, "b": pending},
			map[string]privacyv1alpha1.SourcePhase{"a": done, "b": pending}, []string{"a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := &recordingQueue{added: map[reconcile.Request]time.Duration{}}
			activeJobsHandler{tally: &activeTally{}}.Update(context.Background(), event.UpdateEvent{ObjectOld: requestAt(tc.old), ObjectNew: requestAt(tc.cur)}, q)
			if len(q.added) != len(tc.want) {
				t.Fatalf("woke %v, want %v", q.added, tc.want)
			}
			for _, name := range tc.want {
				d, ok := q.added[reconcile.Request{NamespacedName: sourceRequest("shop/" + name).NamespacedName}]
				if !ok || d != activeJobsPeriod {
					t.Errorf("DataSource %s: woken %v after %s, want after %s", name, ok, d, activeJobsPeriod)
				}
			}
		})
	}
	q := &recordingQueue{added: map[reconcile.Request]time.Duration{}}
	activeJobsHandler{tally: &activeTally{}}.Delete(context.Background(), event.DeleteEvent{Object: requestAt(map[string]privacyv1alpha1.SourcePhase{"a": pending})}, q)
	if len(q.added) != 1 {
		t.Errorf("deleting a request with an open job woke %v, want its DataSource", q.added)
	}
}

// TestActiveTally: the count of requests with an open job at a source
// follows the requests' events (created, a source finished, deleted).
func TestActiveTally(t *testing.T) {
	pending, done := privacyv1alpha1.SourcePhasePending, privacyv1alpha1.SourcePhaseCompleted
	tally := &activeTally{}
	h := activeJobsHandler{tally: tally}
	q := &recordingQueue{added: map[reconcile.Request]time.Duration{}}
	named := func(name string, phases map[string]privacyv1alpha1.SourcePhase) *privacyv1alpha1.PrivacyRequest {
		pr := requestAt(phases)
		pr.Name = name
		return pr
	}
	r1 := named("r1", map[string]privacyv1alpha1.SourcePhase{"a": pending, "b": pending})
	r2 := named("r2", map[string]privacyv1alpha1.SourcePhase{"a": pending})
	h.Create(context.Background(), event.CreateEvent{Object: r1}, q)
	h.Create(context.Background(), event.CreateEvent{Object: r2}, q)
	h.Update(context.Background(), event.UpdateEvent{ObjectOld: r2, ObjectNew: r2.DeepCopy()}, q) // a write that moves nothing
	if a, b := tally.count("shop/a"), tally.count("shop/b"); a != 2 || b != 1 {
		t.Fatalf("after two requests: a=%d b=%d, want 2 and 1", a, b)
	}
	r1b := named("r1", map[string]privacyv1alpha1.SourcePhase{"a": done, "b": pending})
	h.Update(context.Background(), event.UpdateEvent{ObjectOld: r1, ObjectNew: r1b}, q)
	h.Delete(context.Background(), event.DeleteEvent{Object: r2}, q)
	if a, b := tally.count("shop/a"), tally.count("shop/b"); a != 0 || b != 1 {
		t.Errorf("after r1 finished at a and r2 was deleted: a=%d b=%d, want 0 and 1", a, b)
	}
	h.Delete(context.Background(), event.DeleteEvent{Object: r1b}, q)
	if len(tally.requests) != 0 {
		t.Errorf("every request gone, the tally still holds %v", tally.requests)
	}
}

func TestActiveJobsPacer(t *testing.T) {
	var p activeJobsPacer
	key := sourceRequest("shop/db").NamespacedName
	t0 := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	if ok, _ := p.allow(key, t0); !ok {
		t.Fatal("a first write is refused")
	}
	p.wrote(key, t0)
	if ok, next := p.allow(key, t0.Add(300*time.Millisecond)); ok || !next.Equal(t0.Add(activeJobsPeriod)) {
		t.Errorf("a second write within the period: allowed %v, next %s", ok, next)
	}
	if ok, _ := p.allow(key, t0.Add(activeJobsPeriod)); !ok {
		t.Error("a write after the period is refused")
	}
}
