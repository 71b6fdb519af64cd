package template

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// site says where an expression is evaluated; some functions are only
// allowed in some places (utcNow in parameter defaults, reference outside
// variables, ...).
type site uint8

const (
	siteParam     site = iota // parameter defaultValue
	siteVariable              // variables section
	siteHead                  // resource name, type, apiVersion, copy count, dependsOn, scope
	siteBody                  // resource body (properties, location, sku, ...)
	siteCondition             // resource condition
	siteOutput                // outputs
)

// loopBinding is one active copy loop.
type loopBinding struct {
	name    string
	index   int
	primary bool // a resource or output loop: what copyIndex() without a name refers to
}

// scope is the evaluation context of one expression.
type scope struct {
	site     site
	validate bool // reference()/list*() yield unknown values instead of calling the Deployer
	loops    []loopBinding
	lambdas  map[string]any
	onRef    func(target string) // records reference()/list*() targets while planning
}

func (s *scope) withLoop(name string, index int, primary bool) *scope {
	c := *s
	c.loops = append(slices.Clip(s.loops), loopBinding{name: name, index: index, primary: primary})
	return &c
}

// nodeError is a failure while evaluating one template string.
type nodeError struct {
	n   *node
	msg string
}

func (e *nodeError) Error() string { return e.msg }

// nodeOpts controls how object nodes are evaluated.
type nodeOpts struct {
	propCopy bool // expand property "copy" arrays
	dropNull bool // omit members whose value is null (resource bodies)
}

