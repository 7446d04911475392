package controllers

import (
	"context"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/types"

	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
)

// exportDesk runs the export store's calls off the reconcile workers, as
// the dispatcher does for HTTP: a pass asks for a call and goes on; the
// call runs on one of the desk's own goroutines (at most exportCalls at
// once), and its end wakes the request, whose next pass takes the result.
// A slow or black-holed bucket then holds the desk, and the Access
// requests that wait for it, but no reconcile worker: a Delete request that
// needs no store is not delayed by it.
type exportDesk struct {
	wakeups *Wakeups
	sem     chan struct{}

	mu    sync.Mutex
	calls map[string]*exportCall
}

// exportCall is one store call: running until done.
type exportCall struct {
	done bool
	ref  export.Ref
	err  error
}

// exportCalls bounds the store calls under way at once.
const exportCalls = 4

func newExportDesk(w *Wakeups) *exportDesk {
	return &exportDesk{wakeups: w, sem: make(chan struct{}, exportCalls), calls: map[string]*exportCall{}}
}

// do returns the result of the call named key (uid/what) for the request
// named owner once it ended, forgetting it; until then it starts fn (once)
// and reports pending. fn runs with a context of its own: a store call
// outlives the pass that asked for it, and is bounded by the store's own
// timeouts (export.Timeouts).
func (d *exportDesk) do(owner, key string, fn func(ctx context.Context) (export.Ref, error)) (ref export.Ref, err error, pending bool) {
	key = owner + "/" + key
	d.mu.Lock()
	c, ok := d.calls[key]
	if ok && c.done {
		delete(d.calls, key)
		d.mu.Unlock()
		return c.ref, c.err, false
	}
	if ok {
		d.mu.Unlock()
		return export.Ref{}, nil, true
	}
	if strings.HasSuffix(key, "/delete") && d.busyLocked(owner) {
		// A part or an export being written now would outlive a delete
		// that ran first: the delete waits for them (their end wakes
		// the request).
		d.mu.Unlock()
		return export.Ref{}, nil, true
	}
	c = &exportCall{}
	d.calls[key] = c
	d.mu.Unlock()
	go func() {
		d.sem <- struct{}{}
		ref, err := fn(context.Background())
		<-d.sem
		d.mu.Lock()
		c.done, c.ref, c.err = true, ref, err
		d.mu.Unlock()
		d.wakeups.Notify(dispatch.Owner{Kind: KindPrivacyRequest, NamespacedName: types.NamespacedName{Name: owner}})
	}()
	return export.Ref{}, nil, true
}

// busyLocked reports a call of the request named owner still under way.
func (d *exportDesk) busyLocked(owner string) bool {
	for key, c := range d.calls {
		if !c.done && strings.HasPrefix(key, owner+"/") {
			return true
		}
	}
	return false
}

// forget drops the ended calls of the request named owner: it is gone,
// and nothing will take their results.
func (d *exportDesk) forget(owner string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for key, c := range d.calls {
		if c.done && strings.HasPrefix(key, owner+"/") {
			delete(d.calls, key)
		}
	}
}

// spawn runs fn off the workers, with no result to take: a cleanup whose
// failure fn logs itself.
func (d *exportDesk) spawn(fn func(ctx context.Context)) {
	go func() {
		d.sem <- struct{}{}
		defer func() { <-d.sem }()
		fn(context.Background())
	}()
}
