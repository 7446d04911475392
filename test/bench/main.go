// Command bench measures the PrivacyRequest engine end to end: a real
// kube-apiserver and etcd (envtest), the operator binary as its own
// process, N data sources built on the SDK on loopback, and Delete
// requests in two load shapes: a burst (M created at once) and an open
// loop (R per second for T, created on a fixed schedule whatever the
// engine does); then Restores replaying 10,000 records (restore.go). Before the engine runs, it measures the ceiling: the same
// control plane taking the engine's own writes per request from a plain
// client, with no engine (see ceiling.go); it prints engine / ceiling.
//
//	KUBEBUILDER_ASSETS=$(hack/envtest-binaries.sh) go run ./test/bench
//	go run ./test/bench -scale     # the scale table (make bench-scale)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
)

var (
	// workers is the operator's --privacyrequest-workers, and the
	// ceiling's first client concurrency.
	workers int
	// operatorMemLimit is the operator process's GOMEMLIMIT (-operator-gomemlimit).
	operatorMemLimit string
)

type config struct {
	m, n         int
	rate         float64
	rateFor      time.Duration
	skipCeiling  bool
	atRest       bool
	cpuProfile   string
	heapProfile  string
	managerBin   string
	profileLimit time.Duration
	// restoreRecords is how many replay records the Restore phase replays
	// (0 skips it).
	restoreRecords int
}

