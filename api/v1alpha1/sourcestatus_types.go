package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// One DataSource's job, as PrivacyRequests and RetentionPolicy runs both
// account for it.

// SourcePhase is one source's progress on a request's job.
// +kubebuilder:validation:Enum=Pending;Dispatched;Completed;NotFound;Failed;Cancelled;Held;Refused
type SourcePhase string

// The phases of one source's job.
const (
	// SourcePhasePending: not yet delivered (waiting for a slot, a retry or the source to become Ready).
	SourcePhasePending SourcePhase = "Pending"
	// SourcePhaseDispatched: the source accepted the job and works on it.
	SourcePhaseDispatched SourcePhase = "Dispatched"
	// SourcePhaseCompleted: the source finished the job.
	SourcePhaseCompleted SourcePhase = "Completed"
	// SourcePhaseNotFound: the source holds nothing on the subject (a success).
	SourcePhaseNotFound SourcePhase = "NotFound"
	// SourcePhaseFailed: the source failed permanently or retries ran out.
	SourcePhaseFailed SourcePhase = "Failed"
	// SourcePhaseCancelled: the job was cancelled at the source.
	SourcePhaseCancelled SourcePhase = "Cancelled"
	// SourcePhaseHeld: a LegalHold kept the job from the source (a Delete
	// request, or a purge of held categories); hold names it. Final.
	SourcePhaseHeld SourcePhase = "Held"
	// SourcePhaseRefused: the source (or the person doing a manual
	// source's task) refused the job under an exemption the law allows;
	// exemption names the basis. Final, and not a failure: the request
	// completes with the refusal and its basis on record (CCPA regulations
	// 7022(f), 7024). A child's Delete (spec.child) cannot be refused so:
	// the entry fails instead.
	SourcePhaseRefused SourcePhase = "Refused"
)

// SourceStatus is one DataSource's job: its part in a PrivacyRequest, or
// its purge in a RetentionPolicy run.
type SourceStatus struct {
	// namespace of the DataSource.
	// +required
	Namespace string `json:"namespace"`

	// name of the DataSource.
	// +required
	Name string `json:"name"`

	// jobID identifies the job at the source; the same on every retry, so
	// the source can use it as an idempotency key. A purge's id derives
	// from the policy, the slot and the source, so a restart never runs a
	// slot twice at a source.
	// +optional
	JobID string `json:"jobID,omitempty"`

	// phase of this source's job.
	// +optional
	Phase SourcePhase `json:"phase,omitempty"`

	// attempts counts deliveries of the job.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// firstAttemptAt is when the job was first delivered.
	// +optional
	FirstAttemptAt *metav1.Time `json:"firstAttemptAt,omitempty"`

	// lastAttemptAt is when the job was last delivered.
	// +optional
	LastAttemptAt *metav1.Time `json:"lastAttemptAt,omitempty"`

	// hold names the LegalHold that kept the job (phase Held) or some of
	// its categories (heldCategories) from the source.
	// +optional
	Hold string `json:"hold,omitempty"`

	// exemption is the basis on which the source refused the job (phase
	// Refused), in the source's words: a statute or policy reference, no
	// personal data.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Exemption string `json:"exemption,omitempty"`

	// heldCategories are the categories a purge left alone because a
	// LegalHold covers them at this source.
	// +listType=set
	// +optional
	HeldCategories []DataCategory `json:"heldCategories,omitempty"`

	// task names the PrivacyTask (in the source's namespace) of a manual
	// source's job.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Task string `json:"task,omitempty"`

	// completedBy is the user who completed the manual source's task.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	CompletedBy string `json:"completedBy,omitempty"`

	// nextAttemptAt is when the next delivery or poll is due: a delivery's
	// lease, a poll's time, or a retry's backoff.
	// +optional
	NextAttemptAt *metav1.Time `json:"nextAttemptAt,omitempty"`

	// records is how many records the source returned, changed or purged.
	// +optional
	Records *int64 `json:"records,omitempty"`

	// message from the source or the operator about the last attempt.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`

	// missingIdentities are the identity types the source declared that
	// the request did not have: the source was searched without them, so a
	// NotFound or a count there may not be the whole truth. The summary,
	// the Ready message and the receipt say so too.
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	// +optional
	MissingIdentities []string `json:"missingIdentities,omitempty"`

	// replay is the replay record of a Delete, Correct or OptOut that
	// finished at a source that declares backups (docs/backups.md): when
	// the source finished, and whether the sealed record is stored. The
	// request is not deleted before it is.
	// +optional
	Replay *SourceReplay `json:"replay,omitempty"`

	// conditions of this source's job while it is under way (Dispatched),
	// when it failed (Completed=False, with the reason) or when the request
	// lacks identity types the source declared (IdentitiesComplete=False).
	// A job that succeeded has none: phase, records and message tell it.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// SourceReplay is the state of one job's replay record.
type SourceReplay struct {
	// finishedAt is when the operator saw the source finish the job: a
	// Restore of a backup taken before it sends the job again.
	// +required
	FinishedAt metav1.MicroTime `json:"finishedAt"`
	// stored is true once the sealed record is in the receipt store.
	// +optional
	Stored bool `json:"stored,omitempty"`
}
