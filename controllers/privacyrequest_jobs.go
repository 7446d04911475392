package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/log"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/conditions"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/internal/operator/export"
	"github.com/privacyoperator/privacy-operator/internal/operator/identity"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
	"github.com/privacyoperator/privacy-operator/internal/operator/legalhold"
	"github.com/privacyoperator/privacy-operator/internal/operator/receipt"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// requestJob is what a PrivacyRequest sends a source: the subject's
// identities, minimised to the types the source declared. A request whose
// subject cannot be read waits (the Secret may appear); one that has none
// of the source's identity types fails that source.
func (r *PrivacyRequestReconciler) requestJob(ctx context.Context, s *requestScope, e *jobs.Entry, ds *privacyv1alpha1.DataSource) (*protocol.Job, jobs.Change, bool) {
	ids, err := r.subjectIdentities(ctx, s)
	if errors.Is(err, errSubjectChanged) {
		return nil, s.pass.Fail(e, privacyv1alpha1.ReasonSubjectChanged, err.Error()), false
	}
	if err != nil {
		reason := privacyv1alpha1.ReasonSubjectError
		if errors.Is(err, identity.ErrSecretRefused) {
			reason = privacyv1alpha1.ReasonSubjectSecretRefused
		}
		return nil, s.pass.Hold(e, reason, err.Error()), false
	}
	if s.pr.Spec.Type == privacyv1alpha1.RequestTypeDelete {
		h, err := r.holdFor(ctx, s, ds)
		if err != nil {
			return nil, s.pass.Hold(e, privacyv1alpha1.ReasonLegalHold, "Checking the legal holds failed; retrying: "+err.Error()), false
		}
		if h != nil {
			return nil, s.pass.Withhold(e, h.Name, legalhold.Message(h)), false
		}
	}
	sent, missing := identity.Minimise(ids, ds.Spec.Identities)
	if len(sent) == 0 {
		return nil, s.pass.Fail(e, privacyv1alpha1.ReasonMissingIdentities,
			"The request has none of the identity types the source needs: "+strings.Join(missing, ", ")+"."), false
	}
	// Only a gap is worth a condition: "all present" would repeat itself
	// in every entry of every request.
	if len(missing) > 0 {
		conditions.Set(&e.Conditions, s.pr.Generation, privacyv1alpha1.SourceConditionIdentitiesComplete, metav1.ConditionFalse,
			privacyv1alpha1.ReasonMissingIdentities, "The request lacks identity types the source declared: "+strings.Join(missing, ", ")+".")
		e.MissingIdentities = missing
	} else {
		conditions.Remove(&e.Conditions, privacyv1alpha1.SourceConditionIdentitiesComplete)
		e.MissingIdentities = nil
	}
	return buildJob(s.pr, e.JobID, sent), jobs.Change{}, true
}

// holdFor is the active LegalHold that keeps a Delete request's job from
// ds, or nil, by the subject's fingerprints of this pass (s.fingerprints).
// The holds are read from the cache once per pass.
func (r *PrivacyRequestReconciler) holdFor(ctx context.Context, s *requestScope, ds *privacyv1alpha1.DataSource) (*privacyv1alpha1.LegalHold, error) {
	if s.holds == nil {
		holds, err := activeHolds(ctx, r.Client, s.now)
		if err != nil {
			return nil, err
		}
		s.holds = holds
	}
	if len(s.holds) == 0 {
		return nil, nil
	}
	set, err := namespaceLabels(ctx, r.Client, map[string]labels.Set{}, ds.Namespace)
	if err != nil {
		return nil, err
	}
	// Without the fingerprint key a hold on named people cannot be
	// matched: it holds every Delete it selects (fail closed).
	var fps []string
	known := r.Receipts != nil && len(r.Receipts.FingerprintKey) > 0 && s.fingerprints != nil
	for _, f := range s.fingerprints {
		fps = append(fps, f.Value)
	}
	return s.holds.ForDelete(ds, set, fps, known), nil
}

// deleteHeldNow is the LegalHold that covers a Delete job already under
// way at ds (jobPass.heldNow). The subject's fingerprints come from the
// subject fixed in status, so that a subject Secret deleted after the
// delivery does not blind the check; where they cannot be had at all, a
// hold that names people holds every Delete it selects (fail closed).
func (r *PrivacyRequestReconciler) deleteHeldNow(ctx context.Context, s *requestScope, ds *privacyv1alpha1.DataSource) (string, string, error) {
	if s.fingerprints == nil && r.Receipts != nil && len(r.Receipts.FingerprintKey) > 0 {
		if s.fingerprints = r.fixedFingerprints(s.pr); s.fingerprints == nil {
			_, _ = r.subjectIdentities(ctx, s)
		}
	}
	h, err := r.holdFor(ctx, s, ds)
	if err != nil || h == nil {
		return "", "", err
	}
	return h.Name, legalhold.UnderWayMessage(h), nil
}

