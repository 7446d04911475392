package controllers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/endpoint"
	"github.com/privacyoperator/privacy-operator/internal/operator/legalhold"
	"github.com/privacyoperator/privacy-operator/internal/operator/retention"
)

// sourceScope carries one pass over a DataSource: the facts gathered and
// the verdicts the status step turns into Ready.
type sourceScope struct {
	passEffects
	ds     *privacyv1alpha1.DataSource
	before *privacyv1alpha1.DataSource
	key    types.NamespacedName

	// blocked is why the DataSource cannot be Ready whatever its endpoint
	// answers (namespace, suspension, endpoint, Secret); nil if nothing.
	blocked *verdict
	// probed is the verdict of a probe that finished since the last pass.
	probed *verdict
	// manual: the source has no endpoint; people do its jobs as
	// PrivacyTasks, so there is nothing to probe.
	manual bool
	// suspended: spec.suspend holds the source; it is neither probed nor
	// judged (Ready is removed, Suspended says why).
	suspended bool
	secretRV  string
}

// runPhases gathers the facts of a pass in order.
func (r *DataSourceReconciler) runPhases(ctx context.Context, s *sourceScope) error {
	if err := r.reconcileAdmission(ctx, s); err != nil {
		return err
	}
	if err := r.reconcileProbe(ctx, s); err != nil {
		return err
	}
	if err := r.reconcileActiveJobs(ctx, s); err != nil {
		return err
	}
	return r.reconcileCoverage(ctx, s)
}

