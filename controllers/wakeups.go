package controllers

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
)

// Wakeups is the one path from the dispatcher back to the reconcilers: each
// reconciler registers its owner kind, and Notify (the dispatcher's
// Options.Notify) wakes the reconciler of an owner with new outcomes.
type Wakeups struct {
	mu     sync.RWMutex
	byKind map[string]func(types.NamespacedName)
}

// Notify wakes the reconciler registered for owner.Kind, if any.
func (w *Wakeups) Notify(owner dispatch.Owner) {
	w.mu.RLock()
	wake := w.byKind[owner.Kind]
	w.mu.RUnlock()
	if wake != nil {
		wake(owner.NamespacedName)
	}
}

// wakeSource registers kind and returns the source a reconciler watches
// for its wake-ups. newObj makes an empty object of the kind.
func wakeSource[T client.Object](w *Wakeups, kind string, newObj func() T) source.Source {
	ch := make(chan event.TypedGenericEvent[T], 1024)
	w.mu.Lock()
	if w.byKind == nil {
		w.byKind = map[string]func(types.NamespacedName){}
	}
	w.byKind[kind] = func(key types.NamespacedName) {
		obj := newObj()
		obj.SetNamespace(key.Namespace)
		obj.SetName(key.Name)
		// Never block a dispatcher worker for long (the controller may be
		// stopping): a dropped wake-up only delays the outcome, which stays
		// stored until the owner's next pass (every open job has a requeue
		// time: its delivery lease or its poll interval).
		select {
		case ch <- event.TypedGenericEvent[T]{Object: obj}:
		case <-time.After(time.Second):
		}
	}
	w.mu.Unlock()
	return source.TypedChannel(ch, &handler.TypedEnqueueRequestForObject[T]{})
}
