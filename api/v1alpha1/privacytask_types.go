package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TaskResult is how a person ended a PrivacyTask.
// +kubebuilder:validation:Enum=Completed;NotFound;Failed;Refused
type TaskResult string

// The task results. Completed and NotFound are successes, as for a source
// with an endpoint; Failed fails the source's job; Refused ends it refused
// under the exemption the outcome names (not a failure).
const (
	// TaskResultCompleted: the job was done at the system.
	TaskResultCompleted TaskResult = "Completed"
	// TaskResultNotFound: the system holds nothing on the subject.
	TaskResultNotFound TaskResult = "NotFound"
	// TaskResultFailed: the job could not be done.
	TaskResultFailed TaskResult = "Failed"
	// TaskResultRefused: the job was refused under an exemption the law
	// allows; the outcome's exemption names the basis, the note may say
	// more.
	TaskResultRefused TaskResult = "Refused"
)

// PrivacyTaskSpec is one job at a manual DataSource, for a person to do.
// The operator writes everything but the outcome; a person writes the
// outcome, once.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.outcome) || has(self.outcome)",message="outcome cannot be removed once the task is completed"
type PrivacyTaskSpec struct {
	// request names the PrivacyRequest or RetentionPolicy the task serves.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="request is immutable"
	// +required
	Request TaskRequestReference `json:"request"`

	// dataSource is the manual DataSource (in this namespace) the task is for.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="dataSource is immutable"
	// +required
	DataSource string `json:"dataSource"`

	// jobID is the job's id, as the request's status.sources[].jobID
	// names it.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="jobID is immutable"
	// +required
	JobID string `json:"jobID"`

	// type of the job: Access, Delete, Correct, OptOut or Purge.
	// +kubebuilder:validation:Enum=Access;Delete;Correct;OptOut;Purge
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="type is immutable"
	// +required
	Type RequestType `json:"type"`

	// dueAt is when the request is legally due (for a purge: when the run
	// ends).
	// +optional
	DueAt *metav1.Time `json:"dueAt,omitempty"`

	// slaDueAt is when the task's SLA (the DataSource's manual.slaDays
	// from its creation) ends.
	// +optional
	SLADueAt *metav1.Time `json:"slaDueAt,omitempty"`

	// instructions copied from the DataSource's manual.instructions.
	// +kubebuilder:validation:MaxLength=8192
	// +optional
	Instructions string `json:"instructions,omitempty"`

	// assigneeGroup copied from the DataSource's manual.assigneeGroup.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	AssigneeGroup string `json:"assigneeGroup,omitempty"`

	// identities of the subject, only of the types the DataSource
	// declares. Personal data: tasks are readable only with the
	// privacy-task-worker role.
	// +kubebuilder:validation:MaxProperties=16
	// +optional
	Identities map[string]string `json:"identities,omitempty"`

	// corrections to make, for a Correct task. Personal data.
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	// +optional
	Corrections []Correction `json:"corrections,omitempty"`

	// optOutScopes are the kinds of processing to stop, for an OptOut task.
	// +kubebuilder:validation:MaxItems=16
	// +listType=atomic
	// +optional
	OptOutScopes []string `json:"optOutScopes,omitempty"`

	// purge says what to remove, for a Purge task.
	// +optional
	Purge *TaskPurge `json:"purge,omitempty"`

	// outcome is set by the person who did the task, once: the admission
	// policy privacytask-completion requires completedBy to be that
	// person's user name and refuses a second completion.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="outcome is immutable once set: a task is completed once"
	// +optional
	Outcome *TaskOutcome `json:"outcome,omitempty"`
}