// reconcileAdmission checks what can be checked here: the namespace is
// honoured, the source is not suspended, the endpoint may be called, and
// the signing Secret exists (from the metadata cache: no Secret data is
// cached; it is read, uncached, only when a probe is due).
func (r *DataSourceReconciler) reconcileAdmission(ctx context.Context, s *sourceScope) error {
	ds := s.ds
	allowed, err := r.Policy.AllowsNamespace(ctx, r.Client, ds.Namespace)
	if err != nil {
		return fmt.Errorf("read namespace %s: %w", ds.Namespace, err)
	}
	if !allowed {
		s.blocked = notReady(privacyv1alpha1.ReasonNamespaceNotAllowed, fmt.Sprintf(
			"The operator honours DataSources only in %s; ask a cluster administrator to allow namespace %s.", r.Policy, ds.Namespace))
		return nil
	}
	if ds.Spec.Suspend {
		s.suspended = true
		return nil
	}
	if ds.Spec.Manual != nil {
		s.manual = true
		return nil
	}
	base, err := endpoint.BaseURL(ds.Namespace, ds.Spec.Endpoint)
	if err == nil {
		err = endpoint.CheckScheme(base, ds.Spec.Endpoint)
	}
	if err == nil {
		err = r.checkURL(base)
	}
	if err != nil {
		s.blocked = notReady(privacyv1alpha1.ReasonEndpointNotAllowed, err.Error())
		return nil
	}
	secretMeta := &metav1.PartialObjectMetadata{}
	secretMeta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.Get(ctx, r.secretKey(ds), secretMeta); err != nil {
		if apierrors.IsNotFound(err) {
			s.blocked = notReady(privacyv1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s does not exist.", ds.Spec.SigningSecretRef.Name))
			return nil
		}
		return fmt.Errorf("read signing Secret %s: %w", r.secretKey(ds), err)
	}
	s.secretRV = secretMeta.ResourceVersion
	return nil
}

// reconcileProbe records a finished probe (its verdict and the endpoint's
// capabilities) and starts the next one when it is due.
func (r *DataSourceReconciler) reconcileProbe(ctx context.Context, s *sourceScope) error {
	ds := s.ds
	id := probeJobID(s.key)
	if o, ok := s.outcomes[id]; ok {
		s.consumed[id] = o
		if s.blocked == nil {
			s.probed = r.probeVerdict(ds, o)
		}
		ready := s.probed != nil && s.probed.status == metav1.ConditionTrue
		at, next := s.now, r.probes.next(s.now, ready)
		s.wakeAt(next)
		s.after = append(s.after, func() { r.probes.finished(s.key, at, next) })
	}
	if s.blocked != nil || s.manual || s.suspended {
		return nil
	}
	due, next := r.probes.due(s.key, ds.Generation, s.secretRV, s.now)
	if !due {
		if next.IsZero() {
			// In flight: its outcome wakes this DataSource; should that
			// wake-up be lost, look again once the probe must have ended.
			next = s.now.Add(endpointTimeout(ds) + probeMargin)
		}
		s.wakeAt(next)
		return nil
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, r.secretKey(ds), secret); err != nil {
		if apierrors.IsNotFound(err) {
			s.blocked = notReady(privacyv1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s does not exist.", ds.Spec.SigningSecretRef.Name))
			return nil
		}
		return fmt.Errorf("read signing Secret %s: %w", r.secretKey(ds), err)
	}
	keys, err := ParseSigningKeys(secret, ds.Spec.SigningSecretRef.Key)
	if errors.Is(err, errSecretKeyMissing) {
		s.blocked = notReady(privacyv1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s: %v.", secret.Name, err))
		return nil
	}
	if err != nil {
		s.blocked = notReady(privacyv1alpha1.ReasonInvalidSecret, fmt.Sprintf("Secret %s: %v.", secret.Name, err))
		return nil
	}
	if r.Keys != nil {
		r.Keys.Invalidate(r.secretKey(ds))
	}
	target, err := targetFor(ds, keys)
	if err != nil {
		s.blocked = notReady(privacyv1alpha1.ReasonEndpointNotAllowed, err.Error())
		return nil
	}
	s.submit = append(s.submit, dispatch.Work{Owner: s.owner, Op: dispatch.OpProbe, JobID: id, Target: target})
	generation, secretRV := ds.Generation, s.secretRV
	s.after = append(s.after, func() { r.probes.started(s.key, generation, secretRV) })
	return nil
}

// probeVerdict turns a probe's outcome into a Ready verdict, and records
// the capabilities the endpoint reported.
func (r *DataSourceReconciler) probeVerdict(ds *privacyv1alpha1.DataSource, o dispatch.Outcome) *verdict {
	if o.Result != dispatch.ResultFinal || o.Capabilities == nil {
		reason := o.Reason
		if reason == "" {
			reason = privacyv1alpha1.ReasonEndpointUnreachable
		}
		return notReady(reason, truncate(o.Message, 1024))
	}
	caps := &privacyv1alpha1.Capabilities{}
	for _, t := range o.Capabilities.RequestTypes {
		caps.RequestTypes = append(caps.RequestTypes, privacyv1alpha1.RequestType(t))
	}
	for _, id := range o.Capabilities.Identities {
		caps.Identities = append(caps.Identities, privacyv1alpha1.IdentityType(id))
	}
	for _, c := range o.Capabilities.Categories {
		caps.Categories = append(caps.Categories, privacyv1alpha1.DataCategory(c))
	}
	ds.Status.Capabilities = caps
	if missing := missingTypes(ds.Spec.RequestTypes, caps.RequestTypes); len(missing) > 0 {
		return notReady(privacyv1alpha1.ReasonCapabilitiesMismatch, fmt.Sprintf(
			"The endpoint does not serve the declared request types %v: its capabilities list requestTypes %v.", missing, caps.RequestTypes))
	}
	return &verdict{status: metav1.ConditionTrue, reason: privacyv1alpha1.ReasonProbeSucceeded,
		message: "The endpoint answered a signed capabilities probe and serves every declared request type."}
}

// reconcileActiveJobs records the number of requests with an unfinished
// job here (the tally the request watch keeps), at most once per second per
// DataSource (activeJobsPeriod).
func (r *DataSourceReconciler) reconcileActiveJobs(_ context.Context, s *sourceScope) error {
	n := int32(r.active.count(s.key.String()))
	if n == s.ds.Status.ActiveJobs {
		return nil
	}
	if ok, next := r.activeJobs.allow(s.key, s.now); !ok {
		s.wakeAt(next)
		return nil
	}
	s.ds.Status.ActiveJobs = n
	now := s.now
	s.after = append(s.after, func() { r.activeJobs.wrote(s.key, now) })
	return nil
}

// reconcileCoverage reports the categories the DataSource holds that no
// RetentionPolicy covers: proof, per store of personal data, that a
// retention rule exists. It is the only writer of RetentionCovered.
func (r *DataSourceReconciler) reconcileCoverage(ctx context.Context, s *sourceScope) error {
	ds := s.ds
	list := &privacyv1alpha1.RetentionPolicyList{}
	if err := r.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return fmt.Errorf("list RetentionPolicies: %w", err)
	}
	set, err := namespaceLabels(ctx, r.Client, map[string]labels.Set{}, ds.Namespace)
	if err != nil {
		return err
	}
	covered := map[privacyv1alpha1.DataCategory]bool{}
	for i := range list.Items {
		cats, err := retention.Covered(&list.Items[i], ds, set)
		if err != nil {
			continue
		}
		for _, c := range cats {
			covered[c] = true
		}
	}
	var uncovered []string
	for _, c := range ds.Spec.Categories {
		if !covered[c] {
			uncovered = append(uncovered, string(c))
		}
	}
	ns, name, n := ds.Namespace, ds.Name, float64(len(uncovered))
	s.after = append(s.after, func() { uncoveredCategories.WithLabelValues(ns, name).Set(n) })
	held, err := r.heldCategories(ctx, s, set)
	if err != nil {
		return err
	}
	switch {
	case len(uncovered) > 0:
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionRetentionCovered, metav1.ConditionFalse,
			privacyv1alpha1.ReasonUncoveredCategories, "No RetentionPolicy covers: "+strings.Join(uncovered, ", ")+"."+held)
	case held != "":
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionRetentionCovered, metav1.ConditionTrue,
			privacyv1alpha1.ReasonLegalHold, "Every declared category has a RetentionPolicy."+held)
	default:
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionRetentionCovered, metav1.ConditionTrue,
			privacyv1alpha1.ReasonAllCategoriesCovered, "Every declared category has a RetentionPolicy.")
	}
	return nil
}

