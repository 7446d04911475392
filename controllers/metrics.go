package controllers

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
)

// Metrics of the PrivacyRequest engine, on controller-runtime's registry.
// Labels carry request types, outcomes and DataSource names only: never
// identities.
var (
	requestsTotal = counterVec("privacyoperator_requests_total",
		"Finished PrivacyRequests by type and outcome (Completed, Failed).",
		"type", "outcome")
	jobsTotal = counterVec("privacyoperator_jobs_total",
		"Finished jobs by DataSource and outcome (Completed, NotFound, Failed).",
		"source_namespace", "source", "outcome")
	jobDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "privacyoperator_job_duration_seconds",
		Help:    "Time from a request's first dispatch to a source's final answer, by request type.",
		Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 24 * 3600},
	}, []string{"type"})
	overdueRequests = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "privacyoperator_overdue_requests",
		Help: "Unfinished PrivacyRequests past their due date.",
	})
	dueSoonRequests = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "privacyoperator_requests_due_soon",
		Help: "Unfinished PrivacyRequests that have used --due-soon-share of their time and are not yet overdue.",
	})
)

func init() {
	metrics.Registry.MustRegister(jobDuration, overdueRequests, dueSoonRequests)
}

// counterVec and gaugeVec make a metric and register it.
func counterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	metrics.Registry.MustRegister(c)
	return c
}

func gaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	metrics.Registry.MustRegister(g)
	return g
}

// requestSet tracks which requests are in a state (overdue, due soon), for
// its gauge.
type requestSet struct {
	gauge prometheus.Gauge
	mu    sync.Mutex
	names map[string]struct{}
}

func (o *requestSet) set(name string, in bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.names == nil {
		o.names = map[string]struct{}{}
	}
	if in {
		o.names[name] = struct{}{}
	} else {
		delete(o.names, name)
	}
	if o.gauge != nil {
		o.gauge.Set(float64(len(o.names)))
	}
}

// RetentionPolicy and coverage metrics.
var (
	purgeRunsTotal = counterVec("privacyoperator_retention_runs_total",
		"Finished retention runs by policy and outcome (Succeeded, PartiallyFailed, Failed).",
		"policy", "outcome")
	recordsPurgedTotal = counterVec("privacyoperator_retention_records_purged_total",
		"Records purged (deleted or anonymized) by policy.",
		"policy")
	lastSuccessTimestamp = gaugeVec("privacyoperator_retention_last_success_timestamp_seconds",
		"Slot (Unix time) of the policy's latest run that succeeded at every source.",
		"policy")
	schedulePeriod = gaugeVec("privacyoperator_retention_schedule_period_seconds",
		"Time between the policy's next two slots, for alerts on missed runs.",
		"policy")
	uncoveredCategories = gaugeVec("privacyoperator_datasource_uncovered_categories",
		"Data categories a DataSource holds that no RetentionPolicy covers; the sum counts uncovered (source, category) pairs.",
		"namespace", "datasource")
)

func observeRun(policy, outcome string, records int64, slot time.Time) {
	purgeRunsTotal.WithLabelValues(policy, outcome).Inc()
	recordsPurgedTotal.WithLabelValues(policy).Add(float64(records))
	if outcome == "Succeeded" {
		lastSuccessTimestamp.WithLabelValues(policy).Set(float64(slot.Unix()))
	}
}

func observePeriod(policy string, next, after time.Time) {
	schedulePeriod.WithLabelValues(policy).Set(after.Sub(next).Seconds())
}

func forgetPolicyMetrics(policy string) {
	lastSuccessTimestamp.DeleteLabelValues(policy)
	schedulePeriod.DeleteLabelValues(policy)
}

// Receipt metrics: the Notary reports through ReceiptMetrics (wiring sets
// its hooks), the request engine through requestsAwaitingReceipt.
var (
	receiptWritesTotal = counterVec("privacyoperator_receipt_writes_total",
		"Attempts to write a receipt by kind (PrivacyRequest, RetentionRun, Sweep) and result (ok, error).",
		"kind", "result")
	receiptsPending = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "privacyoperator_receipts_pending",
		Help: "Receipts waiting to be written to the receipt store; a finished request is not deleted before its receipt is written.",
	})
	receiptSweepRemovedTotal = counterVec("privacyoperator_receipt_sweep_removed_total",
		"Receipts removed by the retention sweep (--receipt-retention), by result of the sweep (ok, error).",
		"result")
)

func init() {
	metrics.Registry.MustRegister(receiptsPending)
}

// ReceiptMetrics are the Notary's metric hooks (receipt.NotaryOptions
// OnWrite, OnSweep, OnPending).
func ReceiptMetrics() (onWrite func(kind receipt.Kind, took time.Duration, err error), onSweep func(removed int, err error), onPending func(n int)) {
	result := func(err error) string {
		if err != nil {
			return "error"
		}
		return "ok"
	}
	return func(kind receipt.Kind, _ time.Duration, err error) {
			receiptWritesTotal.WithLabelValues(string(kind), result(err)).Inc()
		}, func(removed int, err error) {
			receiptSweepRemovedTotal.WithLabelValues(result(err)).Add(float64(removed))
		}, func(n int) {
			receiptsPending.Set(float64(n))
		}
}
