package receipt

import (
	"errors"
	"fmt"
	"time"
)

// APIVersion names the receipt format. A reader refuses a receipt of
// another version instead of guessing at its fields.
const APIVersion = "receipts.privacyoperator.io/v1"

// ChannelDRP is the channel of a request an authorized agent filed
// through the Data Rights Protocol (its PrivacyRequest carries the
// annotation privacyoperator.io/authorized-agent).
const ChannelDRP = "drp"

// ChannelUnsubscribeLink is the channel of an OptOut filed from a
// one-click unsubscribe link (annotation privacyoperator.io/unsubscribe).
const ChannelUnsubscribeLink = "unsubscribe-link"

// Kind says what a receipt records; exactly one of its bodies (Request,
// Retention, Sweep, Delivery) is set, the one its kind names.
type Kind string

// The kinds of receipt.
const (
	// KindPrivacyRequest records one person's request as it finished.
	KindPrivacyRequest Kind = "PrivacyRequest"
	// KindRetentionRun records one scheduled run of a RetentionPolicy.
	KindRetentionRun Kind = "RetentionRun"
	// KindSweep records that the oldest receipts, past their retention,
	// were removed from the log, and the hash of the last one removed.
	KindSweep Kind = "Sweep"
)

// Outcome is how a request, a retention run or one source's part in it
// ended.
type Outcome string

// The outcomes. NotFound and Held are for sources only.
const (
	OutcomeCompleted Outcome = "Completed"
	OutcomeFailed    Outcome = "Failed"
	OutcomeCancelled Outcome = "Cancelled"
	// OutcomeNotFound: the source holds nothing of the subject.
	OutcomeNotFound Outcome = "NotFound"
	// OutcomeHeld: a LegalHold kept the job from the source.
	OutcomeHeld Outcome = "Held"
	// OutcomeRefused: the source refused the job under an exemption
	// (Source.Exemption names the basis).
	OutcomeRefused Outcome = "Refused"
)

// Receipt is one entry of the log. The controllers fill in Kind and one
// body; Log.Append sets APIVersion, Sequence, Previous and RecordedAt.
// Nothing in it may be personal data: identities go in as fingerprints,
// and free text (messages, reasons) must be what the operator or a source
// wrote for people who may not see the data.
type Receipt struct {
	APIVersion string `json:"apiVersion"`
	Kind       Kind   `json:"kind"`
	// Sequence is the receipt's place in the log: 1, 2, 3, ... with no gap.
	Sequence uint64 `json:"sequence"`
	// Previous is the hex SHA-256 of the previous receipt's stored object;
	// "" for sequence 1.
	Previous string `json:"previous"`
	// RecordedAt is when the receipt was appended, by the operator's clock.
	RecordedAt time.Time `json:"recordedAt"`

	Request   *Request       `json:"request,omitempty"`
	Retention *RetentionRun  `json:"retention,omitempty"`
	Sweep     *Sweep         `json:"sweep,omitempty"`
	Delivery  *Delivery      `json:"delivery,omitempty"`
	Restore   *Restore       `json:"restore,omitempty"`
	Erasure   *ReplayErasure `json:"erasure,omitempty"`
}