// TaskRequestReference names the object a task serves.
type TaskRequestReference struct {
	// kind is PrivacyRequest or RetentionPolicy.
	// +kubebuilder:validation:Enum=PrivacyRequest;RetentionPolicy
	// +required
	Kind string `json:"kind"`
	// name of the (cluster-scoped) object.
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`
	// uid of the object.
	// +kubebuilder:validation:MaxLength=64
	// +required
	UID string `json:"uid"`
}

// TaskPurge describes a Purge task: remove (or anonymise) data of the
// categories older than before.
type TaskPurge struct {
	// categories to purge.
	// +kubebuilder:validation:MaxItems=32
	// +listType=atomic
	// +optional
	Categories []DataCategory `json:"categories,omitempty"`
	// before: data older than this goes.
	// +required
	Before metav1.Time `json:"before"`
	// action is Delete or Anonymize.
	// +kubebuilder:validation:Enum=Delete;Anonymize
	// +required
	Action string `json:"action"`
}

// TaskOutcome is what a person reports when a task is done.
// +kubebuilder:validation:XValidation:rule="self.result != 'Refused' || (has(self.exemption) && size(self.exemption) > 0)",message="a Refused outcome names its basis in exemption (e.g. 'CCPA 1798.105(d)(8)'); a job that could not be done is Failed"
// +kubebuilder:validation:XValidation:rule="self.result == 'Refused' || !has(self.exemption)",message="exemption is only for a Refused outcome"
type TaskOutcome struct {
	// result: Completed, NotFound, Failed or Refused.
	// +required
	Result TaskResult `json:"result"`

	// records is how many records the person found, changed or removed.
	// +kubebuilder:validation:Minimum=0
	// +optional
	Records *int64 `json:"records,omitempty"`

	// exemption is the basis of a Refused outcome: a statute or policy
	// reference, such as "CCPA 1798.105(d)(8)" or "GDPR Art. 17(3)(b)". It
	// is copied into the request's status and receipt and told to the
	// person: no personal data.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Exemption string `json:"exemption,omitempty"`

	// note for the record, e.g. what was done or more on a refusal.
	// It is copied into the request's status and receipt: no personal
	// data.
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	Note string `json:"note,omitempty"`

	// completedBy is the user name of the person completing the task. The
	// admission policy requires it to be the user making the change.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	CompletedBy string `json:"completedBy"`

	// completedAt is when the person completed the task.
	// +required
	CompletedAt metav1.Time `json:"completedAt"`
}

// PrivacyTaskStatus is observed by the operator.
type PrivacyTaskStatus struct {
	// conditions: Completed (True once an outcome is set, with the result
	// as its reason) and Late (True, with reason PastHalfSLA, PastSLA or
	// PastDueDate, while the task is open that late).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// PrivacyTask is one privacy job at a manual DataSource, for a person to
// do and complete with an outcome. The operator creates it in the
// DataSource's namespace, copies its outcome into the request's account,
// and deletes it when the request is deleted, or a grace period after the
// request finished. It holds the subject's identities: grant it only
// through the privacy-task-worker role.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=ptask,categories=privacy
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Source",type=string,JSONPath=`.spec.dataSource`
// +kubebuilder:printcolumn:name="Request",type=string,JSONPath=`.spec.request.name`
// +kubebuilder:printcolumn:name="Result",type=string,JSONPath=`.spec.outcome.result`
// +kubebuilder:printcolumn:name="By",type=string,JSONPath=`.spec.outcome.completedBy`
// +kubebuilder:printcolumn:name="Late",type=string,JSONPath=`.status.conditions[?(@.type=="Late")].reason`
// +kubebuilder:printcolumn:name="SLA",type=date,JSONPath=`.spec.slaDueAt`,priority=1
// +kubebuilder:printcolumn:name="Due",type=date,JSONPath=`.spec.dueAt`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PrivacyTask struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the job and, once done, its outcome.
	// +required
	Spec PrivacyTaskSpec `json:"spec"`

	// status is observed by the operator.
	// +optional
	Status PrivacyTaskStatus `json:"status,omitzero"`
}

// PrivacyTaskList is a list of PrivacyTasks.
//
// +kubebuilder:object:root=true
type PrivacyTaskList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []PrivacyTask `json:"items"`
}

// PrivacyTask condition types and reasons, and the labels the operator
// puts on a task.
const (
	// TaskConditionCompleted is True once the task's outcome is set; its
	// reason is the result.
	TaskConditionCompleted = "Completed"
	// TaskConditionLate is True while an open task is past half of its
	// SLA, past its SLA, or past the request's due date (the reason says
	// which); False (OnTime) before.
	TaskConditionLate = "Late"

	// ReasonTaskOpen: the task waits for a person.
	ReasonTaskOpen = "TaskOpen"
	// ReasonOnTime: the task is open within the first half of its SLA.
	ReasonOnTime = "OnTime"
	// ReasonPastHalfSLA: the task is open past half of its SLA.
	ReasonPastHalfSLA = "PastHalfSLA"
	// ReasonPastSLA: the task is open past its SLA.
	// What to do: complete the task (kubectl privacy complete) or reassign it;
	// the request's due date is near.
	ReasonPastSLA = "PastSLA"
	// ReasonPastDueDate: the task is open past the request's due date.
	// What to do: complete the task now and record why it was late.
	ReasonPastDueDate = "PastDueDate"
	// ReasonRequestFinished: the task's request (or retention run) ended
	// without its outcome (its due date passed, say): the task is moot and
	// can no longer be completed; it goes after the grace period.
	// What to do: nothing: the request finished without this task (cancelled, or
	// held); do not carry it out.
	ReasonRequestFinished = "RequestFinished"
	// ReasonTaskAssigned: a manual source's job became a PrivacyTask (on
	// the request's per-source Dispatched condition).
	ReasonTaskAssigned = "TaskAssigned"
	// ReasonTaskError: the PrivacyTask could not be created; retried.
	// What to do: read the message; a task the operator cannot create or read
	// usually means RBAC or a deleted namespace.
	ReasonTaskError = "TaskError"
	// ReasonTaskRefused: a person refused a manual source's task.
	ReasonTaskRefused = "TaskRefused"
	// ReasonTaskFailed: a person reported a manual source's task failed.
	ReasonTaskFailed = "TaskFailed"
	// ReasonManual: a manual DataSource is Ready without a probe.
	ReasonManual = "Manual"

	// LabelTaskRequest names the PrivacyRequest or RetentionPolicy a task
	// serves; LabelTaskRequestKind its kind; LabelTaskDataSource the
	// DataSource.
	LabelTaskRequest     = "privacyoperator.io/request"
	LabelTaskRequestKind = "privacyoperator.io/request-kind"
	LabelTaskDataSource  = "privacyoperator.io/datasource"
)
