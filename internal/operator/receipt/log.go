package receipt

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"
)

// Log appends receipts to a store as a chain: each names the hash of the
// one before. It is meant for one goroutine at a time (the Notary), but
// two Logs on the same store (two replicas during a leader handover) stay
// correct: the store's exclusive Create lets only one of them write each
// sequence, and the other re-reads the head and tries the next.
type Log struct {
	store  Store
	signer func(context.Context) (Signer, error)
	clock  func() time.Time
	head   Ref
}

// Ref points at a receipt in a store.
type Ref struct {
	// Name is the object name, receipts/<sequence>.json.
	Name string
	// Location is where a person finds it (a path or an s3:// URL).
	Location string
	// SHA256 is the hex SHA-256 of the stored object.
	SHA256   string
	Sequence uint64
}

// maxRaces bounds how often Append loses its sequence to another writer
// before it gives up (and is retried by its caller).
const maxRaces = 10

// OpenLog finds the head of the log in store. signer is asked for the key
// at every Append, so that a rotated key is used from the next receipt on;
// clock stamps RecordedAt (nil: time.Now).
func OpenLog(ctx context.Context, store Store, signer func(context.Context) (Signer, error), clock func() time.Time) (*Log, error) {
	if clock == nil {
		clock = time.Now
	}
	l := &Log{store: store, signer: signer, clock: clock}
	if err := l.open(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// Head is the last receipt this log knows of; Sequence 0 for an empty log.
func (l *Log) Head() Ref { return l.head }

// head is the content of the HEAD object.
type head struct {
	Sequence uint64 `json:"sequence"`
	SHA256   string `json:"sha256"`
}

// open finds the head: from the HEAD hint when it names a receipt that
// exists, then forward to anything newer (a crash between a receipt and
// its HEAD loses nothing); from a listing of everything otherwise.
func (l *Log) open(ctx context.Context) error {
	l.head = Ref{}
	data, err := l.store.Get(ctx, HeadName)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("read the receipt log's HEAD: %w", err)
	}
	var hint head
	if err == nil && json.Unmarshal(data, &hint) == nil && hint.Sequence > 0 {
		ref, err := l.ref(ctx, Name(hint.Sequence))
		switch {
		case err == nil:
			l.head = ref
		case !errors.Is(err, ErrNotFound):
			return err
		}
	}
	return l.forward(ctx)
}

// forward moves the head to the newest receipt after it.
func (l *Log) forward(ctx context.Context) error {
	after := ""
	if l.head.Sequence > 0 {
		after = l.head.Name
	}
	names, err := l.store.List(ctx, after)
	if err != nil {
		return fmt.Errorf("find the receipt log's head: %w", err)
	}
	names = receiptNames(names)
	if len(names) == 0 {
		return nil
	}
	ref, err := l.ref(ctx, names[len(names)-1])
	if err != nil {
		return err
	}
	l.head = ref
	return nil
}

// ref reads a receipt's object to know its hash.
func (l *Log) ref(ctx context.Context, name string) (Ref, error) {
	seq, _ := ParseName(name)
	data, err := l.store.Get(ctx, name)
	if err != nil {
		return Ref{}, fmt.Errorf("read receipt %s: %w", l.store.Location(name), err)
	}
	return Ref{Name: name, Location: l.store.Location(name), SHA256: Hash(data), Sequence: seq}, nil
}

// tailReads bounds the concurrent reads of tail: a new leader reads a few
// hundred receipts before it writes, and one at a time that is seconds
// on a remote bucket.
const tailReads = 8

// tail calls fn with each of the last n receipts, oldest first, and
// returns how many it passed over as not the operator's: not signed by a
// key the signer trusts (planted by someone who can write to the store but
// holds no signing key) or not a receipt at all. A receipt removed since
// the listing (by a sweep) is passed over too: the tail is an index, and
// Verify reports what is wrong with a receipt.
func (l *Log) tail(ctx context.Context, n int, fn func(Ref, *Receipt)) (untrusted int, err error) {
	signer, err := l.signer(ctx)
	if err != nil {
		return 0, fmt.Errorf("receipt signing key: %w", err)
	}
	keys := signer.trusted()
	after := ""
	if l.head.Sequence > uint64(n) {
		after = Name(l.head.Sequence - uint64(n))
	}
	names, err := l.store.List(ctx, after)
	if err != nil {
		return 0, fmt.Errorf("read the receipt log's tail: %w", err)
	}
	names = receiptNames(names)
	names = names[max(0, len(names)-n):]
	data := make([][]byte, len(names))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(tailReads)
	for i, name := range names {
		g.Go(func() error {
			d, err := l.store.Get(gctx, name)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("read receipt %s: %w", l.store.Location(name), err)
			}
			data[i] = d
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, fmt.Errorf("read the receipt log's tail: %w", err)
	}
	for i, name := range names {
		if data[i] == nil {
			continue
		}
		r, ok := decodeTrusted(data[i], keys)
		if !ok {
			untrusted++
			continue
		}
		seq, _ := ParseName(name)
		fn(Ref{Name: name, Location: l.store.Location(name), SHA256: Hash(data[i]), Sequence: seq}, r)
	}
	return untrusted, nil
}

// decodeTrusted decodes a stored receipt that one of keys signed.
func decodeTrusted(data []byte, keys map[string]ed25519.PublicKey) (*Receipt, bool) {
	stored, r, err := Decode(data)
	if err != nil || stored.Check(keys) != nil {
		return nil, false
	}
	return r, true
}

// Append adds r to the log: it sets r's APIVersion, Sequence, Previous and
// RecordedAt, signs it and writes it as the next sequence. When another
// writer took that sequence, it re-reads the head and tries again. An
// Append that failed may be called again with the same r: when its first
// write did reach the store (the answer was lost), that write is adopted
// instead of writing the receipt twice.
func (l *Log) Append(ctx context.Context, r *Receipt) (Ref, error) {
	if err := r.check(); err != nil {
		return Ref{}, err
	}
	for range maxRaces {
		signer, err := l.signer(ctx)
		if err != nil {
			return Ref{}, fmt.Errorf("receipt signing key: %w", err)
		}
		r.APIVersion, r.Sequence, r.Previous = APIVersion, l.head.Sequence+1, l.head.SHA256
		r.RecordedAt = l.clock().UTC()
		data, err := Seal(r, signer)
		if err != nil {
			return Ref{}, err
		}
		name := Name(r.Sequence)
		err = l.store.Create(ctx, name, data)
		if errors.Is(err, ErrExists) {
			if ref, ok := l.adopt(ctx, name, r, signer); ok {
				return ref, nil
			}
			if err := l.forward(ctx); err != nil {
				return Ref{}, err
			}
			continue
		}
		if err != nil {
			return Ref{}, fmt.Errorf("write receipt %d: %w", r.Sequence, err)
		}
		l.head = Ref{Name: name, Location: l.store.Location(name), SHA256: Hash(data), Sequence: r.Sequence}
		// HEAD is only a hint (open looks past it), so a failure to
		// write it must not fail an Append whose receipt is written: the
		// caller would write the receipt again.
		_ = l.store.Put(ctx, HeadName, l.headHint())
		return l.head, nil
	}
	return Ref{}, fmt.Errorf("write receipt: lost the next sequence to another writer %d times", maxRaces)
}

// adopt takes the receipt at name as r's own when it says the same as r
// at the same place in the chain, signed by a key signer trusts: an
// earlier attempt that wrote it and lost the answer, or another replica
// recording the same event.
func (l *Log) adopt(ctx context.Context, name string, r *Receipt, signer Signer) (Ref, bool) {
	data, err := l.store.Get(ctx, name)
	if err != nil {
		return Ref{}, false
	}
	theirs, ok := decodeTrusted(data, signer.trusted())
	if !ok || theirs.Previous != r.Previous || !sameEvent(theirs, r) {
		return Ref{}, false
	}
	*r = *theirs
	l.head = Ref{Name: name, Location: l.store.Location(name), SHA256: Hash(data), Sequence: theirs.Sequence}
	return l.head, true
}

// sameEvent compares two receipts but for when they were recorded.
func sameEvent(a, b *Receipt) bool {
	ca, cb := *a, *b
	ca.RecordedAt, cb.RecordedAt = time.Time{}, time.Time{}
	return sameJSON(ca, cb)
}

// sameContent compares what two receipts record, wherever in the log they
// are: not their place in the chain or when they were recorded.
func sameContent(a, b *Receipt) bool {
	ca, cb := *a, *b
	ca.APIVersion, ca.Sequence, ca.Previous, ca.RecordedAt = "", 0, "", time.Time{}
	cb.APIVersion, cb.Sequence, cb.Previous, cb.RecordedAt = "", 0, "", time.Time{}
	return sameJSON(ca, cb)
}

func sameJSON(ca, cb Receipt) bool {
	ja, errA := json.Marshal(ca)
	jb, errB := json.Marshal(cb)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// headHint is the content of HEAD for the current head.
func (l *Log) headHint() []byte {
	data, _ := json.Marshal(head{Sequence: l.head.Sequence, SHA256: l.head.SHA256})
	return append(data, '\n')
}
