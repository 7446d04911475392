package datasource

import (
	"container/list"
	"sync"

	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// Store remembers which jobs a service has seen, so that a retried job is
// not applied twice. A service whose effects must survive its own restarts
// implements it on its database, in the same transaction as the effects
// where it can.
type Store interface {
	// Begin marks id as running. It returns the final status when the job
	// already finished, or running=true when it is already running.
	Begin(id string) (final *protocol.JobStatus, running bool, err error)
	// Finish records the final status of id.
	Finish(id string, st protocol.JobStatus) error
	// Forget drops id, so that the next delivery runs the job again.
	Forget(id string) error
	// Get returns the final status of id, or running=true while it runs;
	// both zero for an unknown id.
	Get(id string) (final *protocol.JobStatus, running bool, err error)
}

// MemoryStore is a Store in memory. It keeps every running job and the
// latest finished ones up to a limit: a running job is never forgotten, so
// a redelivery while it runs is answered 409 instead of running it twice.
type MemoryStore struct {
	mu      sync.Mutex
	limit   int
	running map[string]bool
	jobs    map[string]*list.Element
	order   *list.List // of *memoryJob, finished, oldest first
}

type memoryJob struct {
	id    string
	final *protocol.JobStatus
}

// NewMemoryStore returns a MemoryStore that forgets the oldest finished jobs
// beyond limit.
func NewMemoryStore(limit int) *MemoryStore {
	return &MemoryStore{limit: max(limit, 1), running: map[string]bool{}, jobs: map[string]*list.Element{}, order: list.New()}
}

// Begin implements Store.
func (s *MemoryStore) Begin(id string) (*protocol.JobStatus, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.jobs[id]; ok {
		return e.Value.(*memoryJob).final, false, nil
	}
	if s.running[id] {
		return nil, true, nil
	}
	s.running[id] = true
	return nil, false, nil
}

// Finish implements Store.
func (s *MemoryStore) Finish(id string, st protocol.JobStatus) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, id)
	if e, ok := s.jobs[id]; ok {
		s.order.Remove(e)
	}
	s.jobs[id] = s.order.PushBack(&memoryJob{id: id, final: &st})
	for s.order.Len() > s.limit {
		oldest := s.order.Front()
		s.order.Remove(oldest)
		delete(s.jobs, oldest.Value.(*memoryJob).id)
	}
	return nil
}

// Forget implements Store.
func (s *MemoryStore) Forget(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.running, id)
	if e, ok := s.jobs[id]; ok {
		s.order.Remove(e)
		delete(s.jobs, id)
	}
	return nil
}

// Get implements Store.
func (s *MemoryStore) Get(id string) (*protocol.JobStatus, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.jobs[id]; ok {
		return e.Value.(*memoryJob).final, false, nil
	}
	return nil, s.running[id], nil
}
