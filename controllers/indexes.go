package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/jobs"
)

// IndexRequestActiveSource indexes PrivacyRequests by the DataSources
// ("namespace/name") whose jobs are not finished yet, plus
// IndexValueAwaitingSources for requests that have not fixed their sources,
// so that a DataSource change wakes exactly the requests it concerns.
const IndexRequestActiveSource = "status.activeSources"

// IndexValueAwaitingSources marks requests that have not fixed their sources.
const IndexValueAwaitingSources = "*"

// RequestActiveSources is the extractor of IndexRequestActiveSource.
func RequestActiveSources(obj client.Object) []string {
	pr, ok := obj.(*privacyv1alpha1.PrivacyRequest)
	if !ok || requestFinished(pr) {
		return nil
	}
	if len(pr.Status.Sources) == 0 {
		return []string{IndexValueAwaitingSources}
	}
	var keys []string
	for _, s := range pr.Status.Sources {
		if !jobs.Finished(s.Phase) {
			keys = append(keys, s.Namespace+"/"+s.Name)
		}
	}
	return keys
}

// IndexRequestHeldBy indexes PrivacyRequests by the LegalHolds that kept
// them from a source (status.heldBy), for the holds' counts.
const IndexRequestHeldBy = "status.heldBy"

// RequestHeldBy is the extractor of IndexRequestHeldBy.
func RequestHeldBy(obj client.Object) []string {
	pr, ok := obj.(*privacyv1alpha1.PrivacyRequest)
	if !ok {
		return nil
	}
	return pr.Status.HeldBy
}

// IndexTaskRequest indexes PrivacyTasks by "Kind/name" of the request or
// policy they serve (names may be longer than a label value may be).
const IndexTaskRequest = "spec.request"

// TaskRequest is the extractor of IndexTaskRequest.
func TaskRequest(obj client.Object) []string {
	t, ok := obj.(*privacyv1alpha1.PrivacyTask)
	if !ok {
		return nil
	}
	return []string{t.Spec.Request.Kind + "/" + t.Spec.Request.Name}
}

// SetupIndexes registers the field indexes that the reconcilers use; the
// manager and the tests call it alike.
func SetupIndexes(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &privacyv1alpha1.PrivacyRequest{}, IndexRequestActiveSource, RequestActiveSources); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &privacyv1alpha1.PrivacyRequest{}, IndexRequestHeldBy, RequestHeldBy); err != nil {
		return err
	}
	if err := indexer.IndexField(ctx, &privacyv1alpha1.PrivacyTask{}, IndexTaskRequest, TaskRequest); err != nil {
		return err
	}
	return indexer.IndexField(ctx, &privacyv1alpha1.DataSource{}, IndexDataSourceSecret, DataSourceSecretName)
}
