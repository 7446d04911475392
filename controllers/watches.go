package controllers

import (
	"context"
	"maps"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
)

// A write wakes only who cares: every status write is an event for every
// watcher, so each watch here passes only the changes its reconciler can
// act on.

// dataSourceJobFacts passes the DataSource changes that can change what a
// job owner (a request, a policy) decides: creation, deletion, spec,
// labels, and Ready's status or reason. A status write that only moves
// activeJobs, lastProbeTime, capabilities or coverage wakes no owner.
var dataSourceJobFacts = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		old, oldOK := e.ObjectOld.(*privacyv1alpha1.DataSource)
		cur, curOK := e.ObjectNew.(*privacyv1alpha1.DataSource)
		if !oldOK || !curOK {
			return true
		}
		if old.Generation != cur.Generation || !maps.Equal(old.Labels, cur.Labels) || !cur.DeletionTimestamp.IsZero() {
			return true
		}
		return !sameReadiness(conditions.Get(old.Status.Conditions, privacyv1alpha1.ConditionReady),
			conditions.Get(cur.Status.Conditions, privacyv1alpha1.ConditionReady))
	},
}

func sameReadiness(a, b *metav1.Condition) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Status == b.Status && a.Reason == b.Reason
}

// activeJobsHandler keeps the tally of requests with an unfinished job at
// each DataSource (read by the DataSource reconciler for status.activeJobs,
// so that counting costs nothing however many requests are open) and wakes
// the DataSources whose count a PrivacyRequest change moved (a source entry
// became active or finished, or the request came or went), one
// activeJobsPeriod later: the delay merges the changes of many requests
// into one pass per DataSource. A request's status write that leaves its
// set of active sources as it was (an attempt counted, a poll scheduled)
// wakes none.
type activeJobsHandler struct{ tally *activeTally }

var _ handler.EventHandler = activeJobsHandler{}

type requestQueue = workqueue.TypedRateLimitingInterface[reconcile.Request]

func (h activeJobsHandler) Create(_ context.Context, e event.CreateEvent, q requestQueue) {
	now := activeSourceSet(e.Object)
	h.tally.move(e.Object.GetName(), nil, now)
	enqueueSources(q, now, nil)
}

func (h activeJobsHandler) Update(_ context.Context, e event.UpdateEvent, q requestQueue) {
	before, now := activeSourceSet(e.ObjectOld), activeSourceSet(e.ObjectNew)
	h.tally.move(e.ObjectNew.GetName(), before, now)
	enqueueSources(q, before, now)
}

func (h activeJobsHandler) Delete(_ context.Context, e event.DeleteEvent, q requestQueue) {
	before := activeSourceSet(e.Object)
	h.tally.move(e.Object.GetName(), before, nil)
	enqueueSources(q, before, nil)
}

// activeTally holds, per DataSource ("namespace/name"), the names of the
// requests with an unfinished job there, as the informer's events tell.
type activeTally struct {
	mu       sync.Mutex
	requests map[string]map[string]struct{}
}

// move records that request's active sources went from before to now.
func (t *activeTally) move(request string, before, now map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.requests == nil {
		t.requests = map[string]map[string]struct{}{}
	}
	for key := range before {
		if !now[key] {
			delete(t.requests[key], request)
			if len(t.requests[key]) == 0 {
				delete(t.requests, key)
			}
		}
	}
	for key := range now {
		set := t.requests[key]
		if set == nil {
			set = map[string]struct{}{}
			t.requests[key] = set
		}
		set[request] = struct{}{}
	}
}

// count is the number of requests with an unfinished job at source.
func (t *activeTally) count(source string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.requests[source])
}

func (activeJobsHandler) Generic(context.Context, event.GenericEvent, requestQueue) {}

// activeSourceSet is the set of DataSources ("namespace/name") at which the
// request has an unfinished job.
func activeSourceSet(obj client.Object) map[string]bool {
	set := map[string]bool{}
	for _, key := range RequestActiveSources(obj) {
		if key != IndexValueAwaitingSources {
			set[key] = true
		}
	}
	return set
}

// enqueueSources wakes the DataSources in exactly one of a and b.
func enqueueSources(q requestQueue, a, b map[string]bool) {
	for key := range a {
		if !b[key] {
			q.AddAfter(sourceRequest(key), activeJobsPeriod)
		}
	}
	for key := range b {
		if !a[key] {
			q.AddAfter(sourceRequest(key), activeJobsPeriod)
		}
	}
}

func sourceRequest(key string) reconcile.Request {
	ns, name, _ := strings.Cut(key, "/")
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}
}

// taskOwner wakes the owner (of the given kind) of a PrivacyTask whose
// outcome a person set, or that was deleted (an open task deleted by
// hand is created again). Its creation and the operator's own status
// writes on it wake nobody.
func taskOwner(kind string) (handler.EventHandler, predicate.Predicate) {
	owner := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		task, ok := obj.(*privacyv1alpha1.PrivacyTask)
		if !ok || task.Spec.Request.Kind != kind {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: task.Spec.Request.Name}}}
	})
	return owner, predicate.Funcs{
		CreateFunc:  func(event.CreateEvent) bool { return false },
		GenericFunc: func(event.GenericEvent) bool { return false },
		UpdateFunc: func(e event.UpdateEvent) bool {
			old, oldOK := e.ObjectOld.(*privacyv1alpha1.PrivacyTask)
			cur, curOK := e.ObjectNew.(*privacyv1alpha1.PrivacyTask)
			return !oldOK || !curOK || (old.Spec.Outcome == nil) != (cur.Spec.Outcome == nil)
		},
	}
}
