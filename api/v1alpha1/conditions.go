package v1alpha1

// Condition types shared by all kinds. They follow the kstatus conventions
// (sigs.k8s.io/cli-utils/pkg/kstatus) so that GitOps tools can judge health:
// Reconciling while work is under way, Stalled on a failure that needs a
// person, Ready when the object has reached its goal.
const (
	// ConditionReady is True when the object has reached its goal.
	ConditionReady = "Ready"
	// ConditionReconciling is True while the controller is still working
	// towards the goal (kstatus "abnormal-true" condition).
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the controller cannot make progress
	// without a change by a person (kstatus "abnormal-true" condition).
	ConditionStalled = "Stalled"
	// ConditionSuspended is True while spec.suspend holds the object: a
	// PrivacyRequest's dispatch (Ready stays False, reason Suspended: the
	// request has not reached its goal), a DataSource's jobs and probes or a
	// RetentionPolicy's purges (these two are held as asked, not judged:
	// they have no Ready while suspended, and kstatus reads them Current).
	ConditionSuspended = "Suspended"
)

// Reasons shared by all kinds.
const (
	// ReasonInitializing: the controller has seen the object but has not
	// yet finished its first pass.
	ReasonInitializing = "Initializing"
	// ReasonInvalidSpec: the spec passed admission but cannot work, e.g. a
	// time zone that this operator's time zone database does not know.
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonSuspended: spec.suspend is true.
	ReasonSuspended = "Suspended"
)

// DataSource Ready reasons: each names a fact that a person can act on.
const (
	// ReasonProbeSucceeded: the endpoint answered a signed capabilities
	// probe and covers every declared request type.
	ReasonProbeSucceeded = "ProbeSucceeded"
	// ReasonSecretNotFound: the signing Secret or its key does not exist.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidSecret: the signing key is not a well-formed whsec_ key.
	ReasonInvalidSecret = "InvalidSecret"
	// ReasonEndpointUnreachable: the endpoint did not answer.
	ReasonEndpointUnreachable = "EndpointUnreachable"
	// ReasonTLSError: the TLS handshake with the endpoint failed.
	ReasonTLSError = "TLSError"
	// ReasonSignatureMismatch: the endpoint's answer was not signed with the shared key.
	ReasonSignatureMismatch = "SignatureMismatch"
	// ReasonCapabilitiesMismatch: the endpoint does not serve every declared request type.
	ReasonCapabilitiesMismatch = "CapabilitiesMismatch"
	// ReasonNamespaceNotAllowed: the operator does not honour DataSources in this namespace.
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	// ReasonEndpointNotAllowed: the endpoint resolves to an address the operator refuses to call.
	ReasonEndpointNotAllowed = "EndpointNotAllowed"
)

// ReasonCallbackRejected is the Event reason, on the DataSource, for a
// callback the operator refused (bad signature, replay, wrong body).
const ReasonCallbackRejected = "CallbackRejected"

// ConditionInsecure is True on a DataSource whose endpoint is plain HTTP
// (spec.endpoint.insecure): a warning that personal data crosses the
// network unencrypted. It is absent for https endpoints.
const ConditionInsecure = "Insecure"

// ReasonPlaintextEndpoint: the endpoint is http:// (spec.endpoint.insecure).
const ReasonPlaintextEndpoint = "PlaintextEndpoint"

// PrivacyRequest reasons.
const (
	// ReasonPending: the request has not dispatched any job yet.
	ReasonPending = "Pending"
	// ReasonInProgress: jobs are open at one or more sources.
	ReasonInProgress = "InProgress"
	// ReasonCompleted: every targeted source finished its job.
	ReasonCompleted = "Completed"
	// ReasonFailed: at least one source failed permanently or the deadline passed.
	ReasonFailed = "Failed"
	// ReasonCancelled: the request was cancelled before every source finished.
	ReasonCancelled = "Cancelled"
	// ReasonNoMatchingSources: no DataSource handles this request type and matches the selectors.
	ReasonNoMatchingSources = "NoMatchingSources"
	// ReasonDeadlineExceeded: the request's due date passed before every source finished.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonApproachingDueDate: the request's due date is near and it is unfinished.
	ReasonApproachingDueDate = "ApproachingDueDate"
)

// Per-source condition types on status.sources[].conditions of a
// PrivacyRequest and of a RetentionPolicy run.
const (
	// SourceConditionDispatched is True once the source accepted the job.
	SourceConditionDispatched = "Dispatched"
	// SourceConditionCompleted is True once the source reported a final result.
	SourceConditionCompleted = "Completed"
)

