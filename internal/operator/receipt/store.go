package receipt

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Store keeps the log's objects under names like receipts/00000000000000000001.json.
// Every implementation must make Create exclusive: that is what keeps two
// writers (two replicas during a leader handover) from both writing the
// same sequence.
type Store interface {
	// Create writes a new object; ErrExists when the name is taken. The
	// object appears whole or not at all.
	Create(ctx context.Context, name string, data []byte) error
	// Put writes or replaces an object (the HEAD hint).
	Put(ctx context.Context, name string, data []byte) error
	// Get reads an object; ErrNotFound when there is none.
	Get(ctx context.Context, name string) ([]byte, error)
	// List returns the names greater than after ("" for all), in lexical
	// order.
	List(ctx context.Context, after string) ([]string, error)
	// Delete removes an object; removing a missing one is no error.
	Delete(ctx context.Context, name string) error
	// Location is where a person finds the object: a file path, or
	// s3://bucket/prefix/name.
	Location(name string) string
}

// ErrExists: Create found the name taken.
var ErrExists = errors.New("the receipt object exists already")

// ErrNotFound: there is no object of that name.
var ErrNotFound = errors.New("no such receipt object")

// The layout of a store.
const (
	// receiptsDir holds every object of the log.
	receiptsDir = "receipts/"
	// HeadName is the hint that names the last receipt appended.
	HeadName = receiptsDir + "HEAD"
	// sequenceDigits pads sequences so that lexical order is their order.
	sequenceDigits = 20
)

// Name is the object name of receipt seq.
func Name(seq uint64) string {
	return fmt.Sprintf("%s%0*d.json", receiptsDir, sequenceDigits, seq)
}

// ParseName is the sequence a receipt's object name carries; false for
// any other name (HEAD, a stray file).
func ParseName(name string) (uint64, bool) {
	digits, ok := strings.CutPrefix(name, receiptsDir)
	if !ok {
		return 0, false
	}
	digits, ok = strings.CutSuffix(digits, ".json")
	if !ok || len(digits) != sequenceDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || seq == 0 {
		return 0, false
	}
	return seq, true
}

// checkName refuses names outside the store's layout, so that a name can
// never reach above a store's directory or prefix.
func checkName(name string) error {
	if name == HeadName || replayName.MatchString(name) {
		return nil
	}
	if _, ok := ParseName(name); !ok {
		return fmt.Errorf("invalid receipt object name %q", name)
	}
	return nil
}

// ReplayDir holds the sealed replay records of sources that declare
// backups (internal/operator/replay), one directory per period.
const ReplayDir = "replay/"

// replayName is the layout of a replay record's name:
// replay/<period>/<finished, Unix nanoseconds, 20 digits>-<namespace>_<source>_<job id>.sealed.
var replayName = regexp.MustCompile(`^replay/[0-9]{4}-[0-9]{2}-[0-9]{2}/[0-9]{20}-[a-z0-9][-a-z0-9.]{0,62}_[a-z0-9][-a-z0-9.]{0,252}_[a-z0-9][-a-z0-9]{0,99}\.sealed$`)

// DirLister lists the objects under a directory of the store (a prefix
// ending in "/", e.g. ReplayDir), whose names are greater than after, in
// lexical order. Both stores implement it.
type DirLister interface {
	ListDir(ctx context.Context, dir, after string) ([]string, error)
}

// receiptNames keeps the receipts' names of a listing, in order.
func receiptNames(names []string) []string {
	out := names[:0:0]
	for _, n := range names {
		if _, ok := ParseName(n); ok {
			out = append(out, n)
		}
	}
	return out
}

// readAll calls fn with each receipt object of store, in order; an object
// removed since the listing (by a sweep) is passed over.
func readAll(ctx context.Context, store Store, fn func(name string, data []byte)) error {
	names, err := store.List(ctx, "")
	if err != nil {
		return fmt.Errorf("list receipts: %w", err)
	}
	return readNames(ctx, store, receiptNames(names), fn, func(string) {})
}

// readNames calls fn with each object of names, in order, and gone with
// each one removed since the listing (by a sweep).
func readNames(ctx context.Context, store Store, names []string, fn func(name string, data []byte), gone func(name string)) error {
	for _, name := range names {
		data, err := store.Get(ctx, name)
		if errors.Is(err, ErrNotFound) {
			gone(name)
			continue
		}
		if err != nil {
			return fmt.Errorf("read receipt %s: %w", store.Location(name), err)
		}
		fn(name, data)
	}
	return nil
}
