package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RetentionPeriod is how long data may be kept: one or more whole numbers
// with a unit, largest unit first: d (days of 24h), h, m, s. Examples:
// 35d, 400d, 12h, 1d12h.
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$') && size(self) > 0 && !self.matches('^(0+[dhms])+$')",message="retainFor must be a positive duration in whole days, hours, minutes or seconds, largest unit first, such as 35d, 400d, 12h or 1d12h"
type RetentionPeriod string

// RetentionAction is what a purge does with expired data.
// +kubebuilder:validation:Enum=Delete;Anonymize
type RetentionAction string

// The purge actions.
const (
	// RetentionActionDelete removes expired records.
	RetentionActionDelete RetentionAction = "Delete"
	// RetentionActionAnonymize strips personal data from expired records and keeps the rest.
	RetentionActionAnonymize RetentionAction = "Anonymize"
)

// RetentionPolicySpec is one retention rule: data of these categories, held
// by the matching sources, is kept no longer than retainFor.
type RetentionPolicySpec struct {
	// categories of data the rule covers (e.g. usage, backups).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +required
	Categories []DataCategory `json:"categories"`

	// dataSourceSelector restricts the rule to DataSources with matching
	// labels. Empty: every DataSource holding one of the categories.
	// +optional
	DataSourceSelector *metav1.LabelSelector `json:"dataSourceSelector,omitempty"`

	// namespaceSelector restricts the rule to DataSources in namespaces with
	// matching labels. Empty: every allowed namespace.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`

	// retainFor is how long data may be kept, e.g. 35d, 400d, 12h.
	// +required
	RetainFor RetentionPeriod `json:"retainFor"`

	// action on expired data: Delete (default) or Anonymize.
	// +kubebuilder:default=Delete
	// +optional
	Action RetentionAction `json:"action,omitempty"`

	// schedule of the purges, in 5-field cron format ("minute hour
	// day-of-month month day-of-week") or a descriptor such as @daily.
	// Set the time zone in timeZone, not with CRON_TZ.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|[0-9A-Za-z*?,/-]+( +[0-9A-Za-z*?,/-]+){4})$')",message="schedule must be a 5-field cron expression (minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\") or one of @yearly, @monthly, @weekly, @daily, @hourly; set the time zone in timeZone"
	// +required
	Schedule string `json:"schedule"`

	// timeZone of the schedule, an IANA name such as Europe/Berlin. Default UTC.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*$`
	// +optional
	TimeZone *string `json:"timeZone,omitempty"`

	// suspend stops scheduling new runs; a run under way finishes.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// historyLimit is how many runs status.history keeps.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=10
	// +optional
	HistoryLimit int32 `json:"historyLimit,omitempty"`
}

// RunOutcome is the result of one scheduled run.
// +kubebuilder:validation:Enum=Running;Succeeded;PartiallyFailed;Failed
type RunOutcome string

// The outcomes of a run.
const (
	// RunOutcomeRunning: jobs of the run are still open.
	RunOutcomeRunning RunOutcome = "Running"
	// RunOutcomeSucceeded: every matched source purged.
	RunOutcomeSucceeded RunOutcome = "Succeeded"
	// RunOutcomePartiallyFailed: some sources purged, others failed.
	RunOutcomePartiallyFailed RunOutcome = "PartiallyFailed"
	// RunOutcomeFailed: no source purged.
	RunOutcomeFailed RunOutcome = "Failed"
)

// RetentionRun is one scheduled run of a policy.
type RetentionRun struct {
	// scheduledTime is the schedule slot the run belongs to.
	// +required
	ScheduledTime metav1.Time `json:"scheduledTime"`

	// before is the cut-off sent to the sources: scheduledTime - retainFor.
	// +optional
	Before *metav1.Time `json:"before,omitempty"`

	// categories and action the run was started with (the receipt
	// records them as they ran, whatever the policy says later).
	// +listType=set
	// +optional
	Categories []DataCategory `json:"categories,omitempty"`
	// +optional
	Action RetentionAction `json:"action,omitempty"`

	// deadline is when the run gives up on unfinished sources: the next slot.
	// +optional
	Deadline *metav1.Time `json:"deadline,omitempty"`

	// completedAt is when the last source finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// outcome of the run.
	// +optional
	Outcome RunOutcome `json:"outcome,omitempty"`

	// sources has one entry per matched DataSource: its purge job, kept
	// by the same job ledger as a request's (records are rows purged).
	// +listType=map
	// +listMapKey=namespace
	// +listMapKey=name
	// +optional
	Sources []SourceStatus `json:"sources,omitempty"`

	// receipt locates the signed receipt of the finished run.
	// +optional
	Receipt *ReceiptReference `json:"receipt,omitempty"`
}

// RetentionPolicyStatus records the policy's schedule and runs.
type RetentionPolicyStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready, Reconciling, Stalled, Matched, Overlapping. Every
	// type and reason is listed in docs/conditions.md.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastScheduleTime is the slot of the latest run.
	// +optional
	LastScheduleTime *metav1.Time `json:"lastScheduleTime,omitempty"`

	// nextScheduleTime is the next slot.
	// +optional
	NextScheduleTime *metav1.Time `json:"nextScheduleTime,omitempty"`

	// lastSuccessfulTime is the slot of the latest run that succeeded at every source.
	// +optional
	LastSuccessfulTime *metav1.Time `json:"lastSuccessfulTime,omitempty"`

	// matchedSources is the number of DataSources the policy applies to.
	// +optional
	MatchedSources int32 `json:"matchedSources"`

	// history of the latest runs, newest first, at most spec.historyLimit.
	// +kubebuilder:validation:MaxItems=100
	// +optional
	History []RetentionRun `json:"history,omitempty"`
}

// RetentionPolicy is one retention rule, enforced as scheduled purge jobs at
// the DataSources that hold the covered categories.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=rp,categories=privacy
// +kubebuilder:printcolumn:name="Retain-For",type=string,JSONPath=`.spec.retainFor`
// +kubebuilder:printcolumn:name="Schedule",type=string,JSONPath=`.spec.schedule`
// +kubebuilder:printcolumn:name="Last-Run",type=date,JSONPath=`.status.lastScheduleTime`
// +kubebuilder:printcolumn:name="Matched",type=integer,JSONPath=`.status.matchedSources`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RetentionPolicy struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the rule.
	// +required
	Spec RetentionPolicySpec `json:"spec"`

	// status records schedule and runs.
	// +optional
	Status RetentionPolicyStatus `json:"status,omitzero"`
}

// RetentionPolicyList is a list of RetentionPolicies.
//
// +kubebuilder:object:root=true
type RetentionPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []RetentionPolicy `json:"items"`
}
