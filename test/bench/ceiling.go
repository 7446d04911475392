package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// The ceiling: what the same control plane, with the product's CRDs and
// CEL rules, accepts when a plain client makes exactly the writes the
// engine makes per request, with no engine at all. The pattern is not
// written down here but recorded: a pilot run of the engine is watched,
// and each watch event after the create is one write (an update of the
// object, such as a finalizer, or a status patch), and each Event the
// engine recorded about the request is one more write. When the engine's
// writes change, the ceiling follows. (DataSource status writes are not
// replayed: they are paced per source, at most one a second, not made per
// request; the bench reports them per request beside the engine's.)

// pattern is one request's writes: its states, create first, one per
// write, and the Events recorded about it.
type pattern struct {
	states []*privacyv1alpha1.PrivacyRequest
	events []eventsv1.Event
}

// recordPattern runs pilot requests through the engine and returns the
// writes of the median one.
func recordPattern(ctx context.Context, s *stack, pilot int) (*pattern, error) {
	w, err := s.c.Watch(ctx, &privacyv1alpha1.PrivacyRequestList{})
	if err != nil {
		return nil, err
	}
	states := map[string][]*privacyv1alpha1.PrivacyRequest{}
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			pr, ok := ev.Object.(*privacyv1alpha1.PrivacyRequest)
			if !ok || (ev.Type != watch.Added && ev.Type != watch.Modified) {
				continue
			}
			mu.Lock()
			states[pr.Name] = append(states[pr.Name], pr)
			mu.Unlock()
		}
	}()
	if _, err := measure(ctx, s, "pilot", "pilot", pilot, 0); err != nil {
		w.Stop()
		return nil, err
	}
	// Writes that follow Completed (none today) would come within moments.
	time.Sleep(2 * time.Second)
	w.Stop()
	<-done
	mu.Lock()
	defer mu.Unlock()
	seqs := slices.Collect(maps.Values(states))
	sort.Slice(seqs, func(i, j int) bool { return len(seqs[i]) < len(seqs[j]) })
	p := &pattern{states: seqs[len(seqs)/2]}
	var evs eventsv1.EventList
	if err := s.c.List(ctx, &evs, client.InNamespace(p.states[0].Namespace)); err != nil {
		return nil, fmt.Errorf("list the pilot's Events: %w", err)
	}
	for _, ev := range evs.Items {
		if ev.Regarding.Kind == "PrivacyRequest" && ev.Regarding.Name == p.states[0].Name {
			p.events = append(p.events, ev)
		}
	}
	return p, nil
}

// describe names the writes of a pattern, e.g. "create, status, status, event".
func (p *pattern) describe() []string {
	out := []string{"create"}
	for k := 1; k < len(p.states); k++ {
		if metadataChanged(p.states[k-1], p.states[k]) {
			out = append(out, "update")
		} else {
			out = append(out, "status")
		}
	}
	for range p.events {
		out = append(out, "event")
	}
	return out
}

func metadataChanged(a, b *privacyv1alpha1.PrivacyRequest) bool {
	return !equality.Semantic.DeepEqual(a.Finalizers, b.Finalizers) ||
		!equality.Semantic.DeepEqual(a.Labels, b.Labels) || !equality.Semantic.DeepEqual(a.Annotations, b.Annotations)
}

// replay makes the pattern's writes for m requests named prefix-i, with
// conc clients (each carries one request's writes in order), and returns
// requests per second. The engine must not run meanwhile.
func replay(ctx context.Context, c client.Client, p *pattern, prefix string, m, conc int) (float64, error) {
	work := make(chan int)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for i := range work {
				if err := p.replayOne(ctx, c, fmt.Sprintf("%s-%05d", prefix, i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range m {
		select {
		case work <- i:
		case err := <-errs:
			close(work)
			wg.Wait()
			return 0, err
		}
	}
	close(work)
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return float64(m) / time.Since(start).Seconds(), nil
}

func (p *pattern) replayOne(ctx context.Context, c client.Client, name string) error {
	first := p.states[0]
	obj := first.DeepCopy()
	obj.Name, obj.ResourceVersion, obj.UID, obj.ManagedFields = name, "", "", nil
	obj.Generation = 0
	obj.Status = privacyv1alpha1.PrivacyRequestStatus{}
	if err := c.Create(ctx, obj); err != nil {
		return fmt.Errorf("replay create: %w", err)
	}
	for k := 1; k < len(p.states); k++ {
		next := p.states[k]
		if metadataChanged(p.states[k-1], next) {
			obj.Finalizers, obj.Labels, obj.Annotations = next.Finalizers, next.Labels, next.Annotations
			if err := c.Update(ctx, obj); err != nil {
				return fmt.Errorf("replay update: %w", err)
			}
			continue
		}
		base := obj.DeepCopy()
		obj.Status = *next.Status.DeepCopy()
		if err := c.Status().Patch(ctx, obj, client.MergeFrom(base)); err != nil {
			return fmt.Errorf("replay status patch: %w", err)
		}
	}
	for i, ev := range p.events {
		ev := *ev.DeepCopy()
		ev.ObjectMeta = metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", name, i), Namespace: ev.Namespace}
		ev.Regarding.Name, ev.Regarding.UID, ev.Regarding.ResourceVersion = name, obj.UID, obj.ResourceVersion
		ev.EventTime = metav1.NewMicroTime(time.Now())
		if err := c.Create(ctx, &ev); err != nil {
			return fmt.Errorf("replay event: %w", err)
		}
	}
	return nil
}

// ceiling measures the control plane alone on a stack of its own: the
// pilot records the pattern, the operator stops, and a plain client
// replays it at each concurrency, with one watch on the requests open.
func ceiling(ctx context.Context, managerBin string, n, m int, concurrencies []int) (map[int]float64, []string, error) {
	s, err := startStack(ctx, managerBin, n)
	if err != nil {
		return nil, nil, err
	}
	defer s.stop()
	p, err := recordPattern(ctx, s, 20)
	if err != nil {
		return nil, nil, err
	}
	s.op.Stop()
	out := map[int]float64{}
	sec0, n0, err := s.writeSeconds(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Any engine watches the requests it writes: the API server sends each
	// write to one watcher here too, as it does to the operator's informer.
	w, err := s.c.Watch(ctx, &privacyv1alpha1.PrivacyRequestList{})
	if err != nil {
		return nil, nil, err
	}
	defer w.Stop()
	go func() {
		for range w.ResultChan() { //nolint:revive // drained, as an informer would
		}
	}()
	for _, conc := range concurrencies {
		if out[conc], err = replay(ctx, s.c, p, fmt.Sprintf("ceiling-c%d", conc), m, conc); err != nil {
			return nil, nil, err
		}
	}
	sec1, n1, err := s.writeSeconds(ctx)
	if err != nil {
		return nil, nil, err
	}
	last := p.states[len(p.states)-1]
	raw, _ := json.Marshal(last.Status.Sources)
	fmt.Printf("ceiling: a finished request's status is %d bytes, %d per source; the API server spends %.1f ms per write on it\n",
		len(mustJSON(last.Status)), len(raw)/max(len(last.Status.Sources), 1), 1000*(sec1-sec0)/max(n1-n0, 1))
	return out, p.describe(), nil
}

func mustJSON(v any) []byte {
	raw, _ := json.Marshal(v)
	return raw
}
