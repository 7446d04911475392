// Package notify tells people what happens to the requests they filed
// through the privacy center: received, extended, done (in whole, in part
// under a legal hold or an exemption) or not completed. Each notice is sent
// once per event: what was sent is recorded on the request itself
// (annotation notices-sent), and only the elected leader among the center's
// replicas sends.
package notify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/i18n"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/center/mail"
	"github.com/privacyoperator/privacy-operator/internal/center/seal"
)

// Mailer sends one message.
type Mailer interface {
	Send(ctx context.Context, m mail.Message) (string, error)
}

// Notifier is the reconciler that sends the notices.
type Notifier struct {
	Client client.Client
	// Reader reads the request from the API before a notice goes out: the
	// cache may not show yet the record of a notice just sent, and a
	// notice must not go twice.
	Reader   client.Reader
	Ring     *seal.Ring
	Mailer   Mailer
	Catalogs *i18n.Catalogs
	// BaseURL starts the status link; Company names the sender in texts.
	BaseURL, Company string
	// StatusTTL is how long the status link in a notice works.
	StatusTTL time.Duration
	// Deliverable: the center hands Access exports over (its exports
	// store is configured), so a finished Access request with an export
	// is told "your data is ready".
	Deliverable bool
	Now         func() time.Time
}

// Notices, in the order a request reaches them.
const (
	NoticeReceived = "received"
	NoticeExtended = "extended"
	// NoticeReady: an Access request's export can be downloaded.
	NoticeReady = "ready"
)

// due lists the notices pr has reached: received at once, extended when
// an extension is recorded, and one of completed, held, refused or failed
// when it finished. A finished Access request with an export is told
// "your data is ready" instead of completed (after held or refused, which
// carry what was kept and why).
func due(pr *privacyv1alpha1.PrivacyRequest, deliverable bool) []string {
	out := []string{NoticeReceived}
	if pr.Spec.Extension != nil {
		out = append(out, NoticeExtended)
	}
	state, _ := intake.StateOf(pr)
	if state == intake.StateReceived || state == intake.StateReview {
		return out
	}
	ready := deliverable && pr.Spec.Type == privacyv1alpha1.RequestTypeAccess && pr.Status.Export != nil && state != intake.StateFailed
	if state != intake.StateCompleted || !ready {
		out = append(out, state)
	}
	if ready {
		out = append(out, NoticeReady)
	}
	return out
}

func sent(pr *privacyv1alpha1.PrivacyRequest) []string {
	v := pr.Annotations[intake.AnnotationNoticesSent]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// Reconcile sends the notices pr has reached and not yet been sent, each
// recorded on the request as soon as the mail server took it.
func (n *Notifier) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := logr.FromContextOrDiscard(ctx)
	pr := &privacyv1alpha1.PrivacyRequest{}
	if err := n.Client.Get(ctx, req.NamespacedName, pr); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	sealed := pr.Annotations[intake.AnnotationNotify]
	if pr.Annotations[privacyv1alpha1.AnnotationChannel] != intake.Channel || sealed == "" || !pr.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	done := sent(pr)
	var todo []string
	for _, notice := range due(pr, n.Deliverable) {
		if !slices.Contains(done, notice) {
			todo = append(todo, notice)
		}
	}
	if len(todo) == 0 {
		return ctrl.Result{}, nil
	}
	if n.Reader != nil {
		if err := n.Reader.Get(ctx, req.NamespacedName, pr); err != nil {
			return ctrl.Result{}, client.IgnoreNotFound(err)
		}
		done, todo = sent(pr), nil
		for _, notice := range due(pr, n.Deliverable) {
			if !slices.Contains(done, notice) {
				todo = append(todo, notice)
			}
		}
		if len(todo) == 0 {
			return ctrl.Result{}, nil
		}
	}
	to, err := intake.AddressOf(n.Ring, pr, n.Now())
	if err != nil {
		// A key removed too early, or the address's time is up: nothing
		// can be sent; say so once per pass, without the address.
		log.Error(err, "cannot open the notice address", "request", pr.Name)
		return ctrl.Result{}, nil
	}
	for _, notice := range todo {
		msg, err := n.compose(pr, notice, to)
		if err != nil {
			return ctrl.Result{}, err
		}
		if _, err := n.Mailer.Send(ctx, msg); err != nil {
			return ctrl.Result{}, fmt.Errorf("send the %s notice of %s: %w", notice, pr.Name, err)
		}
		// Recorded at once: a crash before this line sends the notice again
		// (the one window; docs/privacy-center.md). A merge patch of our own
		// annotation, without a resourceVersion: the leader is its only
		// writer, and a conflict with the operator's writes must not make
		// a notice that went out look unsent.
		patch := client.MergeFrom(pr.DeepCopy())
		done = append(done, notice)
		pr.Annotations[intake.AnnotationNoticesSent] = strings.Join(done, ",")
		if err := n.Client.Patch(ctx, pr, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("record the %s notice of %s: %w", notice, pr.Name, err)
		}
		log.Info("notice sent", "request", pr.Name, "notice", notice)
	}
	return ctrl.Result{}, nil
}

