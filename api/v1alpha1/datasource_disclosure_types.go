package v1alpha1

// CategoryDisclosure is what a person is told about one category of their
// data held by a DataSource, carried in their Access export beside the
// data (GDPR Art. 15(1)(a), (c) and (g); CCPA 1798.110(a)). Written for the
// person to read; never personal data.
type CategoryDisclosure struct {
	// category is one of spec.categories.
	// +required
	Category DataCategory `json:"category"`

	// purposes for which the data is processed, e.g. "Billing and tax
	// records" or "Fraud prevention".
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=atomic
	// +optional
	Purposes []string `json:"purposes,omitempty"`

	// recipients, or categories of recipient, the data is disclosed to,
	// e.g. "Payment processor (Stripe)" or "Tax authorities".
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=256
	// +listType=atomic
	// +optional
	Recipients []string `json:"recipients,omitempty"`

	// origin says where the data comes from when it was not collected from
	// the person, e.g. "Credit reference agency".
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Origin string `json:"origin,omitempty"`
}
