package logic

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/arm/template"
)

// wdlSyntax is the Workflow Definition Language's expression dialect.
var wdlSyntax = template.Syntax{NullConditional: true, BareLiterals: true}

// tmplString is a parsed WDL string: a literal, one whole-string
// expression ("@expr", any type) or an interpolation ("a @{expr} b",
// always a string).
type tmplString struct {
	literal string
	whole   *template.Expression
	parts   []tmplPart
}

type tmplPart struct {
	text string
	x    *template.Expression
}

// parseTemplateString parses one JSON string value of a definition.
func parseTemplateString(s string) (*tmplString, error) {
	if len(s) >= 2 && s[0] == '@' && s[1] != '@' && s[1] != '{' {
		x, err := template.ParseExpression(s[1:], wdlSyntax)
		if err != nil {
			return nil, err
		}
		return &tmplString{whole: x}, nil
	}
	if !strings.Contains(s, "@") {
		return &tmplString{literal: s}, nil
	}
	var parts []tmplPart
	var text strings.Builder
	hasExpr := false
	for i := 0; i < len(s); {
		switch {
		case s[i] == '@' && i+1 < len(s) && s[i+1] == '@':
			text.WriteByte('@')
			i += 2
		case s[i] == '@' && i+1 < len(s) && s[i+1] == '{':
			end, err := closingBrace(s, i+2)
			if err != nil {
				return nil, err
			}
			x, err := template.ParseExpression(s[i+2:end], wdlSyntax)
			if err != nil {
				return nil, err
			}
			parts = append(parts, tmplPart{text: text.String()}, tmplPart{x: x})
			text.Reset()
			hasExpr = true
			i = end + 1
		default:
			text.WriteByte(s[i])
			i++
		}
	}
	if !hasExpr {
		return &tmplString{literal: text.String()}, nil
	}
	parts = append(parts, tmplPart{text: text.String()})
	return &tmplString{parts: parts}, nil
}

// closingBrace finds the "}" that ends an interpolation starting at i,
// skipping string literals.
func closingBrace(s string, i int) (int, error) {
	inStr := false
	for j := i; j < len(s); j++ {
		switch {
		case s[j] == '\'':
			if inStr && j+1 < len(s) && s[j+1] == '\'' {
				j++
				continue
			}
			inStr = !inStr
		case s[j] == '}' && !inStr:
			return j, nil
		}
	}
	return 0, fmt.Errorf("the interpolation '@{' at position %d is not closed with '}'", i-2)
}

// evaluator evaluates WDL values with one run's function table.
type evaluator struct {
	ev *template.Evaluator
}

