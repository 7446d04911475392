package endpoint

import (
	"errors"
	"net/url"
	"testing"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

func TestBaseURL(t *testing.T) {
	tests := []struct {
		name string
		ep   privacyv1alpha1.Endpoint
		want string
	}{
		{"url", privacyv1alpha1.Endpoint{URL: "https://billing.example.com/privacy"}, "https://billing.example.com/privacy"},
		{"service defaults to https", privacyv1alpha1.Endpoint{Service: &privacyv1alpha1.ServiceReference{Name: "billing", Port: 8443, Path: "/privacy"}}, "https://billing.shop.svc:8443/privacy"},
		{"service with http", privacyv1alpha1.Endpoint{Service: &privacyv1alpha1.ServiceReference{Name: "crm", Port: 80, Scheme: "http"}}, "http://crm.shop.svc:80"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := BaseURL("shop", tt.ep)
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != tt.want {
				t.Errorf("BaseURL = %s, want %s", u, tt.want)
			}
		})
	}
}

func TestBaseURLErrors(t *testing.T) {
	if _, err := BaseURL("shop", privacyv1alpha1.Endpoint{}); !errors.Is(err, ErrNoEndpoint) {
		t.Errorf("empty endpoint: err = %v, want ErrNoEndpoint", err)
	}
	for _, raw := range []string{"ftp://billing.example.com", "https://", "://nope",
		"https://billing.example.com/privacy?x=/jobs", "https://billing.example.com/privacy#frag", "https://user:pw@billing.example.com", "https://billing.example.com/admin/flush?"} {
		if _, err := BaseURL("shop", privacyv1alpha1.Endpoint{URL: raw}); err == nil {
			t.Errorf("BaseURL(%q) accepted a bad url", raw)
		}
	}
	if got := Host("shop", privacyv1alpha1.Endpoint{}); got != "" {
		t.Errorf("Host of an empty endpoint = %q, want empty", got)
	}
}

func TestJoinPath(t *testing.T) {
	for base, want := range map[string]string{
		"https://billing.example.com/privacy":  "https://billing.example.com/privacy/jobs/pr-1",
		"https://billing.example.com/privacy/": "https://billing.example.com/privacy/jobs/pr-1",
		"http://crm.shop.svc:80":               "http://crm.shop.svc:80/jobs/pr-1",
	} {
		got, err := JoinPath(base, "jobs", "pr-1")
		if err != nil || got != want {
			t.Errorf("JoinPath(%s) = %q, %v; want %q", base, got, err, want)
		}
	}
	for _, elem := range []string{"..", "a/../../admin", "", "."} {
		if got, err := JoinPath("https://billing.example.com/privacy", "jobs", elem); err == nil {
			t.Errorf("JoinPath with element %q = %q, want refusal", elem, got)
		}
	}
	if got, err := JoinPath("https://billing.example.com/privacy?x=/admin", "jobs"); err == nil {
		t.Errorf("JoinPath on a base with a query = %q, want refusal", got)
	}
	for _, elem := range []string{"%2e%2e", "a%2fb", "..%2f..%2fadmin"} {
		got, err := JoinPath("https://billing.example.com/base", "jobs", elem)
		u, _ := url.Parse(got)
		if err != nil || u.Path != "/base/jobs/"+elem {
			t.Errorf("JoinPath with %q = %q (path %q), %v; want one literal segment", elem, got, u.Path, err)
		}
	}
	got, err := JoinPath("https://billing.example.com/p", "jobs", "a?b#c")
	if err != nil || got != "https://billing.example.com/p/jobs/a%3Fb%23c" {
		t.Errorf("JoinPath must escape ? and # in a segment: %q, %v", got, err)
	}
}
