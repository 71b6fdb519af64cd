package template

import (
	"math"
	"strconv"
	"strings"
)

func fnEquals(_ *callCtx, args []any) (any, error) { return deepEqual(args[0], args[1]), nil }

// cmpFn builds less/greater and friends: both integers (or floats) or both
// strings (ordinal comparison).
func cmpFn(ok func(int) bool) func(c *callCtx, args []any) (any, error) {
	return func(c *callCtx, args []any) (any, error) {
		switch a := args[0].(type) {
		case string:
			b, isStr := args[1].(string)
			if !isStr {
				return nil, c.errf("both parameters must be of the same type (String and '%s' given)", typeName(args[1]))
			}
			return ok(strings.Compare(a, b)), nil
		case int64, float64:
			x, _ := toFloat(a)
			y, isNum := toFloat(args[1])
			if !isNum {
				return nil, c.errf("both parameters must be of the same type ('%s' and '%s' given)", typeName(a), typeName(args[1]))
			}
			if ai, aok := a.(int64); aok {
				if bi, bok := args[1].(int64); bok {
					switch {
					case ai < bi:
						return ok(-1), nil
					case ai > bi:
						return ok(1), nil
					}
					return ok(0), nil
				}
			}
			switch {
			case x < y:
				return ok(-1), nil
			case x > y:
				return ok(1), nil
			}
			return ok(0), nil
		}
		return nil, c.argType(0, "Integer or String", args[0])
	}
}

func toFloat(v any) (float64, bool) {
	switch t := v.(type) {
	case int64:
		return float64(t), true
	case float64:
		return t, true
	}
	return 0, false
}

func fnNot(c *callCtx, args []any) (any, error) {
	b, err := c.boolean(args, 0)
	if err != nil {
		return nil, err
	}
	return !b, nil
}

func fnBool(c *callCtx, args []any) (any, error) {
	switch t := args[0].(type) {
	case bool:
		return t, nil
	case int64:
		return t != 0, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(t)) {
		case "true", "1":
			return true, nil
		case "false", "0":
			return false, nil
		}
		return nil, c.errf("the string value cannot be converted to a boolean")
	}
	return nil, c.argType(0, "Boolean, Integer or String", args[0])
}

func fnInt(c *callCtx, args []any) (any, error) {
	switch t := args[0].(type) {
	case int64:
		return t, nil
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) || t > math.MaxInt64 || t < math.MinInt64 {
			return nil, c.errf("the value is out of range")
		}
		return int64(math.RoundToEven(t)), nil
	case string:
		i, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
		if err != nil {
			return nil, c.errf("the string value cannot be converted to an integer")
		}
		return i, nil
	case bool:
		if t {
			return int64(1), nil
		}
		return int64(0), nil
	}
	return nil, c.argType(0, "Integer or String", args[0])
}

func arith(op byte) func(c *callCtx, args []any) (any, error) {
	return func(c *callCtx, args []any) (any, error) {
		a, err := c.integer(args, 0)
		if err != nil {
			return nil, err
		}
		b, err := c.integer(args, 1)
		if err != nil {
			return nil, err
		}
		switch op {
		case '+':
			return a + b, nil
		case '-':
			return a - b, nil
		case '*':
			return a * b, nil
		}
		if b == 0 {
			return nil, c.errf("attempted to divide by zero")
		}
		if a == math.MinInt64 && b == -1 {
			if op == '/' {
				return nil, c.errf("the result is out of range")
			}
			return int64(0), nil
		}
		if op == '/' {
			return a / b, nil
		}
		return a % b, nil
	}
}

func minMax(isMin bool) func(c *callCtx, args []any) (any, error) {
	return func(c *callCtx, args []any) (any, error) {
		vals := args
		if len(args) == 1 {
			if a, ok := args[0].([]any); ok {
				vals = a
			}
		}
		if len(vals) == 0 {
			return nil, c.errf("at least one value is required")
		}
		var best int64
		for i, v := range vals {
			x, ok := v.(int64)
			if !ok {
				return nil, c.errf("the value %d is of type '%s'; only integers can be compared", i+1, typeName(v))
			}
			if i == 0 || (isMin && x < best) || (!isMin && x > best) {
				best = x
			}
		}
		return best, nil
	}
}

func fnIf(c *callCtx) (any, error) {
	cond, err := c.e.evalExpr(c.x.args[0], c.sc)
	if err != nil {
		return nil, err
	}
	switch b := cond.(type) {
	case bool:
		if b {
			return c.e.evalExpr(c.x.args[1], c.sc)
		}
		return c.e.evalExpr(c.x.args[2], c.sc)
	case unknown:
		// Only known while deploying. Evaluate both branches to find the
		// resources they reference, but ignore their errors: at deployment
		// time only one of them runs.
		_, _ = c.e.evalExpr(c.x.args[1], c.sc)
		_, _ = c.e.evalExpr(c.x.args[2], c.sc)
		return unknown{text: c.x.text()}, nil
	}
	return nil, c.argType(0, "Boolean", cond)
}

// andOr evaluates arguments left to right and stops at the deciding value.
func andOr(c *callCtx, stopOn bool) (any, error) {
	sawUnknown := false
	for i, a := range c.x.args {
		v, err := c.e.evalExpr(a, c.sc)
		if err != nil {
			return nil, err
		}
		switch b := v.(type) {
		case bool:
			if b == stopOn {
				return stopOn, nil
			}
		case unknown:
			sawUnknown = true
		default:
			return nil, c.argType(i, "Boolean", v)
		}
	}
	if sawUnknown {
		return unknown{text: c.x.text()}, nil
	}
	return !stopOn, nil
}

func fnAnd(c *callCtx) (any, error) { return andOr(c, false) }
func fnOr(c *callCtx) (any, error)  { return andOr(c, true) }

func fnCoalesce(c *callCtx) (any, error) {
	for _, a := range c.x.args {
		v, err := c.e.evalExpr(a, c.sc)
		if err != nil {
			return nil, err
		}
		if _, ok := v.(unknown); ok {
			return unknown{text: c.x.text()}, nil
		}
		if v != nil {
			return v, nil
		}
	}
	return nil, nil
}
