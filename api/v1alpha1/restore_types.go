package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RestoreSpec names the backup a data-source team restored.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="a Restore's spec is immutable: create another Restore for another backup"
type RestoreSpec struct {
	// dataSource is the DataSource (in this namespace) whose backup was
	// restored. It must declare spec.backups.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +required
	DataSource string `json:"dataSource"`

	// backupTakenAt is when the restored backup was taken (RFC 3339).
	// Every Delete, Correct and OptOut that finished at the source after
	// it is sent again. It may be neither in the future nor older than the
	// source's backups.retainFor: the operator refuses such a Restore
	// (Stalled, reason BackupInFuture or BackupOutsideWindow).
	// +required
	BackupTakenAt metav1.Time `json:"backupTakenAt"`
}

// RestorePhase is where a Restore stands.
// +kubebuilder:validation:Enum=Pending;Replaying;Purging;Completed;Failed;Refused
type RestorePhase string

// The phases of a Restore.
const (
	// RestorePhasePending: seen, not started.
	RestorePhasePending RestorePhase = "Pending"
	// RestorePhaseReplaying: the jobs since the backup are being sent again.
	RestorePhaseReplaying RestorePhase = "Replaying"
	// RestorePhasePurging: the source's retention purges run once.
	RestorePhasePurging RestorePhase = "Purging"
	// RestorePhaseCompleted: every job was sent again and answered (or
	// held); the purges ran.
	RestorePhaseCompleted RestorePhase = "Completed"
	// RestorePhaseFailed: done, but some jobs or purges failed at the
	// source (status.failures names them).
	RestorePhaseFailed RestorePhase = "Failed"
	// RestorePhaseRefused: nothing was sent; the Ready condition says why.
	RestorePhaseRefused RestorePhase = "Refused"
)

// RestoreCounts count the replay records a Restore sends again.
type RestoreCounts struct {
	// toReplay is how many records finished at the source after the backup.
	// +optional
	ToReplay int32 `json:"toReplay"`
	// sent is how many were sent again (or held) so far.
	// +optional
	Sent int32 `json:"sent"`
	// completed is how many the source answered done (or found nothing).
	// +optional
	Completed int32 `json:"completed"`
	// failed is how many the source failed or refused.
	// +optional
	Failed int32 `json:"failed"`
	// held is how many Deletes a LegalHold active now kept from being sent.
	// +optional
	Held int32 `json:"held"`
}

