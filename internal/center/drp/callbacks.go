package drp

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
)

// Annotations of the status callbacks.
const (
	// AnnotationStatusCallback is the status_callback URL the agent gave.
	AnnotationStatusCallback = "privacyoperator.io/status-callback"
	// AnnotationCallbackSent is the last status the agent's callback
	// accepted: the record, on the request, of what the agent was told.
	AnnotationCallbackSent = "privacyoperator.io/callback-sent"
)

// Callbacks tells agents of their requests' status changes (section
// 2.03): a POST of the Exercise Status to the request's status_callback
// each time the status changes, until the agent answers 200, retried with
// the controller's backoff. Only the elected center replica sends.
type Callbacks struct {
	Client client.Client
	// HTTP sends the callbacks (a bounded timeout, no redirects).
	HTTP *http.Client
	// Describer tells the status as the status endpoint does.
	Describer Describer
}

// Reconcile sends pr's status to its agent when it changed since the last
// one the agent accepted.
func (c *Callbacks) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pr := &privacyv1alpha1.PrivacyRequest{}
	if err := c.Client.Get(ctx, req.NamespacedName, pr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	target := pr.Annotations[AnnotationStatusCallback]
	agentID := pr.Annotations[AnnotationAgent]
	if target == "" || agentID == "" {
		return ctrl.Result{}, nil
	}
	st := c.Describer.Status(pr)
	key := st.Status + "/" + st.Reason + "/" + st.ExpectedBy
	if pr.Annotations[AnnotationCallbackSent] == key {
		return ctrl.Result{}, nil
	}
	// The host must still be one the agent is trusted with.
	agents := &privacyv1alpha1.AuthorizedAgentList{}
	if err := c.Client.List(ctx, agents); err != nil {
		return ctrl.Result{}, err
	}
	u, err := url.Parse(target)
	allowed := false
	for _, a := range agents.Items {
		allowed = allowed || (a.Spec.AgentID == agentID && !a.Spec.Suspend && err == nil && u.Scheme == "https" && slices.Contains(a.Spec.CallbackHosts, u.Host))
	}
	if !allowed {
		ctrl.LoggerFrom(ctx).Info("status callback not sent: the host is not registered for the agent", "request", pr.Name, "agent", agentID)
		return ctrl.Result{}, nil
	}
	body, err := json.Marshal(st)
	if err != nil {
		return ctrl.Result{}, err
	}
	post, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return ctrl.Result{}, err
	}
	post.Header.Set("Content-Type", "application/json")
	resp, err := c.HTTP.Do(post)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("status callback of %s: %w", pr.Name, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ctrl.Result{}, fmt.Errorf("status callback of %s: the agent answered %s", pr.Name, resp.Status)
	}
	patch := client.MergeFrom(pr.DeepCopy())
	pr.Annotations[AnnotationCallbackSent] = key
	return ctrl.Result{}, c.Client.Patch(ctx, pr, patch)
}

// NewCallbackClient is the callbacks' HTTP client: bounded, no redirects
// (a redirect could lead the center to a host not registered).
func NewCallbackClient() *http.Client {
	return &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// SetupWithManager watches the requests agents filed with a callback.
func (c *Callbacks) SetupWithManager(mgr ctrl.Manager) error {
	withCallback := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetAnnotations()[AnnotationStatusCallback] != ""
	})
	return ctrl.NewControllerManagedBy(mgr).Named("drp-callbacks").
		For(&privacyv1alpha1.PrivacyRequest{}, builder.WithPredicates(withCallback)).
		Complete(c)
}
