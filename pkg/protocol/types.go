// Package protocol is the job protocol between the Privacy Operator and the
// data sources that execute privacy jobs: the wire types and the Standard
// Webhooks signing that both sides use. docs/protocol.md describes the same
// contract for implementers in other languages.
//
// The package depends on the standard library and the Standard Webhooks
// reference library only, so that a service embedding the SDK
// (pkg/datasource) does not pull in Kubernetes.
package protocol

import (
	"encoding/json"
	"time"
)

// APIVersion is the version of the protocol carried in every document.
const APIVersion = "privacyoperator.io/v1alpha1"

// The kinds of documents.
const (
	KindJob          = "Job"
	KindJobStatus    = "JobStatus"
	KindCapabilities = "Capabilities"
)

// Paths below a data source's endpoint.
const (
	// PathJobs receives jobs (POST); PathJobs + "/" + id answers polls (GET)
	// and cancellations (DELETE).
	PathJobs = "/jobs"
	// PathCapabilities describes what the source serves (GET).
	PathCapabilities = "/capabilities"
	// PathCallbacks, below the operator's callback base URL: a source POSTs
	// an asynchronous job's final status to PathCallbacks + "/" + id.
	PathCallbacks = "/callbacks"
)

// JobType is what a job asks of a source.
type JobType string

// The job types.
const (
	JobAccess  JobType = "Access"
	JobDelete  JobType = "Delete"
	JobCorrect JobType = "Correct"
	JobOptOut  JobType = "OptOut"
	JobPurge   JobType = "Purge"
)

// Job is one privacy job for one source: the body of POST {endpoint}/jobs.
type Job struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// ID is stable for one request and one source: the same on every
	// retry, so it is the source's idempotency key.
	ID   string  `json:"id"`
	Type JobType `json:"type"`
	// Request names the PrivacyRequest or RetentionPolicy the job serves.
	Request RequestRef `json:"request"`
	// Subject holds only the identity types the source declared. Absent for Purge.
	Subject *Subject `json:"subject,omitempty"`
	// Corrections are the fields to change, for Correct.
	Corrections []Correction `json:"corrections,omitempty"`
	// OptOut lists the scopes, for OptOut.
	OptOut *OptOut `json:"optOut,omitempty"`
	// Purge describes what to remove, for Purge.
	Purge *Purge `json:"purge,omitempty"`
	// Deadline is when the request is legally due.
	Deadline *time.Time `json:"deadline,omitempty"`
	// CallbackURL receives the final JobStatus of a job answered with 202.
	CallbackURL string `json:"callbackURL,omitempty"`
}

// RequestRef names the Kubernetes object a job serves.
type RequestRef struct {
	Kind string `json:"kind,omitempty"`
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Subject identifies the person: identity type -> value.
type Subject struct {
	Identities map[string]string `json:"identities"`
}

// Correction is one field to change and its new value.
type Correction struct {
	Field string `json:"field"`
	Value string `json:"value"`
}

// OptOut lists the processing the person opts out of.
type OptOut struct {
	Scopes []string `json:"scopes"`
}

// PurgeAction is what a purge does with expired data.
type PurgeAction string

// The purge actions.
const (
	PurgeDelete    PurgeAction = "Delete"
	PurgeAnonymize PurgeAction = "Anonymize"
)

// Purge asks a source to remove data of the given categories older than Before.
type Purge struct {
	Categories []string    `json:"categories"`
	Before     time.Time   `json:"before"`
	Action     PurgeAction `json:"action"`
}

// Status is the state of a job at a source.
type Status string

// The job states. Completed, NotFound, Failed and Refused are final.
const (
	// StatusRunning: accepted and not finished (the status of a 202 or 409
	// body, to POST /jobs or to a poll).
	StatusRunning Status = "Running"
	// StatusCompleted: the job is done.
	StatusCompleted Status = "Completed"
	// StatusNotFound: the source holds nothing on the subject. A success.
	StatusNotFound Status = "NotFound"
	// StatusFailed: the source could not do the job and will not retry it.
	StatusFailed Status = "Failed"
	// StatusRefused: the source will not do the job because an exemption
	// the law allows applies (the data must be kept to complete a
	// transaction, for a legal obligation, ...); Exemption names the
	// basis. Not a failure: the request completes with the refusal and its
	// basis on record, and the person is told.
	StatusRefused Status = "Refused"
)

// Final reports whether s ends the job.
func (s Status) Final() bool {
	return s == StatusCompleted || s == StatusNotFound || s == StatusFailed || s == StatusRefused
}

// Succeeded reports whether s ends the job having done it (Completed, or
// NotFound: nothing to do).
func (s Status) Succeeded() bool {
	return s == StatusCompleted || s == StatusNotFound
}

// JobStatus is a source's account of a job: the body of a 200 answer, of a
// poll answer, and of a callback.
type JobStatus struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
	ID         string `json:"id"`
	Status     Status `json:"status"`
	Message    string `json:"message,omitempty"`
	// Exemption is the basis of a Refused job: a statute or policy
	// reference such as "CCPA 1798.105(d)(8)", at most MaxExemption bytes,
	// no personal data. Required with StatusRefused, absent otherwise.
	Exemption string  `json:"exemption,omitempty"`
	Result    *Result `json:"result,omitempty"`
}

// MaxExemption is the longest exemption a JobStatus may carry.
const MaxExemption = 256

// Result is what a job did.
type Result struct {
	// Records returned (Access) or changed (the other types).
	Records int64 `json:"records"`
	// Data is the subject's data, for Access.
	Data json.RawMessage `json:"data,omitempty"`
}

// Capabilities is what a source serves: the body of GET {endpoint}/capabilities.
type Capabilities struct {
	APIVersion   string    `json:"apiVersion,omitempty"`
	Kind         string    `json:"kind,omitempty"`
	RequestTypes []JobType `json:"requestTypes"`
	Identities   []string  `json:"identities"`
	Categories   []string  `json:"categories,omitempty"`
}

// Error is the body of a 4xx or 5xx answer.
type Error struct {
	Error string `json:"error"`
}