func main() {
	var cfg config
	flag.IntVar(&cfg.m, "requests", 1000, "requests in the burst (M)")
	flag.IntVar(&cfg.n, "sources", 10, "data sources (N)")
	flag.Float64Var(&cfg.rate, "rate", 20, "open loop: requests created per second (0 skips the open loop)")
	flag.DurationVar(&cfg.rateFor, "rate-for", 30*time.Second, "open loop: for how long")
	flag.BoolVar(&cfg.skipCeiling, "no-ceiling", false, "skip the ceiling measurement")
	flag.BoolVar(&cfg.atRest, "at-rest", true, "after the burst, report the operator's heap and RSS after a forced GC with every request kept")
	flag.StringVar(&cfg.cpuProfile, "cpuprofile", "", "write the operator's CPU profile of the burst to this file")
	flag.StringVar(&cfg.heapProfile, "memprofile", "", "write the operator's heap profile after the burst to this file")
	flag.StringVar(&atRestProfile, "memprofile-at-rest", "", "write the operator's heap profile at rest (after the forced GCs) to this file")
	flag.DurationVar(&atRestAfter, "at-rest-after", 0, "wait this long once the operator is idle before measuring at rest (client-go's Event series cache lets a burst's Events go 6 to 12 minutes later: 13m measures without them)")
	flag.DurationVar(&cfg.profileLimit, "cpuprofile-seconds", 20*time.Second, "length of the CPU profile, from the burst's start")
	flag.IntVar(&cfg.restoreRecords, "restore-records", 10000, "Restores: replay records (at the N sources) sent again by one Restore per source (0 skips)")
	flag.IntVar(&workers, "workers", 8, "PrivacyRequest reconcile workers (--privacyrequest-workers)")
	flag.StringVar(&operatorMemLimit, "operator-gomemlimit", "", "GOMEMLIMIT of the operator's process only (the chart's is 200MiB); empty: none")
	scale := flag.Bool("scale", false, "run the scale points (M in 100, 1k, 10k at N=10; N in 1, 10, 100 at M=1k) and print one table")
	timeout := flag.Duration("timeout", 60*time.Minute, "give up after this long")
	flag.Parse()
	ctrl.SetLogger(logr.Discard())

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	dir, err := os.MkdirTemp("", "privacy-bench-")
	if err == nil {
		defer os.RemoveAll(dir)
		cfg.managerBin, err = buildManager(dir)
	}
	if err == nil {
		if *scale {
			err = runScale(ctx, cfg)
		} else {
			err = run(ctx, cfg)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	fmt.Printf("bench: N=%d sources, %d workers, burst M=%d, open loop %g/s for %s\n", cfg.n, workers, cfg.m, cfg.rate, cfg.rateFor)
	var ceil map[int]float64
	if !cfg.skipCeiling {
		var pattern []string
		var err error
		if ceil, pattern, err = ceiling(ctx, cfg.managerBin, cfg.n, cfg.m, []int{workers, 16}); err != nil {
			return fmt.Errorf("ceiling: %w", err)
		}
		fmt.Printf("ceiling: the engine's writes per request %v, replayed by a plain client: %.1f requests/s at %d clients, %.1f at 16\n",
			pattern, ceil[workers], workers, ceil[16])
	}

	s, err := startStack(ctx, cfg.managerBin, cfg.n)
	if err != nil {
		return err
	}
	defer s.stop()
	burst, err := burstWithProfiles(ctx, s, cfg)
	if err != nil {
		return err
	}
	burst.print()
	if ceil != nil {
		fmt.Printf("  engine / ceiling = %.2f (at %d clients), %.2f (at 16)\n", burst.perSecond/ceil[workers], workers, burst.perSecond/ceil[16])
	}
	if cfg.atRest {
		if err := printAtRest(ctx, s, cfg.m); err != nil {
			return err
		}
	}
	if cfg.rate > 0 {
		open, err := measure(ctx, s, fmt.Sprintf("open loop %g/s", cfg.rate), "rate", int(cfg.rate*cfg.rateFor.Seconds()), cfg.rate)
		if err != nil {
			return err
		}
		open.print()
	}
	if cfg.restoreRecords > 0 {
		if err := benchRestore(ctx, s, cfg.n, cfg.restoreRecords); err != nil {
			return err
		}
	}
	return nil
}

// burstWithProfiles runs the burst, profiling the operator if asked.
func burstWithProfiles(ctx context.Context, s *stack, cfg config) (*result, error) {
	profiled := make(chan error, 1)
	if cfg.cpuProfile != "" {
		go func() {
			profiled <- s.pprof(ctx, fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(cfg.profileLimit.Seconds())), cfg.cpuProfile)
		}()
	} else {
		profiled <- nil
	}
	r, err := measure(ctx, s, "burst", "burst", cfg.m, 0)
	if err != nil {
		return nil, err
	}
	if err := <-profiled; err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if cfg.heapProfile != "" {
		if err := s.pprof(ctx, "/debug/pprof/heap?gc=1", cfg.heapProfile); err != nil {
			return nil, fmt.Errorf("heap profile: %w", err)
		}
	}
	return r, nil
}

// printAtRest reports the operator's memory with the finished requests of
// the burst kept, after a forced GC (the heap profile endpoint runs one).
func printAtRest(ctx context.Context, s *stack, m int) error {
	at, err := s.atRest(ctx, m)
	if err != nil {
		return err
	}
	fmt.Printf("at rest: %d finished requests kept; manager heap_inuse=%.0fMiB heap_live=%.0fMiB rss=%.0fMiB after a forced GC\n",
		m, at.heapInuse/(1<<20), at.heapLive/(1<<20), at.rss/(1<<20))
	return nil
}

// runScale runs the burst at each scale point on a fresh stack and prints
// one table.
func runScale(ctx context.Context, cfg config) error {
	type point struct{ m, n int }
	points := []point{{100, 10}, {1000, 10}, {10000, 10}, {1000, 1}, {1000, 100}}
	fmt.Printf("%-7s %-5s %-11s %-9s %-12s %-10s %-14s %-14s %-13s\n", "M", "N", "requests/s", "writes/r", "ds-writes/r", "p99", "heap MiB peak", "heap MiB rest", "cpu s/request")
	for _, p := range points {
		s, err := startStack(ctx, cfg.managerBin, p.n)
		if err != nil {
			return err
		}
		r, err := measure(ctx, s, "burst", "scale", p.m, 0)
		var rest managerSample
		if err == nil {
			rest, err = s.atRest(ctx, p.m)
		}
		s.stop()
		if err != nil {
			return fmt.Errorf("scale point of %d requests x %d sources: %w", p.m, p.n, err)
		}
		fmt.Printf("%-7d %-5d %-11.1f %-9.2f %-12.2f %-10s %-14s %-14.0f %-13.4f\n", p.m, p.n, r.perSecond,
			r.writes["privacyrequests"], r.writes["datasources"], ms(r.p99),
			fmt.Sprintf("%.0f (rss %.0f)", r.peakHeapMiB, r.peakRSS), rest.heapInuse/(1<<20), r.cpuPerRequest)
	}
	return nil
}

// atRestProfile is where atRest keeps its heap profile (-memprofile-at-rest).
var atRestProfile string

// atRestAfter is how long atRest waits once idle (-at-rest-after).
var atRestAfter time.Duration

// atRest samples the operator once it is idle (its work queues empty and
// no reconcile running), after two forced GCs: the first frees what the
// burst left, the second the buffers pools kept through the first. The
// heap profile endpoint runs each GC; the second profile is kept.
func (s *stack) atRest(ctx context.Context, m int) (managerSample, error) {
	// After a large burst the receipts are still being recorded in the
	// requests' status (one write each) when the last request completes:
	// up to a minute per thousand requests.
	if err := s.waitIdle(ctx, time.Duration(max(1, m/1000))*time.Minute); err != nil {
		return managerSample{}, err
	}
	if atRestAfter > 0 {
		fmt.Fprintf(os.Stderr, "at rest: waiting %s before measuring\n", atRestAfter)
		select {
		case <-time.After(atRestAfter):
		case <-ctx.Done():
			return managerSample{}, ctx.Err()
		}
	}
	file := atRestProfile
	if file == "" {
		file = filepath.Join(s.env.Dir, "heap-at-rest.pb.gz")
	}
	for range 2 {
		if err := s.pprof(ctx, "/debug/pprof/heap?gc=1", file); err != nil {
			return managerSample{}, err
		}
	}
	return s.sample(ctx)
}
