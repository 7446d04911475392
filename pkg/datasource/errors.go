package datasource

import (
	"errors"
	"time"
)

type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

// Permanent marks a failure that retrying cannot fix, such as a correction
// of a field the service does not have. The operator fails this source for
// the request and shows msg to people: never put personal data in it.
func Permanent(msg string) error { return &permanentError{msg: msg} }

type refusedError struct{ exemption, msg string }

func (e *refusedError) Error() string { return "refused under " + e.exemption + ": " + e.msg }

// Refuse declines a job because an exemption the law allows applies: the
// data must be kept to complete a transaction, for a legal obligation, for
// a legal claim. exemption names the basis briefly ("CCPA 1798.105(d)(8)",
// "GDPR Art. 17(3)(b)", at most 256 bytes); msg may say more. The source
// answers status Refused: the request completes with this source listed as
// refused and its basis told to the person. A refusal is not a failure:
// return Permanent for a job that could not be done. Neither may carry
// personal data.
func Refuse(exemption, msg string) error { return &refusedError{exemption: exemption, msg: msg} }

type unavailableError struct {
	err   error
	after time.Duration
}

func (e *unavailableError) Error() string { return e.err.Error() }
func (e *unavailableError) Unwrap() error { return e.err }

// Unavailable marks a passing outage (a database down, a lock held): the
// handler answers 503 with Retry-After and the operator retries after about
// that long.
func Unavailable(err error, retryAfter time.Duration) error {
	if err == nil {
		err = errors.New("service unavailable")
	}
	return &unavailableError{err: err, after: retryAfter}
}

// IsPermanent reports whether err was made with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// IsUnavailable reports whether err was made with Unavailable.
func IsUnavailable(err error) bool {
	var u *unavailableError
	return errors.As(err, &u)
}
