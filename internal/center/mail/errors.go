package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// StepConnect is Error.Step for a failure before the message was handed to
// the server: connecting, TLS, EHLO, STARTTLS or authentication.
const StepConnect = "connect"

// Error is a Send that failed. It holds nothing of the message.
type Error struct {
	// Addr is the server's host:port.
	Addr string
	// Step is StepConnect, or what was being done with the message (as
	// "sending SMTP RCPT TO command").
	Step string
	// Code is the server's SMTP reply code, 0 when there was none;
	// EnhancedCode its RFC 3463 code when the server gave one.
	Code         int
	EnhancedCode string
	// Temporary says whether a later attempt may succeed: a 4xx reply, a
	// timeout, an unreachable or closed connection.
	Temporary bool
	// cause is kept only for the connect step and for the end of the
	// context: at those points the message has not been handed over, so no
	// reply can quote it.
	cause error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "mail: via %s: %s failed", e.Addr, e.Step)
	if e.Code != 0 {
		fmt.Fprintf(&b, " (SMTP %d", e.Code)
		if e.EnhancedCode != "" {
			fmt.Fprintf(&b, " %s", e.EnhancedCode)
		}
		b.WriteString(")")
	}
	if e.Temporary {
		b.WriteString(", temporary")
	}
	if e.cause != nil {
		fmt.Fprintf(&b, ": %v", e.cause)
	}
	return b.String()
}

// Unwrap gives the cause where it is kept (see Error.cause), so that
// errors.Is finds context.DeadlineExceeded.
func (e *Error) Unwrap() error { return e.cause }

// sendError turns what go-mail returned into an *Error holding nothing of
// the message.
func (s *Sender) sendError(ctx context.Context, err error) error {
	e := &Error{Addr: s.Addr()}
	var se *gomail.SendError
	switch {
	case errors.As(err, &se):
		// Handed over: keep the step and the codes, never the reply text
		// nor the recipients, which go-mail's own message lists.
		e.Step, e.Code, e.EnhancedCode, e.Temporary = se.Reason.String(), se.ErrorCode(), se.EnhancedStatusCode(), se.IsTemp()
		if ctx.Err() != nil {
			e.Temporary, e.cause = true, ctx.Err()
		}
	default:
		e.Step, e.cause = StepConnect, err
		var tp *textproto.Error
		var ne net.Error
		switch {
		case errors.As(err, &tp):
			e.Code, e.Temporary = tp.Code, tp.Code/100 == 4
		case errors.As(err, &ne), ctx.Err() != nil:
			e.Temporary = true
		}
		if ctx.Err() != nil {
			e.cause = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
	}
	return e
}

// quitOnly tells whether err is only go-mail's report that QUIT failed after
// the message was accepted: the message is sent, and calling it a failure
// would make the caller send it again.
func quitOnly(err error) bool {
	var se *gomail.SendError
	return !errors.As(err, &se) && strings.HasPrefix(err.Error(), "failed to close connection")
}
