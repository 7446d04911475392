package legalhold

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

var now = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func hold(name string, scope privacyv1alpha1.LegalHoldScope, expires *time.Time) privacyv1alpha1.LegalHold {
	h := privacyv1alpha1.LegalHold{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: privacyv1alpha1.LegalHoldSpec{Reason: "matter " + name, Scope: scope}}
	if expires != nil {
		t := metav1.NewTime(*expires)
		h.Spec.ExpiresAt = &t
	}
	return h
}

func source(team string, cats ...privacyv1alpha1.DataCategory) *privacyv1alpha1.DataSource {
	return &privacyv1alpha1.DataSource{
		ObjectMeta: metav1.ObjectMeta{Name: team, Namespace: team, Labels: map[string]string{"team": team}},
		Spec:       privacyv1alpha1.DataSourceSpec{Categories: cats},
	}
}

func team(t string) *metav1.LabelSelector {
	return &metav1.LabelSelector{MatchLabels: map[string]string{"team": t}}
}

func TestForDelete(t *testing.T) {
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	billing := source("billing", "billing", "contact")
	crm := source("crm", "contact")
	ada, bob := "aa", "bb"
	for _, tc := range []struct {
		name  string
		holds []privacyv1alpha1.LegalHold
		ds    *privacyv1alpha1.DataSource
		fps   []string
		want  string
	}{
		{"source selected, no subjects: every Delete held", []privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{DataSourceSelector: team("billing")}, nil)}, billing, []string{ada}, "h1"},
		{"other source", []privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{DataSourceSelector: team("billing")}, nil)}, crm, []string{ada}, ""},
		{"subject matches", []privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{Subjects: []string{ada}}, nil)}, crm, []string{bob, ada}, "h1"},
		{"subject does not match", []privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{Subjects: []string{ada}}, nil)}, crm, []string{bob}, ""},
		{"category held at a source that declares it", []privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{Categories: []privacyv1alpha1.DataCategory{"billing"}}, nil)}, billing, nil, "h1"},
		{"category not declared by the source", []privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{Categories: []privacyv1alpha1.DataCategory{"billing"}}, nil)}, crm, nil, ""},
		{"a source that declares no categories is held by a category hold", []privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{Categories: []privacyv1alpha1.DataCategory{"billing"}}, nil)}, source("plain"), nil, "h1"},
		{"expired hold", []privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{DataSourceSelector: team("billing")}, &past)}, billing, nil, ""},
		{"not yet expired", []privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{DataSourceSelector: team("billing")}, &future)}, billing, nil, "h1"},
		{"first by name", []privacyv1alpha1.LegalHold{
			hold("h2", privacyv1alpha1.LegalHoldScope{DataSourceSelector: team("billing")}, nil),
			hold("h1", privacyv1alpha1.LegalHoldScope{Categories: []privacyv1alpha1.DataCategory{"contact"}}, nil)}, billing, nil, "h1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := NewSet(tc.holds, now).ForDelete(tc.ds, labels.Set{}, tc.fps, true)
			name := ""
			if got != nil {
				name = got.Name
			}
			if name != tc.want {
				t.Errorf("held by %q, want %q", name, tc.want)
			}
		})
	}
}

func TestPurgeSplitsCategories(t *testing.T) {
	billing := source("billing", "billing", "usage", "contact")
	set := NewSet([]privacyv1alpha1.LegalHold{
		hold("h1", privacyv1alpha1.LegalHoldScope{DataSourceSelector: team("billing"), Categories: []privacyv1alpha1.DataCategory{"billing"}}, nil),
		// A hold on one person still keeps the purge: it is about everyone.
		hold("h2", privacyv1alpha1.LegalHoldScope{Subjects: []string{"aa"}, Categories: []privacyv1alpha1.DataCategory{"usage"}}, nil),
		hold("h3", privacyv1alpha1.LegalHoldScope{DataSourceSelector: team("crm")}, nil),
	}, now)
	purge, held, holds := set.Purge(billing, labels.Set{}, []privacyv1alpha1.DataCategory{"billing", "usage", "contact"})
	if !slices.Equal(purge, []privacyv1alpha1.DataCategory{"contact"}) || !slices.Equal(held, []privacyv1alpha1.DataCategory{"billing", "usage"}) ||
		!slices.Equal(holds, []string{"h1", "h2"}) {
		t.Errorf("purge %v held %v by %v", purge, held, holds)
	}
	if msg := CategoriesMessage(held, holds); msg != "LegalHold h1, h2 keeps billing, usage: not purged." {
		t.Errorf("message %q", msg)
	}
}

func TestNextExpiry(t *testing.T) {
	a, b, past := now.Add(2*time.Hour), now.Add(time.Hour), now.Add(-time.Hour)
	list := []privacyv1alpha1.LegalHold{
		hold("a", privacyv1alpha1.LegalHoldScope{Categories: []privacyv1alpha1.DataCategory{"x"}}, &a),
		hold("b", privacyv1alpha1.LegalHoldScope{Categories: []privacyv1alpha1.DataCategory{"x"}}, &b),
		hold("c", privacyv1alpha1.LegalHoldScope{Categories: []privacyv1alpha1.DataCategory{"x"}}, &past),
		hold("d", privacyv1alpha1.LegalHoldScope{Categories: []privacyv1alpha1.DataCategory{"x"}}, nil),
	}
	if got := NextExpiry(list, now); !got.Equal(b) {
		t.Errorf("next expiry %s, want %s", got, b)
	}
}

func TestForDeleteWithoutFingerprintsHoldsSubjectHolds(t *testing.T) {
	set := NewSet([]privacyv1alpha1.LegalHold{hold("h1", privacyv1alpha1.LegalHoldScope{Subjects: []string{"aa"}}, nil)}, now)
	if got := set.ForDelete(source("crm"), labels.Set{}, nil, false); got == nil {
		t.Error("a hold on named people must hold when the request's fingerprints cannot be made")
	}
	if got := set.ForDelete(source("crm"), labels.Set{}, []string{"bb"}, true); got != nil {
		t.Error("another person's request is not held")
	}
}

func TestSelectorErrors(t *testing.T) {
	h := hold("h1", privacyv1alpha1.LegalHoldScope{DataSourceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "team", Operator: metav1.LabelSelectorOpIn},
	}}}, nil)
	if errs := SelectorErrors(&h); len(errs) != 1 || !strings.HasPrefix(errs[0], "spec.scope.dataSourceSelector: ") {
		t.Errorf("errors %q", errs)
	}
	set := NewSet([]privacyv1alpha1.LegalHold{h}, now)
	if set.ForDelete(source("crm"), labels.Set{}, nil, true) == nil {
		t.Error("a selector that does not parse selects everything")
	}
}
