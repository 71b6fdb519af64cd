package template

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// ARM error codes produced by this package.
const (
	// CodeInvalidTemplate is ARM's code for every template, parameter and
	// expression validation failure.
	CodeInvalidTemplate = "InvalidTemplate"
	// CodeDeploymentFailed is the top-level code of a deployment in which at
	// least one resource operation failed; Details holds one entry per failure.
	CodeDeploymentFailed = "DeploymentFailed"
	// CodeResourceDeploymentFailure is used for a failed resource operation
	// whose error carries no code of its own.
	CodeResourceDeploymentFailure = "ResourceDeploymentFailure"
	// CodeDeploymentOutputEvaluationFailed reports outputs that could not be
	// evaluated after every resource was deployed.
	CodeDeploymentOutputEvaluationFailed = "DeploymentOutputEvaluationFailed"
	// CodeInvalidRequestContent reports a malformed parameters document.
	CodeInvalidRequestContent = "InvalidRequestContent"
	// CodeUnsupported reports a template feature keyward does not implement.
	CodeUnsupported = "UnsupportedTemplateFeature"
	// CodeCanceled reports a deployment stopped by its context.
	CodeCanceled = "DeploymentCanceled"
)

// ErrResourceNotFound is what a Deployer's GetResource returns (possibly
// wrapped) for a resource that does not exist. Errors whose ErrorCode() is
// "ResourceNotFound" or "NotFound" are treated the same way.
var ErrResourceNotFound = errors.New("template: resource not found")

// Error is an ARM-shaped error: it marshals to
// {"code","message","target","details"} exactly as ARM's error body.
// Line and Column (1-based, 0 when unknown) locate the template JSON element
// the error is about; they are already part of Message where ARM puts them.
type Error struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Target  string   `json:"target,omitempty"`
	Details []*Error `json:"details,omitempty"`
	Line    int      `json:"-"`
	Column  int      `json:"-"`
	cause   error
}

// Error implements error. It includes the details so that a logged error
// names the failing resource and the inner error.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Code)
	b.WriteString(": ")
	b.WriteString(e.Message)
	for _, d := range e.Details {
		b.WriteString(" [")
		if d.Target != "" {
			b.WriteString(d.Target)
			b.WriteString(": ")
		}
		b.WriteString(d.Error())
		b.WriteString("]")
	}
	return b.String()
}

// Unwrap returns the underlying error (for example the Deployer's error)
// and the details, so that errors.Is and errors.As reach a Deployer's error
// through a DeploymentFailed error.
func (e *Error) Unwrap() []error {
	var out []error
	if e.cause != nil {
		out = append(out, e.cause)
	}
	for _, d := range e.Details {
		out = append(out, d)
	}
	return out
}

// ErrorCode returns the ARM error code.
func (e *Error) ErrorCode() string { return e.Code }

// MarshalJSON renders the error body without the "error" envelope.
func (e *Error) MarshalJSON() ([]byte, error) {
	type wire struct {
		Code    string   `json:"code"`
		Message string   `json:"message"`
		Target  string   `json:"target,omitempty"`
		Details []*Error `json:"details,omitempty"`
	}
	return json.Marshal(wire{e.Code, e.Message, e.Target, e.Details})
}

// NewError returns an *Error with the given code and message. A Deployer may
// return one so that the deployment error carries the exact code and message.
func NewError(code, message string) *Error { return &Error{Code: code, Message: message} }

// ErrorCoder is implemented by errors that carry an ARM error code. A Deployer's
// errors may implement it (and optionally ErrorMessager); the code then
// appears in the DeploymentFailed details. Errors that instead are (pointers
// to) structs with exported string fields Code and Message, like the
// resource manager's own error type, are understood too.
type ErrorCoder interface{ ErrorCode() string }

// ErrorMessager is implemented by errors whose ARM message differs from Error().
type ErrorMessager interface{ ErrorMessage() string }

// exprError is an evaluation or parse failure inside one expression; the
// caller wraps it with the template location.
type exprError struct {
	msg string
	pos int // 0-based offset in the expression string, -1 if none
}

func (e *exprError) Error() string { return e.msg }

func exprErrf(pos int, format string, args ...any) *exprError {
	return &exprError{msg: fmt.Sprintf(format, args...), pos: pos}
}

// invalidTemplate builds a validation error in ARM's wording.
func invalidTemplate(line, col int, target, format string, args ...any) *Error {
	inner := fmt.Sprintf(format, args...)
	return &Error{
		Code:    CodeInvalidTemplate,
		Message: "Deployment template validation failed: '" + inner + "'.",
		Target:  target,
		Line:    line,
		Column:  col,
	}
}

// at renders ARM's " at line 'L' and column 'C'" fragment.
func at(line, col int) string {
	if line <= 0 {
		return ""
	}
	return fmt.Sprintf(" at line '%d' and column '%d'", line, col)
}

// deployerError converts an error returned by the Deployer into a detail entry.
func deployerError(target string, err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		c := *te
		if c.Target == "" {
			c.Target = target
		}
		c.cause = err
		return &c
	}
	code := CodeResourceDeploymentFailure
	msg := err.Error()
	var ec ErrorCoder
	if errors.As(err, &ec) && ec.ErrorCode() != "" {
		code = ec.ErrorCode()
		var em ErrorMessager
		if errors.As(err, &em) && em.ErrorMessage() != "" {
			msg = em.ErrorMessage()
		}
	} else if c, m, ok := structCode(err); ok {
		code = c
		if m != "" {
			msg = m
		}
	}
	return &Error{Code: code, Message: msg, Target: target, cause: err}
}

// structCode reads the exported string fields Code and Message of an
// ARM-style error struct anywhere in err's chain, so that a resource
// manager's own error type keeps its code without implementing ErrorCoder.
func structCode(err error) (code, msg string, ok bool) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		v := reflect.ValueOf(e)
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				continue
			}
			v = v.Elem()
		}
		if v.Kind() != reflect.Struct {
			continue
		}
		c := v.FieldByName("Code")
		if !c.IsValid() || c.Kind() != reflect.String || c.String() == "" {
			continue
		}
		if m := v.FieldByName("Message"); m.IsValid() && m.Kind() == reflect.String {
			msg = m.String()
		}
		return c.String(), msg, true
	}
	return "", "", false
}

// isNotFound reports whether a Deployer error means "resource does not exist".
func isNotFound(err error) bool {
	if errors.Is(err, ErrResourceNotFound) {
		return true
	}
	code := ""
	var ec ErrorCoder
	if errors.As(err, &ec) {
		code = ec.ErrorCode()
	} else if c, _, ok := structCode(err); ok {
		code = c
	}
	switch strings.ToLower(code) {
	case "resourcenotfound", "notfound", "parentresourcenotfound", "resourcegroupnotfound":
		return true
	}
	return false
}
