package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// Budget bounds the bytes of answer and callback bodies held in memory at
// once, across every exchange and callback. A body is read into memory only
// as far as the budget allows; once verified, Access data goes to the Spool
// and its bytes are returned to the budget, so that many large answers at
// once wait for each other instead of exhausting the operator's memory.
type Budget struct {
	sem  *semaphore.Weighted
	size int64
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) *Budget {
	return &Budget{sem: semaphore.NewWeighted(size), size: size}
}

// ErrBudget is returned when a body could not get memory before its
// context ended: the operator is busy reading other large bodies.
var ErrBudget = errors.New("the operator is busy reading other large answers")

// ErrTooLarge is returned for a body above its limit.
var ErrTooLarge = errors.New("body exceeds the size limit")

// minChunk is the first allocation of a body of unknown length.
const minChunk = 64 << 10

// Body is a message read into memory under budgets: Payload is the signed
// payload (the canonical line, then the body); Body is the body within it.
type Body struct {
	Payload []byte
	Body    []byte
	held    int64
	budgets []*Budget
	wait    time.Duration
}

// Release returns the body's bytes to its budgets; the body must not be
// used afterwards. It is safe to call more than once.
func (b *Body) Release() {
	b.shrink(b.held)
	b.Payload, b.Body = nil, nil
}

// ReadBody reads r (at most limit bytes; hint is the declared length, -1
// when unknown) after the canonical line prefix. Memory is allocated, and
// charged to every one of budgets (nil entries are skipped), only as bytes
// arrive: a declared length reserves nothing, so a sender that declares
// 16 MiB and sends nothing holds almost nothing. A body longer than limit
// is refused with ErrTooLarge; a budget that stays exhausted for wait (per
// allocation; 0: until ctx ends) with ErrBudget.
func ReadBody(ctx context.Context, budgets []*Budget, wait time.Duration, prefix []byte, r io.Reader, hint, limit int64) (*Body, error) {
	if hint > limit {
		return nil, ErrTooLarge
	}
	b := &Body{wait: wait}
	for _, bg := range budgets {
		if bg != nil {
			b.budgets = append(b.budgets, bg)
		}
	}
	// The most the buffer may grow to: the declared length (+1 to see the
	// end without growing), or the limit (+1 to see that it is exceeded).
	target := limit + 1
	if hint >= 0 {
		target = hint + 1
	}
	target += int64(len(prefix))
	capacity := min(int64(len(prefix))+minChunk, target)
	if err := b.grow(ctx, capacity); err != nil {
		return nil, err
	}
	buf := make([]byte, 0, capacity)
	buf = append(buf, prefix...)
	for {
		if len(buf) == cap(buf) {
			next := min(2*int64(cap(buf)), target)
			if next <= int64(cap(buf)) {
				b.Release()
				return nil, ErrTooLarge
			}
			// Both buffers exist during the copy: both are charged.
			if err := b.grow(ctx, next); err != nil {
				b.Release()
				return nil, err
			}
			bigger := make([]byte, len(buf), next)
			copy(bigger, buf)
			old := int64(cap(buf))
			buf = bigger
			b.shrink(old)
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)-len(prefix)) > limit {
			b.Release()
			return nil, ErrTooLarge
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			b.Release()
			return nil, err
		}
	}
	b.Payload, b.Body = buf, buf[len(prefix):]
	return b, nil
}

// grow charges n more bytes to every budget, waiting at most b.wait for
// each.
func (b *Body) grow(ctx context.Context, n int64) error {
	for i, bg := range b.budgets {
		if n > bg.size {
			b.undo(i, n)
			return ErrTooLarge
		}
		actx, cancel := ctx, context.CancelFunc(func() {})
		if b.wait > 0 {
			actx, cancel = context.WithTimeout(ctx, b.wait)
		}
		err := bg.sem.Acquire(actx, n)
		cancel()
		if err != nil {
			b.undo(i, n)
			return fmt.Errorf("%w: %w", ErrBudget, err)
		}
	}
	b.held += n
	return nil
}

// undo releases n bytes of the first i budgets (a grow that failed half way).
func (b *Body) undo(i int, n int64) {
	for _, bg := range b.budgets[:i] {
		bg.sem.Release(n)
	}
}

func (b *Body) shrink(n int64) {
	if n <= 0 {
		return
	}
	for _, bg := range b.budgets {
		bg.sem.Release(n)
	}
	b.held -= n
}

// Spool keeps verified Access data on disk from the moment it arrives
// until the reconciler files it in the request's export, so that it never
// waits in memory.
type Spool interface {
	// Put stores the data of job jobID's answer and returns where; data
	// is valid JSON.
	Put(jobID string, data []byte) (string, error)
}

// rawData captures the data of a JobStatus's result as a slice of the body
// it was decoded from, without the copy json.RawMessage makes.
type rawData []byte

func (d *rawData) UnmarshalJSON(b []byte) error {
	*d = b
	return nil
}

type wireStatus struct {
	APIVersion string          `json:"apiVersion,omitempty"`
	Kind       string          `json:"kind,omitempty"`
	ID         string          `json:"id"`
	Status     protocol.Status `json:"status"`
	Message    string          `json:"message,omitempty"`
	Exemption  string          `json:"exemption,omitempty"`
	Result     *struct {
		Records int64   `json:"records"`
		Data    rawData `json:"data,omitempty"`
	} `json:"result,omitempty"`
}

// ErrNotThisJob is returned for a body that is not a JobStatus of the job
// it answers.
var ErrNotThisJob = errors.New("not a JobStatus of this job")

// DecodeStatus decodes the JobStatus of job jobID (ErrNotThisJob for
// another job or no JobStatus). The result data of a final status is not
// copied into the returned status: it is stored in spool (and the second
// result names the file), or, without a spool, copied into Result.Data.
// The data of a status that is not a success (Completed, NotFound) is
// dropped: only a success's is ever filed.
func DecodeStatus(body []byte, jobID string, spool Spool) (*protocol.JobStatus, string, error) {
	w := &wireStatus{}
	if err := json.Unmarshal(body, w); err != nil || w.ID != jobID {
		return nil, "", ErrNotThisJob
	}
	st := &protocol.JobStatus{APIVersion: w.APIVersion, Kind: w.Kind, ID: w.ID, Status: w.Status, Message: w.Message, Exemption: w.Exemption}
	if w.Result == nil || !st.Status.Final() {
		return st, "", nil
	}
	st.Result = &protocol.Result{Records: w.Result.Records}
	data := []byte(w.Result.Data)
	if len(data) == 0 || string(data) == "null" || !st.Status.Succeeded() {
		return st, "", nil
	}
	if spool == nil {
		st.Result.Data = append([]byte(nil), data...)
		return st, "", nil
	}
	file, err := spool.Put(jobID, data)
	if err != nil {
		return nil, "", fmt.Errorf("spool result data: %w", err)
	}
	return st, file, nil
}
