package dispatch

// How an exchange's answer, or its failure, becomes an Outcome.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/netguard"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// unsignedMessage names exactly what was wrong with an answer's signature:
// an implementer reads it in the DataSource's Ready condition or the
// request's source status.
func unsignedMessage(w Work, method, path string, code int, err error) string {
	what := "the answer to " + method + " " + path
	if w.JobID != "" && w.Op != OpProbe {
		what = fmt.Sprintf("the answer to job %s (%s %s)", w.JobID, method, path)
	}
	switch {
	case errors.Is(err, protocol.ErrMissingHeaders):
		return fmt.Sprintf("%s (HTTP %d) was not signed: every answer, errors such as 422 and 503 included, needs webhook-id, webhook-timestamp and webhook-signature", what, code)
	case errors.Is(err, protocol.ErrStale), errors.Is(err, protocol.ErrBadTimestamp):
		return fmt.Sprintf("%s (HTTP %d) has a webhook-timestamp more than 5 minutes from the operator's clock", what, code)
	default:
		return fmt.Sprintf("%s (HTTP %d) has no signature that matches the signing secret over %q + the request's webhook-id + the body (see docs/protocol.md, Signing)", what, code, method+" "+path)
	}
}

// classifyProbe reads a capabilities answer. A document without the
// requestTypes field is named as such: it is the mistake implementers make.
func classifyProbe(code int, answer []byte) Outcome {
	if code != http.StatusOK {
		return Outcome{Result: ResultRetry, Reason: privacyv1alpha1.ReasonEndpointUnreachable, Message: fmt.Sprintf("capabilities answered %d: %s", code, errorText(answer))}
	}
	fields := map[string]json.RawMessage{}
	caps := &protocol.Capabilities{}
	if err := json.Unmarshal(answer, &fields); err != nil || json.Unmarshal(answer, caps) != nil {
		return Outcome{Result: ResultRetry, Reason: privacyv1alpha1.ReasonCapabilitiesMismatch, Message: "capabilities answer is not a JSON Capabilities document"}
	}
	for _, field := range []string{"requestTypes", "identities"} {
		if _, ok := fields[field]; !ok {
			return Outcome{Result: ResultRetry, Reason: privacyv1alpha1.ReasonCapabilitiesMismatch,
				Message: fmt.Sprintf("capabilities answer has no %q field (found: %s)", field, strings.Join(sortedKeys(fields), ", "))}
		}
	}
	return Outcome{Result: ResultFinal, Capabilities: caps}
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func classify(w Work, code int, header http.Header, answer []byte, now time.Time, spool Spool) Outcome {
	switch {
	case code == http.StatusOK:
		st, file, err := DecodeStatus(answer, w.JobID, spool)
		if err != nil {
			return Outcome{Result: ResultRetry, Message: fmt.Sprintf("the 200 answer to job %s is not a JobStatus with that id", w.JobID)}
		}
		if st.Status.Final() {
			return Outcome{Result: ResultFinal, Status: st, DataFile: file}
		}
		if w.Op == OpPoll {
			return Outcome{Result: ResultRunning}
		}
		return Outcome{Result: ResultAccepted}
	case code == http.StatusAccepted || (code == http.StatusConflict && w.Op == OpDeliver):
		if id, ok := answerJobID(answer); ok && id != w.JobID {
			return Outcome{Result: ResultRetry, Message: fmt.Sprintf("the %d answer to job %s names job %s", code, w.JobID, id)}
		}
		if w.Op == OpPoll {
			return Outcome{Result: ResultRunning}
		}
		return Outcome{Result: ResultAccepted}
	case code == http.StatusNotFound && w.Op == OpPoll:
		return Outcome{Result: ResultUnknown}
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return Outcome{Result: ResultRetry, RetryAfter: RetryAfter(header, now), Message: fmt.Sprintf("source answered %d: %s", code, errorText(answer))}
	case code >= 400 && code < 500:
		return Outcome{Result: ResultPermanent, Message: fmt.Sprintf("source refused the job (%d): %s", code, errorText(answer))}
	default:
		return Outcome{Result: ResultRetry, Message: fmt.Sprintf("source answered %d: %s", code, errorText(answer))}
	}
}

// answerJobID is the id of a JobStatus body, when the body is one.
func answerJobID(answer []byte) (string, bool) {
	var st struct {
		ID *string `json:"id"`
	}
	if len(answer) == 0 || json.Unmarshal(answer, &st) != nil || st.ID == nil {
		return "", false
	}
	return *st.ID, true
}

// errorText is the error message of a protocol.Error body, shortened. A
// body whose error is not a string (such as {"error": {"message": ...}}) is
// shown as it is, with a note on the documented form.
func errorText(answer []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	msg := strings.TrimSpace(string(answer))
	if json.Unmarshal(answer, &e) == nil && len(e.Error) > 0 {
		var text string
		if json.Unmarshal(e.Error, &text) == nil {
			msg = text
		} else {
			msg = `(the error body should be {"error": "text"}, with a string) ` + msg
		}
	}
	if len(msg) > 256 {
		msg = msg[:256] + "..."
	}
	if msg == "" {
		msg = "(no message)"
	}
	return msg
}

type tlsError struct{ error }

// describe turns a transport error into a reason and a coarse message for
// status; the details go to the debug log only, so that the messages a
// DataSource's author reads cannot map ports of hosts the operator reaches.
func (c *Client) describe(w Work, err error) (string, string) {
	reason, msg := classifyTransport(err)
	c.opts.Log.V(1).Info("exchange failed", "source", w.Target.Source.String(), "op", string(w.Op), "job", w.JobID, "reason", reason, "error", err.Error())
	return reason, msg
}

func classifyTransport(err error) (string, string) {
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var tErr tlsError
	switch {
	case errors.Is(err, netguard.ErrNotAllowed):
		return privacyv1alpha1.ReasonEndpointNotAllowed, err.Error()
	case errors.Is(err, ErrBudget):
		return privacyv1alpha1.ReasonEndpointUnreachable, "the operator is busy reading other large answers"
	case errors.Is(err, ErrTooLarge):
		return privacyv1alpha1.ReasonResultTooLarge, "answer too large"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT):
		return privacyv1alpha1.ReasonEndpointUnreachable, "timed out"
	case errors.Is(err, syscall.ECONNREFUSED):
		return privacyv1alpha1.ReasonEndpointUnreachable, "connection refused"
	case errors.As(err, &certErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr), errors.As(err, &recordErr), errors.As(err, &tErr):
		return privacyv1alpha1.ReasonTLSError, "TLS verification failed (check spec.endpoint.caBundle and the certificate's names)"
	default:
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return privacyv1alpha1.ReasonEndpointUnreachable, "timed out"
		}
		return privacyv1alpha1.ReasonEndpointUnreachable, "could not complete an HTTP exchange with the endpoint"
	}
}
