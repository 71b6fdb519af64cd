package template

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// This file exports the template language's expression parser and
// evaluator for other languages that share it, such as the Workflow
// Definition Language of Logic Apps: the same lexer, parser, value model and
// built-in functions (where the languages agree), with a pluggable function
// table for the functions a language defines itself.

// Syntax selects the dialect an expression is parsed in.
type Syntax struct {
	// NullConditional accepts "?" before "[" and "." (WDL's
	// triggerBody()?['name']): a missing property, a property of null or an
	// index out of range then yields null instead of an error.
	NullConditional bool
	// BareLiterals makes the identifiers true, false and null, written
	// without parentheses, literals (WDL), and accepts decimal literals such
	// as 1.5.
	BareLiterals bool
}

// Expression is a parsed expression.
type Expression struct {
	text     string
	root     *expr
	optional map[int]bool // positions (in the parsed text) of "[" or "." written with "?"
}

// Text returns the expression as written.
func (x *Expression) Text() string { return x.text }

// ExpressionError is a parse or evaluation failure of one expression.
type ExpressionError struct {
	// Expression is the expression text as written.
	Expression string
	// Message describes the failure.
	Message string
	cause   error
}

// Error implements error.
func (e *ExpressionError) Error() string {
	return fmt.Sprintf("The language expression '%s' is not valid: %s", e.Expression, e.Message)
}

// Unwrap returns the error of a Func that failed, if any.
func (e *ExpressionError) Unwrap() error { return e.cause }

// floatFunc is the internal function decimal literals are rewritten to.
const floatFunc = "__keyward_float"

// ParseExpression parses expression text (without ARM's outer brackets or
// WDL's leading "@").
func ParseExpression(text string, syn Syntax) (*Expression, error) {
	src, optional, err := rewrite(text, syn)
	if err != nil {
		return nil, &ExpressionError{Expression: text, Message: err.Error()}
	}
	root, err := parseExpr(src)
	if err != nil {
		return nil, &ExpressionError{Expression: text, Message: err.Error()}
	}
	return &Expression{text: text, root: root, optional: optional}, nil
}