// RestoreFailure is one replayed job the source failed, with its answer.
type RestoreFailure struct {
	// jobID is the replayed job's id (derived from the original's).
	// +kubebuilder:validation:MaxLength=128
	// +required
	JobID string `json:"jobID"`
	// originalJobID is the job it replays, as the original request's
	// receipt names it.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	OriginalJobID string `json:"originalJobID,omitempty"`
	// message is the source's answer.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// RestorePurge is one retention purge a Restore ran once at the source.
type RestorePurge struct {
	// policy is the RetentionPolicy whose rule was applied.
	// +kubebuilder:validation:MaxLength=253
	// +required
	Policy string `json:"policy"`
	// outcome is the source's answer: Completed, NotFound, Failed or Held.
	// +kubebuilder:validation:MaxLength=32
	// +required
	Outcome string `json:"outcome"`
	// records the purge removed or anonymised.
	// +optional
	Records *int64 `json:"records,omitempty"`
	// hold is the LegalHold that kept categories from the purge, if any.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	Hold string `json:"hold,omitempty"`
	// message is the source's answer to a purge that failed.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Message string `json:"message,omitempty"`
}

// RestoreStatus is the operator's account of a Restore.
type RestoreStatus struct {
	// observedGeneration is the generation this status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// phase is where the Restore stands.
	// +optional
	Phase RestorePhase `json:"phase,omitempty"`
	// counts of the records replayed.
	// +optional
	Counts RestoreCounts `json:"counts,omitzero"`
	// cursor is the last replay record handled (its name in the receipt
	// store: period, finish time, source and job id, nothing personal): a
	// Restore taken over by another replica goes on after it.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Cursor string `json:"cursor,omitempty"`
	// failures are at most 20 of the replayed jobs the source failed (the
	// receipt carries the same; counts.failed counts them all).
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	// +optional
	Failures []RestoreFailure `json:"failures,omitempty"`
	// heldBy names the LegalHolds that kept Deletes from being replayed.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	HeldBy []string `json:"heldBy,omitempty"`
	// purges are the retention purges run once after the replay.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Purges []RestorePurge `json:"purges,omitempty"`
	// startedAt is when the replay began.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// completedAt is when the Restore finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
	// receipt is the signed receipt of the finished Restore.
	// +optional
	Receipt *ReceiptReference `json:"receipt,omitempty"`
	// conditions: Ready, Reconciling and Stalled, as on the other kinds.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// Restore tells the operator that a data source restored a backup: every
// Delete, Correct and OptOut that finished there since the backup was
// taken is sent again, in its original order, then the source's retention
// purges run once (docs/backups.md). Create it in the DataSource's
// namespace; its spec cannot change.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,categories=privacy
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.spec.dataSource`
// +kubebuilder:printcolumn:name="Backup-Taken",type=date,JSONPath=`.spec.backupTakenAt`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="To-Replay",type=integer,JSONPath=`.status.counts.toReplay`
// +kubebuilder:printcolumn:name="Completed",type=integer,JSONPath=`.status.counts.completed`
// +kubebuilder:printcolumn:name="Failed",type=integer,JSONPath=`.status.counts.failed`
// +kubebuilder:printcolumn:name="Held",type=integer,JSONPath=`.status.counts.held`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Restore struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec names the source and the backup.
	// +required
	Spec RestoreSpec `json:"spec"`

	// status is observed by the operator.
	// +optional
	Status RestoreStatus `json:"status,omitzero"`
}

// RestoreList is a list of Restores.
//
// +kubebuilder:object:root=true
type RestoreList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Restore `json:"items"`
}

// Restore condition reasons.
const (
	// ReasonReplaying: the jobs since the backup are being sent again
	// (Reconciling).
	ReasonReplaying = "Replaying"
	// ReasonPurgingAfterRestore: the source's retention purges run once
	// after the replay (Reconciling).
	ReasonPurgingAfterRestore = "PurgingAfterRestore"
	// ReasonRestored: every record was sent again and answered, or held;
	// the purges ran (Ready=True).
	ReasonRestored = "Restored"
	// ReasonReplayFailed: the source failed some replayed jobs or purges.
	// What to do: read status.failures (and the receipt), fix the source,
	// and create another Restore with the same backupTakenAt: it sends every
	// job again, which does no harm (a Delete of deleted data finds nothing,
	// a correction sets the same value).
	ReasonReplayFailed = "ReplayFailed"
	// ReasonDataSourceNotFound: spec.dataSource names no DataSource in the
	// Restore's namespace (or it was deleted while the Restore ran: then the
	// Restore ends Failed).
	// What to do: create the DataSource, or delete this Restore and create
	// one that names the right source; the operator looks again every minute.
	ReasonDataSourceNotFound = "DataSourceNotFound"
	// ReasonNoBackups: the DataSource does not declare spec.backups, so no
	// replay records were kept for it.
	// What to do: nothing can be replayed for this restore; follow up the
	// requests since the backup by hand (docs/backups.md), and declare
	// spec.backups for the future.
	ReasonNoBackups = "NoBackups"
	// ReasonBackupInFuture: backupTakenAt lies after the Restore was created.
	// What to do: correct the time (create a new Restore).
	ReasonBackupInFuture = "BackupInFuture"
	// ReasonBackupOutsideWindow: backupTakenAt is older than the source's
	// backups.retainFor, so no such backup should exist, and the records
	// since then may be erased.
	// What to do: check the backup's time; a backup kept past its window is
	// itself a retention breach for the privacy desk.
	ReasonBackupOutsideWindow = "BackupOutsideWindow"
	// ReasonRecordsErased: some replay records since backupTakenAt were
	// erased (their day's key deleted): they cannot be sent again.
	// What to do: as for BackupOutsideWindow; the sweep's receipt names the
	// days erased.
	ReasonRecordsErased = "RecordsErased"
	// ReasonReplayNotKept: the operator keeps no replay records (it runs
	// without a receipt store), so there is nothing to replay.
	// What to do: configure a receipt store (docs/receipts.md).
	ReasonReplayNotKept = "ReplayNotKept"
	// ReasonReplayStoreError: the replay records could not be read; the
	// operator tries again.
	// What to do: check the receipt store (the message says what failed).
	ReasonReplayStoreError = "ReplayStoreError"
	// ReasonReplayNotRecorded: an Event on a PrivacyRequest whose job
	// finished at a source that declares backups but whose replay record
	// cannot be kept: the subject can no longer be read (Warning; the
	// request is kept and tried again every minute), or the DataSource is
	// gone or no longer declares backups (Normal).
	// What to do: for the Warning, restore the subject's Secret; if it is
	// gone for good, note the request: after a restore of a backup taken
	// before it, file a new request for the person, and delete this one.
	ReasonReplayNotRecorded = "ReplayNotRecorded"
)
