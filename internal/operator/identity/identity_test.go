package identity

import (
	"reflect"
	"testing"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

func TestMinimise(t *testing.T) {
	all := map[string]string{"email": "ada@example.com", "userId": "1815"}
	sent, missing := Minimise(all, []privacyv1alpha1.IdentityType{"userId", "phone"})
	if !reflect.DeepEqual(sent, map[string]string{"userId": "1815"}) {
		t.Errorf("sent = %v: a source must receive only the types it declared", sent)
	}
	if !reflect.DeepEqual(missing, []string{"phone"}) {
		t.Errorf("missing = %v", missing)
	}
	sent, missing = Minimise(all, []privacyv1alpha1.IdentityType{"githubLogin"})
	if len(sent) != 0 || !reflect.DeepEqual(missing, []string{"githubLogin"}) {
		t.Errorf("sent = %v, missing = %v", sent, missing)
	}
}
