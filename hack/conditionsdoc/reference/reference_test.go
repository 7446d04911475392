package reference

import (
	"strings"
	"testing"
)

// TestPageIsCurrent fails when docs/conditions.md is not what the API's
// constants make of it: run make manifests and commit the page.
func TestPageIsCurrent(t *testing.T) {
	ok, err := Current("../../../api/v1alpha1", "../../../docs/conditions.md")
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		t.Error("docs/conditions.md is stale: run `make manifests` and commit it")
	}
}

// TestEveryConstantIsListed checks the page against the constants a
// reader most needs, and that every one has a comment.
func TestEveryConstantIsListed(t *testing.T) {
	groups, err := Groups("../../../api/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range groups {
		for _, e := range g.Entries {
			seen[e.Value] = true
			if strings.TrimSpace(e.Doc) == "" {
				t.Errorf("%s (%q) has no comment: the page would say nothing of it", e.Name, e.Value)
			}
		}
	}
	for _, v := range []string{"Ready", "Overdue", "DueSoon", "NoMatchingSources", "SubjectSecretRefused", "DeadlineExceeded", "LegalHold"} {
		if !seen[v] {
			t.Errorf("%s is not on the page", v)
		}
	}
	if len(seen) < 60 {
		t.Errorf("only %d values found: the parser misses constants", len(seen))
	}
}

// TestStatesThatWaitForAPersonSayWhatToDo: every reason that stalls an
// object or that the alerts and Warning Events name tells the desk or the
// platform team what to do.
func TestStatesThatWaitForAPersonSayWhatToDo(t *testing.T) {
	groups, err := Groups("../../../api/v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Entry{}
	for _, g := range groups {
		for _, e := range g.Entries {
			byName[e.Name] = e
		}
	}
	for _, name := range []string{
		"ReasonInvalidSpec", "ReasonSuspended", "ReasonSecretNotFound", "ReasonInvalidSecret", "ReasonEndpointUnreachable",
		"ReasonTLSError", "ReasonSignatureMismatch", "ReasonCapabilitiesMismatch", "ReasonNamespaceNotAllowed",
		"ReasonEndpointNotAllowed", "ReasonNoMatchingSources", "ReasonDeadlineExceeded", "ConditionOverdue", "ConditionDueSoon",
		"ReasonRetriesExhausted", "ReasonSourceFailed", "ReasonSubjectChanged", "ReasonSubjectSecretRefused",
		"ReasonExportFailed", "ReasonReceiptStoreUnavailable", "ReasonRunFailed", "ReasonOverlappingPolicies",
		"ReasonUncoveredCategories", "ReasonExemptionNotAllowed", "ReasonPastSLA", "ReasonPastDueDate",
	} {
		e, ok := byName[name]
		if !ok {
			t.Errorf("%s is not in the API", name)
			continue
		}
		if _, act := Meaning(e); act == "-" {
			t.Errorf("%s waits for a person but its comment has no \"What to do:\"", name)
		}
	}
}
