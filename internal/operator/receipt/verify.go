package receipt

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Report is what Verify found.
type Report struct {
	// Receipts and Sweeps count the receipts read, Sweep receipts among them.
	Receipts, Sweeps int
	// First and Last are the sequences of the first and last receipt
	// present; 0 for an empty log.
	First, Last uint64
	// LastSHA256 is the hash of the last receipt: kept somewhere else, it
	// lets a later verification tell that nothing was cut off the end.
	LastSHA256 string
	// Breaks are the places where the log is not as the operator wrote it.
	Breaks []Break
}

// OK says the log verified without a break.
func (r Report) OK() bool { return len(r.Breaks) == 0 }

// Break is one place where the log was changed: which object, at which
// sequence (the one its name carries), and what is wrong there.
type Break struct {
	Name     string
	Sequence uint64
	Problem  string
}

// String is the break as one line, position first.
func (b Break) String() string {
	return fmt.Sprintf("%s (sequence %d): %s", b.Name, b.Sequence, b.Problem)
}

// verifier walks a log once, keeping what the next receipt is checked
// against.
type verifier struct {
	keys   map[string]ed25519.PublicKey
	report Report
	// prev is the receipt read last; prevBroken says it had a break of
	// its own, which explains a mismatch of the next one's previous.
	prev       Ref
	prevBroken bool
	// firstPrevious is what the first receipt present names as previous.
	firstPrevious string
	// swept maps each sequence a valid Sweep receipt removed through to
	// the hash it recorded, and names the Sweep receipt.
	swept map[uint64]sweepClaim
}

type sweepClaim struct {
	hash, by string
}

// maxRelists bounds how often Verify lists the log again after receipts
// it listed were gone when read; one more listing is what a sweep under
// way needs.
const maxRelists = 3

// Verify reads every receipt of store in order and reports each break with
// its position: a signature that does not match or a key not in keys, a
// receipt whose sequence is not its name's, a gap, a previous that is not
// the hash of the receipt before, missing first receipts that no Sweep
// receipt accounts for, and a HEAD that names more than the log holds.
// Receipts signed by an earlier key verify as long as its public key is
// in keys. The error is for a store that cannot be read, not for breaks.
//
// The operator may sweep the log meanwhile. Its Sweep receipt comes after
// every receipt Verify listed, and the receipts it removes are gone when
// Verify reads them: so when a listed receipt is gone, Verify lists and
// reads the receipts after the listing too, and judges the log as the
// sweep left it if a Sweep receipt records the removal.
func Verify(ctx context.Context, store Store, keys map[string]ed25519.PublicKey) (Report, error) {
	w := &walk{listed: newVerifier(keys)}
	// HEAD before the listing: a receipt appended meanwhile only makes the
	// listing longer, never HEAD ahead of it.
	hint, err := readHead(ctx, store)
	if err != nil {
		return Report{}, err
	}
	after := ""
	for range maxRelists + 1 {
		names, err := store.List(ctx, after)
		if err != nil {
			return Report{}, fmt.Errorf("list receipts: %w", err)
		}
		names = receiptNames(names)
		gone := false
		err = readNames(ctx, store, names, w.receipt, func(name string) {
			gone = true
			w.gone(name)
		})
		if err != nil {
			return Report{}, err
		}
		if !gone {
			break
		}
		after = names[len(names)-1]
	}
	v := w.verifier()
	v.start()
	v.end(hint)
	sort.SliceStable(v.report.Breaks, func(i, j int) bool { return v.report.Breaks[i].Sequence < v.report.Breaks[j].Sequence })
	return v.report, nil
}

// walk feeds the receipts read to a verifier of the log as listed and,
// once a listed receipt was gone when read, to a verifier started afresh
// after it: the log as a sweep running meanwhile leaves it.
type walk struct {
	listed, after *verifier
	// goneThrough is the sequence of the last receipt that was gone.
	goneThrough uint64
}

func newVerifier(keys map[string]ed25519.PublicKey) *verifier {
	return &verifier{keys: keys, swept: map[uint64]sweepClaim{}}
}

func (w *walk) receipt(name string, data []byte) {
	w.listed.receipt(name, data)
	if w.after != nil {
		w.after.receipt(name, data)
	}
}

// gone starts the verifier of the log after name: a sweep removes the
// oldest receipts first, so everything before name is gone too, or soon.
func (w *walk) gone(name string) {
	w.goneThrough, _ = ParseName(name)
	w.after = newVerifier(w.listed.keys)
}

