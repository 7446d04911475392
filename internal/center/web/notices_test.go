package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/i18n"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
	"github.com/privacyoperator/privacy-operator/internal/center/notify"
)

// startNotifier runs the notices controller until the returned stop.
// deliverable tells the notifier the center hands exports over (the
// center's configuration has exports).
func startNotifier(t *testing.T, c *center, deliverable bool) (stop func()) {
	t.Helper()
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = privacyv1alpha1.AddToScheme(scheme)
	// A restart in the same process: the controller's name is taken.
	skip := true
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
		Controller: ctrlconfig.Controller{SkipNameValidation: &skip}})
	if err != nil {
		t.Fatal(err)
	}
	cat, err := i18n.Load()
	if err != nil {
		t.Fatal(err)
	}
	n := &notify.Notifier{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Ring: c.ring, Mailer: c.sender, Catalogs: cat,
		BaseURL: c.cfg.BaseURL, Company: c.cfg.Branding.CompanyName, StatusTTL: c.cfg.StatusTTL.Duration, Now: c.clock, Deliverable: deliverable}
	if err := n.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	return func() { cancel(); <-done }
}

// TestNotices: the person is told once that the request was received, once
// that it was extended, once that it was done, in their language, across
// a restart of the notifier; each notice recorded on the request.
func TestNotices(t *testing.T) {
	c := newCenter(t, nil)
	email := "notices@example.com"
	filed, _ := c.fileByLink(t, email, url.Values{"lang": {"de"}})
	name := filed.Name
	pr := request(t, name)
	if v := pr.Annotations[intake.AnnotationNotify]; v == "" || strings.Contains(v, "notices") {
		t.Fatalf("notice address annotation %q: want it sealed", v)
	}

	stop := startNotifier(t, c, false)
	received := awaitSubject(t, c, email, "Wir haben Ihre Datenschutzanfrage erhalten")
	if !strings.Contains(received.Text, c.cfg.BaseURL+"/status/") {
		t.Fatalf("received notice without a status link:\n%s", received.Text)
	}
	waitSent(t, name, "received")

	// Extended, then finished, as the desk and the operator write them.
	pr = request(t, name)
	pr.Spec.Extension = &privacyv1alpha1.Extension{Days: 30, Reason: "Several systems must be searched by hand."}
	if err := k8s.Update(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	extended := awaitSubject(t, c, email, "mehr Zeit")
	if !strings.Contains(extended.Text, "Several systems must be searched by hand.") {
		t.Fatalf("extension notice without its reason:\n%s", extended.Text)
	}
	waitSent(t, name, "received,extended")

	stop() // a restart: what was sent is on the object, not in memory
	pr = request(t, name)
	pr.Status.Phase = privacyv1alpha1.RequestPhaseCompleted
	pr.Status.Conditions = []metav1.Condition{{Type: privacyv1alpha1.ConditionReady, Status: metav1.ConditionTrue,
		Reason: privacyv1alpha1.ReasonCompleted, Message: "All 1 data sources finished.", LastTransitionTime: metav1.Now()}}
	if err := k8s.Status().Update(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	stop = startNotifier(t, c, false)
	defer stop()
	awaitSubject(t, c, email, "ist erledigt")
	waitSent(t, name, "received,extended,completed")
	if n := len(c.mailbox.To(t, email)); n != 4 {
		t.Fatalf("%d mails to the person, want 4 (verification, received, extended, completed): a notice was sent twice", n)
	}
}

func awaitSubject(t *testing.T, c *center, email, subject string) mailMessage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range c.mailbox.To(t, email) {
			if strings.Contains(m.Subject, subject) {
				full := c.mailbox.Message(t, m.ID)
				return mailMessage{Subject: full.Subject, Text: full.Text}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("no mail to %s with subject %q", email, subject)
	return mailMessage{}
}

type mailMessage struct{ Subject, Text string }

func waitSent(t *testing.T, name, want string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if request(t, name).Annotations[intake.AnnotationNoticesSent] == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("notices-sent of %s is %q, want %q", name, request(t, name).Annotations[intake.AnnotationNoticesSent], want)
}
