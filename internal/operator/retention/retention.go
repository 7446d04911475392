// Package retention decides which DataSources a RetentionPolicy applies to
// and which of their data categories it covers. The RetentionPolicy
// controller uses it to run purges, the DataSource controller to report
// categories that no policy covers.
package retention

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// Covered returns the categories of ds that rp covers: none unless ds
// handles Purge and matches the policy's selectors. nsLabels are the labels
// of ds's namespace.
func Covered(rp *privacyv1alpha1.RetentionPolicy, ds *privacyv1alpha1.DataSource, nsLabels labels.Set) ([]privacyv1alpha1.DataCategory, error) {
	if !slices.Contains(ds.Spec.RequestTypes, privacyv1alpha1.RequestTypePurge) {
		return nil, nil
	}
	for _, sel := range []struct {
		s   *metav1.LabelSelector
		set labels.Set
	}{{rp.Spec.DataSourceSelector, labels.Set(ds.Labels)}, {rp.Spec.NamespaceSelector, nsLabels}} {
		if sel.s == nil {
			continue
		}
		s, err := metav1.LabelSelectorAsSelector(sel.s)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", rp.Name, err)
		}
		if !s.Matches(sel.set) {
			return nil, nil
		}
	}
	var out []privacyv1alpha1.DataCategory
	for _, c := range ds.Spec.Categories {
		if slices.Contains(rp.Spec.Categories, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// JobID is the id of a policy's purge job for one slot at one source: the
// same after any restart, so a slot never runs twice at a source.
func JobID(policyUID types.UID, slot time.Time, source types.NamespacedName) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%s", policyUID, slot.Unix(), source)))
	return "rp-" + hex.EncodeToString(sum[:16])
}

// Term is one RetentionPolicy's rule for a category at a source.
type Term struct {
	Policy    string
	RetainFor privacyv1alpha1.RetentionPeriod
}

// Terms returns, per category of ds, the rules of the policies that cover
// it (sorted by policy name); a suspended policy or one whose selectors do
// not parse enforces nothing and is left out. nsLabels are the labels of
// ds's namespace.
func Terms(policies []privacyv1alpha1.RetentionPolicy, ds *privacyv1alpha1.DataSource, nsLabels labels.Set) map[privacyv1alpha1.DataCategory][]Term {
	out := map[privacyv1alpha1.DataCategory][]Term{}
	for i := range policies {
		rp := &policies[i]
		if rp.Spec.Suspend {
			continue
		}
		cats, err := Covered(rp, ds, nsLabels)
		if err != nil {
			continue
		}
		for _, c := range cats {
			out[c] = append(out[c], Term{Policy: rp.Name, RetainFor: rp.Spec.RetainFor})
		}
	}
	for _, terms := range out {
		slices.SortFunc(terms, func(a, b Term) int { return strings.Compare(a.Policy, b.Policy) })
	}
	return out
}
