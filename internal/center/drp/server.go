package drp

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/time/rate"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/center/intake"
)

// Server serves the protocol's endpoints for one business.
type Server struct {
	// Client files and reads requests and records pairings, through the
	// API; Agents reads the AuthorizedAgents (the manager's cache).
	Client client.Client
	Agents client.Reader
	// BusinessID is this company's id in the DRP Service Directory.
	BusinessID string
	// APIBase is where the endpoints are served (discovery says so).
	APIBase string
	// SubjectNamespace, Requester and Suspend are how requests are filed,
	// as the privacy center files its own.
	SubjectNamespace, Requester string
	Suspend                     bool
	// Identities maps identity claims (email, phone_number, name, address) to the
	// identity types the data sources know; email is required.
	Identities map[string]string
	// SealAddress seals the person's e-mail as the privacy center's notice
	// address: the center tells them of the request (received, ready) and
	// hands an Access export over to them. Nil: no notices.
	SealAddress func(email string) (string, error)
	// Verify seals an agent's request whose e-mail the agent has not
	// verified into the privacy center's verification page
	// (user_verification_url); VerifyFor is how long that page works.
	// Nil: such requests are denied (insuf_verification).
	Verify    func(intake.Submission) (string, error)
	VerifyFor time.Duration
	// Describer tells requests' status (status, revoke, callbacks alike).
	Describer Describer
	Window    Window
	Log       logr.Logger
	Now       func() time.Time

	// apiReads bounds the token checks that miss the cache and ask the API.
	apiReads *rate.Limiter

	// limiters hold each agent's rate (spec.requestsPerHour), per replica.
	limiters sync.Map
}

// DefaultRequestsPerHour is an agent's rate when its spec gives none.
const DefaultRequestsPerHour = 1000

// allow reports whether agent a may file another request now.
func (s *Server) allow(a *privacyv1alpha1.AuthorizedAgent) bool {
	n := int(a.Spec.RequestsPerHour)
	if n <= 0 {
		n = DefaultRequestsPerHour
	}
	key := a.Spec.AgentID + "/" + strconv.Itoa(n)
	l, _ := s.limiters.LoadOrStore(key, rate.NewLimiter(rate.Every(time.Hour/time.Duration(n)), n))
	return l.(*rate.Limiter).AllowN(s.Now(), 1)
}

// Handler routes the endpoints.
func (s *Server) Handler() http.Handler {
	if s.Now == nil {
		s.Now = time.Now
	}
	if s.Window == (Window{}) {
		s.Window = DefaultWindow
	}
	if s.apiReads == nil {
		s.apiReads = rate.NewLimiter(5, 5)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/data-rights.json", s.discovery)
	mux.HandleFunc("POST /v1/agent/{agent}", s.pair)
	mux.HandleFunc("GET /v1/agent/{agent}", s.agentInfo)
	mux.HandleFunc("POST /v1/data-rights-request", s.exercise)
	mux.HandleFunc("POST /v1/data-rights-request/{$}", s.exercise)
	mux.HandleFunc("GET /v1/data-rights-request/{id}", s.status)
	mux.HandleFunc("DELETE /v1/data-rights-request/{id}", s.revoke)
	return mux
}

// rights are the exercises served, and the request types they become.
var rights = map[string]privacyv1alpha1.RequestType{
	"access":       privacyv1alpha1.RequestTypeAccess,
	"deletion":     privacyv1alpha1.RequestTypeDelete,
	"sale:opt-out": privacyv1alpha1.RequestTypeOptOut,
}

// discovery says what is served (the endpoint of DRP 0.8; 1.0 agents find
// it in the Service Directory, which this mirrors).
func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	actions := []string{"access", "deletion", "sale:opt-out"}
	verifications := []string{}
	for claim := range s.Identities {
		if claim == "email" || claim == "phone_number" || claim == "address" {
			verifications = append(verifications, claim)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": Version, "api_base": s.APIBase, "actions": actions,
		"supported_verifications": verifications, "business_id": s.BusinessID})
}

// agentByID is the registered, unsuspended agent with the id, or nil.
func (s *Server) agentByID(ctx context.Context, id string) (*privacyv1alpha1.AuthorizedAgent, error) {
	return s.agent(ctx, func(a *privacyv1alpha1.AuthorizedAgent) bool { return a.Spec.AgentID == id })
}

// agent is the unsuspended agent that match accepts, or nil. The cache may
// not show an agent registered or paired moments ago (an agent pairs and
// files at once; or it paired at another replica): on a miss the API is
// asked, at most a few times a second, so that wrong ids and tokens cost
// it little.
func (s *Server) agent(ctx context.Context, match func(*privacyv1alpha1.AuthorizedAgent) bool) (*privacyv1alpha1.AuthorizedAgent, error) {
	a, err := findAgent(ctx, s.Agents, match)
	if a != nil || err != nil || s.apiReads == nil || !s.apiReads.Allow() {
		return a, err
	}
	return findAgent(ctx, s.Client, match)
}