// RetentionPolicy condition types and reasons.
const (
	// ConditionMatched is False when the policy matches no DataSource,
	// which in a Git-managed policy usually means a typo.
	ConditionMatched = "Matched"
	// ConditionOverlapping is True when another policy covers the same
	// source and category.
	ConditionOverlapping = "Overlapping"
	// ConditionRetentionCovered is set on DataSources: False lists the
	// categories that no RetentionPolicy covers.
	ConditionRetentionCovered = "RetentionCovered"

	// ReasonNoMatchingSources is shared with PrivacyRequest (see above).

	// ReasonSourcesMatched: the policy matches at least one DataSource.
	ReasonSourcesMatched = "SourcesMatched"
	// ReasonInvalidSchedule: the schedule or time zone cannot be parsed.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonRetainForBelowMinimum: retainFor is shorter than the operator's
	// floor (--min-retain-for); the policy never runs.
	ReasonRetainForBelowMinimum = "RetainForBelowMinimum"
	// ReasonScheduled: the policy is waiting for its next scheduled run.
	ReasonScheduled = "Scheduled"
	// ReasonRunFailed: the last run failed at one or more sources.
	ReasonRunFailed = "RunFailed"
)

// LabelSubjectSecret must be set to "true" on a Secret that a
// PrivacyRequest's subject.secretRef names: the opt-in that marks it as
// holding a person's identities. Without it, and outside the namespaces the
// operator is configured for (--subject-secret-namespaces), the Secret is
// never read.
const LabelSubjectSecret = "privacyoperator.io/subject"

// FinalizerCancelJobs holds a PrivacyRequest until the jobs still open at
// its sources have been cancelled and its export removed.
const FinalizerCancelJobs = "privacyoperator.io/cancel-jobs"

// PrivacyRequest condition types besides Ready, Reconciling and Stalled.
const (
	// ConditionOverdue is True when the request passed its due date unfinished.
	ConditionOverdue = "Overdue"
	// ConditionDueSoon is True when an unfinished request has used the
	// share of its time that the manager's --due-soon-share sets (0.75 by
	// default), until it finishes or becomes Overdue.
	ConditionDueSoon = "DueSoon"
)

// Per-source condition types and reasons on PrivacyRequest.status.sources[].
const (
	// SourceConditionIdentitiesComplete is False when the source declared
	// identity types that the request does not have.
	SourceConditionIdentitiesComplete = "IdentitiesComplete"

	// ReasonDelivering: the job is being delivered.
	ReasonDelivering = "Delivering"
	// ReasonAccepted: the source accepted the job and works on it.
	ReasonAccepted = "Accepted"
	// ReasonCancelRequested: a LegalHold filed while the source worked on
	// an accepted job covers it; the source was asked to cancel it
	// (DELETE /jobs/{id}). The entry ends Held if the source cancels, as
	// it finished otherwise.
	ReasonCancelRequested = "CancelRequested"
	// ReasonRetrying: the last delivery failed and will be retried.
	ReasonRetrying = "Retrying"
	// ReasonRetriesExhausted: every allowed delivery failed.
	ReasonRetriesExhausted = "RetriesExhausted"
	// ReasonRefused: the source refused the job (4xx).
	ReasonRefused = "Refused"
	// ReasonSourceFailed: the source reported that the job failed.
	ReasonSourceFailed = "SourceFailed"
	// ReasonNotFound: the source holds nothing on the subject (a success).
	ReasonNotFound = "NotFound"
	// ReasonSourceDeleted: the DataSource was deleted before its job finished.
	ReasonSourceDeleted = "SourceDeleted"
	// ReasonSourceSuspended: the DataSource is suspended; the job waits.
	ReasonSourceSuspended = "SourceSuspended"
	// ReasonSourceNotReady: the DataSource is not Ready; the job waits.
	ReasonSourceNotReady = "SourceNotReady"
	// ReasonMissingIdentities: the request lacks identity types the source needs.
	ReasonMissingIdentities = "MissingIdentities"
	// ReasonSigningSecretError: the source's signing Secret cannot be used.
	ReasonSigningSecretError = "SigningSecretError"
	// ReasonSubjectError: the subject's identities cannot be read.
	ReasonSubjectError = "SubjectError"
	// ReasonSubjectChanged: the subject's identities (in its Secret) are
	// not those of the first delivery; the job fails rather than reach
	// another person than the one approved and recorded.
	ReasonSubjectChanged = "SubjectChanged"
	// ReasonSubjectSecretRefused: subject.secretRef names a Secret the
	// operator may not read as a subject (namespace not configured, label
	// missing, or no such Secret: the message does not say which).
	ReasonSubjectSecretRefused = "SubjectSecretRefused"
	// ReasonResultTooLarge: the source's answer exceeded the size limit.
	ReasonResultTooLarge = "ResultTooLarge"
	// ReasonExportExpired: the Access export passed its expiry and was deleted.
	ReasonExportExpired = "ExportExpired"
	// ReasonExportFailed: every source finished but the Access export
	// could not be written (e.g. its bucket is unreachable); the step is
	// retried with the sources' data kept.
	ReasonExportFailed = "ExportFailed"
)

