// Package v1alpha1 holds the privacyoperator.io/v1alpha1 API: DataSource,
// PrivacyRequest and RetentionPolicy, their validation markers, and the
// condition types and reasons that their controllers report.
//
// +kubebuilder:object:generate=true
// +groupName=privacyoperator.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "privacyoperator.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