// evalNode evaluates a template JSON element.
func (e *engine) evalNode(n *node, sc *scope, o nodeOpts) (any, error) {
	if err := e.ctx.Err(); err != nil {
		return nil, err
	}
	switch n.kind {
	case kindString:
		if !n.isExp {
			lit, _, _ := classifyString(n.s)
			return lit, nil
		}
		v, err := e.evalExpr(n.expr, sc)
		if err != nil {
			return nil, wrapNodeErr(n, err)
		}
		if lv, ok := v.(*lambdaValue); ok && lv != nil {
			return nil, &nodeError{n: n, msg: "a lambda function can only be used as an argument of filter, map, reduce, sort or toObject"}
		}
		return v, nil
	case kindArray:
		out := make([]any, 0, len(n.elems))
		for _, el := range n.elems {
			v, err := e.evalNode(el, sc, o)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case kindObject:
		out := make(map[string]any, len(n.keys))
		for i, k := range n.keys {
			val := n.elems[i]
			if o.propCopy && strings.EqualFold(k, "copy") && isCopyArray(val) {
				for _, loop := range val.elems {
					name, arr, err := e.evalCopyLoop(loop, sc, o)
					if err != nil {
						return nil, err
					}
					out[name] = arr
				}
				continue
			}
			key := k
			if lit, text, isExpr := classifyString(k); isExpr {
				x, err := parseExpr(text)
				if err != nil {
					return nil, &nodeError{n: val, msg: describeParseError(text, err)}
				}
				kv, err := e.evalExpr(x, sc)
				if err != nil {
					return nil, wrapNodeErr(val, err)
				}
				if u, ok := kv.(unknown); ok {
					key = "[" + u.text + "]"
				} else if s, ok := kv.(string); ok {
					key = s
				} else {
					return nil, &nodeError{n: val, msg: fmt.Sprintf("the property name expression '[%s]' must evaluate to a string, not '%s'", text, typeName(kv))}
				}
			} else {
				key = lit
			}
			v, err := e.evalNode(val, sc, o)
			if err != nil {
				return nil, err
			}
			if v == nil && o.dropNull {
				continue
			}
			out[key] = v
		}
		return out, nil
	default:
		return n.literal(), nil
	}
}

// evalCopyLoop evaluates one {"name","count","input"} loop.
func (e *engine) evalCopyLoop(loop *node, sc *scope, o nodeOpts) (string, []any, error) {
	nv, err := e.evalNode(loop.get("name"), sc, nodeOpts{})
	if err != nil {
		return "", nil, err
	}
	name, ok := nv.(string)
	if !ok || name == "" {
		return "", nil, &nodeError{n: loop, msg: "the copy 'name' must be a non-empty string"}
	}
	count, err := e.evalCount(loop.get("count"), sc)
	if err != nil {
		return "", nil, err
	}
	arr := make([]any, 0, count)
	total := 0
	for i := range count {
		v, err := e.evalNode(loop.get("input"), sc.withLoop(name, i, false), o)
		if err != nil {
			return "", nil, err
		}
		n, _, over := sizeOf(v)
		if total += n; over || total > maxValueNodes {
			return "", nil, &nodeError{n: loop, msg: "the copy loop '" + name + "' produces a value that is too large"}
		}
		arr = append(arr, v)
	}
	return name, arr, nil
}

// maxCopyCount is ARM's limit on copy loop iterations.
const maxCopyCount = 800

// evalCount evaluates a copy count.
func (e *engine) evalCount(n *node, sc *scope) (int, error) {
	v, err := e.evalNode(n, sc, nodeOpts{})
	if err != nil {
		return 0, err
	}
	var c int64
	switch t := v.(type) {
	case int64:
		c = t
	case unknown:
		return 0, &nodeError{n: n, msg: "The copy count must be known before the deployment starts; reference() and list*() cannot be used in it"}
	default:
		return 0, &nodeError{n: n, msg: fmt.Sprintf("The copy count must be an integer, not '%s'", typeName(v))}
	}
	if c < 0 {
		return 0, &nodeError{n: n, msg: fmt.Sprintf("The copy count '%d' is negative. The count can't be a negative number", c)}
	}
	if c > maxCopyCount {
		return 0, &nodeError{n: n, msg: fmt.Sprintf("The copy count '%d' exceeds the maximum of '%d'", c, maxCopyCount)}
	}
	return int(c), nil
}

// wrapNodeErr attaches a node to an expression failure; formatted template
// errors (*Error, for example from a variable) pass through unchanged.
func wrapNodeErr(n *node, err error) error {
	var te *Error
	if errors.As(err, &te) {
		return err
	}
	var ne *nodeError
	if errors.As(err, &ne) {
		return err
	}
	if errors.Is(err, errCanceled) {
		return err
	}
	msg := err.Error()
	if n.isExp && n.expr != nil {
		msg = fmt.Sprintf("%s. The expression is '%s'", msg, n.s)
	}
	return &nodeError{n: n, msg: msg}
}

// errCanceled marks context cancellation inside evaluation.
var errCanceled = errors.New("template: deployment canceled")

// evalExpr evaluates one parsed expression.
func (e *engine) evalExpr(x *expr, sc *scope) (any, error) {
	switch x.kind {
	case exprString:
		return x.s, nil
	case exprInt:
		return x.i, nil
	case exprProp:
		t, err := e.evalExpr(x.target, sc)
		if err != nil {
			return nil, err
		}
		return propertyOf(x, t, x.name)
	case exprIndex:
		t, err := e.evalExpr(x.target, sc)
		if err != nil {
			return nil, err
		}
		idx, err := e.evalExpr(x.index, sc)
		if err != nil {
			return nil, err
		}
		if _, ok := idx.(unknown); ok {
			return unknown{text: x.text()}, nil
		}
		if _, ok := t.(unknown); ok {
			return unknown{text: x.text()}, nil
		}
		switch iv := idx.(type) {
		case int64:
			arr, ok := t.([]any)
			if !ok {
				return nil, exprErrf(x.index.pos, "The language expression property array index '%d' at position '%d' can't be applied to a value of type '%s'", iv, x.index.pos, typeName(t))
			}
			if iv < 0 || iv >= int64(len(arr)) {
				return nil, exprErrf(x.index.pos, "The language expression property array index '%d' at position '%d' is out of bounds", iv, x.index.pos)
			}
			return arr[iv], nil
		case string:
			return propertyOf(x, t, iv)
		default:
			return nil, exprErrf(x.index.pos, "The language expression index at position '%d' must be an integer or a string, not '%s'", x.index.pos, typeName(idx))
		}
	case exprCall:
		return e.call(x, sc)
	}
	return nil, exprErrf(x.pos, "unexpected expression")
}

func propertyOf(x *expr, t any, name string) (any, error) {
	switch m := t.(type) {
	case unknown:
		return unknown{text: x.text()}, nil
	case map[string]any:
		v, ok := lookupKey(m, name)
		if !ok {
			return nil, exprErrf(x.pos, "The language expression property '%s' doesn't exist, available properties are '%s'", name, strings.Join(sortedKeys(m), ", "))
		}
		return v, nil
	case nil:
		return nil, exprErrf(x.pos, "The language expression property '%s' can't be evaluated because the value it is applied to is null", name)
	default:
		return nil, exprErrf(x.pos, "The language expression property '%s' can't be evaluated, property name must be applied to an object, not to a value of type '%s'", name, typeName(t))
	}
}

// callCtx is what a built-in function receives.
type callCtx struct {
	e  *engine
	sc *scope
	x  *expr
}

func (c *callCtx) errf(format string, args ...any) error {
	return exprErrf(c.x.pos, "Unable to evaluate template language function '%s' at position '%d': %s", c.x.name, c.x.pos, fmt.Sprintf(format, args...))
}

func (c *callCtx) notHere(why string) error {
	return exprErrf(c.x.pos, "The template function '%s' at position '%d' is not expected at this location. %s", c.x.name, c.x.pos, why)
}

func (c *callCtx) argType(i int, want string, got any) error {
	return c.errf("the parameter %d must be of type '%s', but a value of type '%s' was provided", i+1, want, typeName(got))
}

func (c *callCtx) str(args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", c.argType(i, "String", args[i])
	}
	return s, nil
}