func findAgent(ctx context.Context, reader client.Reader, match func(*privacyv1alpha1.AuthorizedAgent) bool) (*privacyv1alpha1.AuthorizedAgent, error) {
	list := &privacyv1alpha1.AuthorizedAgentList{}
	if err := reader.List(ctx, list); err != nil {
		return nil, err
	}
	for i := range list.Items {
		if a := &list.Items[i]; !a.Spec.Suspend && match(a) {
			return a, nil
		}
	}
	return nil, nil
}

// bearer is the agent the request's bearer token was issued to, or nil.
func (s *Server) bearer(r *http.Request) (*privacyv1alpha1.AuthorizedAgent, error) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return nil, nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	want := []byte(hex.EncodeToString(sum[:]))
	return s.agent(r.Context(), func(a *privacyv1alpha1.AuthorizedAgent) bool {
		return a.Status.TokenSHA256 != "" && subtle.ConstantTimeCompare([]byte(a.Status.TokenSHA256), want) == 1
	})
}

// signed reads a signed body and checks it for agent a (steps 1 to 6 of
// section 3.07, the agent being the token's or the pairing URL's).
func (s *Server) signed(r *http.Request, a *privacyv1alpha1.AuthorizedAgent, envelope bool) (*Message, *Error) {
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err != nil {
		return nil, fail(http.StatusRequestEntityTooLarge, true, "the body is larger than %d bytes", maxBody)
	}
	key, err := base64.StdEncoding.DecodeString(a.Spec.VerifyKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return nil, fail(http.StatusForbidden, true, "the agent's registered key is not an Ed25519 key")
	}
	msg, ferr := Open(body, key)
	if ferr != nil {
		return nil, ferr
	}
	m, ferr := Decode(msg)
	if ferr != nil {
		return nil, ferr
	}
	// The signed JSON, not the body as sent: a replay re-encoded (other
	// padding, line breaks) is the same message.
	sum := sha256.Sum256(msg)
	m.Digest = hex.EncodeToString(sum[:])
	if !envelope {
		return m, nil
	}
	return m, s.Window.Check(m, a.Spec.AgentID, s.BusinessID, s.Now())
}

// pair sets up the pair-wise key (section 2.05): a message signed with the
// key registered for the URL's agent yields a new bearer token, of which
// only the hash is kept. Any failure is a 403 without a body.
func (s *Server) pair(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("agent")
	a, err := s.agentByID(r.Context(), id)
	if err != nil {
		s.internal(w, err, "read the agents")
		return
	}
	if a == nil {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	m, ferr := s.signed(r, a, true)
	if ferr == nil && (m.Exercise != "" || m.Reason != "" || m.Email != "") {
		ferr = fail(http.StatusForbidden, true, "a pairing message carries no request")
	}
	if ferr == nil && a.Status.PairingIssuedAt != nil && !m.IssuedAtTime().After(a.Status.PairingIssuedAt.Time) {
		// A replay (or an older message): the token stays the agent's.
		ferr = fail(http.StatusForbidden, true, "issued-at is not after the last pairing's")
	}
	if ferr != nil {
		s.Log.Info("pairing refused", "agent", id, "why", ferr.Message)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	token := base64.RawURLEncoding.EncodeToString(raw)
	sum := sha256.Sum256([]byte(token))
	// Optimistic: of two pairings at once, one wins; the other retries.
	patch := client.MergeFromWithOptions(a.DeepCopy(), client.MergeFromWithOptimisticLock{})
	now, issued := metav1.NewTime(s.Now()), metav1.NewTime(m.IssuedAtTime())
	a.Status.PairedAt, a.Status.PairingIssuedAt, a.Status.TokenSHA256 = &now, &issued, hex.EncodeToString(sum[:])
	if err := s.Client.Status().Patch(r.Context(), a, patch); err != nil {
		s.internal(w, err, "record the pairing")
		return
	}
	s.Log.Info("agent paired", "agent", id)
	writeJSON(w, http.StatusOK, map[string]string{"agent-id": id, "token": token})
}

// agentInfo answers an agent checking its token (section 2.06).
func (s *Server) agentInfo(w http.ResponseWriter, r *http.Request) {
	a, err := s.bearer(r)
	if err != nil {
		s.internal(w, err, "read the agents")
		return
	}
	if a == nil || a.Spec.AgentID != r.PathValue("agent") {
		writeError(w, fail(http.StatusForbidden, false, "the bearer token is not this agent's"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{})
}

func (s *Server) internal(w http.ResponseWriter, err error, step string) {
	s.Log.Error(err, "DRP request failed", "step", step)
	writeError(w, fail(http.StatusServiceUnavailable, false, "the service cannot answer now; try again later"))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) { writeJSON(w, e.Status, e) }
