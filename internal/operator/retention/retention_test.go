package retention

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

func TestCovered(t *testing.T) {
	ds := &privacyv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Name: "billing", Labels: map[string]string{"tier": "gold"}},
		Spec: privacyv1alpha1.DataSourceSpec{
			RequestTypes: []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypePurge},
			Categories:   []privacyv1alpha1.DataCategory{"billing", "usage"},
		},
	}
	rp := &privacyv1alpha1.RetentionPolicy{Spec: privacyv1alpha1.RetentionPolicySpec{
		Categories: []privacyv1alpha1.DataCategory{"usage", "backups"},
	}}
	got, _ := Covered(rp, ds, nil)
	if len(got) != 1 || got[0] != "usage" {
		t.Errorf("Covered = %v, want [usage]", got)
	}
	rp.Spec.DataSourceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "silver"}}
	if got, _ := Covered(rp, ds, nil); got != nil {
		t.Errorf("a policy whose selector does not match covers %v", got)
	}
	rp.Spec.DataSourceSelector = nil
	rp.Spec.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"env": "prod"}}
	if got, _ := Covered(rp, ds, labels.Set{"env": "prod"}); len(got) != 1 {
		t.Errorf("namespace selector match: %v", got)
	}
	ds.Spec.RequestTypes = []privacyv1alpha1.RequestType{privacyv1alpha1.RequestTypeAccess}
	if got, _ := Covered(rp, ds, labels.Set{"env": "prod"}); got != nil {
		t.Errorf("a source that does not handle Purge is covered: %v", got)
	}
}

func TestJobIDStable(t *testing.T) {
	slot := time.Date(2026, 11, 30, 3, 0, 0, 0, time.UTC)
	src := types.NamespacedName{Namespace: "shop", Name: "billing"}
	first, again := JobID("u", slot, src), JobID("u", slot, src)
	if first != again || first != "rp-"+first[3:] || len(first) != 35 {
		t.Errorf("job id %q / %q is not a stable rp-<32 hex> id", first, again)
	}
	if JobID("u", slot, src) == JobID("u", slot.Add(24*time.Hour), src) {
		t.Error("two slots share a job id")
	}
}
