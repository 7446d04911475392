// Package conditions sets metav1.Conditions the way every controller of this
// operator does: stamped with the object's generation, with
// lastTransitionTime moved only when the status really flips.
package conditions

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Set adds or updates the condition of the given type and reports whether
// anything changed. lastTransitionTime moves only when status changes, so a
// pass that learns nothing new leaves the conditions byte-for-byte equal.
func Set(conds *[]metav1.Condition, generation int64, condType string, status metav1.ConditionStatus, reason, message string) bool {
	return meta.SetStatusCondition(conds, metav1.Condition{
		Type:               condType,
		Status:             status,
		ObservedGeneration: generation,
		Reason:             reason,
		Message:            message,
	})
}

// Remove deletes the condition of the given type and reports whether it was there.
func Remove(conds *[]metav1.Condition, condType string) bool {
	return meta.RemoveStatusCondition(conds, condType)
}

// IsTrue reports whether the condition of the given type is True.
func IsTrue(conds []metav1.Condition, condType string) bool {
	return meta.IsStatusConditionTrue(conds, condType)
}

// Get returns the condition of the given type, or nil.
func Get(conds []metav1.Condition, condType string) *metav1.Condition {
	return meta.FindStatusCondition(conds, condType)
}