// fixedFingerprints opens the fingerprints fixed in pr's status, when they
// were made with the operator's fingerprint key (nil otherwise).
func (r *PrivacyRequestReconciler) fixedFingerprints(pr *privacyv1alpha1.PrivacyRequest) []receipt.IdentityFingerprint {
	fixed := pr.Status.Subject
	if fixed == nil || r.Receipts == nil || fixed.FingerprintKeyID != receipt.FingerprintKeyID(r.Receipts.FingerprintKey) {
		return nil
	}
	fps, err := receipt.OpenFingerprints(r.Receipts.FingerprintKey, string(pr.UID), fixed.SealedFingerprints)
	if err != nil {
		return nil
	}
	return fps
}

// errSubjectChanged: the subject's identities are not those of the first
// delivery (a subject Secret was edited).
var errSubjectChanged = errors.New("the subject's identities are not those the request was first delivered with " +
	"(its Secret changed): the job is not sent, so that no other person's data is acted on under this request and its approval; " +
	"create a new request for the new identities")

// subjectIdentities resolves the subject once per pass. The first time it
// resolves, the subject is fixed in status (identity types and sealed
// fingerprints); later passes must resolve to the same fingerprints
// (errSubjectChanged otherwise).
func (r *PrivacyRequestReconciler) subjectIdentities(ctx context.Context, s *requestScope) (map[string]string, error) {
	if s.identities != nil || s.subjectErr != nil {
		return s.identities, s.subjectErr
	}
	s.identities, s.subjectErr = identity.Resolve(ctx, r.APIReader, r.Config.SubjectSecrets, s.pr.Spec.Subject)
	if s.subjectErr != nil || r.Receipts == nil || len(r.Receipts.FingerprintKey) == 0 {
		return s.identities, s.subjectErr
	}
	key := r.Receipts.FingerprintKey
	fps := r.Receipts.fingerprints(s.identities)
	keyID := receipt.FingerprintKeyID(key)
	switch fixed := s.pr.Status.Subject; {
	case fixed == nil || fixed.FingerprintKeyID != keyID:
		// First read, or fingerprints of a key the operator no longer has
		// (a deliberate key change): fixed (again) under this key.
		sealed, err := receipt.SealFingerprints(key, string(s.pr.UID), fps)
		if err != nil {
			s.identities, s.subjectErr = nil, fmt.Errorf("fix the subject: %w", err)
			return nil, s.subjectErr
		}
		types := make([]string, 0, len(fps))
		for _, f := range fps {
			types = append(types, f.Type)
		}
		s.pr.Status.Subject = &privacyv1alpha1.FixedSubject{
			IdentityTypes: types, FixedAt: metav1.NewTime(s.now), FingerprintKeyID: keyID, SealedFingerprints: sealed,
		}
	default:
		// A seal that does not open (changed by hand) counts as a changed
		// subject: nothing is sent on identities that cannot be checked.
		recorded, err := receipt.OpenFingerprints(key, string(s.pr.UID), fixed.SealedFingerprints)
		if err != nil || !slices.Equal(recorded, fps) {
			s.identities, s.subjectErr = nil, errSubjectChanged
			return nil, s.subjectErr
		}
	}
	s.fingerprints = fps
	return s.identities, s.subjectErr
}

// reconcileSubject fixes the subject while a request waits suspended for
// its approval, so that the identities a reviewer approved are the ones
// delivered (a Secret edited in between fails the jobs with
// SubjectChanged). A subject that cannot be read yet is read again at
// dispatch.
func (r *PrivacyRequestReconciler) reconcileSubject(ctx context.Context, s *requestScope) {
	if s.pr.Spec.Suspend && s.pr.Status.Subject == nil && r.Receipts != nil && len(r.Receipts.FingerprintKey) > 0 {
		_, _ = r.subjectIdentities(ctx, s)
	}
}

