// Package statuspatch writes an object's status subresource with a merge
// patch, and only when the status really changed: no API write, and no
// watch event that would wake the controller again, for a pass that learned
// nothing new.
//
// The patch carries the resourceVersion that was read (optimistic lock), so
// a pass that worked from a stale cache fails with a Conflict instead of
// overwriting newer status; lists such as status.sources are replaced whole
// by a merge patch, which would otherwise lose entries written in between.
package statuspatch

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Patch sends the difference between before and after to the status
// subresource. It sends nothing when the two are equal and reports whether
// it wrote. A stale before yields an error that apierrors.IsConflict
// recognises.
func Patch(ctx context.Context, c client.Client, before, after client.Object) (bool, error) {
	return patch(ctx, c, before, after, false)
}

// PatchVerified is Patch for a pass that consumed input from outside the
// object (job outcomes, say), which it may only drop once it knows its view
// was current: when nothing changed it still sends an empty patch carrying
// the resourceVersion, so that a stale view fails with a Conflict instead of
// silently passing. (A stale view can yield "no change" when the outcome
// repeats what the stale status already says.)
func PatchVerified(ctx context.Context, c client.Client, before, after client.Object) (bool, error) {
	return patch(ctx, c, before, after, true)
}

func patch(ctx context.Context, c client.Client, before, after client.Object, verify bool) (bool, error) {
	unchanged, err := client.MergeFrom(before).Data(after)
	if err != nil {
		return false, fmt.Errorf("compute status patch: %w", err)
	}
	if string(unchanged) == "{}" && !verify {
		return false, nil
	}
	if err := c.Status().Patch(ctx, after, client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})); err != nil {
		return false, fmt.Errorf("patch status: %w", err)
	}
	return string(unchanged) != "{}", nil
}
