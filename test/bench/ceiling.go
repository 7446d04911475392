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

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// The ceiling: what the same control plane, with the product's CRDs and
// CEL rules, accepts when a plain client makes exactly the writes the
// engine makes per request, with no engine at all. The pattern is not
// written down here but recorded: a pilot run of the engine is watched,
// and each watch event after the create is one write (an update of the
// object, such as a finalizer, or a status patch). When the engine's
// writes change, the ceiling follows.

// recordPattern runs pilot requests through the engine and returns the
// states of the median one, create first, one per write.
func recordPattern(ctx context.Context, s *stack, pilot int) ([]*privacyv1alpha1.PrivacyRequest, error) {
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
	return seqs[len(seqs)/2], nil
}

// describe names the writes of a pattern, e.g. "create, update, status, status".
func describe(pattern []*privacyv1alpha1.PrivacyRequest) []string {
	out := []string{"create"}
	for k := 1; k < len(pattern); k++ {
		if metadataChanged(pattern[k-1], pattern[k]) {
			out = append(out, "update")
		} else {
			out = append(out, "status")
		}
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
func replay(ctx context.Context, c client.Client, pattern []*privacyv1alpha1.PrivacyRequest, prefix string, m, conc int) (float64, error) {
	work := make(chan int)
	errs := make(chan error, conc)
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for i := range work {
				if err := replayOne(ctx, c, pattern, fmt.Sprintf("%s-%05d", prefix, i)); err != nil {
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

func replayOne(ctx context.Context, c client.Client, pattern []*privacyv1alpha1.PrivacyRequest, name string) error {
	obj := pattern[0].DeepCopy()
	obj.ObjectMeta = *obj.ObjectMeta.DeepCopy()
	obj.Name, obj.ResourceVersion, obj.UID, obj.ManagedFields = name, "", "", nil
	obj.CreationTimestamp, obj.Generation = pattern[0].CreationTimestamp, 0
	obj.Status = privacyv1alpha1.PrivacyRequestStatus{}
	if err := c.Create(ctx, obj); err != nil {
		return fmt.Errorf("replay create: %w", err)
	}
	for k := 1; k < len(pattern); k++ {
		next := pattern[k]
		if metadataChanged(pattern[k-1], next) {
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
	return nil
}

// ceiling measures the control plane alone on a stack of its own: the
// pilot records the pattern, the operator stops, and a plain client
// replays it at each concurrency.
func ceiling(ctx context.Context, managerBin string, n, m int, concurrencies []int) (map[int]float64, []string, error) {
	s, err := startStack(ctx, managerBin, n)
	if err != nil {
		return nil, nil, err
	}
	defer s.stop()
	pattern, err := recordPattern(ctx, s, 20)
	if err != nil {
		return nil, nil, err
	}
	s.op.Stop()
	out := map[int]float64{}
	sec0, n0, err := s.writeSeconds(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, conc := range concurrencies {
		if out[conc], err = replay(ctx, s.c, pattern, fmt.Sprintf("ceiling-c%d", conc), m, conc); err != nil {
			return nil, nil, err
		}
	}
	sec1, n1, err := s.writeSeconds(ctx)
	if err != nil {
		return nil, nil, err
	}
	last := pattern[len(pattern)-1]
	raw, _ := json.Marshal(last.Status.Sources)
	fmt.Printf("ceiling: a finished request's status is %d bytes, %d per source; the API server spends %.1f ms per write on it\n",
		len(mustJSON(last.Status)), len(raw)/max(len(last.Status.Sources), 1), 1000*(sec1-sec0)/max(n1-n0, 1))
	return out, describe(pattern), nil
}

func mustJSON(v any) []byte {
	raw, _ := json.Marshal(v)
	return raw
}
