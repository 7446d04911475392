package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The parts of a PrivacyRequestSpec: who asked and who approved, whom it
// is about, and what it asks for.

// Approval is a reviewer's decision to let a suspended request proceed.
type Approval struct {
	// approver is the user who approved, as the API server authenticated
	// them (request.userInfo.username).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Approver string `json:"approver"`

	// reason for the approval, kept for the record. Write no personal data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Reason string `json:"reason"`

	// approvedAt is when the approver decided.
	// +required
	ApprovedAt metav1.Time `json:"approvedAt"`
}

// Subject is exactly one of inline identities or a Secret holding them.
// +kubebuilder:validation:XValidation:rule="has(self.identities) != has(self.secretRef)",message="subject must set exactly one of identities or secretRef"
type Subject struct {
	// identities maps identity type (e.g. email, userId) to the person's
	// value. Each DataSource receives only the types it declared.
	// +kubebuilder:validation:MaxProperties=16
	// +kubebuilder:validation:XValidation:rule="size(self) > 0",message="identities must name at least one identity, such as email: ada@example.com"
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z][a-zA-Z0-9]*$') && size(k) <= 63)",message="identity types must be camelCase names such as email or userId"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) > 0 && size(self[k]) <= 1024)",message="identity values must be non-empty and at most 1024 characters"
	// +optional
	Identities map[string]string `json:"identities,omitempty"`

	// secretRef names a Secret whose keys are identity types and whose
	// values are the person's identities; use it to keep identities out of
	// the PrivacyRequest object.
	// +optional
	SecretRef *NamespacedSecretReference `json:"secretRef,omitempty"`
}

// Correction is one field to change and its new value.
type Correction struct {
	// field to change, as the data sources name it (e.g. email, address.city).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-zA-Z][a-zA-Z0-9_]*(\.[a-zA-Z][a-zA-Z0-9_]*)*$`
	// +required
	Field string `json:"field"`

	// value is the new value.
	// +kubebuilder:validation:MaxLength=4096
	// +required
	Value string `json:"value"`
}

// OptOutSpec lists the processing a person opts out of.
type OptOutSpec struct {
	// scopes of processing, e.g. email-marketing, profiling, sale.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:items:MaxLength=63
	// +kubebuilder:default={"email-marketing"}
	// +listType=set
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// Extension moves a request's due date.
type Extension struct {
	// days added to the due date.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=90
	// +required
	Days int32 `json:"days"`

	// reason for the extension, kept for the record (regulations require
	// telling the person why).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Reason string `json:"reason"`
}
