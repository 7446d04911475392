package controllers

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/endpoint"
)

// verdict is what one fact says about Ready.
type verdict struct {
	status          metav1.ConditionStatus
	reason, message string
}

func notReady(reason, message string) *verdict {
	return &verdict{status: metav1.ConditionFalse, reason: reason, message: message}
}

// computeStatus derives the DataSource's endpoint facts and Ready from what
// the pass gathered. It is the only writer of Ready, Stalled, Suspended,
// Insecure, endpointHost and lastProbeTime.
func (r *DataSourceReconciler) computeStatus(s *sourceScope) {
	ds := s.ds
	ds.Status.EndpointHost = endpoint.Host(ds.Namespace, ds.Spec.Endpoint)
	if ds.Spec.Manual != nil {
		// An endpoint's probe results do not describe people.
		ds.Status.EndpointHost, ds.Status.Capabilities, ds.Status.LastProbeTime = "", nil, nil
	}
	computeInsecure(ds)

	old := conditions.Get(s.before.Status.Conditions, privacyv1alpha1.ConditionReady)
	if computeSuspended(s) {
		return
	}
	if v := readyVerdict(s, old); v != nil {
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionReady, v.status, v.reason, v.message)
	}
	computeStalled(s)
	cur := conditions.Get(ds.Status.Conditions, privacyv1alpha1.ConditionReady)
	// lastProbeTime marks the probe that established the current verdict
	// or capabilities; a probe that changes nothing writes nothing.
	if s.probed != nil && (readyChanged(old, cur) || !capabilitiesEqual(s.before.Status.Capabilities, ds.Status.Capabilities)) {
		t := metav1.NewTime(s.now)
		ds.Status.LastProbeTime = &t
	}
	if cur != nil && (old == nil || old.Status != cur.Status || old.Reason != cur.Reason) {
		eventType := corev1.EventTypeNormal
		if cur.Status == metav1.ConditionFalse {
			eventType = corev1.EventTypeWarning
		}
		s.event(eventType, cur.Reason, "Ready=%s: %s", cur.Status, cur.Message)
	}
}

// readyVerdict is Ready from the gathered facts, in order of precedence: a
// fact that blocks the source, then a probe that just finished; with
// neither, the last probe's verdict stands, and a source never probed is
// being probed. nil: leave Ready as it is.
func readyVerdict(s *sourceScope, old *metav1.Condition) *verdict {
	switch {
	case s.blocked != nil:
		return s.blocked
	case s.manual:
		return &verdict{status: metav1.ConditionTrue, reason: privacyv1alpha1.ReasonManual,
			message: "A manual source: its jobs become PrivacyTasks in this namespace for people to complete."}
	case s.probed != nil:
		return s.probed
	case old == nil:
		return &verdict{status: metav1.ConditionUnknown, reason: privacyv1alpha1.ReasonInitializing, message: "The endpoint is being probed."}
	}
	return nil
}

// computeSuspended reports spec.suspend as Suspended=True and removes Ready
// and Stalled: a suspended source is not judged, it is held as asked (kstatus,
// which Flux uses, then reads it Current instead of InProgress forever;
// docs/gitops.md). It returns whether the source is suspended.
func computeSuspended(s *sourceScope) bool {
	ds := s.ds
	if !s.suspended {
		conditions.Remove(&ds.Status.Conditions, privacyv1alpha1.ConditionSuspended)
		return false
	}
	conditions.Remove(&ds.Status.Conditions, privacyv1alpha1.ConditionReady)
	conditions.Remove(&ds.Status.Conditions, privacyv1alpha1.ConditionStalled)
	conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionSuspended, metav1.ConditionTrue,
		privacyv1alpha1.ReasonSuspended, "spec.suspend is true: no job is sent to this source and it is not probed.")
	if conditions.Get(s.before.Status.Conditions, privacyv1alpha1.ConditionSuspended) == nil {
		s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonSuspended, "Suspended: no job is sent to this source until spec.suspend is false.")
	}
	return true
}

// stalledReasons are the Ready=False reasons that wait for a person (a
// namespace to allow, a Secret to create or fix, an endpoint or its
// declared types to correct): Stalled=True repeats them, so that kstatus
// reads the source Failed at once instead of InProgress until a GitOps
// sync times out. An unreachable endpoint is not among them: it is retried.
var stalledReasons = []string{
	privacyv1alpha1.ReasonNamespaceNotAllowed,
	privacyv1alpha1.ReasonEndpointNotAllowed,
	privacyv1alpha1.ReasonSecretNotFound,
	privacyv1alpha1.ReasonInvalidSecret,
	privacyv1alpha1.ReasonCapabilitiesMismatch,
	privacyv1alpha1.ReasonSignatureMismatch,
}

// computeStalled sets Stalled from Ready (see stalledReasons).
func computeStalled(s *sourceScope) {
	ds := s.ds
	ready := conditions.Get(ds.Status.Conditions, privacyv1alpha1.ConditionReady)
	if ready == nil || ready.Status != metav1.ConditionFalse || !slices.Contains(stalledReasons, ready.Reason) {
		conditions.Remove(&ds.Status.Conditions, privacyv1alpha1.ConditionStalled)
		return
	}
	conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionStalled, metav1.ConditionTrue, ready.Reason, ready.Message)
}

// computeInsecure warns, as a condition of its own, that an http endpoint
// carries personal data unencrypted.
func computeInsecure(ds *privacyv1alpha1.DataSource) {
	if base, err := endpoint.BaseURL(ds.Namespace, ds.Spec.Endpoint); err == nil && base.Scheme == "http" && ds.Spec.Endpoint.Insecure {
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionInsecure, metav1.ConditionTrue,
			privacyv1alpha1.ReasonPlaintextEndpoint,
			"The endpoint is plain HTTP (spec.endpoint.insecure): jobs, identities and Access data cross the network unencrypted. Use https in production.")
		return
	}
	conditions.Remove(&ds.Status.Conditions, privacyv1alpha1.ConditionInsecure)
}

// readyChanged reports a change of Ready's status, reason or message (an
// Event is only worth a change of status or reason).
func readyChanged(old, cur *metav1.Condition) bool {
	if old == nil || cur == nil {
		return old != cur
	}
	return old.Status != cur.Status || old.Reason != cur.Reason || old.Message != cur.Message
}

func capabilitiesEqual(a, b *privacyv1alpha1.Capabilities) bool {
	if a == nil || b == nil {
		return a == b
	}
	return slices.Equal(a.RequestTypes, b.RequestTypes) && slices.Equal(a.Identities, b.Identities) && slices.Equal(a.Categories, b.Categories)
}
