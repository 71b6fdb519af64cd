package arm

import (
	"errors"
	"fmt"
)

// Error is an ARM error response: an HTTP status and the
// {"error":{"code","message","target","details"}} body.
type Error struct {
	Status  int      `json:"-"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Target  string   `json:"target,omitempty"`
	Details []*Error `json:"details,omitempty"`
}

// Error implements error.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with a formatted message.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// BadRequest returns a 400 error.
func BadRequest(code, format string, args ...any) *Error {
	return Errorf(400, code, format, args...)
}

// Conflict returns a 409 error.
func Conflict(code, format string, args ...any) *Error {
	return Errorf(409, code, format, args...)
}

// NotFound returns the ResourceNotFound error ARM gives for a missing resource.
func NotFound(t Target) *Error {
	rg := t.ResourceGroup
	return Errorf(404, "ResourceNotFound",
		"The Resource '%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
		t.Namespace+"/"+typeAndNames(t), rg)
}

func typeAndNames(t Target) string {
	s := ""
	for i, typ := range t.Types {
		if i > 0 {
			s += "/"
		}
		s += typ
		if i < len(t.Names) {
			s += "/" + t.Names[i]
		}
	}
	return s
}

// AsError converts any error into an *Error (500 InternalServerError for
// errors that are not already ARM errors).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		if e.Status == 0 {
			e.Status = 400
		}
		return e
	}
	return &Error{Status: 500, Code: "InternalServerError", Message: "An internal error occurred while processing the request."}
}

// ErrorCode returns the error's ARM code.
func (e *Error) ErrorCode() string { return e.Code }

// ErrorMessage returns the error's ARM message.
func (e *Error) ErrorMessage() string { return e.Message }
