package amqpgw

import (
	"context"
	"errors"
	"fmt"

	"github.com/keyward/keyward/internal/amqp"
	"github.com/keyward/keyward/internal/servicebus"
)

// Service Bus error conditions (the com.microsoft vendor conditions the
// Azure SDKs map to their own error codes).
const (
	CondDeadLetter            amqp.Symbol = "com.microsoft:dead-letter"
	CondMessageLockLost       amqp.Symbol = "com.microsoft:message-lock-lost"
	CondSessionLockLost       amqp.Symbol = "com.microsoft:session-lock-lost"
	CondSessionCannotBeLocked amqp.Symbol = "com.microsoft:session-cannot-be-locked"
	CondTimeout               amqp.Symbol = "com.microsoft:timeout"
	CondServerBusy            amqp.Symbol = "com.microsoft:server-busy"
	CondEntityDisabled        amqp.Symbol = "com.microsoft:entity-disabled"
	CondArgumentError         amqp.Symbol = "com.microsoft:argument-error"
	CondMessageNotFound       amqp.Symbol = "com.microsoft:message-not-found"
	CondEntityAlreadyExists   amqp.Symbol = "com.microsoft:entity-already-exists"
	CondOperationCancelled    amqp.Symbol = "com.microsoft:operation-cancelled"
)

// Status codes of $management and $cbs replies (HTTP's, as Service Bus uses them).
const (
	statusOK                    int32 = 200
	statusAccepted              int32 = 202
	statusNoContent             int32 = 204
	statusBadRequest            int32 = 400
	statusUnauthorized          int32 = 401
	statusForbidden             int32 = 403
	statusNotFound              int32 = 404
	statusRequestTimeout        int32 = 408
	statusConflict              int32 = 409
	statusGone                  int32 = 410
	statusRequestEntityTooLarge int32 = 413
	statusInternalServerError   int32 = 500
	statusServiceUnavailable    int32 = 503
)

// errUnauthorized builds the error every refused authorization carries.
func errUnauthorized(format string, args ...any) *amqp.Error {
	return &amqp.Error{Condition: amqp.CondUnauthorizedAccess, Description: fmt.Sprintf(format, args...)}
}

// revokedDescription explains a revoked namespace to the client.
func revokedDescription(ns string) string {
	return fmt.Sprintf("namespace %q is unavailable: its encryption status is Revoked (no customer-managed key is usable); "+
		"no data was deleted, and the namespace works again once a key is usable", ns)
}

// mapError turns a broker error into the AMQP error condition a client
// sees (on a rejected delivery or a detach) and the status code of a
// $management reply.
func mapError(err error) (*amqp.Error, int32) {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return ae, statusForCondition(ae.Condition)
	}
	if errors.Is(err, context.Canceled) {
		return &amqp.Error{Condition: CondOperationCancelled, Description: "the operation was cancelled"}, statusInternalServerError
	}
	var se *servicebus.Error
	desc := "internal error"
	if errors.As(err, &se) {
		desc = se.Message
	}
	code := servicebus.CodeOf(err)
	cond := amqp.CondInternalError
	status := statusInternalServerError
	switch code {
	case servicebus.CodeEntityNotFound:
		cond, status = amqp.CondNotFound, statusNotFound
	case servicebus.CodeEntityAlreadyExists:
		cond, status = CondEntityAlreadyExists, statusConflict
	case servicebus.CodeQuotaExceeded:
		cond, status = amqp.CondResourceLimitExceeded, statusForbidden
	case servicebus.CodeMessageSizeExceeded:
		cond, status = amqp.CondMessageSizeExceeded, statusRequestEntityTooLarge
	case servicebus.CodeMessageLockLost:
		cond, status = CondMessageLockLost, statusGone
	case servicebus.CodeSessionLockLost:
		cond, status = CondSessionLockLost, statusGone
	case servicebus.CodeSessionCannotBeLocked:
		cond, status = CondSessionCannotBeLocked, statusConflict
	case servicebus.CodeEntityDisabled:
		cond, status = CondEntityDisabled, statusForbidden
	case servicebus.CodeInvalidOperation:
		cond, status = amqp.CondNotAllowed, statusBadRequest
	case servicebus.CodeBadRequest:
		cond, status = CondArgumentError, statusBadRequest
	case servicebus.CodeMessageNotFound:
		cond, status = CondMessageNotFound, statusNotFound
	case servicebus.CodeTimeout:
		cond, status = CondTimeout, statusRequestTimeout
	case servicebus.CodeRevoked:
		cond, status = CondEntityDisabled, statusForbidden
		if se != nil {
			desc = revokedDescription(namespaceOfRevoked(se))
		} else {
			desc = "the namespace's encryption status is Revoked: no customer-managed key is usable; no data was deleted"
		}
	case servicebus.CodeServiceUnavailable:
		cond, status = CondServerBusy, statusServiceUnavailable
	}
	if code == servicebus.CodeInternal && se == nil {
		desc = "internal error"
	}
	return &amqp.Error{Condition: cond, Description: desc}, status
}

// namespaceOfRevoked extracts the namespace name from a revocation error's
// message ("namespace \"x\"..."), or returns "the namespace".
func namespaceOfRevoked(e *servicebus.Error) string {
	var name string
	if _, err := fmt.Sscanf(e.Message, "namespace %q", &name); err == nil && name != "" {
		return name
	}
	return "the namespace"
}

// statusForCondition is the $management status code of an AMQP condition.
func statusForCondition(c amqp.Symbol) int32 {
	switch c {
	case amqp.CondUnauthorizedAccess:
		return statusUnauthorized
	case amqp.CondNotFound, CondMessageNotFound:
		return statusNotFound
	case CondMessageLockLost, CondSessionLockLost:
		return statusGone
	case CondTimeout:
		return statusRequestTimeout
	case CondServerBusy:
		return statusServiceUnavailable
	case CondEntityDisabled, amqp.CondResourceLimitExceeded:
		return statusForbidden
	case amqp.CondNotAllowed, CondArgumentError, amqp.CondDecodeError, amqp.CondInvalidField, amqp.CondNotImplemented:
		return statusBadRequest
	case CondSessionCannotBeLocked, CondEntityAlreadyExists:
		return statusConflict
	case amqp.CondMessageSizeExceeded:
		return statusRequestEntityTooLarge
	}
	return statusInternalServerError
}
