package v1alpha1

import (
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DataSourceSpec registers a service's privacy endpoint with the operator,
// or, for a system without one, the people who do its jobs by hand.
// +kubebuilder:validation:XValidation:rule="has(self.endpoint) != has(self.manual)",message="a DataSource sets exactly one of endpoint (a service the operator calls) or manual (people do its jobs as PrivacyTasks)"
// +kubebuilder:validation:XValidation:rule="has(self.manual) || has(self.signingSecretRef)",message="signingSecretRef is required with an endpoint: jobs are signed with it and answers must be"
// +kubebuilder:validation:XValidation:rule="!has(self.manual) || !has(self.signingSecretRef)",message="a manual DataSource has no endpoint to sign for: remove signingSecretRef"
// +kubebuilder:validation:XValidation:rule="!has(self.backups) || !has(self.manual)",message="backups needs an endpoint: the operator replays jobs at a source's endpoint after a restore; a manual source's restores are followed up by hand (docs/backups.md)"
// +kubebuilder:validation:XValidation:rule="!has(self.disclosures) || self.disclosures.all(d, has(self.categories) && d.category in self.categories)",message="every disclosures[].category must be one of spec.categories: add the category there, or correct its name"
type DataSourceSpec struct {
	// endpoint is where the operator sends this source's privacy jobs.
	// Exactly one of endpoint or manual is set.
	// +optional
	Endpoint Endpoint `json:"endpoint,omitzero"`

	// manual marks a system with no privacy endpoint (a vendor's console,
	// a spreadsheet, a paper archive): each of its jobs becomes a
	// PrivacyTask in this namespace that a person completes.
	// +optional
	Manual *ManualSource `json:"manual,omitempty"`

	// signingSecretRef names the key in a Secret of this namespace that
	// holds the shared Standard Webhooks signing secret ("whsec_" followed
	// by base64). Jobs sent to the endpoint are signed with it and answers
	// must be signed with it. Required with an endpoint; not set on a
	// manual source.
	// +optional
	SigningSecretRef SecretKeySelector `json:"signingSecretRef,omitzero"`

	// requestTypes lists the job types this source handles.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=5
	// +kubebuilder:validation:items:Enum=Access;Delete;Correct;OptOut;Purge
	// +listType=set
	// +required
	RequestTypes []RequestType `json:"requestTypes"`

	// identities lists the identity types this source needs to find a
	// subject (e.g. email, userId). Only these are ever sent to it.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	// +required
	Identities []IdentityType `json:"identities"`

	// categories lists the data categories this source holds (e.g. contact,
	// billing, usage, backups). RetentionPolicies select sources by them.
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +optional
	Categories []DataCategory `json:"categories,omitempty"`

	// disclosures say, per category, what a person who asks for their data
	// is told about it beside the data itself (GDPR Art. 15(1)): the
	// purposes, the recipients and where the data comes from. The retention
	// period is not declared here: the Access export takes it from the
	// RetentionPolicies that cover the category at this source. Never
	// personal data.
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=category
	// +optional
	Disclosures []CategoryDisclosure `json:"disclosures,omitempty"`

	// maxConcurrency bounds how many jobs are open at this source at once.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	// +kubebuilder:default=4
	// +optional
	MaxConcurrency int32 `json:"maxConcurrency,omitempty"`

	// retry bounds how a failed delivery to this source is retried.
	// +kubebuilder:default={}
	// +optional
	Retry RetryPolicy `json:"retry,omitzero"`

	// suspend stops dispatch to this source; open jobs are left to finish.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// backups declares that this source keeps backups, and for how long.
	// The operator then keeps, sealed, what each Delete, Correct and
	// OptOut sent it, so that a Restore can send them again after a backup
	// is restored (docs/backups.md). Sources without it behave as before.
	// +optional
	Backups *DataSourceBackups `json:"backups,omitempty"`
}

// DataSourceBackups is how long a source keeps its backups.
// +kubebuilder:validation:XValidation:rule="int(self.retainFor.substring(0, size(self.retainFor) - 1)) <= 3660",message="backups.retainFor is at most 3660d (ten years)"
type DataSourceBackups struct {
	// retainFor is how long this source keeps a backup, in whole days
	// (e.g. 35d), at most 3660d. The replay records of the source's jobs
	// are kept that long and then erased; a Restore of a backup older
	// than this is refused.
	// +kubebuilder:validation:Pattern=`^[1-9][0-9]{0,3}d$`
	// +kubebuilder:validation:MaxLength=5
	// +required
	RetainFor string `json:"retainFor"`
}

// Window is how long the source keeps a backup: retainFor in days, or 0
// without backups (or with a value admission would have refused).
func (b *DataSourceBackups) Window() time.Duration {
	if b == nil {
		return 0
	}
	days, err := strconv.Atoi(strings.TrimSuffix(b.RetainFor, "d"))
	if err != nil || days <= 0 {
		return 0
	}
	return time.Duration(days) * 24 * time.Hour
}

// ManualSource says how people do a system's privacy jobs by hand.
type ManualSource struct {
	// instructions tell the person doing a task what to do at this system
	// (where it is, how to find a person's records, what to send where).
	// They are copied into every PrivacyTask; write no personal data here.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=8192
	// +required
	Instructions string `json:"instructions"`

	// assigneeGroup names the team that does the tasks (e.g. the group
	// bound to the privacy-task-worker role in this namespace). It is
	// shown with each task; access is still granted by RBAC.
	// +kubebuilder:validation:MaxLength=253
	// +optional
	AssigneeGroup string `json:"assigneeGroup,omitempty"`

	// slaDays is how many days a task may stay open. A task open past
	// half of it, past it, or past the request's due date raises a
	// reminder (an Event and the privacyoperator_tasks_open metric).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=90
	// +kubebuilder:default=7
	// +optional
	SLADays int32 `json:"slaDays,omitempty"`
}

// Endpoint is exactly one of a URL or a Service in the DataSource's namespace.
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.service)",message="endpoint must set exactly one of url or service"
// +kubebuilder:validation:XValidation:rule="(has(self.insecure) && self.insecure) || (has(self.url) && !self.url.lowerAscii().startsWith('http://')) || (has(self.service) && (!has(self.service.scheme) || self.service.scheme != 'http'))",message="an http endpoint would carry personal data unencrypted: use https, or set insecure: true to accept that explicitly"
type Endpoint struct {
	// url of the endpoint, http or https, e.g. https://billing.example.com/privacy.
	// Jobs go to {url}/jobs. It may not carry a query string, a fragment or
	// user info: protocol paths are appended to its path.
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && url(self).getScheme() in ['http', 'https'] && size(url(self).getHostname()) > 0",message="url must be an absolute http:// or https:// URL with a host"
	// +kubebuilder:validation:XValidation:rule="!self.contains('?') && !self.contains('#')",message="url must not carry a query string or a fragment: the operator appends /jobs and /capabilities to its path"
	// +kubebuilder:validation:XValidation:rule="!self.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*@')",message="url must not carry user info (user:password@): the operator authenticates with the signing secret"
	// +optional
	URL string `json:"url,omitempty"`

	// service in the DataSource's namespace that serves the endpoint. It
	// resolves to {scheme}://{name}.{namespace}.svc:{port}{path}.
	// +optional
	Service *ServiceReference `json:"service,omitempty"`

	// caBundle is a PEM bundle of the CAs that sign the endpoint's TLS
	// certificate. Empty means the operator's system roots. TLS
	// verification cannot be turned off.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`

	// insecure allows an http:// endpoint (or a Service with scheme http):
	// jobs, identities and Access data then cross the network
	// unencrypted. Without it, admission refuses http endpoints. The
	// DataSource carries an Insecure=True condition while it is set.
	// +optional
	Insecure bool `json:"insecure,omitempty"`

	// timeout bounds one HTTP exchange with the endpoint.
	// +kubebuilder:default="30s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s') && duration(self) <= duration('10m')",message="timeout must be greater than 0s and at most 10m"
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`
}

// ServiceReference names a port of a Service in the DataSource's namespace.
type ServiceReference struct {
	// name of the Service.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +required
	Name string `json:"name"`

	// port of the Service.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +required
	Port int32 `json:"port"`

	// path prefix of the endpoint on the Service, e.g. /privacy.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^/[-a-zA-Z0-9._~/%]*$`
	// +optional
	Path string `json:"path,omitempty"`

	// scheme is https (the default) or http.
	// +kubebuilder:validation:Enum=http;https
	// +kubebuilder:default=https
	// +optional
	Scheme string `json:"scheme,omitempty"`
}

