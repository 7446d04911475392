// Package endpoint resolves a DataSource's endpoint to the base URL that jobs
// are sent to.
package endpoint

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// ErrNoEndpoint is returned for an endpoint that names neither a URL nor a
// Service; admission refuses such objects, so it means a bypassed validation.
var ErrNoEndpoint = errors.New("endpoint sets neither url nor service")

// BaseURL returns the URL that job paths (/jobs, /capabilities) are appended
// to. A Service endpoint resolves to {scheme}://{name}.{namespace}.svc:{port}{path}.
func BaseURL(namespace string, ep privacyv1alpha1.Endpoint) (*url.URL, error) {
	switch {
	case ep.URL != "":
		u, err := url.Parse(ep.URL)
		if err != nil {
			return nil, fmt.Errorf("parse endpoint url: %w", err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return nil, fmt.Errorf("endpoint url scheme %q is not http or https", u.Scheme)
		}
		if u.Hostname() == "" {
			return nil, errors.New("endpoint url has no host")
		}
		// Admission refuses these too; checked again here so that an
		// object stored before that rule cannot steer a path elsewhere.
		if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil || u.Opaque != "" {
			return nil, errors.New("endpoint url must not carry a query string, a fragment or user info")
		}
		return u, nil
	case ep.Service != nil:
		scheme := ep.Service.Scheme
		if scheme == "" {
			scheme = "https"
		}
		host := fmt.Sprintf("%s.%s.svc", ep.Service.Name, namespace)
		return &url.URL{
			Scheme: scheme,
			Host:   net.JoinHostPort(host, strconv.Itoa(int(ep.Service.Port))),
			Path:   ep.Service.Path,
		}, nil
	default:
		return nil, ErrNoEndpoint
	}
}

// JoinPath returns base with the protocol path elements appended, each
// escaped as one segment, so that no element can add a query or climb out of
// the endpoint's path.
func JoinPath(base string, elem ...string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse endpoint url: %w", err)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.User != nil {
		return "", errors.New("endpoint url must not carry a query string, a fragment or user info")
	}
	escaped := make([]string, len(elem))
	for i, e := range elem {
		if e == "" || e == "." || e == ".." || strings.Contains(e, "/") {
			return "", fmt.Errorf("path element %q is not one segment", e)
		}
		// url.URL.JoinPath takes escaped elements: escape each, so that
		// "%2e%2e" or "a%2fb" stay one literal segment.
		escaped[i] = url.PathEscape(e)
	}
	return u.JoinPath(escaped...).String(), nil
}

// ErrPlaintext is returned for an http endpoint that does not set
// insecure: admission refuses it, so it means an object stored before that
// rule.
var ErrPlaintext = errors.New("the endpoint is http:// without spec.endpoint.insecure: true; use https, or set insecure to accept unencrypted personal data")

// CheckScheme refuses a plain-HTTP base URL unless ep allows it.
func CheckScheme(base *url.URL, ep privacyv1alpha1.Endpoint) error {
	if base.Scheme == "http" && !ep.Insecure {
		return ErrPlaintext
	}
	return nil
}

// Host returns the host[:port] jobs go to, for display in status and in
// kubectl get; empty when the endpoint does not resolve.
func Host(namespace string, ep privacyv1alpha1.Endpoint) string {
	u, err := BaseURL(namespace, ep)
	if err != nil {
		return ""
	}
	return u.Host
}
