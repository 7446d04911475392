package v1alpha1

// RequestType is a kind of privacy job. PrivacyRequests carry the first four;
// Purge jobs come only from RetentionPolicies.
type RequestType string

// The request types of the job protocol.
const (
	// RequestTypeAccess asks a source for a copy of the subject's data.
	RequestTypeAccess RequestType = "Access"
	// RequestTypeDelete asks a source to erase the subject's data.
	RequestTypeDelete RequestType = "Delete"
	// RequestTypeCorrect asks a source to change listed fields of the subject's data.
	RequestTypeCorrect RequestType = "Correct"
	// RequestTypeOptOut asks a source to stop using the subject's data for the listed scopes.
	RequestTypeOptOut RequestType = "OptOut"
	// RequestTypePurge asks a source to remove data older than a retention period.
	RequestTypePurge RequestType = "Purge"
)

// SecretKeySelector names one key of a Secret in the namespace of the object
// that refers to it.
type SecretKeySelector struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`

	// key in the Secret's data that holds the value.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +kubebuilder:default=signingSecret
	// +optional
	Key string `json:"key,omitempty"`
}

// NamespacedSecretReference names a Secret in a given namespace.
type NamespacedSecretReference struct {
	// namespace of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Namespace string `json:"namespace"`

	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	Name string `json:"name"`
}

// IdentityType names a kind of identifier of a person, such as email,
// userId, phone or githubLogin. Data sources declare the ones they need and
// receive only those.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z][a-zA-Z0-9]*$`
type IdentityType string

// DataCategory names a kind of personal data, such as contact, billing,
// usage or backups. Retention rules are written per category.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
type DataCategory string
