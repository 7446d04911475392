package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Regulation decides a request's default deadline and allowed extension.
// +kubebuilder:validation:Enum=GDPR;CCPA;Other
type Regulation string

// The regulations the operator knows deadlines for.
const (
	// RegulationGDPR: one month (here: the earlier of one calendar month and
	// 30 days), extendable by two further months (here: 60 days), GDPR Art. 12(3).
	RegulationGDPR Regulation = "GDPR"
	// RegulationCCPA: 45 days, extendable by 45 more (Cal. Civ. Code 1798.130).
	RegulationCCPA Regulation = "CCPA"
	// RegulationOther: no statutory deadline; spec.deadline or 30 days applies.
	RegulationOther Regulation = "Other"
)

// DefaultOptOutScope is the scope an OptOut request covers when it names none.
const DefaultOptOutScope = "email-marketing"

// PrivacyRequestSpec is one request about one person.
// +kubebuilder:validation:XValidation:rule="self.type != 'Correct' || (has(self.corrections) && size(self.corrections) > 0)",message="corrections are required when type is Correct: list each field to change with its new value"
// +kubebuilder:validation:XValidation:rule="self.type == 'Correct' || !has(self.corrections)",message="corrections are only allowed when type is Correct"
// +kubebuilder:validation:XValidation:rule="self.type == 'OptOut' || !has(self.optOut)",message="optOut is only allowed when type is OptOut"
// +kubebuilder:validation:XValidation:rule="!has(self.extension) || !has(self.regulation) || self.regulation != 'GDPR' || self.extension.days <= 60",message="GDPR allows an extension of at most 60 days (two further months)"
// +kubebuilder:validation:XValidation:rule="!has(self.extension) || !has(self.regulation) || self.regulation != 'CCPA' || self.extension.days <= 45",message="CCPA allows an extension of at most 45 days"
// +kubebuilder:validation:XValidation:rule="!has(self.extension) || !has(self.regulation) || self.regulation != 'CCPA' || self.type != 'OptOut'",message="CCPA allows no extension of an opt-out of sale or sharing (15 business days, 11 CCR 7026(f))"
// +kubebuilder:validation:XValidation:rule="!has(self.child) || !self.child || self.type == 'Delete'",message="child marks a Delete of a child's data: only a Delete request may set it"
// +kubebuilder:validation:XValidation:rule="!has(self.child) || !self.child || !has(self.extension)",message="a child's data is deleted within 7 days: no extension"
// +kubebuilder:validation:XValidation:rule="has(self.child) == has(oldSelf.child)",message="child is set when the request is created and cannot be added or removed later"
// +kubebuilder:validation:XValidation:rule="has(self.receivedAt) == has(oldSelf.receivedAt)",message="receivedAt is set when the request is created and cannot be added or removed later"
// +kubebuilder:validation:XValidation:rule="has(self.requester) == has(oldSelf.requester)",message="requester is set when the request is created and cannot be added or removed later"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.approval) || has(self.approval)",message="approval is immutable once given: it is the record of who approved"
type PrivacyRequestSpec struct {
	// type of the request: Access, Delete, Correct or OptOut. Immutable.
	// +kubebuilder:validation:Enum=Access;Delete;Correct;OptOut
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="type is immutable: create a new PrivacyRequest instead"
	// +required
	Type RequestType `json:"type"`

	// subject identifies the person. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="subject is immutable: create a new PrivacyRequest instead"
	// +required
	Subject Subject `json:"subject"`

	// corrections lists the fields to change and their new values.
	// Required for Correct, forbidden otherwise.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=field
	// +optional
	Corrections []Correction `json:"corrections,omitempty"`

	// optOut lists the processing the person opts out of. Only for OptOut;
	// when absent an OptOut request covers "email-marketing".
	// +optional
	OptOut *OptOutSpec `json:"optOut,omitempty"`

	// regulation the request is made under; with the type it decides the
	// default deadline (GDPR: one month, at most 30 days; CCPA: 45 days, an
	// opt-out 15 business days; Other: 30 days) and the longest extension
	// (GDPR: 60 days; CCPA: 45 days, none for an opt-out). The table is in
	// docs/deadlines.md.
	// +kubebuilder:default=GDPR
	// +optional
	Regulation Regulation `json:"regulation,omitempty"`

	// child marks a Delete of the data of a child under 16, once reported:
	// the privacy policy promises it is deleted, so it is due within 7 days
	// whatever the regulation (docs/deadlines.md), takes no extension, and
	// is counted apart in the receipt and in reports. Only a LegalHold may
	// keep a source from acting on it. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="child is immutable: create a new PrivacyRequest instead"
	// +optional
	Child bool `json:"child,omitempty"`

	// receivedAt is when the request reached you (by mail, a form, a call),
	// if before this object was created: the deadline counts from it, and
	// the receipt records it. Unset: the creation time. It may not be later
	// than the creation (5 minutes of clock skew allowed) nor more than 366
	// days before it; such a request is refused (Ready=False, InvalidSpec)
	// and dispatches nothing. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="receivedAt is immutable: it is the record of when the request arrived"
	// +optional
	ReceivedAt *metav1.Time `json:"receivedAt,omitempty"`

	// deadline overrides the regulation's default due date.
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`

	// extension moves the due date, as the regulations allow for complex
	// requests; the reason is kept for the record.
	// +optional
	Extension *Extension `json:"extension,omitempty"`

	// dataSourceSelector restricts the request to DataSources with matching
	// labels. Empty: every DataSource that handles the type.
	// +optional
	DataSourceSelector *metav1.LabelSelector `json:"dataSourceSelector,omitempty"`

	// namespaceSelector restricts the request to DataSources in namespaces
	// with matching labels. Empty: every allowed namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// suspend holds dispatch, as in batch/v1 Job: a suspended request sends
	// nothing, so a reviewer can approve it by setting suspend to false.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// ttlSecondsAfterFinished deletes the request this many seconds after it
	// finished (Completed, Failed or Cancelled), as in batch/v1 Job: 0
	// deletes it as soon as it finished. Unset: the operator's default
	// applies (its --request-ttl flag, 30 days unless configured; a default
	// of 0 keeps such requests until a person deletes them). A finished
	// request holds personal data, so leaving it unset is the safer choice.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`

	// requester is the user who made the request, as the API server
	// authenticated them. The approval admission policy checks it equals
	// the user who creates the request; with its four-eyes setting, a
	// request created suspended must name it, and its requester cannot
	// approve it. Immutable.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="requester is immutable"
	// +optional
	Requester string `json:"requester,omitempty"`

	// approval records who approved a suspended request, why and when. The
	// approval admission policy admits the update that clears suspend only
	// when approval.approver is the user making it; the receipt carries it.
	// Immutable once set.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="approval is immutable once given: it is the record of who approved"
	// +optional
	Approval *Approval `json:"approval,omitempty"`
}

