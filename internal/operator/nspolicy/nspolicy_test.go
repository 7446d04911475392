package nspolicy

import "testing"

func TestPolicy(t *testing.T) {
	def, err := Parse("", DefaultSelector)
	if err != nil {
		t.Fatal(err)
	}
	if def.Allows("shop", nil) {
		t.Error("the default policy lets in an unlabelled namespace")
	}
	if !def.Allows("shop", map[string]string{"privacyoperator.io/datasource": "true"}) {
		t.Error("the default policy refuses a labelled namespace")
	}
	listed, _ := Parse("billing, crm", "team=privacy")
	if !listed.Allows("crm", nil) || listed.Allows("shop", nil) || !listed.Allows("shop", map[string]string{"team": "privacy"}) {
		t.Errorf("list + selector policy misjudges: %s", listed)
	}
	all, _ := Parse("", "")
	if !all.Allows("anything", nil) {
		t.Error("an empty selector must let every namespace in")
	}
	if _, err := Parse("", "!!!"); err == nil {
		t.Error("a malformed selector was accepted")
	}
}
