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

// MemoryStore is a Store in memory that keeps the latest jobs up to a limit.
type MemoryStore struct {
	mu    sync.Mutex
	limit int
	jobs  map[string]*list.Element
	order *list.List // of *memoryJob, oldest first
}

type memoryJob struct {
	id    string
	final *protocol.JobStatus
}

// NewMemoryStore returns a MemoryStore that forgets the oldest finished jobs
// beyond limit.
func NewMemoryStore(limit int) *MemoryStore {
	return &MemoryStore{limit: limit, jobs: map[string]*list.Element{}, order: list.New()}
}

// Begin implements Store.
func (s *MemoryStore) Begin(id string) (*protocol.JobStatus, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.jobs[id]; ok {
		j := e.Value.(*memoryJob)
		return j.final, j.final == nil, nil
	}
	s.jobs[id] = s.order.PushBack(&memoryJob{id: id})
	for s.order.Len() > s.limit {
		oldest := s.order.Front()
		s.order.Remove(oldest)
		delete(s.jobs, oldest.Value.(*memoryJob).id)
	}
	return nil, false, nil
}

// Finish implements Store.
func (s *MemoryStore) Finish(id string, st protocol.JobStatus) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.jobs[id]; ok {
		e.Value.(*memoryJob).final = &st
		return nil
	}
	s.jobs[id] = s.order.PushBack(&memoryJob{id: id, final: &st})
	return nil
}

// Forget implements Store.
func (s *MemoryStore) Forget(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
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
		j := e.Value.(*memoryJob)
		return j.final, j.final == nil, nil
	}
	return nil, false, nil
}