// rewrite turns the dialect's extensions into the template syntax: it drops
// a "?" before "[" or "." (remembering where), appends "()" to bare true,
// false and null, and turns decimal literals into an internal call.
func rewrite(text string, syn Syntax) (string, map[int]bool, error) {
	if !syn.NullConditional && !syn.BareLiterals {
		return text, nil, nil
	}
	var b strings.Builder
	optional := map[int]bool{}
	for i := 0; i < len(text); {
		c := text[i]
		switch {
		case c == '\'':
			j := i + 1
			for j < len(text) {
				if text[j] == '\'' {
					if j+1 < len(text) && text[j+1] == '\'' {
						j += 2
						continue
					}
					break
				}
				j++
			}
			if j < len(text) {
				j++
			}
			b.WriteString(text[i:j])
			i = j
		case c == '?' && syn.NullConditional && i+1 < len(text) && (text[i+1] == '[' || text[i+1] == '.'):
			optional[b.Len()] = true
			i++
		case syn.BareLiterals && isIdentStart(c) && (i == 0 || !isIdentChar(text[i-1])):
			j := i
			for j < len(text) && isIdentChar(text[j]) {
				j++
			}
			word := text[i:j]
			b.WriteString(word)
			k := j
			for k < len(text) && (text[k] == ' ' || text[k] == '\t') {
				k++
			}
			lw := strings.ToLower(word)
			if (lw == "true" || lw == "false" || lw == "null") && (k >= len(text) || text[k] != '(') && (i == 0 || text[i-1] != '.') {
				b.WriteString("()")
			}
			i = j
		case syn.BareLiterals && (c >= '0' && c <= '9' || (c == '-' || c == '+') && i+1 < len(text) && text[i+1] >= '0' && text[i+1] <= '9') && (i == 0 || !isIdentChar(text[i-1])):
			j := i + 1
			for j < len(text) && text[j] >= '0' && text[j] <= '9' {
				j++
			}
			if j+1 < len(text) && text[j] == '.' && text[j+1] >= '0' && text[j+1] <= '9' {
				k := j + 1
				for k < len(text) && (text[k] >= '0' && text[k] <= '9' || text[k] == 'e' || text[k] == 'E') {
					k++
				}
				if _, err := strconv.ParseFloat(text[i:k], 64); err != nil {
					return "", nil, fmt.Errorf("the number '%s' at position '%d' is not valid", text[i:k], i)
				}
				b.WriteString(floatFunc + "('" + text[i:k] + "')")
				i = k
				continue
			}
			b.WriteString(text[i:j])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), optional, nil
}

// Func is a function of a pluggable function table; it receives evaluated
// arguments (values as described in the package documentation) and returns
// such a value.
type Func func(ctx context.Context, args []any) (any, error)

// Function is one entry of a function table.
type Function struct {
	// Min and Max bound the number of arguments (Max < 0: any number).
	Min, Max int
	Fn       Func
}

// Evaluator evaluates expressions with a function table layered over a
// chosen set of the template language's built-in functions.
type Evaluator struct {
	funcs    map[string]Function
	builtins map[string]*builtin
}

// SharedBuiltins are the built-in functions whose semantics the Workflow
// Definition Language shares with the template language: string, collection,
// comparison, logical and arithmetic functions that depend on nothing but
// their arguments.
func SharedBuiltins() []string {
	return []string{
		"base64", "base64ToString", "dataUri", "dataUriToString", "endsWith", "startsWith", "indexOf", "lastIndexOf",
		"replace", "split", "string", "substring", "toLower", "toUpper", "trim", "uriComponent", "uriComponentToString",
		"join", "json", "concat", "contains", "empty", "first", "last", "length", "skip", "take", "array", "createArray",
		"union", "intersection", "range", "equals", "less", "lessOrEquals", "greater", "greaterOrEquals", "not", "bool",
		"int", "add", "sub", "mul", "div", "mod", "min", "max", "if", "and", "or", "coalesce", "true", "false", "null",
		"createObject", "objectKeys", "items", "tryGet", "flatten", "padLeft", "base64ToJson", "dateTimeAdd",
	}
}

// lazyShared are the shared functions the evaluator implements itself
// because they evaluate their arguments on demand.
var lazyShared = map[string]bool{"if": true, "and": true, "or": true, "coalesce": true}

// NewEvaluator returns an evaluator with funcs (names are matched
// case-insensitively and take precedence) and the named built-in functions,
// each of which must be one of SharedBuiltins.
func NewEvaluator(funcs map[string]Function, names []string) (*Evaluator, error) {
	shared := map[string]bool{}
	for _, n := range SharedBuiltins() {
		shared[strings.ToLower(n)] = true
	}
	ev := &Evaluator{funcs: map[string]Function{}, builtins: map[string]*builtin{}}
	for _, n := range names {
		ln := strings.ToLower(n)
		if !shared[ln] {
			return nil, fmt.Errorf("template: the built-in function %q cannot be shared", n)
		}
		ev.builtins[ln] = builtins[ln]
	}
	for n, f := range funcs {
		if f.Fn == nil {
			return nil, fmt.Errorf("template: function %q has no implementation", n)
		}
		ev.funcs[strings.ToLower(n)] = f
	}
	return ev, nil
}

// Eval evaluates x.
func (ev *Evaluator) Eval(ctx context.Context, x *Expression) (any, error) {
	r := &run{ev: ev, x: x, e: &engine{ctx: ctx}}
	v, err := r.eval(x.root)
	if err != nil {
		var ee *ExpressionError
		if errors.As(err, &ee) {
			return nil, err
		}
		var xe *exprError
		if errors.As(err, &xe) {
			return nil, &ExpressionError{Expression: x.text, Message: xe.msg}
		}
		return nil, &ExpressionError{Expression: x.text, Message: err.Error(), cause: err}
	}
	return v, nil
}

// NormalizeValue converts a caller's value (float64 or json.Number
// integers, []string, ...) into the evaluator's value space.
func NormalizeValue(v any) any { return normalize(v) }

// EqualValues reports whether two values are equal as equals() sees them.
func EqualValues(a, b any) bool { return deepEqual(normalize(a), normalize(b)) }

type run struct {
	ev    *Evaluator
	x     *Expression
	e     *engine
	depth int
}

func (r *run) optionalAt(target *expr) bool {
	if len(r.x.optional) == 0 {
		return false
	}
	src := target.src
	p := target.end
	for p < len(src) && (src[p] == ' ' || src[p] == '\t' || src[p] == '\n' || src[p] == '\r') {
		p++
	}
	return r.x.optional[p]
}

func (r *run) eval(x *expr) (any, error) {
	if err := r.e.ctx.Err(); err != nil {
		return nil, err
	}
	r.depth++
	defer func() { r.depth-- }()
	if r.depth > maxExprDepth {
		return nil, exprErrf(x.pos, "the expression is nested too deeply")
	}
	switch x.kind {
	case exprString:
		return x.s, nil
	case exprInt:
		return x.i, nil
	case exprProp:
		t, err := r.eval(x.target)
		if err != nil {
			return nil, err
		}
		if r.optionalAt(x.target) {
			if m, ok := t.(map[string]any); ok {
				v, _ := lookupKey(m, x.name)
				return v, nil
			}
			if t == nil {
				return nil, nil
			}
		}
		return propertyOf(x, t, x.name)
	case exprIndex:
		t, err := r.eval(x.target)
		if err != nil {
			return nil, err
		}
		idx, err := r.eval(x.index)
		if err != nil {
			return nil, err
		}
		opt := r.optionalAt(x.target)
		if opt && t == nil {
			return nil, nil
		}
		switch iv := idx.(type) {
		case int64:
			arr, ok := t.([]any)
			if !ok {
				return nil, exprErrf(x.index.pos, "The language expression property array index '%d' at position '%d' can't be applied to a value of type '%s'", iv, x.index.pos, typeName(t))
			}
			if iv < 0 || iv >= int64(len(arr)) {
				if opt {
					return nil, nil
				}
				return nil, exprErrf(x.index.pos, "The language expression property array index '%d' at position '%d' is out of bounds", iv, x.index.pos)
			}
			return arr[iv], nil
		case string:
			if opt {
				if m, ok := t.(map[string]any); ok {
					v, _ := lookupKey(m, iv)
					return v, nil
				}
			}
			return propertyOf(x, t, iv)
		default:
			return nil, exprErrf(x.index.pos, "The language expression index at position '%d' must be an integer or a string, not '%s'", x.index.pos, typeName(idx))
		}
	case exprCall:
		return r.call(x)
	}
	return nil, exprErrf(x.pos, "unexpected expression")
}

func arityErr(x *expr, min, max int) error {
	var want string
	switch {
	case max < 0:
		want = fmt.Sprintf("at least %d", min)
	case min == max:
		want = fmt.Sprintf("%d", min)
	default:
		want = fmt.Sprintf("%d to %d", min, max)
	}
	return exprErrf(x.pos, "Unable to evaluate language function '%s' at position '%d': function requires %s argument(s) while %d were provided", x.name, x.pos, want, len(x.args))
}

func (r *run) args(x *expr) ([]any, error) {
	args := make([]any, len(x.args))
	for i, a := range x.args {
		v, err := r.eval(a)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	return args, nil
}

func (r *run) call(x *expr) (any, error) {
	if x.lname == floatFunc && len(x.args) == 1 && x.args[0].kind == exprString {
		f, err := strconv.ParseFloat(x.args[0].s, 64)
		if err != nil {
			return nil, exprErrf(x.pos, "the number '%s' is not valid", x.args[0].s)
		}
		// A decimal literal stays a float, even when integral (7.0).
		return f, nil
	}
	if f, ok := r.ev.funcs[x.lname]; ok {
		if len(x.args) < f.Min || (f.Max >= 0 && len(x.args) > f.Max) {
			return nil, arityErr(x, f.Min, f.Max)
		}
		args, err := r.args(x)
		if err != nil {
			return nil, err
		}
		v, err := f.Fn(r.e.ctx, args)
		if err != nil {
			var ee *ExpressionError
			if errors.As(err, &ee) {
				return nil, err
			}
			return nil, &ExpressionError{Expression: r.x.text, Message: fmt.Sprintf("Unable to evaluate language function '%s': %s", x.name, err.Error()), cause: err}
		}
		return normalize(v), nil
	}
	b, ok := r.ev.builtins[x.lname]
	if !ok || b == nil {
		return nil, exprErrf(x.pos, "The language function '%s' at position '%d' is not valid", x.name, x.pos)
	}
	if len(x.args) < b.min || (b.max >= 0 && len(x.args) > b.max) {
		return nil, arityErr(x, b.min, b.max)
	}
	if lazyShared[x.lname] {
		return r.lazy(x)
	}
	args, err := r.args(x)
	if err != nil {
		return nil, err
	}
	c := &callCtx{e: r.e, sc: &scope{site: siteBody}, x: x}
	v, err := b.fn(c, args)
	if err != nil || b.passThrough {
		return v, err
	}
	if checkSize(v) != nil {
		return nil, exprErrf(x.pos, "Unable to evaluate language function '%s' at position '%d': %s", x.name, x.pos, errTooLarge.Error())
	}
	return v, nil
}

// lazy implements if, and, or and coalesce.
func (r *run) lazy(x *expr) (any, error) {
	switch x.lname {
	case "if":
		cond, err := r.eval(x.args[0])
		if err != nil {
			return nil, err
		}
		b, ok := cond.(bool)
		if !ok {
			return nil, exprErrf(x.pos, "Unable to evaluate language function 'if': the first parameter must be a Boolean, not '%s'", typeName(cond))
		}
		if b {
			return r.eval(x.args[1])
		}
		return r.eval(x.args[2])
	case "and", "or":
		want := x.lname == "or"
		for i, a := range x.args {
			v, err := r.eval(a)
			if err != nil {
				return nil, err
			}
			b, ok := v.(bool)
			if !ok {
				return nil, exprErrf(x.pos, "Unable to evaluate language function '%s': the parameter %d must be a Boolean, not '%s'", x.name, i+1, typeName(v))
			}
			if b == want {
				return want, nil
			}
		}
		return !want, nil
	default: // coalesce
		for _, a := range x.args {
			v, err := r.eval(a)
			if err != nil {
				return nil, err
			}
			if v != nil {
				return v, nil
			}
		}
		return nil, nil
	}
}

// FormatDateTime formats t with a .NET date and time format string ("o",
// "yyyy-MM-dd", ...) as utcNow() and dateTimeAdd() do.
func FormatDateTime(t time.Time, format string) (string, error) { return formatDate(t, format) }

// ParseDateTime parses the ISO 8601 forms the language accepts.
func ParseDateTime(s string) (time.Time, error) { return parseDateTime(s) }
