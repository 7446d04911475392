package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// load is one load shape run against a stack: its requests' names, when
// each was created, and each one's time from create to Completed.
type load struct {
	prefix   string
	m        int
	created  sync.Map // name -> time.Time
	finished chan time.Duration
	failed   chan string
}

// watchCompletions starts counting the requests of l that finish. It
// lists, then watches from the list's version, and does both again when
// the API server ends the watch, so that no finish is missed.
func (l *load) watchCompletions(ctx context.Context, c client.WithWatch) (stop func(), err error) {
	ctx, cancel := context.WithCancel(ctx)
	l.finished = make(chan time.Duration, l.m)
	l.failed = make(chan string, l.m)
	done := map[string]bool{}
	see := func(pr *privacyv1alpha1.PrivacyRequest) {
		at, ok := l.created.Load(pr.Name)
		if !ok || done[pr.Name] {
			return
		}
		switch pr.Status.Phase {
		case privacyv1alpha1.RequestPhaseCompleted:
			done[pr.Name] = true
			l.finished <- time.Since(at.(time.Time))
		case privacyv1alpha1.RequestPhaseFailed:
			done[pr.Name] = true
			l.failed <- pr.Name
		}
	}
	go func() {
		for ctx.Err() == nil {
			list := &privacyv1alpha1.PrivacyRequestList{}
			if err := c.List(ctx, list); err != nil {
				time.Sleep(time.Second)
				continue
			}
			for i := range list.Items {
				see(&list.Items[i])
			}
			w, err := c.Watch(ctx, &privacyv1alpha1.PrivacyRequestList{}, &client.ListOptions{Raw: &metav1.ListOptions{ResourceVersion: list.ResourceVersion}})
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			for ev := range w.ResultChan() {
				if pr, ok := ev.Object.(*privacyv1alpha1.PrivacyRequest); ok && ev.Type != watch.Deleted {
					see(pr)
				}
			}
			w.Stop()
		}
	}()
	return cancel, nil
}

// create creates l's m Delete requests with 8 clients: all at once, or,
// at rate > 0, on a fixed schedule of rate per second whatever the engine
// does (open loop).
func (l *load) create(ctx context.Context, c client.Client, rate float64) {
	work := make(chan int)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range work {
				name := fmt.Sprintf("%s-%05d", l.prefix, i)
				l.created.Store(name, time.Now())
				if err := c.Create(ctx, deleteRequest(name, i)); err != nil {
					fmt.Fprintln(os.Stderr, "create:", err)
				}
			}
		})
	}
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	for i := range l.m {
		if tick != nil {
			<-tick
		}
		work <- i
	}
	close(work)
	wg.Wait()
}

// wait collects every request's latency, sorted.
func (l *load) wait(ctx context.Context) ([]time.Duration, error) {
	var all []time.Duration
	for len(all) < l.m {
		select {
		case d := <-l.finished:
			all = append(all, d)
		case name := <-l.failed:
			return nil, fmt.Errorf("request %s failed (the bench's sources never fail: see the operator's log)", name)
		case <-ctx.Done():
			return nil, fmt.Errorf("only %d of %d requests completed", len(all), l.m)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	return all, nil
}

func deleteRequest(name string, i int) *privacyv1alpha1.PrivacyRequest {
	return &privacyv1alpha1.PrivacyRequest{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: privacyv1alpha1.PrivacyRequestSpec{
			Type:    privacyv1alpha1.RequestTypeDelete,
			Subject: privacyv1alpha1.Subject{Identities: map[string]string{"email": fmt.Sprintf("user%d@example.com", i)}},
		},
	}
}

// result is one load shape's figures.
type result struct {
	shape                string
	requests             int
	perSecond            float64
	elapsed              time.Duration
	p50, p95, p99, pmax  time.Duration
	writes               map[string]float64 // per request, by resource
	cpuPerRequest        float64            // manager CPU seconds
	peakHeapMiB, peakRSS float64
}

// measure runs one load shape on s and reports its figures.
func measure(ctx context.Context, s *stack, shape, prefix string, m int, rate float64) (*result, error) {
	l := &load{prefix: prefix, m: m}
	stopWatch, err := l.watchCompletions(ctx, s.c)
	if err != nil {
		return nil, err
	}
	defer stopWatch()
	before, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	stopPeaks := s.peaks(ctx, 250*time.Millisecond)
	start := time.Now()
	l.create(ctx, s.c, rate)
	all, err := l.wait(ctx)
	elapsed := time.Since(start)
	peak := stopPeaks()
	if err != nil {
		return nil, err
	}
	after, err := s.snapshot(ctx)
	if err != nil {
		return nil, err
	}
	r := &result{
		shape: shape, requests: m, perSecond: float64(m) / elapsed.Seconds(), elapsed: elapsed,
		p50: all[len(all)/2], p95: all[len(all)*95/100], p99: all[len(all)*99/100], pmax: all[len(all)-1],
		writes:        map[string]float64{},
		cpuPerRequest: (after.manager.cpuSeconds - before.manager.cpuSeconds) / float64(m),
		peakHeapMiB:   peak.heapInuse / (1 << 20), peakRSS: peak.rss / (1 << 20),
	}
	for res, v := range after.writes {
		r.writes[res] = (v - before.writes[res]) / float64(m)
	}
	return r, nil
}

func (r *result) print() {
	fmt.Printf("%s: requests=%d completed_per_second=%.1f elapsed=%s\n", r.shape, r.requests, r.perSecond, r.elapsed.Round(time.Millisecond))
	fmt.Printf("  latency p50=%s p95=%s p99=%s max=%s\n", ms(r.p50), ms(r.p95), ms(r.p99), ms(r.pmax))
	fmt.Printf("  writes per request: privacyrequests=%.2f datasources=%.2f events=%.2f\n",
		r.writes["privacyrequests"], r.writes["datasources"], r.writes["events"])
	fmt.Printf("  manager: cpu_seconds_per_request=%.4f peak_heap_inuse=%.0fMiB peak_rss=%.0fMiB\n", r.cpuPerRequest, r.peakHeapMiB, r.peakRSS)
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

// counters are the cumulative counts a measurement subtracts.
type counters struct {
	writes  map[string]float64
	manager managerSample
}

func (s *stack) snapshot(ctx context.Context) (counters, error) {
	writes, err := s.apiWrites(ctx)
	if err != nil {
		return counters{}, err
	}
	m, err := s.sample(ctx)
	return counters{writes: writes, manager: m}, err
}
