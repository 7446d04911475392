package receipt

import "context"

// The Notary's index of the log's tail: what a new leader finds already
// written, so that a receipt whose owner had not recorded its reference is
// not appended again.

// indexTail indexes the log's last receipts by owner, and answers the
// pending receipts found among them (submitted before the log was open)
// with the Ref of the one written.
func (n *Notary) indexTail(ctx context.Context, log *Log) error {
	idx := newTailIndex(n.opts.TailIndex)
	untrusted, err := log.tail(ctx, n.opts.TailIndex, func(ref Ref, r *Receipt) { idx.add(n.opts.OwnerID(r), ref, r) })
	if err != nil {
		return err
	}
	if untrusted > 0 {
		n.opts.Log.Info("objects in the receipt log not signed with the operator's keys were passed over; `privacyctl verify` names them",
			"count", untrusted)
	}
	n.mu.Lock()
	n.written = idx
	// The log is open: what kept it shut no longer holds a new receipt.
	n.failing = nil
	var found []string
	queue := n.queue[:0:0]
	for _, id := range n.queue {
		e := n.entries[id]
		w, ok := idx.refs[id]
		if !ok || !sameContent(w.receipt, e.receipt) {
			queue = append(queue, id)
			continue
		}
		e.written, e.ref, e.lastErr = true, w.ref, nil
		found = append(found, id)
	}
	n.queue = queue
	pending := len(n.queue)
	n.mu.Unlock()
	if len(found) == 0 {
		return nil
	}
	n.opts.Log.Info("receipts found in the log already, not written again", "count", len(found))
	n.pending(pending)
	for _, id := range found {
		n.wake(id)
	}
	return nil
}

// tailIndex maps owner ids to their receipts among the last receipts
// appended: at most max of them, so that it stays small however long the
// log.
type tailIndex struct {
	refs  map[string]tailEntry
	order []indexed // oldest first
	max   int
}

// tailEntry is where an owner's receipt is and what it recorded.
type tailEntry struct {
	ref     Ref
	receipt *Receipt
}

// indexed is one receipt in the order of a tailIndex.
type indexed struct {
	id  string
	seq uint64
}

func newTailIndex(size int) *tailIndex {
	return &tailIndex{refs: map[string]tailEntry{}, max: size}
}

// add indexes r, stored at ref, under id ("" is no owner: not indexed),
// and drops the oldest beyond max.
func (t *tailIndex) add(id string, ref Ref, r *Receipt) {
	if id == "" {
		return
	}
	t.refs[id] = tailEntry{ref: ref, receipt: r}
	t.order = append(t.order, indexed{id: id, seq: ref.Sequence})
	if len(t.order) <= t.max {
		return
	}
	old := t.order[0]
	t.order = t.order[1:]
	// Only if no later receipt of the same owner replaced it.
	if t.refs[old.id].ref.Sequence == old.seq {
		delete(t.refs, old.id)
	}
}
