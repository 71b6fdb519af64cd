package servicebus

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Code is a Service Bus error code. The transports map it to their own
// conditions (AMQP error conditions, ATOM/REST status codes and error bodies).
type Code string

// Error codes, named as Service Bus names its exceptions and error codes.
const (
	// CodeEntityNotFound: the queue, topic, subscription, rule or namespace does not exist.
	CodeEntityNotFound Code = "MessagingEntityNotFound"
	// CodeEntityAlreadyExists: an entity with that name already exists.
	CodeEntityAlreadyExists Code = "MessagingEntityAlreadyExists"
	// CodeQuotaExceeded: an entity, namespace or size quota would be exceeded.
	CodeQuotaExceeded Code = "QuotaExceeded"
	// CodeMessageSizeExceeded: a message or batch is larger than the entity allows.
	CodeMessageSizeExceeded Code = "MessageSizeExceeded"
	// CodeMessageLockLost: the lock token is unknown, expired or already settled.
	CodeMessageLockLost Code = "MessageLockLost"
	// CodeSessionLockLost: the session lock expired or was released.
	CodeSessionLockLost Code = "SessionLockLost"
	// CodeSessionCannotBeLocked: the session is locked by another receiver.
	CodeSessionCannotBeLocked Code = "SessionCannotBeLocked"
	// CodeEntityDisabled: the entity's status forbids the operation.
	CodeEntityDisabled Code = "MessagingEntityDisabled"
	// CodeInvalidOperation: the operation is not valid in the entity's or message's state.
	CodeInvalidOperation Code = "InvalidOperation"
	// CodeBadRequest: an argument is invalid (names, property values, filters).
	CodeBadRequest Code = "BadRequest"
	// CodeMessageNotFound: no message has the requested sequence number.
	CodeMessageNotFound Code = "MessageNotFound"
	// CodeTimeout: no session became available within the wait.
	CodeTimeout Code = "Timeout"
	// CodeRevoked: every customer key of the namespace is unusable; its data
	// is kept but cannot be read or written until a key is usable again.
	CodeRevoked Code = "Revoked"
	// CodeServiceUnavailable: a transient failure (key source unreachable, broker closing).
	CodeServiceUnavailable Code = "ServiceUnavailable"
	// CodeInternal: an unexpected failure (storage error, corrupt record).
	CodeInternal Code = "InternalError"
)

// ErrRevoked is returned (wrapped in an *Error with CodeRevoked) by every
// operation on a namespace whose encryption status is Revoked. KeySource
// implementations wrap it when no customer key is usable.
var ErrRevoked = errors.New("namespace encryption status is Revoked: no customer-managed key is usable")

// errClosed is returned after Broker.Close.
var errClosed = errors.New("broker closed")

// Error is the error type of every operation of this package.
type Error struct {
	Code    Code   // Service Bus error code
	Message string // human-readable description, never secret
	Err     error  // underlying cause, if any
}

// Error formats the code, message and cause.
func (e *Error) Error() string {
	s := "servicebus: " + string(e.Code) + ": " + e.Message
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the Code of err: the code of the first *Error in its chain,
// CodeRevoked for ErrRevoked, CodeTimeout for context deadline errors and
// CodeInternal otherwise; "" for a nil error.
func CodeOf(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	switch {
	case errors.Is(err, ErrRevoked):
		return CodeRevoked
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	}
	return CodeInternal
}

func newErr(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func revokedErr(ns string) *Error {
	return &Error{Code: CodeRevoked, Message: fmt.Sprintf("namespace %q", ns), Err: ErrRevoked}
}

// internalErr wraps a storage or codec failure. A destroyed data key (the
// key source dropped it on revocation) reads as a revocation.
func internalErr(ns, what string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, seal.ErrDestroyed) || errors.Is(err, ErrRevoked) {
		return &Error{Code: CodeRevoked, Message: fmt.Sprintf("namespace %q: %s", ns, what), Err: ErrRevoked}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, store.ErrClosed) {
		return &Error{Code: CodeServiceUnavailable, Message: fmt.Sprintf("namespace %q: %s", ns, what), Err: err}
	}
	return &Error{Code: CodeInternal, Message: fmt.Sprintf("namespace %q: %s", ns, what), Err: err}
}

func notFound(kind, name string) *Error {
	return newErr(CodeEntityNotFound, "%s %q does not exist", kind, name)
}