// Event reasons (and the condition reasons they go with) that the
// constants above do not cover.
const (
	// ReasonResumed: spec.suspend was cleared; dispatch resumes.
	ReasonResumed = "Resumed"
	// ReasonExportDelivered: the privacy center handed the Access export
	// to the person (status.deliveries, a Delivery receipt).
	ReasonExportDelivered = "ExportDelivered"
	// ReasonInvalidAnnotation: an annotation the operator reads does not
	// parse (the Event names it and says why).
	ReasonInvalidAnnotation = "InvalidAnnotation"
	// ReasonExportWritten: an Access export was assembled.
	ReasonExportWritten = "ExportWritten"
	// ReasonPurgeStarted: a RetentionPolicy slot's run started.
	ReasonPurgeStarted = "PurgeStarted"
	// ReasonPurgeSucceeded: a run finished at every source.
	ReasonPurgeSucceeded = "PurgeSucceeded"
	// ReasonPurging: a run is under way (Reconciling).
	ReasonPurging = "Purging"
	// ReasonOverlappingPolicies: another policy covers the same data.
	ReasonOverlappingPolicies = "OverlappingPolicies"
	// ReasonNoOverlap: no other policy covers the same data.
	ReasonNoOverlap = "NoOverlap"
	// ReasonUncoveredCategories: a DataSource holds categories no
	// RetentionPolicy covers.
	ReasonUncoveredCategories = "UncoveredCategories"
	// ReasonAllCategoriesCovered: every declared category has a policy.
	ReasonAllCategoriesCovered = "AllCategoriesCovered"
)

// Receipt condition and reasons, on PrivacyRequests (and the Event
// reasons of a RetentionPolicy run's receipt).
const (
	// ConditionReceiptRecorded is False while a finished request's signed
	// receipt is not yet in the receipt store (it is absent once
	// status.receipt is set): the request is not deleted before.
	ConditionReceiptRecorded = "ReceiptRecorded"
	// ReasonReceiptPending: the receipt is queued for the store.
	ReasonReceiptPending = "ReceiptPending"
	// ReasonReceiptStoreUnavailable: writing the receipt failed (the
	// store is down or refuses the write); it is retried and deletion
	// waits.
	ReasonReceiptStoreUnavailable = "ReceiptStoreUnavailable"
	// ReasonReceiptWritten: the Event when a receipt was stored.
	ReasonReceiptWritten = "ReceiptWritten"
)

// Legal hold condition and reasons.
const (
	// ConditionActive is True on a LegalHold while it holds data back,
	// False once it expired.
	ConditionActive = "Active"
	// ReasonHoldActive: the hold is in force.
	ReasonHoldActive = "HoldActive"
	// ReasonHoldExpired: spec.expiresAt passed.
	ReasonHoldExpired = "HoldExpired"
	// ReasonLegalHold: a source's job was held (entry phase Held), a
	// purge left categories alone, or a request completed with held
	// sources (Ready message lists them: a partial denial and its basis).
	ReasonLegalHold = "LegalHold"
	// ReasonCompletedWithHolds: the request finished at every source it
	// could reach; LegalHolds kept it from the others.
	ReasonCompletedWithHolds = "CompletedWithHolds"
	// ReasonCompletedWithRefusals: the request finished; some sources
	// refused it under an exemption the law allows (and holds may have
	// kept others). The Ready message lists each with its basis: a partial
	// denial, told to the person as such.
	ReasonCompletedWithRefusals = "CompletedWithRefusals"
	// ReasonRefusedUnderExemption: the source refused the job under the
	// exemption the entry names (phase Refused).
	ReasonRefusedUnderExemption = "RefusedUnderExemption"
	// ReasonExemptionNotAllowed: a source refused a child's Delete
	// (spec.child) under an exemption; only a LegalHold can keep a
	// child's data, so the entry fails.
	ReasonExemptionNotAllowed = "ExemptionNotAllowed"
)

// AnnotationChannel on a PrivacyRequest names the channel the person used
// (web-form, email, phone...); the receipt records it, as CCPA section
// 7101 asks.
const AnnotationChannel = "privacyoperator.io/channel"
