package receipt

import (
	"context"
	"time"
)

// KindRestore records a Restore: the jobs sent again to a data source
// after it restored a backup (docs/backups.md).
const KindRestore Kind = "Restore"

// KindReplayErasure records the days whose replay records were erased:
// their keys deleted, so that no copy of their records can be opened.
const KindReplayErasure Kind = "ReplayErasure"

// Restore records one finished Restore. It names no person: the jobs
// replayed are named by the original jobs' ids (which the original
// requests' receipts carry) and those receipts' sequences.
type Restore struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
	// DataSource is the source that restored, in the Restore's namespace.
	DataSource    string    `json:"dataSource"`
	BackupTakenAt time.Time `json:"backupTakenAt"`
	StartedAt     time.Time `json:"startedAt"`
	FinishedAt    time.Time `json:"finishedAt"`
	// Outcome is Completed, or Failed when a replayed job or a purge failed.
	Outcome Outcome       `json:"outcome"`
	Counts  RestoreCounts `json:"counts"`
	// Replayed are the original jobs sent again, in their original order.
	Replayed []ReplayedJob `json:"replayed,omitempty"`
	// Failures are at most 20 of the failed replays, with the source's answers.
	Failures []ReplayFailure `json:"failures,omitempty"`
	// Holds are the LegalHolds that kept Deletes from being replayed.
	Holds  []string       `json:"holds,omitempty"`
	Purges []RestorePurge `json:"purges,omitempty"`
}

// RestoreCounts are a Restore's counts, as its status shows them.
type RestoreCounts struct {
	ToReplay  int32 `json:"toReplay"`
	Sent      int32 `json:"sent"`
	Completed int32 `json:"completed"`
	Failed    int32 `json:"failed"`
	Held      int32 `json:"held"`
}

// ReplayedJob is one original job a Restore sent again: its id and the
// sequence of the original request's receipt that names it (0 when that
// receipt is not in the log: the request is still open, or the receipt
// was swept).
type ReplayedJob struct {
	JobID    string `json:"jobID"`
	Sequence uint64 `json:"sequence,omitempty"`
}

// ReplayFailure is a replayed job the source failed.
type ReplayFailure struct {
	JobID         string `json:"jobID"`
	OriginalJobID string `json:"originalJobID"`
	Message       string `json:"message,omitempty"`
}

// RestorePurge is a retention purge a Restore ran once.
type RestorePurge struct {
	Policy  string `json:"policy"`
	Outcome string `json:"outcome"`
	Records *int64 `json:"records,omitempty"`
	Hold    string `json:"hold,omitempty"`
	Message string `json:"message,omitempty"`
}

// ReplayErasure records one sweep of the replay records: the days (UTC)
// whose keys were deleted, and the cutoff the sources' backup windows set.
type ReplayErasure struct {
	Periods []string  `json:"periods"`
	Cutoff  time.Time `json:"cutoff"`
}

// RestoreOwnerID is the owner id of a Restore's receipt.
func RestoreOwnerID(namespace, name, uid string) string {
	return "Restore/" + namespace + "/" + name + "/" + uid
}

// ErasureOwnerID is the owner id of a replay erasure's receipt: one per
// last period erased.
func ErasureOwnerID(last string) string { return "ReplayErasure/" + last }

// JobSequences reads every PrivacyRequest receipt of store once and
// returns, for each job id of want that a receipt names among its
// sources, that receipt's sequence.
func JobSequences(ctx context.Context, store Store, want map[string]bool) (map[string]uint64, error) {
	found := map[string]uint64{}
	err := readAll(ctx, store, func(_ string, data []byte) {
		_, r, err := Decode(data)
		if err != nil || r.Kind != KindPrivacyRequest || r.Request == nil {
			return
		}
		for _, s := range r.Request.Sources {
			if want[s.JobID] {
				found[s.JobID] = r.Sequence
			}
		}
	})
	return found, err
}