// RequestPhase is a PrivacyRequest's place in its life cycle.
// +kubebuilder:validation:Enum=Pending;InProgress;Completed;Failed;Cancelled
type RequestPhase string

// The phases of a PrivacyRequest.
const (
	// RequestPhasePending: no job has been dispatched yet (or the request is suspended).
	RequestPhasePending RequestPhase = "Pending"
	// RequestPhaseInProgress: jobs are open at one or more sources.
	RequestPhaseInProgress RequestPhase = "InProgress"
	// RequestPhaseCompleted: every targeted source finished successfully.
	RequestPhaseCompleted RequestPhase = "Completed"
	// RequestPhaseFailed: a source failed permanently, or the deadline passed.
	RequestPhaseFailed RequestPhase = "Failed"
	// RequestPhaseCancelled: the request was cancelled.
	RequestPhaseCancelled RequestPhase = "Cancelled"
)

// PrivacyRequestStatus is the request's true account, source by source.
type PrivacyRequestStatus struct {
	// phase summarises the request's progress.
	// +optional
	Phase RequestPhase `json:"phase,omitempty"`

	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (finished successfully; its reason says why not
	// yet), Reconciling (work under way), Stalled (failed or invalid; needs
	// a person), Suspended (awaiting approval), DueSoon, Overdue and
	// ReceiptRecorded. Every type and reason is listed in
	// docs/conditions.md.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// dueAt is when the request must be answered under its regulation,
	// deadline and extension.
	// +optional
	DueAt *metav1.Time `json:"dueAt,omitempty"`

	// startedAt is when the first job was dispatched.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// completedAt is when the request finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// sources has one entry per targeted DataSource.
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	// +optional
	Sources []SourceStatus `json:"sources,omitempty"`

	// summary counts the sources by outcome.
	// +optional
	Summary *RequestSummary `json:"summary,omitempty"`

	// progress is "done/total" sources, for kubectl get.
	// +optional
	Progress string `json:"progress,omitempty"`

	// export locates the Access export.
	// +optional
	Export *ExportReference `json:"export,omitempty"`

	// deliveries are the times the privacy center handed the Access
	// export to the person, each with its signed receipt (kind Delivery),
	// oldest first.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=20
	// +optional
	Deliveries []ExportDelivery `json:"deliveries,omitempty"`

	// kept tells the person what LegalHolds kept from this request and
	// why: per basis, the categories of data kept at the sources they
	// held. No source or hold names. Written when the request finishes.
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	// +optional
	Kept []KeptData `json:"kept,omitempty"`

	// heldBy names the LegalHolds that kept this request from one or more
	// of its sources (their entries are Held).
	// +listType=set
	// +optional
	HeldBy []string `json:"heldBy,omitempty"`

	// subject is what the operator fixed of the subject's identities when
	// it first read them: while the request waits suspended for its
	// approval, or at its first delivery. A job whose identities differ
	// later fails (SubjectChanged), so an approval and a receipt speak of
	// the person the request was sent about. No personal data.
	// +optional
	Subject *FixedSubject `json:"subject,omitempty"`

	// receipt locates the signed receipt of the finished request. The
	// request is not deleted after its TTL before it is set.
	// +optional
	Receipt *ReceiptReference `json:"receipt,omitempty"`
}

// ReceiptReference locates a receipt in the receipt store.
type ReceiptReference struct {
	// location of the receipt: a path in the receipt directory or an
	// s3:// URL.
	// +required
	Location string `json:"location"`
	// sha256 of the receipt as stored, hex-encoded: the hash the next
	// receipt in the log chains to.
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	// +required
	SHA256 string `json:"sha256"`
	// sequence of the receipt in the log.
	// +optional
	Sequence int64 `json:"sequence,omitempty"`
}

// RequestSummary counts a request's sources by outcome.
type RequestSummary struct {
	// total targeted sources.
	Total int32 `json:"total"`
	// succeeded sources (Completed or NotFound).
	Succeeded int32 `json:"succeeded"`
	// failed sources.
	Failed int32 `json:"failed"`
	// pending sources (not yet finished).
	Pending int32 `json:"pending"`
	// held sources (a LegalHold kept the job from them).
	// +optional
	Held int32 `json:"held,omitempty"`
	// refused sources (they refused the job under an exemption; their
	// entries name the basis).
	// +optional
	Refused int32 `json:"refused,omitempty"`
	// partialSearch counts the sources searched without every identity
	// type they declare (status.sources[].missingIdentities): their
	// answers may not be the whole truth.
	// +optional
	PartialSearch int32 `json:"partialSearch,omitempty"`
}

// ExportReference locates an Access request's export.
type ExportReference struct {
	// location of the export (a URL or a path in the export store).
	// +required
	Location string `json:"location"`
	// sha256 of the export, hex-encoded.
	// +kubebuilder:validation:Pattern=`^[a-f0-9]{64}$`
	// +required
	SHA256 string `json:"sha256"`
	// bytes in the export.
	// +required
	Bytes int64 `json:"bytes"`
	// expiresAt is when the export is deleted.
	// +required
	ExpiresAt metav1.Time `json:"expiresAt"`
}

// PrivacyRequest is one person's request to access, delete, correct or opt
// out of their data. It is cluster-scoped because it reaches DataSources in
// every namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=preq,categories=privacy
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,description="Why it is in its phase: Suspended (awaiting approval), NoMatchingSources, SubjectSecretRefused, InvalidSpec, InProgress, Completed, ..."
// +kubebuilder:printcolumn:name="Sources",type=string,JSONPath=`.status.progress`,description="Sources done/total"
// +kubebuilder:printcolumn:name="Due",type=string,JSONPath=`.status.dueAt`
// +kubebuilder:printcolumn:name="Overdue",type=string,JSONPath=`.status.conditions[?(@.type=="Overdue")].status`,description="True: past the due date, unfinished"
// +kubebuilder:printcolumn:name="DueSoon",type=string,JSONPath=`.status.conditions[?(@.type=="DueSoon")].status`,priority=1,description="True: past --due-soon-share of its time, unfinished"
// +kubebuilder:printcolumn:name="Child",type=boolean,JSONPath=`.spec.child`,priority=1,description="A Delete of a child's data (due within 7 days)"
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PrivacyRequest struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the request.
	// +required
	Spec PrivacyRequestSpec `json:"spec"`

	// status is the operator's account of the request.
	// +optional
	Status PrivacyRequestStatus `json:"status,omitzero"`
}