// heldCategories says which of the DataSource's categories active
// LegalHolds keep from retention purges (empty when none), and asks for a
// pass when the first of them expires.
func (r *DataSourceReconciler) heldCategories(ctx context.Context, s *sourceScope, nsLabels labels.Set) (string, error) {
	list := &privacyv1alpha1.LegalHoldList{}
	if err := r.List(ctx, list); err != nil {
		return "", fmt.Errorf("list LegalHolds: %w", err)
	}
	now := r.Clock.Now()
	if next := legalhold.NextExpiry(list.Items, now); !next.IsZero() {
		s.wakeAt(next)
	}
	_, held, holds := legalhold.NewSet(list.Items, now).Purge(s.ds, nsLabels, s.ds.Spec.Categories)
	if len(held) == 0 {
		return "", nil
	}
	return " Purges leave some alone: " + legalhold.CategoriesMessage(held, holds), nil
}

func (r *DataSourceReconciler) checkURL(u *url.URL) error {
	if r.Guard == nil {
		return nil
	}
	return r.Guard.CheckURL(u)
}

func (r *DataSourceReconciler) secretKey(ds *privacyv1alpha1.DataSource) types.NamespacedName {
	return types.NamespacedName{Namespace: ds.Namespace, Name: ds.Spec.SigningSecretRef.Name}
}

func probeJobID(key types.NamespacedName) string { return "probe/" + key.Namespace + "/" + key.Name }

func missingTypes(declared, served []privacyv1alpha1.RequestType) []privacyv1alpha1.RequestType {
	var missing []privacyv1alpha1.RequestType
	for _, d := range declared {
		if !slices.Contains(served, d) {
			missing = append(missing, d)
		}
	}
	return missing
}

// probeMargin is added to a probe's timeout before a pass looks at a probe
// whose outcome has not arrived.
const probeMargin = 30 * time.Second

// endpointTimeout bounds one exchange with the DataSource's endpoint.
func endpointTimeout(ds *privacyv1alpha1.DataSource) time.Duration {
	if t := ds.Spec.Endpoint.Timeout; t != nil && t.Duration > 0 {
		return t.Duration
	}
	return 30 * time.Second
}
