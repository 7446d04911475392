package replay

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Cutoff is the start of the oldest backup any source may still restore
// at now, given each source's backup window (spec.backups.retainFor):
// periods that ended before it are erased. Without any window, nothing
// can be restored and everything before now may go.
func Cutoff(now time.Time, windows []time.Duration) time.Time {
	longest := time.Duration(0)
	for _, w := range windows {
		longest = max(longest, w)
	}
	return now.Add(-longest)
}

// ReplayJobID is the id of the job that replays original for restore
// (its uid): the same for every attempt of that restore, so that a
// source deduplicates it, and different from the original job's and from
// any other restore's replay of it, so that a source can tell them apart.
func ReplayJobID(original, restoreUID string) string {
	sum := sha256.Sum256([]byte("replay\x00" + original + "\x00" + restoreUID))
	return "rs-" + hex.EncodeToString(sum[:16])
}