// PrivacyRequestList is a list of PrivacyRequests.
//
// +kubebuilder:object:root=true
type PrivacyRequestList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []PrivacyRequest `json:"items"`
}

// FixedSubject records a request's subject as the operator first read it.
// What a reviewer needs before approving is in the clear (which identity
// types, how many, since when they are fixed); the fingerprints are sealed,
// so that no reader of the request can compare them with a guess, a
// LegalHold or a receipt.
type FixedSubject struct {
	// identityTypes are the types of the subject's identities, sorted.
	// +listType=set
	// +kubebuilder:validation:MaxItems=16
	IdentityTypes []string `json:"identityTypes"`

	// fixedAt is when the operator first read the identities.
	FixedAt metav1.Time `json:"fixedAt"`

	// fingerprintKeyID names the operator's fingerprint key, with which the
	// fingerprints were made and sealed.
	FingerprintKeyID string `json:"fingerprintKeyID"`

	// sealedFingerprints are the identities' fingerprints, encrypted
	// (AES-256-GCM under a key derived from the fingerprint key, a random
	// nonce, bound to this request's uid): only the operator, and holders
	// of the fingerprint key, can read them, and two requests about the
	// same person show different values.
	// +kubebuilder:validation:MaxLength=4096
	SealedFingerprints string `json:"sealedFingerprints"`
}