// compose writes notice in the person's language.
func (n *Notifier) compose(pr *privacyv1alpha1.PrivacyRequest, notice string, to intake.Address) (mail.Message, error) {
	t := n.Catalogs.Printer(n.Catalogs.Tag(to.Lang))
	status, err := n.Ring.Seal([]byte(pr.Name), intake.PurposeStatus, n.StatusTTL)
	if err != nil {
		return mail.Message{}, err
	}
	state, bases := intake.StateOf(pr)
	args := []string{
		"company", n.Company, "type", t("type." + string(pr.Spec.Type)),
		"link", strings.TrimSuffix(n.BaseURL, "/") + "/status/" + status + "?lang=" + to.Lang,
		"due", date(pr.Status.DueAt), "received", receivedOf(pr), "bases", "- " + strings.Join(bases, "\n- "),
		"kept", keptLines(pr, t),
	}
	if pr.Spec.Extension != nil {
		args = append(args, "reason", pr.Spec.Extension.Reason)
	}
	if exp := pr.Status.Export; exp != nil {
		args = append(args, "expires", date(&exp.ExpiresAt))
	}
	text := t("mail."+notice+".text", args...)
	if notice == NoticeReceived && state == intake.StateReview {
		text += "\n\n" + t("mail.review.text", args...)
	}
	if notice == intake.StateRefused && len(pr.Status.Kept) > 0 {
		// Refused in part and held in part: the holds are told too.
		text += "\n\n" + t("kept.title") + "\n" + keptLines(pr, t)
	}
	return mail.Message{
		To: to.Email, Subject: t("mail."+notice+".subject", args...), Text: text,
		// A stable id: a notice sent again after a crash is the same
		// message to mail systems that deduplicate.
		MessageID: fmt.Sprintf("%s.%s.%s@privacy-center", pr.UID, notice, "v1"),
	}, nil
}

func date(t *metav1.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}

func receivedOf(pr *privacyv1alpha1.PrivacyRequest) string {
	if pr.Spec.ReceivedAt != nil {
		return pr.Spec.ReceivedAt.UTC().Format("2006-01-02")
	}
	return pr.CreationTimestamp.UTC().Format("2006-01-02")
}

// SetupWithManager watches the center's own requests.
func (n *Notifier) SetupWithManager(mgr ctrl.Manager) error {
	ours := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetAnnotations()[privacyv1alpha1.AnnotationChannel] == intake.Channel
	})
	return ctrl.NewControllerManagedBy(mgr).Named("notices").
		For(&privacyv1alpha1.PrivacyRequest{}, builder.WithPredicates(ours)).
		Complete(n)
}

// keptLines lists what legal holds kept, one "- " line each; the law in
// general when the request records nothing more precise.
func keptLines(pr *privacyv1alpha1.PrivacyRequest, t i18n.Printer) string {
	lines := intake.Kept(pr, t)
	if len(lines) == 0 {
		lines = []string{t("kept.law")}
	}
	return "- " + strings.Join(lines, "\n- ")
}
