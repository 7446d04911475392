package web

import (
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// statusView is what the person is told about their request: never a
// source's name or message, never another person's data.
type statusView struct {
	Type                               privacyv1alpha1.RequestType
	Received, ReceivedISO, Due, DueISO string
	State                              string // received, review, completed, held, refused, failed
	Bases                              []string
	// Kept: what legal holds kept and why, one line per basis.
	Kept      []string
	Extension string
	// Ready: the Access export can be downloaded until Expires; Gone:
	// its time is up.
	Ready, Gone         bool
	Expires, ExpiresISO string
}

const dateLayout = "2006-01-02"

// viewOf tells pr's state in the person's terms.
func viewOf(pr *privacyv1alpha1.PrivacyRequest) statusView {
	v := statusView{Type: pr.Spec.Type}
	received := pr.CreationTimestamp.Time
	if pr.Spec.ReceivedAt != nil {
		received = pr.Spec.ReceivedAt.Time
	}
	v.Received, v.ReceivedISO = received.UTC().Format(dateLayout), received.UTC().Format("2006-01-02T15:04:05Z")
	if pr.Status.DueAt != nil {
		v.Due, v.DueISO = pr.Status.DueAt.UTC().Format(dateLayout), pr.Status.DueAt.UTC().Format("2006-01-02T15:04:05Z")
	}
	if pr.Spec.Extension != nil {
		v.Extension = pr.Spec.Extension.Reason
	}
	v.State, v.Bases = intake.StateOf(pr)
	return v
}

// status shows the request its link names.
func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	opened, ok := s.open(w, r, r.PathValue("token"), intake.PurposeStatus)
	if !ok {
		return
	}
	pr := &privacyv1alpha1.PrivacyRequest{}
	if err := s.client.Get(r.Context(), client.ObjectKey{Name: string(opened.Payload)}, pr); err != nil {
		if apierrors.IsNotFound(err) {
			// Deleted after its TTL: the link no longer leads anywhere.
			s.message(w, r, http.StatusGone, "title.expired", "expired.body", true)
			return
		}
		s.fail(w, r, err, "read the request")
		return
	}
	p, _ := s.page(r, "title.status")
	p.Status = viewOf(pr)
	if p.Status.State == intake.StateHeld || p.Status.State == intake.StateRefused {
		p.Status.Kept = intake.Kept(pr, p.T)
	}
	if exp := pr.Status.Export; exp != nil && s.exports != nil && pr.Spec.Type == privacyv1alpha1.RequestTypeAccess {
		p.Status.Ready, p.Status.Gone = downloadable(pr, s.now()), !downloadable(pr, s.now())
		p.Status.Expires, p.Status.ExpiresISO = exp.ExpiresAt.UTC().Format(dateLayout), exp.ExpiresAt.UTC().Format(time.RFC3339)
		p.Token = r.PathValue("token")
	}
	s.render(w, r, http.StatusOK, "status", p)
}

func itoa(n int) string { return strconv.Itoa(n) }
