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
	// What to do: fix the spec as the message says; for a PrivacyRequest nothing
	// was sent, so correct it (or delete and file again).
	ReasonInvalidSpec = "InvalidSpec"
	// ReasonSuspended: spec.suspend is true.
	// What to do: a person reviews the object and sets spec.suspend to false
	// (for a PrivacyRequest: approve it, docs/approvals.md).
	ReasonSuspended = "Suspended"
)

// DataSource Ready reasons: each names a fact that a person can act on.
const (
	// ReasonProbeSucceeded: the endpoint answered a signed capabilities
	// probe and covers every declared request type.
	ReasonProbeSucceeded = "ProbeSucceeded"
	// ReasonSecretNotFound: the signing Secret or its key does not exist.
	// What to do: create the Secret named in spec.signingSecretRef, in the
	// DataSource's namespace, with the key it names (kubectl describe shows
	// which).
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidSecret: the signing key is not a well-formed whsec_ key.
	// What to do: put a whsec_ key (base64 of at least 32 random bytes) in the
	// Secret; the data source must hold the same key.
	ReasonInvalidSecret = "InvalidSecret"
	// ReasonEndpointUnreachable: the endpoint did not answer.
	// What to do: check the service runs and spec.endpoint (url or service)
	// resolves from the operator's namespace (Service, port, NetworkPolicy); the probe retries on
	// its own.
	ReasonEndpointUnreachable = "EndpointUnreachable"
	// ReasonTLSError: the TLS handshake with the endpoint failed.
	// What to do: make the service's certificate valid for the URL's host and
	// signed by a CA the operator trusts (spec.endpoint.caBundle, or
	// the system roots).
	ReasonTLSError = "TLSError"
	// ReasonSignatureMismatch: the endpoint's answer was not signed with the shared key.
	// What to do: give the data source and the Secret the same signing key (a
	// rotation half done leaves them different).
	ReasonSignatureMismatch = "SignatureMismatch"
	// ReasonCapabilitiesMismatch: the endpoint does not serve every declared request type.
	// What to do: serve the request types spec.requestTypes declares, or declare
	// only those the service serves.
	ReasonCapabilitiesMismatch = "CapabilitiesMismatch"
	// ReasonNamespaceNotAllowed: the operator does not honour DataSources in this namespace.
	// What to do: label the namespace privacyoperator.io/datasource=true (or
	// list it in --datasource-namespaces), or move the DataSource.
	ReasonNamespaceNotAllowed = "NamespaceNotAllowed"
	// ReasonEndpointNotAllowed: the endpoint resolves to an address the operator refuses to call.
	// What to do: point spec.endpoint at a cluster Service or an allowed
	// address; the operator never calls the API server, link-local or (outside
	// development) loopback addresses.
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
	// What to do: check spec.dataSourceSelector and namespaceSelector against
	// the DataSources' labels and request types (kubectl get datasources -A);
	// the request is retried when a matching source appears.
	ReasonNoMatchingSources = "NoMatchingSources"
	// ReasonDeadlineExceeded: the request's due date passed before every source finished.
	// What to do: finish the open sources (kubectl privacy status) and tell the
	// person; a regulator may ask why: extend only with a documented reason,
	// before the due date.
	ReasonDeadlineExceeded = "DeadlineExceeded"
	// ReasonApproachingDueDate: the request's due date is near and it is unfinished.
	// What to do: look at what still waits (kubectl privacy status NAME, kubectl
	// privacy tasks) and act before the due date.
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
	// What to do: give spec.schedule a valid cron expression and spec.timeZone a
	// zone the operator knows.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonRetainForBelowMinimum: retainFor is shorter than the operator's
	// floor (--min-retain-for); the policy never runs.
	// What to do: raise spec.retainFor to at least --min-retain-for, or ask the
	// platform team to lower that floor.
	ReasonRetainForBelowMinimum = "RetainForBelowMinimum"
	// ReasonScheduled: the policy is waiting for its next scheduled run.
	ReasonScheduled = "Scheduled"
	// ReasonRunFailed: the last run failed at one or more sources.
	// What to do: read the failing sources' messages (kubectl describe
	// retentionpolicy); the next scheduled run tries again.
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
	// What to do: as for DeadlineExceeded: finish what is open and record why it
	// was late.
	ConditionOverdue = "Overdue"
	// ConditionDueSoon is True when an unfinished request has used the
	// share of its time that the manager's --due-soon-share sets (0.75 by
	// default), until it finishes or becomes Overdue.
	// What to do: see what the request waits for (kubectl privacy status NAME)
	// before the due date; extend it with a reason if the law allows.
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
	// What to do: fix the source (its logs, the entry's message), then file the
	// request again for that source; the receipt records the failure.
	ReasonRetriesExhausted = "RetriesExhausted"
	// ReasonRefused: the source refused the job (4xx).
	ReasonRefused = "Refused"
	// ReasonSourceFailed: the source reported that the job failed.
	// What to do: read the source's message, fix the cause at the service, and
	// file a new request if the person's right is still owed.
	ReasonSourceFailed = "SourceFailed"
	// ReasonNotFound: the source holds nothing on the subject (a success).
	ReasonNotFound = "NotFound"
	// ReasonSourceDeleted: the DataSource was deleted before its job finished.
	// What to do: if the service still holds personal data, register its
	// DataSource again and file a new request for it.
	ReasonSourceDeleted = "SourceDeleted"
	// ReasonSourceSuspended: the DataSource is suspended; the job waits.
	// What to do: resume the DataSource (spec.suspend: false) when the service
	// can take jobs again; the jobs wait for it.
	ReasonSourceSuspended = "SourceSuspended"
	// ReasonSourceNotReady: the DataSource is not Ready; the job waits.
	// What to do: fix the DataSource's Ready reason (kubectl describe
	// datasource); the job is sent once it is Ready.
	ReasonSourceNotReady = "SourceNotReady"
	// ReasonMissingIdentities: the request lacks identity types the source needs.
	// What to do: add the identity types the source needs to the subject (or to
	// its Secret), or accept the partial search the receipt records.
	ReasonMissingIdentities = "MissingIdentities"
	// ReasonSigningSecretError: the source's signing Secret cannot be used.
	// What to do: restore the DataSource's signing Secret (see SecretNotFound,
	// InvalidSecret).
	ReasonSigningSecretError = "SigningSecretError"
	// ReasonSubjectError: the subject's identities cannot be read.
	// What to do: fix the subject as the message says (a Secret in an allowed
	// namespace, labelled privacyoperator.io/subject=true).
	ReasonSubjectError = "SubjectError"
	// ReasonSubjectChanged: the subject's identities (in its Secret) are
	// not those of the first delivery; the job fails rather than reach
	// another person than the one approved and recorded.
	// What to do: do not edit a subject Secret after the request was approved or
	// sent; restore the first identities, or file a new request.
	ReasonSubjectChanged = "SubjectChanged"
	// ReasonSubjectSecretRefused: subject.secretRef names a Secret the
	// operator may not read as a subject (namespace not configured, label
	// missing, or no such Secret: the message does not say which).
	// What to do: label the Secret privacyoperator.io/subject=true and keep it
	// in a namespace --subject-secret-namespaces allows; the request waits and
	// is read again.
	ReasonSubjectSecretRefused = "SubjectSecretRefused"
	// ReasonResultTooLarge: the source's answer exceeded the size limit.
	// What to do: raise --max-result-bytes, or have the source page or trim its
	// answer.
	ReasonResultTooLarge = "ResultTooLarge"
	// ReasonExportExpired: the Access export passed its expiry and was deleted.
	ReasonExportExpired = "ExportExpired"
	// ReasonExportFailed: every source finished but the Access export
	// could not be written (e.g. its bucket is unreachable); the step is
	// retried with the sources' data kept.
	// What to do: fix the export store (the message names the error:
	// credentials, bucket, space); the operator retries the filing.
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
	// What to do: correct or remove the annotation the message names.
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
	// What to do: make one policy own each category at each source (narrow the
	// selectors or categories), so that purges cannot disagree.
	ReasonOverlappingPolicies = "OverlappingPolicies"
	// ReasonNoOverlap: no other policy covers the same data.
	ReasonNoOverlap = "NoOverlap"
	// ReasonUncoveredCategories: a DataSource holds categories no
	// RetentionPolicy covers.
	// What to do: write a RetentionPolicy for the categories the message names,
	// or stop declaring them at the source.
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
	// What to do: restore the receipt store (the message names the error);
	// receipts queue meanwhile and the request is not deleted before its receipt
	// is stored.
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
	// What to do: nothing, while the hold is needed; when the matter ends, legal
	// deletes or expires the LegalHold and a new request acts on the data.
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
	// What to do: a child's data may be kept only under a LegalHold: have the
	// source delete it, or file a LegalHold if the law requires keeping it.
	ReasonExemptionNotAllowed = "ExemptionNotAllowed"
)

// AnnotationChannel on a PrivacyRequest names the channel the person used
// (web-form, email, phone...); the receipt records it, as CCPA section
// 7101 asks.
const AnnotationChannel = "privacyoperator.io/channel"

// Annotations the privacy center sets on the requests authorized agents
// file through the Data Rights Protocol (only the center may set them:
// admission policy privacy-center); the receipt records both, with the
// channel "drp".
const (
	// AnnotationAuthorizedAgent names the agent's DRP agent id.
	AnnotationAuthorizedAgent = "privacyoperator.io/authorized-agent"
	// AnnotationAgentRequestID is the agent's own id of the request.
	AnnotationAgentRequestID = "privacyoperator.io/agent-request-id"
	// AnnotationUnsubscribe marks an OptOut the privacy center filed from
	// a one-click unsubscribe link in a marketing mail (value one-click);
	// the receipt records the channel unsubscribe-link.
	AnnotationUnsubscribe = "privacyoperator.io/unsubscribe"
)
