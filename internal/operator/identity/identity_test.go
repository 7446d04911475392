package identity

import (
	"context"
	"maps"
	"reflect"
	"strings"
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

// Resolve fixes each identity in its one spelling, the one sources
// receive and fingerprints are made of; an identity that is only white
// space is refused by type, without its value.
func TestResolveNormalizes(t *testing.T) {
	got, err := Resolve(context.Background(), nil, SecretPolicy{}, privacyv1alpha1.Subject{Identities: map[string]string{
		"email": " Ada@Example.COM\t", "phone": "+44 (20) 7946-0958", "userId": "ＣＵＳＴ-42",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"email": "ada@example.com", "phone": "+442079460958", "userId": "CUST-42"}
	if !maps.Equal(got, want) {
		t.Fatalf("Resolve = %v, want %v", got, want)
	}
	_, err = Resolve(context.Background(), nil, SecretPolicy{}, privacyv1alpha1.Subject{Identities: map[string]string{"email": " \u3000 "}})
	if err == nil || !strings.Contains(err.Error(), `identity "email" is empty`) {
		t.Fatalf("white space only: %v", err)
	}
}