// RetryPolicy bounds retries of a failed delivery with exponential backoff
// and jitter.
// +kubebuilder:validation:XValidation:rule="!has(self.initialBackoff) || !has(self.maxBackoff) || duration(self.initialBackoff) <= duration(self.maxBackoff)",message="initialBackoff must not be greater than maxBackoff"
type RetryPolicy struct {
	// maxAttempts is the number of deliveries tried before the source's job
	// counts as failed.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=5
	// +optional
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// initialBackoff is the wait before the first retry.
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="initialBackoff must be greater than 0s"
	// +optional
	InitialBackoff *metav1.Duration `json:"initialBackoff,omitempty"`

	// maxBackoff caps the wait between retries.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="maxBackoff must be greater than 0s"
	// +optional
	MaxBackoff *metav1.Duration `json:"maxBackoff,omitempty"`
}

// DataSourceStatus is what the operator last learned about the source.
type DataSourceStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready tells whether jobs may be dispatched to the source,
	// with a reason a person can act on; Insecure (plain HTTP),
	// RetentionCovered. Every type and reason is listed in
	// docs/conditions.md.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// endpointHost is the host (and port) that jobs are sent to, resolved
	// from spec.endpoint.
	// +optional
	EndpointHost string `json:"endpointHost,omitempty"`

	// capabilities as the endpoint last advertised them.
	// +optional
	Capabilities *Capabilities `json:"capabilities,omitempty"`

	// lastProbeTime is when the probe that established the current Ready
	// condition and capabilities ran. Probes that find nothing new write
	// nothing, so it does not move with every periodic probe.
	// +optional
	LastProbeTime *metav1.Time `json:"lastProbeTime,omitempty"`

	// activeJobs is the number of requests with a job open at this source,
	// refreshed at most once a second.
	// +optional
	ActiveJobs int32 `json:"activeJobs,omitempty"`
}

// Capabilities is what a source's endpoint says it serves.
type Capabilities struct {
	// requestTypes the endpoint handles.
	// +listType=set
	// +optional
	RequestTypes []RequestType `json:"requestTypes,omitempty"`

	// identities the endpoint can look a subject up by.
	// +listType=set
	// +optional
	Identities []IdentityType `json:"identities,omitempty"`

	// categories of data the endpoint holds.
	// +listType=set
	// +optional
	Categories []DataCategory `json:"categories,omitempty"`
}

// DataSource registers one service's privacy endpoint. The operator sends
// it signed jobs for every PrivacyRequest and RetentionPolicy that matches.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced,shortName=dsrc,categories=privacy
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,description="True: no job is sent and the endpoint is not probed (Ready is then absent)"
// +kubebuilder:printcolumn:name="Types",type=string,JSONPath=`.spec.requestTypes`
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.status.endpointHost`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type DataSource struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec registers the endpoint.
	// +required
	Spec DataSourceSpec `json:"spec"`

	// status is observed by the operator.
	// +optional
	Status DataSourceStatus `json:"status,omitzero"`
}

// DataSourceList is a list of DataSources.
//
// +kubebuilder:object:root=true
type DataSourceList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []DataSource `json:"items"`
}
