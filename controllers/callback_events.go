package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// CallbackRejectedEvents returns the callback listener's Rejected hook: it
// records a Warning Event on the DataSource whose job got a refused
// callback, so its owners see forged or misconfigured callbacks.
func CallbackRejectedEvents(reader client.Reader, recorder events.EventRecorder) func(types.NamespacedName, string) {
	return func(source types.NamespacedName, message string) {
		ds := &privacyv1alpha1.DataSource{}
		if err := reader.Get(context.Background(), source, ds); err != nil {
			return
		}
		recorder.Eventf(ds, nil, corev1.EventTypeWarning, privacyv1alpha1.ReasonCallbackRejected, privacyv1alpha1.ReasonCallbackRejected, "%s", message)
	}
}
