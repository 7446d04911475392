package dispatch

// The vocabulary of work and outcomes that reconcilers and the dispatcher share.

import (
	"context"
	"time"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
	"k8s.io/apimachinery/pkg/types"
)

// Op is what a piece of work does at the source.
type Op string

// The operations.
const (
	// OpDeliver POSTs a job.
	OpDeliver Op = "Deliver"
	// OpPoll GETs a job's status.
	OpPoll Op = "Poll"
	// OpCancel DELETEs a job.
	OpCancel Op = "Cancel"
	// OpCallback marks an outcome that a source's callback brought.
	OpCallback Op = "Callback"
	// OpProbe GETs a source's capabilities (the DataSource readiness probe).
	OpProbe Op = "Probe"
)

// Owner is the object a job belongs to; its reconciler is woken up by
// Notify when an outcome arrives.
type Owner struct {
	Kind string
	types.NamespacedName
}

// Target is where and how to reach a data source.
type Target struct {
	Source types.NamespacedName
	// BaseURL is the endpoint that protocol paths are appended to.
	BaseURL string
	// Keys sign requests (all of them, so that a source holding either key
	// of a rotation accepts) and verify answers and callbacks (any).
	Keys []protocol.Key
	// CABundle verifies the endpoint's certificate; empty: system roots.
	CABundle []byte
	// Timeout bounds one exchange.
	Timeout time.Duration
	// MaxConcurrency bounds the exchanges open at this source.
	MaxConcurrency int
}

// Work is one exchange with a source.
type Work struct {
	Owner  Owner
	Op     Op
	JobID  string
	Job    *protocol.Job // for OpDeliver
	Target Target
}

// Result classifies an outcome.
type Result string

// The results of an exchange.
const (
	// ResultFinal: Status holds the source's final JobStatus.
	ResultFinal Result = "Final"
	// ResultAccepted: the source took the job and will finish it later (202, 409).
	ResultAccepted Result = "Accepted"
	// ResultRunning: a poll found the job still running.
	ResultRunning Result = "Running"
	// ResultUnknown: a poll found that the source does not know the job.
	ResultUnknown Result = "Unknown"
	// ResultRetry: a passing failure; retry after RetryAfter, or after
	// backoff when it is zero.
	ResultRetry Result = "Retry"
	// ResultPermanent: the source refused the job (4xx); do not retry.
	ResultPermanent Result = "Permanent"
	// ResultCancelled: a cancellation was sent.
	ResultCancelled Result = "Cancelled"
)

// Outcome is what one exchange (or one callback) brought.
type Outcome struct {
	JobID      string
	Source     types.NamespacedName
	Op         Op
	Result     Result
	Status     *protocol.JobStatus
	RetryAfter time.Duration
	// Message explains a failure for people; it never holds identities.
	Message string
	// Reason classifies a failed exchange with a DataSource Ready reason of
	// api/v1alpha1 (ReasonTLSError, ...); empty on success.
	Reason string
	// Capabilities is what a probe found.
	Capabilities *protocol.Capabilities
	// At is when the outcome arrived.
	At time.Time
	// Latency is how long the exchange took.
	Latency time.Duration
	// DataFile holds the Access data of a final Status when it was spooled
	// (Status.Result.Data is then empty).
	DataFile string
}

// Exchanger runs one exchange with a source; Client is the real one.
type Exchanger interface {
	Exchange(ctx context.Context, w Work) Outcome
}