// Request records a PrivacyRequest as it finished.
type Request struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
	// Type is the request's type: Access, Delete, Correct or OptOut.
	Type       string `json:"type"`
	Regulation string `json:"regulation"`
	// Child marks a Delete of a child's data (spec.child): due within 7
	// days, reported apart.
	Child bool `json:"child,omitempty"`
	// Channel is how the request came in (web form, email...), if known;
	// "drp" for a request an authorized agent filed through the Data
	// Rights Protocol.
	Channel string `json:"channel,omitempty"`
	// Agent is that authorized agent's DRP agent id, AgentRequestID the
	// agent's own id of the request.
	Agent          string `json:"agent,omitempty"`
	AgentRequestID string `json:"agentRequestID,omitempty"`
	// Requester is who filed the request on the subject's behalf (a
	// service or an agent's account), if the request says.
	Requester string    `json:"requester,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	// ReceivedAt is when the request reached the company, when that was
	// before it was created (spec.receivedAt): the deadline counts from it.
	ReceivedAt *time.Time `json:"receivedAt,omitempty"`
	DueAt      time.Time  `json:"dueAt"`
	Extension  *Extension `json:"extension,omitempty"`
	FinishedAt time.Time  `json:"finishedAt"`
	// Outcome is Completed, Failed or Cancelled.
	Outcome  Outcome   `json:"outcome"`
	Subject  Subject   `json:"subject"`
	Approval *Approval `json:"approval,omitempty"`
	// Holds are the LegalHolds that kept one or more sources from acting.
	Holds   []Hold   `json:"holds,omitempty"`
	Sources []Source `json:"sources,omitempty"`
	// Export says where an Access request's export was written and what
	// it hashed to; never the data.
	Export *Export `json:"export,omitempty"`
}

// Extension is a documented move of a request's due date.
type Extension struct {
	Days   int32  `json:"days"`
	Reason string `json:"reason"`
}

// Subject is whom a request was about, as fingerprints only (see
// Fingerprint): enough to find the receipt again given the person's
// identities and the fingerprint key, nothing to read them from.
type Subject struct {
	// FingerprintKeyID names the key the fingerprints were made with.
	FingerprintKeyID string                `json:"fingerprintKeyID"`
	Fingerprints     []IdentityFingerprint `json:"fingerprints,omitempty"`
	// Unresolved says why the identities could not be read (a missing
	// Secret, say), in words without personal data; then there are no
	// fingerprints.
	Unresolved string `json:"unresolved,omitempty"`
}

// IdentityFingerprint is one identity's fingerprint (see Fingerprint): its
// type, in the clear, and its keyed hash.
type IdentityFingerprint struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

// Approval is the reviewer's decision that let a suspended request go on.
type Approval struct {
	Approver   string    `json:"approver"`
	Reason     string    `json:"reason"`
	ApprovedAt time.Time `json:"approvedAt"`
}

// Hold names a LegalHold and why it held data back.
type Hold struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// Export is where an Access request's export went: a path or an
// s3:// URL, its hex SHA-256 and size.
type Export struct {
	Location string `json:"location"`
	SHA256   string `json:"sha256"`
	Bytes    int64  `json:"bytes"`
}

// Source is one DataSource's part in a request or a retention run.
type Source struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	JobID     string `json:"jobID,omitempty"`
	// Outcome is Completed, NotFound, Failed, Cancelled, Held or Refused.
	Outcome Outcome `json:"outcome"`
	// Records is what the source counted: returned, changed or purged.
	Records        *int64     `json:"records,omitempty"`
	Attempts       int32      `json:"attempts"`
	FirstAttemptAt *time.Time `json:"firstAttemptAt,omitempty"`
	LastAttemptAt  *time.Time `json:"lastAttemptAt,omitempty"`
	// Message is the source's own words on the outcome; sources are bound
	// by the protocol to keep personal data out of it.
	Message string `json:"message,omitempty"`
	// Hold names the LegalHold that held the source, if one did.
	Hold string `json:"hold,omitempty"`
	// Exemption is the basis on which the source refused the job
	// (outcome Refused).
	Exemption string `json:"exemption,omitempty"`
	// HeldCategories are the data categories a hold kept from a retention
	// purge at this source.
	HeldCategories []string `json:"heldCategories,omitempty"`
	// MissingIdentities are the identity types the source declared that the
	// request did not have: the source was searched without them.
	MissingIdentities []string `json:"missingIdentities,omitempty"`
	// Task names the PrivacyTask of a manual source (people did the job);
	// CompletedBy is the user who completed it.
	Task        string `json:"task,omitempty"`
	CompletedBy string `json:"completedBy,omitempty"`
}

// RetentionRun records one scheduled run of a RetentionPolicy.
type RetentionRun struct {
	Policy PolicyRef `json:"policy"`
	// ScheduledTime is the schedule's slot the run was for.
	ScheduledTime time.Time `json:"scheduledTime"`
	// Cutoff: data older than this was purged.
	Cutoff     *time.Time `json:"cutoff,omitempty"`
	Categories []string   `json:"categories,omitempty"`
	Action     string     `json:"action"`
	Outcome    Outcome    `json:"outcome"`
	FinishedAt time.Time  `json:"finishedAt"`
	Sources    []Source   `json:"sources,omitempty"`
}

// PolicyRef names a RetentionPolicy.
type PolicyRef struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// Sweep records the removal of the oldest receipts, 1 (or the first one
// left by an earlier sweep) through RemovedThrough. The first receipt left
// after it names RemovedThroughHash as its previous, so the chain can
// still be checked from there.
type Sweep struct {
	RemovedThrough uint64 `json:"removedThrough"`
	// RemovedThroughHash is the hex SHA-256 of receipt RemovedThrough's
	// stored object.
	RemovedThroughHash string `json:"removedThroughHash"`
	// OlderThan is the cutoff: every receipt removed was recorded before it.
	OlderThan time.Time `json:"olderThan"`
	// Retention is the retention the sweep enforced, as a Go duration.
	Retention string `json:"retention"`
}

// OwnerID is the id a receipt's owner submits it under (Notary.Submit),
// computed from the receipt alone: "PrivacyRequest/<name>/<uid>" for a
// request, "RetentionPolicy/<name>/<uid>/<scheduledTime, RFC 3339 UTC>"
// for a retention run, "PrivacyRequest/<name>/<uid>/delivery/<n>" for a
// request's n-th Delivery, "Restore/<namespace>/<name>/<uid>" for a
// Restore, "ReplayErasure/<last period>" for an erasure of replay records,
// and "" for a Sweep, which has no owner. It is what
// lets a Notary recognise, in the log a crashed or former leader wrote, a
// receipt whose reference its owner never recorded: the controllers and
// the Notary must compute the same id, so both call this.
func OwnerID(r *Receipt) string {
	switch {
	case r.Kind == KindPrivacyRequest && r.Request != nil:
		return RequestOwnerID(r.Request.Name, r.Request.UID)
	case r.Kind == KindRetentionRun && r.Retention != nil:
		p := r.Retention.Policy
		return RunOwnerID(p.Name, p.UID, r.Retention.ScheduledTime)
	case r.Kind == KindDelivery && r.Delivery != nil:
		return DeliveryOwnerID(r.Delivery.Request, r.Delivery.UID, r.Delivery.Number)
	case r.Kind == KindRestore && r.Restore != nil:
		return RestoreOwnerID(r.Restore.Namespace, r.Restore.Name, r.Restore.UID)
	case r.Kind == KindReplayErasure && r.Erasure != nil && len(r.Erasure.Periods) > 0:
		return ErasureOwnerID(r.Erasure.Periods[len(r.Erasure.Periods)-1])
	}
	return ""
}

// RequestOwnerID is the owner id of a PrivacyRequest's receipt, as the
// controllers Submit it and OwnerID computes it from the receipt.
func RequestOwnerID(name, uid string) string { return "PrivacyRequest/" + name + "/" + uid }

// RunOwnerID is the owner id of a RetentionPolicy run's receipt.
func RunOwnerID(policy, uid string, slot time.Time) string {
	return "RetentionPolicy/" + policy + "/" + uid + "/" + slot.UTC().Format(time.RFC3339)
}

// check refuses a receipt whose kind and body disagree: a reader goes by
// the kind, so a body under another kind would go unread.
func (r *Receipt) check() error {
	bodies := 0
	for _, set := range []bool{r.Request != nil, r.Retention != nil, r.Sweep != nil, r.Delivery != nil, r.Restore != nil, r.Erasure != nil} {
		if set {
			bodies++
		}
	}
	if bodies != 1 {
		return fmt.Errorf("a receipt carries exactly one body, this one %d", bodies)
	}
	switch {
	case r.Kind == KindPrivacyRequest && r.Request != nil,
		r.Kind == KindRetentionRun && r.Retention != nil,
		r.Kind == KindSweep && r.Sweep != nil,
		r.Kind == KindDelivery && r.Delivery != nil,
		r.Kind == KindRestore && r.Restore != nil,
		r.Kind == KindReplayErasure && r.Erasure != nil:
		return nil
	case r.Kind == "":
		return errors.New("a receipt needs a kind")
	}
	return fmt.Errorf("a receipt of kind %q carries another kind's body", r.Kind)
}