// verifier is the verifier whose report stands: the one after the gone
// receipts when a Sweep receipt read records their removal, the one of
// the log as listed otherwise (a receipt removed by anyone else is a
// break there, at its place).
func (w *walk) verifier() *verifier {
	if w.after != nil {
		for through := range w.after.swept {
			if through >= w.goneThrough {
				return w.after
			}
		}
	}
	return w.listed
}

// readHead reads the HEAD hint; nil when there is none or it is unreadable.
func readHead(ctx context.Context, store Store) (*head, error) {
	data, err := store.Get(ctx, HeadName)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the receipt log's HEAD: %w", err)
	}
	var h head
	if json.Unmarshal(data, &h) != nil {
		return nil, nil
	}
	return &h, nil
}

// receipt checks one receipt against itself and the one before it.
func (v *verifier) receipt(name string, data []byte) {
	seq, _ := ParseName(name)
	var problems []string
	stored, r, err := Decode(data)
	signed := false
	if err != nil {
		problems = append(problems, "unreadable: "+err.Error())
	} else {
		if err := stored.Check(v.keys); err != nil {
			problems = append(problems, err.Error())
		} else {
			signed = true
		}
		if r.Sequence != seq {
			problems = append(problems, fmt.Sprintf("the receipt says it is sequence %d: it was renamed or moved", r.Sequence))
		}
	}
	rep := &v.report
	switch {
	case rep.Receipts == 0:
		rep.First = seq
		if r != nil {
			v.firstPrevious = r.Previous
			if seq == 1 && r.Previous != "" {
				problems = append(problems, "the first receipt names a previous one")
			}
		}
	case seq != v.prev.Sequence+1:
		problems = append(problems, missing(v.prev.Sequence+1, seq-1)+": removed from the log")
	case r != nil && !v.prevBroken && r.Previous != v.prev.SHA256:
		problems = append(problems, "its previous is not the hash of "+v.prev.Name+": a receipt before it was removed, reordered or changed")
	}
	if signed && r.Kind == KindSweep {
		rep.Sweeps++
		if r.Sweep.RemovedThrough >= r.Sequence {
			problems = append(problems, "a Sweep receipt can only record the removal of receipts before it")
		} else {
			v.swept[r.Sweep.RemovedThrough] = sweepClaim{hash: r.Sweep.RemovedThroughHash, by: name}
		}
	}
	hash := Hash(data)
	rep.Receipts++
	rep.Last, rep.LastSHA256 = seq, hash
	if len(problems) > 0 {
		rep.Breaks = append(rep.Breaks, Break{Name: name, Sequence: seq, Problem: strings.Join(problems, "; ")})
	}
	v.prev = Ref{Name: name, SHA256: hash, Sequence: seq}
	v.prevBroken = len(problems) > 0
}

// start checks that receipts missing before the first one present were
// removed by a sweep that recorded it, and that the chain goes on from
// the hash the sweep recorded.
func (v *verifier) start() {
	first := v.report.First
	if first <= 1 {
		return
	}
	name := Name(first)
	if claim, ok := v.swept[first-1]; ok {
		if claim.hash != v.firstPrevious {
			v.addBreak(name, first, "its previous is not the hash "+claim.by+" recorded for the last receipt it removed")
		}
		return
	}
	for through := range v.swept {
		if through >= first {
			return // a sweep still under way
		}
	}
	v.addBreak(name, first, missing(1, first-1)+" and no Sweep receipt records their removal")
}

// end checks the log against HEAD: a HEAD past the last receipt, or with
// another hash for it, means receipts were cut off the end or replaced.
func (v *verifier) end(hint *head) {
	if hint == nil {
		return
	}
	switch rep := &v.report; {
	case hint.Sequence > rep.Last:
		v.addBreak(HeadName, hint.Sequence, fmt.Sprintf("HEAD names receipt %d but the log ends at %d: receipts were removed from its end", hint.Sequence, rep.Last))
	case hint.Sequence == rep.Last && hint.SHA256 != rep.LastSHA256:
		v.addBreak(HeadName, hint.Sequence, "HEAD holds another hash for the last receipt: it was replaced")
	}
}

func (v *verifier) addBreak(name string, seq uint64, problem string) {
	v.report.Breaks = append(v.report.Breaks, Break{Name: name, Sequence: seq, Problem: problem})
}

// missing words a range of missing sequences.
func missing(from, to uint64) string {
	if from == to {
		return fmt.Sprintf("receipt %d is missing", from)
	}
	return fmt.Sprintf("receipts %d to %d are missing", from, to)
}
