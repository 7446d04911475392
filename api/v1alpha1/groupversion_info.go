// Package v1alpha1 holds the privacyoperator.io/v1alpha1 API: DataSource,
// PrivacyRequest, RetentionPolicy, LegalHold and PrivacyTask, their validation markers, and the
// condition types and reasons that their controllers report.
//
// +kubebuilder:object:generate=true
// +groupName=privacyoperator.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "privacyoperator.io", Version: "v1alpha1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&DataSource{}, &DataSourceList{},
		&PrivacyRequest{}, &PrivacyRequestList{},
		&RetentionPolicy{}, &RetentionPolicyList{},
		&LegalHold{}, &LegalHoldList{},
		&PrivacyTask{}, &PrivacyTaskList{},
		&AuthorizedAgent{}, &AuthorizedAgentList{},
		&Restore{}, &RestoreList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
