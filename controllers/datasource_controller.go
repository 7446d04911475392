package controllers

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/endpoint"
	"github.com/privacyoperator/privacy-operator/internal/operator/netguard"
	"github.com/privacyoperator/privacy-operator/internal/operator/nspolicy"
	"github.com/privacyoperator/privacy-operator/internal/operator/retention"
	"github.com/privacyoperator/privacy-operator/internal/operator/statuspatch"
)

// KindDataSource names DataSources as dispatcher owners (their probes).
const KindDataSource = "DataSource"

// IndexDataSourceSecret indexes DataSources by the name of their signing
// Secret, so that a Secret change re-probes exactly its DataSources.
const IndexDataSourceSecret = "spec.signingSecretRef.name"

// DataSourceSecretName is the extractor of IndexDataSourceSecret.
func DataSourceSecretName(obj client.Object) []string {
	ds, ok := obj.(*privacyv1alpha1.DataSource)
	if !ok {
		return nil
	}
	return []string{ds.Spec.SigningSecretRef.Name}
}

// DataSourceReconciler keeps a DataSource's readiness true: it probes the
// endpoint's signed capabilities (off the reconcile path, through the
// Dispatcher) on create, on a spec or Secret change and periodically, and
// reports Ready with a reason a person can act on.
type DataSourceReconciler struct {
	client.Client
	// APIReader reads Secrets uncached.
	APIReader  client.Reader
	Recorder   events.EventRecorder
	Dispatcher *dispatch.Dispatcher
	// Keys is the PrivacyRequest engine's key cache, invalidated on change.
	Keys *KeyRing
	// Policy decides which namespaces are honoured.
	Policy nspolicy.Policy
	// Guard refuses endpoints the operator must not call.
	Guard *netguard.Guard
	Clock clock.PassiveClock
	// ProbeInterval is the period of the readiness probe (jittered by up to 10%).
	ProbeInterval time.Duration
	// Wakeups carries probe outcomes back to this reconciler.
	Wakeups *Wakeups

	mu     sync.Mutex
	probes map[types.NamespacedName]probeRecord
}

// probeRecord is what the last probe of a DataSource was made against, so
// that a spec or Secret change, or the period, triggers the next one.
type probeRecord struct {
	generation int64
	secretRV   string
	at         time.Time // zero while the probe is in flight
	next       time.Time
}

