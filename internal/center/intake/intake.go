// Package intake turns a verified submission into what the operator
// reads: a subject Secret with the person's identities and a
// PrivacyRequest naming it, both through the API, like any other client.
package intake

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// Channel is the value of the channel annotation on every request the
// center files (the receipt records it).
const Channel = "privacy-center"

// NamePrefix starts the name of every request (and subject Secret) the
// center files; the rest is the submission's random nonce.
const NamePrefix = "pc-"

// Submission is what a person filed, sealed inside the verification link
// until they prove they hold the e-mail address.
type Submission struct {
	// Nonce is random: the request's name is NamePrefix + Nonce, so a
	// second click on the same link finds the request the first made.
	Nonce       string                       `json:"n"`
	Type        privacyv1alpha1.RequestType  `json:"t"`
	Regulation  privacyv1alpha1.Regulation   `json:"r"`
	Identities  map[string]string            `json:"i"`
	Corrections []privacyv1alpha1.Correction `json:"c,omitempty"`
	Scopes      []string                     `json:"s,omitempty"`
	// Lang is the language the person used (their notices use it).
	Lang string `json:"l,omitempty"`
	// ReceivedAt is when the person submitted: the legal deadline counts
	// from then, not from the verification.
	ReceivedAt time.Time `json:"at"`

	// An authorized agent's request waiting for the person to verify
	// their address (DRP need_user_verification): the request's
	// annotations (agent, its request id, status callback) and the
	// redirect_to the agent gave when the person opened the page (checked
	// then against the agent's callbackHosts).
	Annotations map[string]string `json:"a,omitempty"`
	RedirectTo  string            `json:"rt,omitempty"`
}

// Name is the request's (and its subject Secret's) name.
func (s Submission) Name() string { return NamePrefix + s.Nonce }

// Options are how requests are filed.
type Options struct {
	// SubjectNamespace holds the subject Secrets.
	SubjectNamespace string
	// Suspend files requests for a reviewer to approve.
	Suspend bool
	// Annotations are added to the request (the sealed notice address).
	Annotations map[string]string
	// Requester is spec.requester: the center's own identity as the API
	// server knows it (the approval policy requires exactly that), set so
	// that requests filed for review are accepted also where no policy
	// stamps it. Empty leaves it to that policy.
	Requester string
}

// File creates the subject Secret and the PrivacyRequest of s, or finds
// them when an earlier call made them (a second click, a retry). It
// returns the request as it is now.
func File(ctx context.Context, c client.Client, o Options, s Submission) (*privacyv1alpha1.PrivacyRequest, error) {
	name := s.Name()
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: o.SubjectNamespace,
			Labels:      map[string]string{privacyv1alpha1.LabelSubjectSecret: "true"},
			Annotations: map[string]string{privacyv1alpha1.AnnotationChannel: Channel},
		},
		Immutable:  new(true),
		StringData: s.Identities,
	}
	if err := c.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("create the subject Secret: %w", err)
	}
	pr := &privacyv1alpha1.PrivacyRequest{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{privacyv1alpha1.AnnotationChannel: Channel, AnnotationLanguage: s.Lang},
		},
		Spec: privacyv1alpha1.PrivacyRequestSpec{
			Type:       s.Type,
			Regulation: s.Regulation,
			Subject: privacyv1alpha1.Subject{SecretRef: &privacyv1alpha1.NamespacedSecretReference{
				Namespace: o.SubjectNamespace, Name: name,
			}},
			Corrections: s.Corrections,
			ReceivedAt:  &metav1.Time{Time: s.ReceivedAt.UTC().Truncate(time.Second)},
			Suspend:     o.Suspend,
			Requester:   o.Requester,
		},
	}
	for k, v := range o.Annotations {
		pr.Annotations[k] = v
	}
	if s.Type == privacyv1alpha1.RequestTypeOptOut {
		pr.Spec.OptOut = &privacyv1alpha1.OptOutSpec{Scopes: s.Scopes}
	}
	err := c.Create(ctx, pr)
	if apierrors.IsAlreadyExists(err) {
		// A second click or a retry: the request stands; make sure its
		// Secret is owned (the first call may have stopped before that).
		if err := c.Get(ctx, client.ObjectKeyFromObject(pr), pr); err != nil {
			return nil, fmt.Errorf("read the request: %w", err)
		}
		err = nil
	}
	if err != nil {
		// The request was refused: the person's identities must not stay.
		if derr := c.Delete(ctx, secret); derr != nil && !apierrors.IsNotFound(derr) {
			err = errors.Join(err, fmt.Errorf("delete the subject Secret %s/%s again: %w", secret.Namespace, secret.Name, derr))
		}
		return nil, fmt.Errorf("create the request: %w", err)
	}
	// The Secret goes with its request (Kubernetes' garbage collector).
	patch := client.MergeFrom(secret.DeepCopy())
	secret.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: privacyv1alpha1.GroupVersion.String(), Kind: "PrivacyRequest", Name: pr.Name, UID: pr.UID,
	}}
	if err := c.Patch(ctx, secret, patch); err != nil {
		return nil, fmt.Errorf("make the request own its subject Secret: %w", err)
	}
	return pr, nil
}

// Annotations of the requests the center files.
const (
	// AnnotationLanguage records the language the person used, for their
	// notices.
	AnnotationLanguage = "privacyoperator.io/language"
	// AnnotationNotify holds where the person's notices go, sealed with
	// the center's keys (purpose PurposeNotify): no one else can read it.
	AnnotationNotify = "privacyoperator.io/notify"
	// AnnotationNoticesSent lists the notices sent, comma-separated: the
	// center's record, on the object, of what it told the person.
	AnnotationNoticesSent = "privacyoperator.io/notices-sent"
	// PurposeNotify seals the notice address.
	PurposeNotify = "notice-address"
	// PurposeAgentVerify seals an authorized agent's submission into the
	// page where the person verifies their address (user_verification_url).
	PurposeAgentVerify = "agent-verify"
)

// Address is where a request's notices go, sealed in AnnotationNotify.
type Address struct {
	Email string `json:"e"`
	Lang  string `json:"l"`
}

// ForgetAnswer drops the answer the agent's status keeps for a request
// that waited for the person's verification, once the request is filed,
// and counts the request in the agent's status.requests: from then on the
// PrivacyRequest answers for it (and, when it is deleted after its TTL, no
// stale "waiting" answer remains). Only the filing that finds the answer
// counts, so a second click counts nothing. Retried on a conflict with
// another replica.
func ForgetAnswer(ctx context.Context, c client.Client, agentID, requestID string) error {
	return retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		agents := &privacyv1alpha1.AuthorizedAgentList{}
		if err := c.List(ctx, agents); err != nil {
			return err
		}
		for i := range agents.Items {
			a := &agents.Items[i]
			if a.Spec.AgentID != agentID {
				continue
			}
			kept := slices.DeleteFunc(slices.Clone(a.Status.Answers), func(x privacyv1alpha1.AgentAnswer) bool { return x.RequestID == requestID })
			if len(kept) == len(a.Status.Answers) {
				return nil
			}
			patch := client.MergeFromWithOptions(a.DeepCopy(), client.MergeFromWithOptimisticLock{})
			a.Status.Answers = kept
			a.Status.Requests++
			return c.Status().Patch(ctx, a, patch)
		}
		return nil
	})
}