// fileAccessData files an Access answer's data as the source's part of the
// export: spooled data by AdoptPart, data kept in the outcome by a write.
// An answer that completed with records but sent no data is filed as
// null, as it was sent: the export must find a part for every source that
// completed with records, and fails without one (a part that was lost).
// The store call runs on the export desk, off the reconcile workers:
// pending until it ends.
func (r *PrivacyRequestReconciler) fileAccessData(s *requestScope, e *jobs.Entry, o dispatch.Outcome) (pending bool, err error) {
	pr := s.pr
	if pr.Spec.Type != privacyv1alpha1.RequestTypeAccess || r.Exports == nil {
		return false, nil
	}
	uid, part := string(pr.UID), export.PartName(e.Namespace, e.Name)
	res := o.Status.Result
	var file func(ctx context.Context) error
	key := uid + "/part/" + part + "/"
	switch {
	case o.DataFile != "":
		file, key = func(ctx context.Context) error { return r.Exports.AdoptPart(ctx, uid, part, o.DataFile) }, key+o.DataFile
	case res != nil && len(res.Data) > 0:
		data := res.Data
		file, key = func(ctx context.Context) error { return r.Exports.WritePart(ctx, uid, part, data) }, key+"data"
	case res != nil && res.Records > 0 && o.Status.Status == protocol.StatusCompleted:
		file, key = func(ctx context.Context) error { return r.Exports.WritePart(ctx, uid, part, []byte("null")) }, key+"null"
	default:
		return false, nil
	}
	_, err, pending = r.desk.do(pr.Name, key, func(ctx context.Context) (export.Ref, error) { return export.Ref{}, file(ctx) })
	if err != nil {
		return false, fmt.Errorf("store access data of %s/%s: %w", e.Namespace, e.Name, err)
	}
	return pending, nil
}

// writeExport assembles the export on the export desk, off the reconcile
// workers (pending until it ends), and records where it is.
func (r *PrivacyRequestReconciler) writeExport(ctx context.Context, s *requestScope) (pending bool, err error) {
	pr := s.pr
	// The store keeps the createdAt of an export it wrote before: a pass
	// from a stale view that assembles again (its Settle failed) writes
	// the same bytes, so the sha256 recorded in status stays true.
	m := export.Manifest{Request: pr.Name, UID: string(pr.UID), CreatedAt: s.now.UTC()}
	for _, src := range pr.Status.Sources {
		var records int64
		if src.Records != nil {
			records = *src.Records
		}
		m.Sources = append(m.Sources, export.Source{Namespace: src.Namespace, Name: src.Name, Status: string(src.Phase), Records: records})
	}
	if err := r.exportCover(ctx, m.Sources); err != nil {
		return false, err
	}
	ref, err, pending := r.desk.do(pr.Name, string(pr.UID)+"/assemble", func(ctx context.Context) (export.Ref, error) {
		return r.Exports.Assemble(ctx, m)
	})
	if err != nil {
		return false, fmt.Errorf("write access export: %w", err)
	}
	if pending {
		return true, nil
	}
	pr.Status.Export = &privacyv1alpha1.ExportReference{
		Location: ref.Location, SHA256: ref.SHA256, Bytes: ref.Bytes,
		ExpiresAt: metav1.NewTime(s.now.Add(r.Config.ExportTTL)),
	}
	s.event(corev1.EventTypeNormal, privacyv1alpha1.ReasonExportWritten, "Access export written (%d bytes), kept until %s",
		ref.Bytes, pr.Status.Export.ExpiresAt.UTC().Format(time.RFC3339))
	if st, ok := r.Exports.(export.Settler); ok {
		// Only once status holds the reference: a pass whose write fails
		// assembles the export again from the parts.
		uid, logger := string(pr.UID), log.FromContext(ctx)
		s.after = append(s.after, func() {
			r.desk.spawn(func(ctx context.Context) {
				if err := st.Settle(ctx, uid); err != nil {
					logger.Error(err, "drop the parts of a written export (they go with the export)")
				}
			})
		})
	}
	return false, nil
}

// JobID is the id of the job of request uid at a DataSource: stable across
// retries and restarts, so that sources can deduplicate by it.
func JobID(uid types.UID, namespace, name string) string {
	sum := sha256.Sum256([]byte(string(uid) + "/" + namespace + "/" + name))
	return "pr-" + hex.EncodeToString(sum[:16])
}

func buildJob(pr *privacyv1alpha1.PrivacyRequest, jobID string, identities map[string]string) *protocol.Job {
	due := pr.Status.DueAt.UTC()
	job := &protocol.Job{
		APIVersion: protocol.APIVersion,
		Kind:       protocol.KindJob,
		ID:         jobID,
		Type:       protocol.JobType(pr.Spec.Type),
		Request:    protocol.RequestRef{Kind: KindPrivacyRequest, Name: pr.Name, UID: string(pr.UID)},
		Subject:    &protocol.Subject{Identities: identities},
		Deadline:   &due,
	}
	switch pr.Spec.Type {
	case privacyv1alpha1.RequestTypeCorrect:
		for _, c := range pr.Spec.Corrections {
			job.Corrections = append(job.Corrections, protocol.Correction{Field: c.Field, Value: c.Value})
		}
	case privacyv1alpha1.RequestTypeOptOut:
		scopes := []string{privacyv1alpha1.DefaultOptOutScope}
		if pr.Spec.OptOut != nil && len(pr.Spec.OptOut.Scopes) > 0 {
			scopes = pr.Spec.OptOut.Scopes
		}
		job.OptOut = &protocol.OptOut{Scopes: scopes}
	}
	return job
}
