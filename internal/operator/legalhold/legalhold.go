// Package legalhold decides what LegalHolds keep from the sources: which
// Delete jobs are not sent, and which categories a retention purge leaves
// alone. It reads time from the caller and does no I/O, so the
// PrivacyRequest, RetentionPolicy and DataSource controllers answer the
// same question the same way.
package legalhold

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// Active reports whether h holds data back at now: until its expiresAt,
// and not while it is being deleted.
func Active(h *privacyv1alpha1.LegalHold, now time.Time) bool {
	if !h.DeletionTimestamp.IsZero() {
		return false
	}
	return h.Spec.ExpiresAt == nil || now.Before(h.Spec.ExpiresAt.Time)
}

// Set is the holds a pass works with, sorted by name so that the hold an
// account names is the same in every pass and on every replica.
type Set []*privacyv1alpha1.LegalHold

// NewSet keeps the holds of list that are active at now; never nil, so
// that a pass can tell "read, none active" from "not read yet".
func NewSet(list []privacyv1alpha1.LegalHold, now time.Time) Set {
	s := Set{}
	for i := range list {
		if Active(&list[i], now) {
			s = append(s, &list[i])
		}
	}
	sort.Slice(s, func(i, j int) bool { return s[i].Name < s[j].Name })
	return s
}

// Selects reports whether h's scope selects ds (its labels, its
// namespace's labels), whatever subjects and categories it names. A
// selector that does not parse selects everything: a hold errs on the side
// of keeping data.
func Selects(h *privacyv1alpha1.LegalHold, ds *privacyv1alpha1.DataSource, nsLabels labels.Set) bool {
	for _, sel := range []struct {
		s   *metav1.LabelSelector
		set labels.Set
	}{{h.Spec.Scope.DataSourceSelector, labels.Set(ds.Labels)}, {h.Spec.Scope.NamespaceSelector, nsLabels}} {
		if sel.s == nil {
			continue
		}
		s, err := metav1.LabelSelectorAsSelector(sel.s)
		if err != nil {
			continue
		}
		if !s.Matches(sel.set) {
			return false
		}
	}
	return true
}

// heldCategories are the categories of ds that h holds: all of them when
// the hold names none.
func heldCategories(h *privacyv1alpha1.LegalHold, ds *privacyv1alpha1.DataSource) []privacyv1alpha1.DataCategory {
	if len(h.Spec.Scope.Categories) == 0 {
		return ds.Spec.Categories
	}
	var out []privacyv1alpha1.DataCategory
	for _, c := range ds.Spec.Categories {
		if slices.Contains(h.Spec.Scope.Categories, c) {
			out = append(out, c)
		}
	}
	return out
}

// ForDelete is the hold that keeps a Delete request's job from ds, or nil.
// fingerprints are the subject's (receipt.Fingerprints); a hold that names
// subjects holds only their requests, one that names none holds every
// Delete at the sources and categories it selects. A hold that names
// categories holds a source that declares any of them (a Delete erases
// the person's data in all of them at once), and a source that declares
// none (what it holds is unknown). known false says the fingerprints
// could not be made (no key): a hold that names subjects then holds.
// Every doubt keeps the data.
func (s Set) ForDelete(ds *privacyv1alpha1.DataSource, nsLabels labels.Set, fingerprints []string, known bool) *privacyv1alpha1.LegalHold {
	for _, h := range s {
		if !Selects(h, ds, nsLabels) {
			continue
		}
		if len(h.Spec.Scope.Categories) > 0 && len(ds.Spec.Categories) > 0 && len(heldCategories(h, ds)) == 0 {
			continue
		}
		if known && len(h.Spec.Scope.Subjects) > 0 && !slices.ContainsFunc(fingerprints, func(f string) bool {
			return slices.Contains(h.Spec.Scope.Subjects, f)
		}) {
			continue
		}
		return h
	}
	return nil
}

// SelectorErrors are the hold's selectors that do not parse; such a
// selector selects everything (a hold errs on the side of keeping data),
// and the hold's status says so.
func SelectorErrors(h *privacyv1alpha1.LegalHold) []string {
	var out []string
	for field, sel := range map[string]*metav1.LabelSelector{
		"spec.scope.dataSourceSelector": h.Spec.Scope.DataSourceSelector,
		"spec.scope.namespaceSelector":  h.Spec.Scope.NamespaceSelector,
	} {
		if sel == nil {
			continue
		}
		if _, err := metav1.LabelSelectorAsSelector(sel); err != nil {
			out = append(out, field+": "+err.Error())
		}
	}
	sort.Strings(out)
	return out
}

// Purge splits the categories a purge would cover at ds into those it may
// purge and those held, naming the holds. Subjects do not narrow a purge's
// hold: a purge is about everyone's old data, the held person's included,
// so a hold that selects the source keeps its categories whole.
func (s Set) Purge(ds *privacyv1alpha1.DataSource, nsLabels labels.Set, cats []privacyv1alpha1.DataCategory) (purge, held []privacyv1alpha1.DataCategory, holds []string) {
	heldBy := map[privacyv1alpha1.DataCategory]bool{}
	for _, h := range s {
		if !Selects(h, ds, nsLabels) {
			continue
		}
		hit := false
		for _, c := range heldCategories(h, ds) {
			if slices.Contains(cats, c) {
				heldBy[c], hit = true, true
			}
		}
		if hit {
			holds = append(holds, h.Name)
		}
	}
	for _, c := range cats {
		if heldBy[c] {
			held = append(held, c)
		} else {
			purge = append(purge, c)
		}
	}
	return purge, held, holds
}

// NextExpiry is the earliest expiresAt among the active holds of list
// after now (zero when none expires): a controller whose answer depends on
// the holds looks again then.
func NextExpiry(list []privacyv1alpha1.LegalHold, now time.Time) time.Time {
	var next time.Time
	for i := range list {
		h := &list[i]
		if h.Spec.ExpiresAt == nil || !Active(h, now) {
			continue
		}
		if t := h.Spec.ExpiresAt.Time; next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next
}

// Message is what an account says of a job a hold kept from a source.
func Message(h *privacyv1alpha1.LegalHold) string {
	return heldBy(h) + ": the job was not sent to the source."
}

// UnderWayMessage is what an account says of a job a hold filed later
// stopped while a source or a person had it.
func UnderWayMessage(h *privacyv1alpha1.LegalHold) string {
	return heldBy(h) + ", filed while the job was under way."
}

func heldBy(h *privacyv1alpha1.LegalHold) string {
	msg := fmt.Sprintf("Held by LegalHold %s (%s)", h.Name, h.Spec.Reason)
	if h.Spec.ExpiresAt != nil {
		msg += " until " + h.Spec.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return msg
}

// CategoriesMessage is what an account says of categories a purge left
// alone.
func CategoriesMessage(held []privacyv1alpha1.DataCategory, holds []string) string {
	cats := make([]string, len(held))
	for i, c := range held {
		cats[i] = string(c)
	}
	return fmt.Sprintf("LegalHold %s keeps %s: not purged.", strings.Join(holds, ", "), strings.Join(cats, ", "))
}