// +kubebuilder:rbac:groups=privacyoperator.io,resources=datasources,verbs=get;list;watch
// +kubebuilder:rbac:groups=privacyoperator.io,resources=datasources/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Reconcile brings one DataSource's readiness up to date.
func (r *DataSourceReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ds := &privacyv1alpha1.DataSource{}
	if err := r.Get(ctx, req.NamespacedName, ds); err != nil {
		if apierrors.IsNotFound(err) {
			r.forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := ds.DeepCopy()
	s := &sourceScope{ds: ds, now: r.Clock.Now(), owner: dataSourceOwner(req.NamespacedName)}
	if o, ok := r.Dispatcher.Outcomes(s.owner)[probeJobID(req.NamespacedName)]; ok {
		s.outcome = &o
	}

	ds.Status.EndpointHost = endpoint.Host(ds.Namespace, ds.Spec.Endpoint)
	reconcileInsecure(ds)
	err := r.reconcileReadiness(ctx, s)
	if err == nil {
		err = r.reconcileActiveJobs(ctx, ds)
	}
	if err == nil {
		err = r.reconcileCoverage(ctx, ds)
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	ds.Status.ObservedGeneration = ds.Generation

	write := statuspatch.Patch
	if s.outcome != nil {
		write = statuspatch.PatchVerified
	}
	if _, err := write(ctx, r.Client, before, ds); err != nil {
		if apierrors.IsConflict(err) {
			return ctrl.Result{RequeueAfter: conflictRetry}, nil
		}
		return ctrl.Result{}, err
	}
	if s.outcome != nil {
		r.Dispatcher.Ack(s.owner, map[string]dispatch.Outcome{probeJobID(req.NamespacedName): *s.outcome})
		r.recordProbe(req.NamespacedName, s)
	}
	if s.probe != nil && r.Dispatcher.Submit(*s.probe) {
		r.startProbe(req.NamespacedName, ds.Generation, s.secretRV)
		log.FromContext(ctx).V(1).Info("probing the endpoint", "endpoint", ds.Status.EndpointHost)
	}
	r.emitReadyTransition(before, ds)
	return s.result(), nil
}

// sourceScope carries one pass over a DataSource.
type sourceScope struct {
	ds       *privacyv1alpha1.DataSource
	now      time.Time
	owner    dispatch.Owner
	outcome  *dispatch.Outcome
	probe    *dispatch.Work
	secretRV string
	wake     time.Time
}

func (s *sourceScope) result() ctrl.Result {
	if s.wake.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(s.wake.Sub(s.now), time.Second)}
}

// reconcileReadiness sets Ready from what can be checked here (namespace,
// suspension, endpoint, Secret) and from the last probe, and decides whether
// a new probe is due.
func (r *DataSourceReconciler) reconcileReadiness(ctx context.Context, s *sourceScope) error {
	ds := s.ds
	key := types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name}
	notReady := func(reason, message string) error {
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionReady, metav1.ConditionFalse, reason, message)
		return nil
	}

	allowed, err := r.Policy.AllowsNamespace(ctx, r.Client, ds.Namespace)
	if err != nil {
		return fmt.Errorf("read namespace %s: %w", ds.Namespace, err)
	}
	if !allowed {
		return notReady(privacyv1alpha1.ReasonNamespaceNotAllowed, fmt.Sprintf(
			"The operator honours DataSources only in %s; ask a cluster administrator to allow namespace %s.", r.Policy, ds.Namespace))
	}
	if ds.Spec.Suspend {
		return notReady(privacyv1alpha1.ReasonSuspended, "spec.suspend is true: no job is sent to this source.")
	}
	base, err := endpoint.BaseURL(ds.Namespace, ds.Spec.Endpoint)
	if err == nil {
		err = endpoint.CheckScheme(base, ds.Spec.Endpoint)
	}
	if err != nil {
		return notReady(privacyv1alpha1.ReasonEndpointNotAllowed, err.Error())
	}
	if err := r.checkURL(base); err != nil {
		return notReady(privacyv1alpha1.ReasonEndpointNotAllowed, err.Error())
	}

	// The Secret's existence and version come from the metadata cache (no
	// Secret data is cached); its data is read, uncached, only when a probe
	// is due, so that passes woken by request traffic cost no Secret read.
	secretKey := types.NamespacedName{Namespace: ds.Namespace, Name: ds.Spec.SigningSecretRef.Name}
	secretMeta := &metav1.PartialObjectMetadata{}
	secretMeta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	if err := r.Get(ctx, secretKey, secretMeta); err != nil {
		if apierrors.IsNotFound(err) {
			return notReady(privacyv1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s does not exist.", secretKey.Name))
		}
		return fmt.Errorf("read signing Secret %s: %w", secretKey, err)
	}
	s.secretRV = secretMeta.ResourceVersion

	if s.outcome != nil {
		r.applyProbe(s)
	}
	rec, due := r.probeDue(key, ds.Generation, s.secretRV, s.now)
	if !due {
		if !rec.next.IsZero() {
			s.wake = rec.next
		}
		return nil
	}
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, secretKey, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return notReady(privacyv1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s does not exist.", secretKey.Name))
		}
		return fmt.Errorf("read signing Secret %s: %w", secretKey, err)
	}
	keys, err := ParseSigningKeys(secret, ds.Spec.SigningSecretRef.Key)
	if errors.Is(err, errSecretKeyMissing) {
		return notReady(privacyv1alpha1.ReasonSecretNotFound, fmt.Sprintf("Secret %s: %v.", secretKey.Name, err))
	}
	if err != nil {
		return notReady(privacyv1alpha1.ReasonInvalidSecret, fmt.Sprintf("Secret %s: %v.", secretKey.Name, err))
	}
	if r.Keys != nil {
		r.Keys.Invalidate(secretKey)
	}
	target, err := targetFor(ds, keys)
	if err != nil {
		return notReady(privacyv1alpha1.ReasonEndpointNotAllowed, err.Error())
	}
	s.probe = &dispatch.Work{Owner: s.owner, Op: dispatch.OpProbe, JobID: probeJobID(key), Target: target}
	if conditions.Get(ds.Status.Conditions, privacyv1alpha1.ConditionReady) == nil {
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionReady, metav1.ConditionUnknown,
			privacyv1alpha1.ReasonInitializing, "The endpoint is being probed.")
	}
	return nil
}

