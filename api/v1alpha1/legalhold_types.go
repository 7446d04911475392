package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LegalHoldSpec says what a hold preserves and why.
type LegalHoldSpec struct {
	// reason for the hold (a matter, a case number), kept for the record
	// and named in the account of every request and purge it holds back.
	// Write no personal data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	Reason string `json:"reason"`

	// basis is the legal basis for keeping the data, in plain words for
	// the people whose data it keeps: the privacy center shows it on the
	// status page and in the notice of a request the hold held back (e.g.
	// "Needed to establish or defend legal claims (GDPR Art. 17(3)(e))").
	// Write no personal data, no matter or case names (reason is for
	// those). Unset, people are told that the law requires keeping it.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Basis string `json:"basis,omitempty"`

	// expiresAt ends the hold: from then on it holds nothing back (a
	// retention purge it held runs at the policy's next slot). Unset: the
	// hold lasts until it is deleted.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`

	// scope is the data the hold preserves. Every field set narrows it;
	// at least one must be set, so that a hold never covers everything by
	// an omission.
	// +required
	Scope LegalHoldScope `json:"scope"`
}

// LegalHoldScope narrows a hold to DataSources, categories and subjects.
// +kubebuilder:validation:XValidation:rule="has(self.dataSourceSelector) || has(self.namespaceSelector) || (has(self.categories) && size(self.categories) > 0) || (has(self.subjects) && size(self.subjects) > 0)",message="scope must set at least one of dataSourceSelector, namespaceSelector, categories or subjects: a hold on everything must be stated, not implied by an empty scope"
type LegalHoldScope struct {
	// dataSourceSelector selects the held DataSources by label.
	// +optional
	DataSourceSelector *metav1.LabelSelector `json:"dataSourceSelector,omitempty"`

	// namespaceSelector selects the held DataSources by their namespace's
	// labels.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// categories held. A Delete request is held at a selected source that
	// declares any of them; a retention purge leaves them alone. Empty:
	// every category of the selected sources.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	Categories []DataCategory `json:"categories,omitempty"`

	// subjects are fingerprints of the people whose Delete requests are
	// held: HMAC-SHA256 of an identity under the operator's fingerprint
	// key, as `privacyctl fingerprint` prints them, so the hold stores no
	// personal data. Empty: every Delete request at the selected sources.
	// Retention purges are held regardless of subjects: a purge is not
	// about one person.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:Pattern=`^[a-f0-9]{64}$`
	// +listType=set
	// +optional
	Subjects []string `json:"subjects,omitempty"`
}

// LegalHoldStatus is the hold's account of what it held back.
type LegalHoldStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Active (True while the hold holds, False once it expired).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// requestsHeld counts the PrivacyRequests on record with a source the
	// hold kept a Delete job from (a request deleted after its TTL leaves
	// the count; its receipt keeps the account for 24 months).
	// +optional
	RequestsHeld int32 `json:"requestsHeld"`

	// purgesHeld counts the retention purges, in the runs the policies
	// keep in their history, that the hold stopped or narrowed at a
	// source.
	// +optional
	PurgesHeld int32 `json:"purgesHeld"`
}

// LegalHold preserves data that litigation or an investigation needs:
// while it is active, Delete requests for the subjects it names are not
// sent to the sources it selects (their entries end Held, the request
// lists them as a partial denial with this hold as its basis), and
// retention purges leave its categories alone there. Cluster-scoped, and
// managed by whoever has the legal-hold-admin role.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=lh,categories=privacy
// +kubebuilder:printcolumn:name="Active",type=string,JSONPath=`.status.conditions[?(@.type=="Active")].status`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.spec.expiresAt`
// +kubebuilder:printcolumn:name="Requests-Held",type=integer,JSONPath=`.status.requestsHeld`
// +kubebuilder:printcolumn:name="Purges-Held",type=integer,JSONPath=`.status.purgesHeld`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.spec.reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LegalHold struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the hold.
	// +required
	Spec LegalHoldSpec `json:"spec"`

	// status is what the hold held back.
	// +optional
	Status LegalHoldStatus `json:"status,omitzero"`
}

// LegalHoldList is a list of LegalHolds.
//
// +kubebuilder:object:root=true
type LegalHoldList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []LegalHold `json:"items"`
}