func (c *callCtx) integer(args []any, i int) (int64, error) {
	v, ok := args[i].(int64)
	if !ok {
		return 0, c.argType(i, "Integer", args[i])
	}
	return v, nil
}

func (c *callCtx) boolean(args []any, i int) (bool, error) {
	v, ok := args[i].(bool)
	if !ok {
		return false, c.argType(i, "Boolean", args[i])
	}
	return v, nil
}

func (c *callCtx) array(args []any, i int) ([]any, error) {
	v, ok := args[i].([]any)
	if !ok {
		return nil, c.argType(i, "Array", args[i])
	}
	return v, nil
}

func (c *callCtx) object(args []any, i int) (map[string]any, error) {
	v, ok := args[i].(map[string]any)
	if !ok {
		return nil, c.argType(i, "Object", args[i])
	}
	return v, nil
}

// builtin describes one template function.
type builtin struct {
	min, max int // max < 0: variadic
	fn       func(c *callCtx, args []any) (any, error)
	// lazy functions receive unevaluated arguments (if, and, or, coalesce,
	// lambda); they handle unknown values themselves.
	lazy func(c *callCtx) (any, error)
	// rawUnknown functions are called even when arguments are unknown.
	rawUnknown bool
	// passThrough functions return (parts of) existing values, so their
	// results need no size check.
	passThrough bool
}

// builtins is filled once by init and only read afterwards.
var builtins map[string]*builtin

func (e *engine) call(x *expr, sc *scope) (any, error) {
	if err := e.ctx.Err(); err != nil {
		return nil, errCanceled
	}
	b, ok := builtins[x.lname]
	if !ok {
		switch {
		case strings.HasPrefix(x.lname, "list"):
			b = listBuiltin
		case strings.Contains(x.name, "."):
			return nil, exprErrf(x.pos, "The template function '%s' at position '%d' is a user-defined function, which keyward does not support", x.name, x.pos)
		default:
			return nil, exprErrf(x.pos, "The template function '%s' at position '%d' is not valid. Please see https://aka.ms/arm-functions for usage details", x.name, x.pos)
		}
	}
	if len(x.args) < b.min || (b.max >= 0 && len(x.args) > b.max) {
		var want string
		switch {
		case b.max < 0:
			want = fmt.Sprintf("at least %d", b.min)
		case b.min == b.max:
			want = fmt.Sprintf("%d", b.min)
		default:
			want = fmt.Sprintf("%d to %d", b.min, b.max)
		}
		return nil, exprErrf(x.pos, "Unable to evaluate template language function '%s' at position '%d': function requires %s argument(s) while %d were provided", x.name, x.pos, want, len(x.args))
	}
	c := &callCtx{e: e, sc: sc, x: x}
	if b.lazy != nil {
		return b.lazy(c)
	}
	args := make([]any, len(x.args))
	unk := false
	for i, a := range x.args {
		v, err := e.evalExpr(a, sc)
		if err != nil {
			return nil, err
		}
		if containsUnknown(v) {
			unk = true
		}
		args[i] = v
	}
	if unk && !b.rawUnknown {
		return unknown{text: x.text()}, nil
	}
	v, err := b.fn(c, args)
	if err != nil || b.passThrough {
		return v, err
	}
	if checkSize(v) != nil {
		return nil, exprErrf(x.pos, "Unable to evaluate template language function '%s' at position '%d': %s", x.name, x.pos, errTooLarge.Error())
	}
	return v, nil
}