// reconcileInsecure warns, as a condition of its own, that an http
// endpoint carries personal data unencrypted. It is the only writer of
// ConditionInsecure.
func reconcileInsecure(ds *privacyv1alpha1.DataSource) {
	if base, err := endpoint.BaseURL(ds.Namespace, ds.Spec.Endpoint); err == nil && base.Scheme == "http" && ds.Spec.Endpoint.Insecure {
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionInsecure, metav1.ConditionTrue,
			privacyv1alpha1.ReasonPlaintextEndpoint,
			"The endpoint is plain HTTP (spec.endpoint.insecure): jobs, identities and Access data cross the network unencrypted. Use https in production.")
		return
	}
	conditions.Remove(&ds.Status.Conditions, privacyv1alpha1.ConditionInsecure)
}

// applyProbe turns a probe's outcome into Ready and capabilities. Only a
// change is written; an unchanged probe leaves status as it is.
func (r *DataSourceReconciler) applyProbe(s *sourceScope) {
	ds, o := s.ds, s.outcome
	prev := ds.Status.DeepCopy()
	if o.Result != dispatch.ResultFinal || o.Capabilities == nil {
		reason := o.Reason
		if reason == "" {
			reason = privacyv1alpha1.ReasonEndpointUnreachable
		}
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionReady, metav1.ConditionFalse, reason, truncate(o.Message, 1024))
	} else {
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
			conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionReady, metav1.ConditionFalse,
				privacyv1alpha1.ReasonCapabilitiesMismatch, fmt.Sprintf("The endpoint does not serve the declared request types %v: its capabilities list requestTypes %v.", missing, caps.RequestTypes))
		} else {
			conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionReady, metav1.ConditionTrue,
				privacyv1alpha1.ReasonProbeSucceeded, "The endpoint answered a signed capabilities probe and serves every declared request type.")
		}
	}
	// lastProbeTime marks the probe that established the current status;
	// an unchanged probe writes nothing.
	if !statusEqualIgnoringProbeTime(prev, &ds.Status) {
		t := metav1.NewTime(s.now)
		ds.Status.LastProbeTime = &t
	}
}

// reconcileActiveJobs counts the requests with an unfinished job here.
func (r *DataSourceReconciler) reconcileActiveJobs(ctx context.Context, ds *privacyv1alpha1.DataSource) error {
	list := &privacyv1alpha1.PrivacyRequestList{}
	if err := r.List(ctx, list, client.MatchingFields{IndexRequestActiveSource: ds.Namespace + "/" + ds.Name}); err != nil {
		return fmt.Errorf("count active jobs: %w", err)
	}
	ds.Status.ActiveJobs = int32(len(list.Items))
	return nil
}

// reconcileCoverage reports the categories the DataSource holds that no
// RetentionPolicy covers: proof, per store of personal data, that a
// retention rule exists.
func (r *DataSourceReconciler) reconcileCoverage(ctx context.Context, ds *privacyv1alpha1.DataSource) error {
	list := &privacyv1alpha1.RetentionPolicyList{}
	if err := r.List(ctx, list); err != nil {
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
	uncoveredCategories.WithLabelValues(ds.Namespace, ds.Name).Set(float64(len(uncovered)))
	if len(uncovered) > 0 {
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionRetentionCovered, metav1.ConditionFalse,
			privacyv1alpha1.ReasonUncoveredCategories, "No RetentionPolicy covers: "+strings.Join(uncovered, ", ")+".")
	} else {
		conditions.Set(&ds.Status.Conditions, ds.Generation, privacyv1alpha1.ConditionRetentionCovered, metav1.ConditionTrue,
			privacyv1alpha1.ReasonAllCategoriesCovered, "Every declared category has a RetentionPolicy.")
	}
	return nil
}

func (r *DataSourceReconciler) checkURL(u *url.URL) error {
	if r.Guard == nil {
		return nil
	}
	return r.Guard.CheckURL(u)
}

// probeDue reports whether a probe should start now, and the record.
func (r *DataSourceReconciler) probeDue(key types.NamespacedName, generation int64, secretRV string, now time.Time) (probeRecord, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec, ok := r.probes[key]
	switch {
	case !ok:
		return rec, true
	case rec.at.IsZero():
		return rec, false // in flight
	case rec.generation != generation || rec.secretRV != secretRV:
		return rec, true
	default:
		return rec, !now.Before(rec.next)
	}
}

func (r *DataSourceReconciler) startProbe(key types.NamespacedName, generation int64, secretRV string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.probes == nil {
		r.probes = map[types.NamespacedName]probeRecord{}
	}
	r.probes[key] = probeRecord{generation: generation, secretRV: secretRV}
}

