package atomhttp

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/httpx"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/sqlfilter"
)

// apiError is an error answer: an HTTP status and Service Bus's error name
// and message. Both APIs write it as <Error><Code>status</Code><Detail>…</Detail></Error>.
type apiError struct {
	Status  int
	Code    string // Service Bus error name (MessagingEntityNotFound, …)
	Message string
	// RetryAfter, when set, is sent as a Retry-After header (seconds).
	RetryAfter int
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message)
}

func errorf(status int, code, format string, args ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Service Bus error names used by this package beyond the broker's codes.
const (
	codeUnauthorized        = "Unauthorized"
	codeBadRequest          = "BadRequest"
	codeNotFound            = "NotFound"
	codeMethodNotAllowed    = "MethodNotAllowed"
	codeNamespaceNotFound   = "NamespaceNotFound"
	codeRevoked             = "CustomerManagedKeyRevoked"
	codeInternal            = "InternalServerError"
	codeRequestTimedOut     = "RequestTimeout"
	codeSupplementaryDenied = "SupplementaryAuthorizationRequired"
)

// revokedMessage is the text of every refusal of a revoked namespace.
func revokedMessage(ns string) string {
	return fmt.Sprintf("The namespace '%s' cannot be used: every customer-managed key of its encryption is revoked (disabled, deleted, expired or no longer accessible to the namespace's identity), so its data can be neither read nor written. Nothing was deleted: restore access to a key in the key vault and the namespace becomes Active again with all its messages.", ns)
}

// fromBroker maps an error of package servicebus to an API error.
func fromBroker(ns string, err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	if errors.Is(err, context.Canceled) {
		return errorf(499, "ClientClosedRequest", "The request was cancelled.")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errorf(http.StatusRequestTimeout, codeRequestTimedOut, "The operation did not complete in time.")
	}
	code := servicebus.CodeOf(err)
	msg := brokerMessage(err)
	switch code {
	case servicebus.CodeEntityNotFound:
		return &apiError{Status: http.StatusNotFound, Code: string(code), Message: msg}
	case servicebus.CodeEntityAlreadyExists:
		return &apiError{Status: http.StatusConflict, Code: string(code), Message: msg}
	case servicebus.CodeQuotaExceeded:
		return &apiError{Status: http.StatusForbidden, Code: string(code), Message: msg}
	case servicebus.CodeMessageSizeExceeded:
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: string(code), Message: msg}
	case servicebus.CodeMessageLockLost, servicebus.CodeSessionLockLost:
		return &apiError{Status: http.StatusGone, Code: string(code), Message: msg}
	case servicebus.CodeSessionCannotBeLocked:
		return &apiError{Status: http.StatusConflict, Code: string(code), Message: msg}
	case servicebus.CodeEntityDisabled:
		return &apiError{Status: http.StatusForbidden, Code: string(code), Message: msg}
	case servicebus.CodeInvalidOperation, servicebus.CodeBadRequest:
		return &apiError{Status: http.StatusBadRequest, Code: string(code), Message: msg}
	case servicebus.CodeMessageNotFound:
		return &apiError{Status: http.StatusNotFound, Code: string(code), Message: msg}
	case servicebus.CodeTimeout:
		return &apiError{Status: http.StatusRequestTimeout, Code: string(code), Message: msg}
	case servicebus.CodeRevoked:
		return &apiError{Status: http.StatusForbidden, Code: codeRevoked, Message: revokedMessage(ns)}
	case servicebus.CodeServiceUnavailable:
		return &apiError{Status: http.StatusServiceUnavailable, Code: string(code), Message: "The namespace is not available right now (its data key could not be obtained or the service is stopping); try again later.", RetryAfter: 1}
	}
	return &apiError{Status: http.StatusInternalServerError, Code: codeInternal, Message: "The server failed to process the request."}
}

// brokerMessage renders a broker error for a client: its message, and for
// an invalid SQL filter or action the position of the error.
func brokerMessage(err error) string {
	var se *sqlfilter.SyntaxError
	var be *servicebus.Error
	msg := err.Error()
	if errors.As(err, &be) {
		msg = be.Message
	}
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: syntax error at line %d, column %d (offset %d): %s.", msg, se.Line, se.Column, se.Pos, se.Msg)
	}
	var ee *sqlfilter.EvalError
	if errors.As(err, &ee) {
		return fmt.Sprintf("%s: error at offset %d: %s.", msg, ee.Pos, ee.Msg)
	}
	if be != nil && be.Err != nil && be.Code == servicebus.CodeBadRequest {
		return msg + ": " + strings.TrimPrefix(be.Err.Error(), "sqlfilter: ")
	}
	if !strings.HasSuffix(msg, ".") {
		msg += "."
	}
	return msg
}

// errorXML is Service Bus's error body.
type errorXML struct {
	XMLName xml.Name `xml:"Error"`
	Code    int      `xml:"Code"`
	Detail  string   `xml:"Detail"`
}

// writeError writes e in Service Bus's style. The detail carries the error
// name, the message and, as Azure does, a tracking id and system tracker.
func writeError(w http.ResponseWriter, r *http.Request, host string, now time.Time, e *apiError) {
	rid := httpx.RequestID(r.Context())
	tracker := host
	if p := strings.Trim(r.URL.Path, "/"); p != "" {
		tracker += ":" + p
	}
	detail := e.Message
	if e.Code != "" {
		detail = e.Code + ": " + detail
	}
	detail += " TrackingId:" + rid + ", SystemTracker:" + tracker + ", Timestamp:" + now.UTC().Format(time.RFC3339)
	body, _ := xml.Marshal(errorXML{Code: e.Status, Detail: detail})
	h := w.Header()
	h.Set("Content-Type", "application/xml; charset=utf-8")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.RetryAfter))
	}
	status := e.Status
	if status == 499 {
		status = http.StatusBadRequest
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
