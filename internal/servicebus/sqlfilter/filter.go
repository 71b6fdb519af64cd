package sqlfilter

import (
	"errors"
	"fmt"
)

// Limits. Service Bus documents a maximum of 1,024 characters for a filter
// condition and for a rule action, and 32 expressions per rule action.
const (
	// MaxExpressionLength is the longest filter or action text accepted, in
	// UTF-16 code units (the unit .NET strings are measured in).
	MaxExpressionLength = 1024
	// MaxNestingDepth bounds how deeply parentheses, NOT, unary operators
	// and function arguments may nest.
	MaxNestingDepth = 128
	// MaxActionStatements is the most SET/REMOVE statements in one action.
	MaxActionStatements = 32
	// MaxStringLength bounds the length in bytes of a string built by
	// concatenation during evaluation (Service Bus caps all message
	// properties together at 64 KiB).
	MaxStringLength = 64 * 1024
)

// Canonical forms of the filters Service Bus calls TrueFilter and
// FalseFilter.
const (
	// TrueFilterExpression is the SQL form of the filter that matches every message.
	TrueFilterExpression = "1=1"
	// FalseFilterExpression is the SQL form of the filter that matches no message.
	FalseFilterExpression = "1=0"
)

// Message gives a filter read access to a message's properties. It is
// implemented by the broker; MapMessage is a ready-made implementation.
type Message interface {
	// SystemProperty returns the broker property with the given canonical
	// name (one of the Sys* constants). ok is false when the property is
	// not set; a nil value with ok true is a property explicitly set to
	// null. Both evaluate as NULL, but EXISTS tells them apart.
	SystemProperty(name string) (value any, ok bool)
	// UserProperty returns the application property with the given name,
	// spelled as in the expression. Service Bus property names are
	// case-insensitive, so implementations should fall back to a
	// case-insensitive match when there is no exact one.
	UserProperty(name string) (value any, ok bool)
}

// MutableMessage is a Message whose properties a rule action may change.
type MutableMessage interface {
	Message
	// SetSystemProperty sets one of the settable system properties:
	// SysContentType, SysCorrelationID, SysLabel, SysMessageID,
	// SysPartitionKey, SysReplyTo, SysReplyToSessionID, SysSessionID,
	// SysTo, SysViaPartitionKey (string or nil), SysScheduledEnqueueTimeUtc
	// (time.Time or nil), SysTimeToLive (time.Duration or nil) and
	// SysForcePersistence (bool or nil). nil clears the property.
	SetSystemProperty(name string, value any) error
	// SetUserProperty creates or replaces an application property. value
	// is one of the types listed in the package documentation.
	SetUserProperty(name string, value any) error
	// RemoveUserProperty deletes an application property; removing a
	// missing property is not an error.
	RemoveUserProperty(name string) error
}

// SyntaxError reports an invalid filter or action expression.
type SyntaxError struct {
	Pos    int    // 0-based offset in runes
	Line   int    // 1-based line
	Column int    // 1-based column, in runes
	Msg    string // what is wrong
}

// Error formats the error with its line and column.
func (e *SyntaxError) Error() string {
	return fmt.Sprintf("sqlfilter: syntax error at line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

// EvalError reports a runtime failure while evaluating a filter or action
// against a message, such as a type mismatch or an integer division by
// zero. Service Bus treats such a failure differently from a non-match.
type EvalError struct {
	Pos int    // 0-based rune offset of the failing operator or operand
	Msg string // what went wrong
}

// Error formats the error with its position.
func (e *EvalError) Error() string {
	return fmt.Sprintf("sqlfilter: evaluation error at offset %d: %s", e.Pos, e.Msg)
}

func evalErrorf(pos int, format string, args ...any) error {
	return &EvalError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// errNilFilter is returned by Match on a nil *Filter.
var errNilFilter = errors.New("sqlfilter: nil filter")

// Filter is a parsed SQL filter. It is immutable and safe for concurrent
// use.
type Filter struct {
	expr string
	root node
}

// Parse parses a SQL filter expression. Errors are *SyntaxError.
func Parse(expr string) (*Filter, error) {
	return ParseWithParameters(expr, nil)
}

// ParseWithParameters parses a SQL filter expression whose @name
// parameters take their values from params (keys include the '@', as in
// the Service Bus SqlFilter.Parameters map; matched case-insensitively).
// Parameter values may be of any type listed in the package documentation.
func ParseWithParameters(expr string, params map[string]any) (*Filter, error) {
	p, err := newParser(expr, params, false)
	if err != nil {
		return nil, err
	}
	root, err := p.parseFilter()
	if err != nil {
		return nil, err
	}
	return &Filter{expr: expr, root: root}, nil
}

// TrueFilter returns a filter that matches every message (1=1).
func TrueFilter() *Filter {
	one := &litNode{v: int64Value(1)}
	return &Filter{expr: TrueFilterExpression, root: &cmpNode{op: cmpEq, pos: 1, l: one, r: one}}
}

// FalseFilter returns a filter that matches no message (1=0).
func FalseFilter() *Filter {
	return &Filter{expr: FalseFilterExpression, root: &cmpNode{op: cmpEq, pos: 1,
		l: &litNode{v: int64Value(1)}, r: &litNode{pos: 2, v: int64Value(0)}}}
}

// String returns the expression the filter was parsed from.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.expr
}

// Match evaluates the filter against m. It reports true only when the
// filter evaluates to TRUE (FALSE and unknown do not match). A non-nil
// error, an *EvalError, means the evaluation failed; Service Bus then
// does not deliver the message to the subscription, or dead-letters it
// when the subscription has deadLetteringOnFilterEvaluationExceptions.
func (f *Filter) Match(m Message) (bool, error) {
	if f == nil || f.root == nil {
		return false, errNilFilter
	}
	v, err := f.root.eval(m)
	if err != nil {
		return false, err
	}
	t, err := truth(v, f.root.position())
	if err != nil {
		return false, err
	}
	return t == triTrue, nil
}
