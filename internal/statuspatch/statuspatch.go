// Package statuspatch writes an object's status subresource with a merge
// patch, and only when the status really changed: no API write, and no
// watch event that would wake the controller again, for a pass that learned
// nothing new.
package statuspatch

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Patch sends the difference between before and after to the status
// subresource. It sends nothing when the two are equal and reports whether
// it wrote.
func Patch(ctx context.Context, c client.Client, before, after client.Object) (bool, error) {
	patch := client.MergeFrom(before)
	data, err := patch.Data(after)
	if err != nil {
		return false, fmt.Errorf("compute status patch: %w", err)
	}
	if string(data) == "{}" {
		return false, nil
	}
	if err := c.Status().Patch(ctx, after, patch); err != nil {
		return false, fmt.Errorf("patch status: %w", err)
	}
	return true, nil
}
