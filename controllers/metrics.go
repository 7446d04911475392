package controllers

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics of the PrivacyRequest engine, on controller-runtime's registry.
// Labels carry request types, outcomes and DataSource names only: never
// identities.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "privacyoperator_requests_total",
		Help: "Finished PrivacyRequests by type and outcome (Completed, Failed).",
	}, []string{"type", "outcome"})
	jobsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "privacyoperator_jobs_total",
		Help: "Finished jobs by DataSource and outcome (Completed, NotFound, Failed).",
	}, []string{"source_namespace", "source", "outcome"})
	jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "privacyoperator_job_duration_seconds",
		Help:    "Time from a request's first dispatch to a source's final answer, by request type.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600},
	}, []string{"type"})
	overdueRequests = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "privacyoperator_overdue_requests",
		Help: "Unfinished PrivacyRequests past their due date.",
	})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, jobsTotal, jobDuration, overdueRequests)
}

// overdueSet tracks which requests are overdue, for the gauge.
type overdueSet struct {
	mu    sync.Mutex
	names map[string]struct{}
}

func (o *overdueSet) set(name string, overdue bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.names == nil {
		o.names = map[string]struct{}{}
	}
	if overdue {
		o.names[name] = struct{}{}
	} else {
		delete(o.names, name)
	}
	overdueRequests.Set(float64(len(o.names)))
}
