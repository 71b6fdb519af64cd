package amqp

import (
	"errors"
	"strings"
)

// Error is the AMQP error type carried by close, end, detach and the
// rejected outcome. It also implements the Go error interface, so a handler
// can return it from a callback to refuse with exactly this condition.
type Error struct {
	// Condition is the error condition, e.g. CondNotFound or a custom
	// symbol such as "com.microsoft:timeout". Mandatory on the wire.
	Condition Symbol
	// Description is human-readable text; empty means absent.
	Description string
	// Info carries extra information; nil means absent.
	Info map[Symbol]any
}

// Error formats the condition and description.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("amqp: ")
	b.WriteString(string(e.Condition))
	if e.Description != "" {
		b.WriteString(": ")
		b.WriteString(e.Description)
	}
	return b.String()
}

func (e *Error) encodeAMQP(enc *encoder) error {
	cond := e.Condition
	if cond == "" {
		cond = CondInternalError
	}
	l := enc.beginList(descError)
	if err := l.symbol(cond); err != nil {
		return err
	}
	if err := l.string(e.Description); err != nil {
		return err
	}
	if err := l.symbolMap(e.Info); err != nil {
		return err
	}
	return l.end()
}

func decodeError(f fields) (*Error, error) {
	var e Error
	var err error
	if e.Condition, err = f.symbol(0, "error.condition"); err != nil {
		return nil, err
	}
	if e.Condition == "" {
		return nil, errors.New("amqp: error without condition")
	}
	if e.Description, err = f.string(1, "error.description"); err != nil {
		return nil, err
	}
	if e.Info, err = f.symbolMap(2, "error.info"); err != nil {
		return nil, err
	}
	return &e, nil
}

// Error conditions defined by AMQP 1.0. Vendor conditions (for example
// "com.microsoft:server-busy") are plain Symbols.
const (
	// Generic conditions.
	CondInternalError         Symbol = "amqp:internal-error"
	CondNotFound              Symbol = "amqp:not-found"
	CondUnauthorizedAccess    Symbol = "amqp:unauthorized-access"
	CondDecodeError           Symbol = "amqp:decode-error"
	CondResourceLimitExceeded Symbol = "amqp:resource-limit-exceeded"
	CondNotAllowed            Symbol = "amqp:not-allowed"
	CondInvalidField          Symbol = "amqp:invalid-field"
	CondNotImplemented        Symbol = "amqp:not-implemented"
	CondResourceLocked        Symbol = "amqp:resource-locked"
	CondPreconditionFailed    Symbol = "amqp:precondition-failed"
	CondResourceDeleted       Symbol = "amqp:resource-deleted"
	CondIllegalState          Symbol = "amqp:illegal-state"
	CondFrameSizeTooSmall     Symbol = "amqp:frame-size-too-small"

	// Connection conditions.
	CondConnectionForced   Symbol = "amqp:connection:forced"
	CondFramingError       Symbol = "amqp:connection:framing-error"
	CondConnectionRedirect Symbol = "amqp:connection:redirect"

	// Session conditions.
	CondWindowViolation  Symbol = "amqp:session:window-violation"
	CondErrantLink       Symbol = "amqp:session:errant-link"
	CondHandleInUse      Symbol = "amqp:session:handle-in-use"
	CondUnattachedHandle Symbol = "amqp:session:unattached-handle"

	// Link conditions.
	CondDetachForced          Symbol = "amqp:link:detach-forced"
	CondTransferLimitExceeded Symbol = "amqp:link:transfer-limit-exceeded"
	CondMessageSizeExceeded   Symbol = "amqp:link:message-size-exceeded"
	CondLinkRedirect          Symbol = "amqp:link:redirect"
	CondStolen                Symbol = "amqp:link:stolen"
)

// Sentinel errors returned by the engine; match them with errors.Is.
var (
	// ErrConnClosed: the connection is closed or closing.
	ErrConnClosed = errors.New("amqp: connection closed")
	// ErrSessionEnded: the link's session has ended.
	ErrSessionEnded = errors.New("amqp: session ended")
	// ErrLinkClosed: the link is detached or detaching.
	ErrLinkClosed = errors.New("amqp: link closed")
	// ErrAlreadySettled: an outcome was already given for this delivery.
	ErrAlreadySettled = errors.New("amqp: delivery already settled")
	// ErrUnknownDelivery: no unsettled delivery with this tag on the link.
	ErrUnknownDelivery = errors.New("amqp: no unsettled delivery with this tag")
	// ErrDuplicateTag: an unsettled delivery with this tag is outstanding.
	ErrDuplicateTag = errors.New("amqp: delivery tag already in use by an unsettled delivery")
	// ErrNoCredit: TrySendPayload found no link credit.
	ErrNoCredit = errors.New("amqp: no link credit")
	// ErrMessageTooLarge: the payload exceeds the peer's max-message-size.
	ErrMessageTooLarge = errors.New("amqp: message exceeds the link's max-message-size")
	// ErrSettleMode: the settled flag contradicts the link's sender settle mode.
	ErrSettleMode = errors.New("amqp: settled flag not allowed by the link's sender settle mode")
	// ErrIdleTimeout: nothing arrived from the peer within the idle timeout.
	ErrIdleTimeout = errors.New("amqp: peer idle timeout expired")
	// ErrServerClosed: the serving context was cancelled.
	ErrServerClosed = errors.New("amqp: server shutting down")
)

// encodable reports whether p can be encoded. Handler-supplied content is
// checked before it is queued, so the connection writer never fails on it.
func encodable(p performative) error {
	e := encoder{}
	return p.encodeAMQP(&e)
}

// sanitizeError returns e, or a plain replacement when e (for example its
// Info map) cannot be encoded.
func sanitizeError(e *Error) *Error {
	if e == nil || encodable(&closeFrame{Error: e}) == nil {
		return e
	}
	cond := CondInternalError
	if e.Condition != "" && isASCII(string(e.Condition)) {
		cond = e.Condition
	}
	return &Error{Condition: cond, Description: "error details could not be encoded"}
}