// eval evaluates every expression in v (strings, arrays and object values).
func (e *evaluator) eval(ctx context.Context, v any) (any, error) {
	switch t := v.(type) {
	case string:
		ts, err := parseTemplateString(t)
		if err != nil {
			return nil, err
		}
		return e.evalString(ctx, ts)
	case []any:
		out := make([]any, len(t))
		for i, el := range t {
			r, err := e.eval(ctx, el)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, el := range t {
			r, err := e.eval(ctx, el)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func (e *evaluator) evalString(ctx context.Context, ts *tmplString) (any, error) {
	if ts.whole != nil {
		return e.ev.Eval(ctx, ts.whole)
	}
	if ts.parts == nil {
		return ts.literal, nil
	}
	var b strings.Builder
	for _, p := range ts.parts {
		if p.x == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := e.ev.Eval(ctx, p.x)
		if err != nil {
			return nil, err
		}
		b.WriteString(toText(v))
	}
	return b.String(), nil
}

// toText converts a value to text as string interpolation does.
func toText(v any) string {
	switch t := v.(type) {
	case nil:
		return ""
	case string:
		return t
	case bool:
		if t {
			return "True"
		}
		return "False"
	case int64:
		return strconv.FormatInt(t, 10)
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// fn builds a function-table entry.
func fn(min, max int, f func(args []any) (any, error)) template.Function {
	return template.Function{Min: min, Max: max, Fn: func(_ context.Context, args []any) (any, error) { return f(args) }}
}

func argString(args []any, i int, fname string) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", fmt.Errorf("the parameter %d of %s must be a string, not %s", i+1, fname, kindOf(args[i]))
	}
	return s, nil
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func number(v any, i int, fname string) (float64, bool, error) {
	switch t := v.(type) {
	case int64:
		return float64(t), true, nil
	case float64:
		return t, false, nil
	case string:
		if n, err := strconv.ParseInt(t, 10, 64); err == nil {
			return float64(n), true, nil
		}
		if f, err := strconv.ParseFloat(t, 64); err == nil {
			return f, false, nil
		}
	}
	return 0, false, fmt.Errorf("the parameter %d of %s must be a number, not %s", i+1, fname, kindOf(v))
}

// arith implements add, sub, mul, div and mod over integers and floats.
func arith(op byte, name string) template.Function {
	return fn(2, 2, func(args []any) (any, error) {
		a, ai, err := number(args[0], 0, name)
		if err != nil {
			return nil, err
		}
		b, bi, err := number(args[1], 1, name)
		if err != nil {
			return nil, err
		}
		ints := ai && bi
		if ints {
			x, y := int64(a), int64(b)
			switch op {
			case '+':
				return x + y, nil
			case '-':
				return x - y, nil
			case '*':
				return x * y, nil
			case '/', '%':
				if y == 0 {
					return nil, errors.New("division by zero")
				}
				if op == '/' {
					return x / y, nil
				}
				return x % y, nil
			}
		}
		var r float64
		switch op {
		case '+':
			r = a + b
		case '-':
			r = a - b
		case '*':
			r = a * b
		case '/':
			if b == 0 {
				return nil, errors.New("division by zero")
			}
			r = a / b
		case '%':
			if b == 0 {
				return nil, errors.New("division by zero")
			}
			r = math.Mod(a, b)
		}
		return r, nil
	})
}

// commonFuncs are the WDL functions that do not depend on a run.
func commonFuncs(now func() time.Time) map[string]template.Function {
	addTime := func(unit time.Duration, name string) template.Function {
		return fn(2, 3, func(args []any) (any, error) {
			s, err := argString(args, 0, name)
			if err != nil {
				return nil, err
			}
			t, err := template.ParseDateTime(s)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", name, err)
			}
			n, _, err := number(args[1], 1, name)
			if err != nil {
				return nil, err
			}
			return formatTime(t.Add(time.Duration(n*float64(unit))), args, 2)
		})
	}
	return map[string]template.Function{
		"utcNow": fn(0, 1, func(args []any) (any, error) { return formatTime(now().UTC(), args, 0) }),
		"formatDateTime": fn(1, 3, func(args []any) (any, error) {
			s, err := argString(args, 0, "formatDateTime")
			if err != nil {
				return nil, err
			}
			t, err := template.ParseDateTime(s)
			if err != nil {
				return nil, fmt.Errorf("formatDateTime: %v", err)
			}
			return formatTime(t, args, 1)
		}),
		"addSeconds": addTime(time.Second, "addSeconds"),
		"addMinutes": addTime(time.Minute, "addMinutes"),
		"addHours":   addTime(time.Hour, "addHours"),
		"addDays":    addTime(24*time.Hour, "addDays"),
		"ticks": fn(1, 1, func(args []any) (any, error) {
			s, err := argString(args, 0, "ticks")
			if err != nil {
				return nil, err
			}
			t, err := template.ParseDateTime(s)
			if err != nil {
				return nil, fmt.Errorf("ticks: %v", err)
			}
			// 100-nanosecond intervals since 0001-01-01T00:00:00Z.
			const epochUnix = -62135596800
			return (t.Unix()-epochUnix)*10_000_000 + int64(t.Nanosecond()/100), nil
		}),
		"guid": fn(0, 1, func(args []any) (any, error) {
			g := uuid.New()
			f := "D"
			if len(args) == 1 {
				s, err := argString(args, 0, "guid")
				if err != nil {
					return nil, err
				}
				f = s
			}
			switch strings.ToUpper(f) {
			case "N":
				return strings.ReplaceAll(g.String(), "-", ""), nil
			case "D":
				return g.String(), nil
			case "B":
				return "{" + g.String() + "}", nil
			case "P":
				return "(" + g.String() + ")", nil
			}
			return nil, fmt.Errorf("guid: the format '%s' is not one of N, D, B, P", f)
		}),
		"concat": fn(1, -1, func(args []any) (any, error) {
			var b strings.Builder
			for _, a := range args {
				b.WriteString(toText(a))
			}
			return b.String(), nil
		}),
		"add": arith('+', "add"), "sub": arith('-', "sub"), "mul": arith('*', "mul"), "div": arith('/', "div"), "mod": arith('%', "mod"),
		"float": fn(1, 1, func(args []any) (any, error) {
			f, _, err := number(args[0], 0, "float")
			return f, err
		}),
		"rand": fn(2, 2, func(args []any) (any, error) {
			lo, _, err := number(args[0], 0, "rand")
			if err != nil {
				return nil, err
			}
			hi, _, err := number(args[1], 1, "rand")
			if err != nil || hi <= lo {
				return nil, errors.New("rand: the maximum must be greater than the minimum")
			}
			var b [8]byte
			_, _ = rand.Read(b[:])
			n := int64(0)
			for _, c := range b {
				n = n<<8 | int64(c)
			}
			if n < 0 {
				n = -n
			}
			return int64(lo) + n%int64(hi-lo), nil
		}),
		"decodeBase64": fn(1, 1, func(args []any) (any, error) {
			s, err := argString(args, 0, "decodeBase64")
			if err != nil {
				return nil, err
			}
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, errors.New("decodeBase64: the value is not base64")
			}
			return string(b), nil
		}),
		"encodeUriComponent": fn(1, 1, func(args []any) (any, error) { return url.QueryEscape(toText(args[0])), nil }),
		"decodeUriComponent": fn(1, 1, func(args []any) (any, error) {
			s, err := url.QueryUnescape(toText(args[0]))
			if err != nil {
				return nil, errors.New("decodeUriComponent: the value is not URI-encoded")
			}
			return s, nil
		}),
		"toLower": fn(1, 1, func(args []any) (any, error) { return strings.ToLower(toText(args[0])), nil }),
		"toUpper": fn(1, 1, func(args []any) (any, error) { return strings.ToUpper(toText(args[0])), nil }),
		"xml":     fn(1, 1, func([]any) (any, error) { return nil, errors.New("xml() is not supported by keyward") }),
	}
}

func formatTime(t time.Time, args []any, i int) (any, error) {
	f := "o"
	if len(args) > i {
		s, ok := args[i].(string)
		if !ok {
			return nil, errors.New("the format must be a string")
		}
		f = s
	}
	return template.FormatDateTime(t, f)
}