func (r *DataSourceReconciler) recordProbe(key types.NamespacedName, s *sourceScope) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := r.probes[key]
	rec.at = s.now
	period := r.ProbeInterval
	if !conditions.IsTrue(s.ds.Status.Conditions, privacyv1alpha1.ConditionReady) {
		// A failing endpoint is looked at again sooner.
		period /= 10
	}
	// Jitter spreads the probes of many DataSources over the period.
	rec.next = s.now.Add(period - time.Duration(rand.Int64N(int64(period)/10+1)))
	r.probes[key] = rec
	s.wake = rec.next
}

func (r *DataSourceReconciler) forget(key types.NamespacedName) {
	uncoveredCategories.DeleteLabelValues(key.Namespace, key.Name)
	r.mu.Lock()
	delete(r.probes, key)
	r.mu.Unlock()
	r.Dispatcher.Forget(dataSourceOwner(key))
}

// emitReadyTransition records an Event when Ready changes status or reason.
func (r *DataSourceReconciler) emitReadyTransition(before, after *privacyv1alpha1.DataSource) {
	if r.Recorder == nil {
		return
	}
	old := conditions.Get(before.Status.Conditions, privacyv1alpha1.ConditionReady)
	cur := conditions.Get(after.Status.Conditions, privacyv1alpha1.ConditionReady)
	if cur == nil || (old != nil && old.Status == cur.Status && old.Reason == cur.Reason) {
		return
	}
	eventType := corev1.EventTypeNormal
	if cur.Status == metav1.ConditionFalse {
		eventType = corev1.EventTypeWarning
	}
	r.Recorder.Eventf(after, nil, eventType, cur.Reason, "Probe", "Ready=%s: %s", cur.Status, cur.Message)
}

// SetupWithManager registers the reconciler. Secrets are watched as
// metadata only, so no Secret data is cached; they are read uncached when a
// DataSource needs its key.
func (r *DataSourceReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.ProbeInterval <= 0 {
		r.ProbeInterval = 5 * time.Minute
	}
	if r.Wakeups == nil {
		r.Wakeups = &Wakeups{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&privacyv1alpha1.DataSource{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}))).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.dataSourcesForSecret)).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(r.dataSourcesInNamespace)).
		Watches(&privacyv1alpha1.PrivacyRequest{}, handler.EnqueueRequestsFromMapFunc(dataSourcesOfRequest)).
		Watches(&privacyv1alpha1.RetentionPolicy{}, handler.EnqueueRequestsFromMapFunc(r.allDataSources)).
		WatchesRawSource(wakeSource(r.Wakeups, KindDataSource, func() *privacyv1alpha1.DataSource { return &privacyv1alpha1.DataSource{} })).
		Named("datasource").
		Complete(r)
}

func (r *DataSourceReconciler) dataSourcesForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace()), client.MatchingFields{IndexDataSourceSecret: obj.GetName()}); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// allDataSources re-checks retention coverage when a policy changes.
func (r *DataSourceReconciler) allDataSources(ctx context.Context, _ client.Object) []reconcile.Request {
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

func (r *DataSourceReconciler) dataSourcesInNamespace(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &privacyv1alpha1.DataSourceList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetName())); err != nil {
		return nil
	}
	return requestsFor(list.Items)
}

// dataSourcesOfRequest keeps activeJobs current: a request's change wakes
// the DataSources it targets.
func dataSourcesOfRequest(_ context.Context, obj client.Object) []reconcile.Request {
	pr, ok := obj.(*privacyv1alpha1.PrivacyRequest)
	if !ok {
		return nil
	}
	out := make([]reconcile.Request, 0, len(pr.Status.Sources))
	for _, s := range pr.Status.Sources {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: s.Namespace, Name: s.Name}})
	}
	return out
}

func requestsFor(items []privacyv1alpha1.DataSource) []reconcile.Request {
	out := make([]reconcile.Request, 0, len(items))
	for _, ds := range items {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ds.Namespace, Name: ds.Name}})
	}
	return out
}

func dataSourceOwner(key types.NamespacedName) dispatch.Owner {
	return dispatch.Owner{Kind: KindDataSource, NamespacedName: key}
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

func statusEqualIgnoringProbeTime(a, b *privacyv1alpha1.DataSourceStatus) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	a.LastProbeTime, b.LastProbeTime = nil, nil
	for i := range a.Conditions {
		a.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	for i := range b.Conditions {
		b.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	return apiequality.Semantic.DeepEqual(a, b)
}
