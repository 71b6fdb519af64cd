package template

import (
	"sort"
	"strings"
	"unicode/utf8"
)

func fnConcat(c *callCtx, args []any) (any, error) {
	if len(args) == 0 {
		return "", nil
	}
	if _, ok := args[0].([]any); ok {
		var out []any
		for i, a := range args {
			switch t := a.(type) {
			case []any:
				out = append(out, t...)
			case nil:
			default:
				return nil, c.argType(i, "Array", a)
			}
		}
		if out == nil {
			out = []any{}
		}
		return out, nil
	}
	var b strings.Builder
	for i, a := range args {
		s, ok := scalarString(a)
		if !ok {
			return nil, c.errf("the parameter %d is of type '%s'; concat accepts either only arrays or only strings, integers and booleans", i+1, typeName(a))
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func fnContains(c *callCtx, args []any) (any, error) {
	switch t := args[0].(type) {
	case string:
		s, ok := scalarString(args[1])
		if !ok || args[1] == nil {
			return nil, c.argType(1, "String", args[1])
		}
		return strings.Contains(t, s), nil
	case []any:
		for _, v := range t {
			if deepEqual(v, args[1]) {
				return true, nil
			}
		}
		return false, nil
	case map[string]any:
		k, err := c.str(args, 1)
		if err != nil {
			return nil, err
		}
		_, ok := lookupKey(t, k)
		return ok, nil
	}
	return nil, c.argType(0, "String, Array or Object", args[0])
}

func fnEmpty(c *callCtx, args []any) (any, error) {
	switch t := args[0].(type) {
	case nil:
		return true, nil
	case string:
		return t == "", nil
	case []any:
		return len(t) == 0, nil
	case map[string]any:
		return len(t) == 0, nil
	}
	return nil, c.argType(0, "String, Array or Object", args[0])
}

func fnFirst(c *callCtx, args []any) (any, error) {
	switch t := args[0].(type) {
	case string:
		if t == "" {
			return "", nil
		}
		r, _ := utf8.DecodeRuneInString(t)
		return string(r), nil
	case []any:
		if len(t) == 0 {
			return nil, nil
		}
		return t[0], nil
	}
	return nil, c.argType(0, "String or Array", args[0])
}

func fnLast(c *callCtx, args []any) (any, error) {
	switch t := args[0].(type) {
	case string:
		if t == "" {
			return "", nil
		}
		r, _ := utf8.DecodeLastRuneInString(t)
		return string(r), nil
	case []any:
		if len(t) == 0 {
			return nil, nil
		}
		return t[len(t)-1], nil
	}
	return nil, c.argType(0, "String or Array", args[0])
}

func fnLength(c *callCtx, args []any) (any, error) {
	switch t := args[0].(type) {
	case string:
		return int64(utf8.RuneCountInString(t)), nil
	case []any:
		return int64(len(t)), nil
	case map[string]any:
		return int64(len(t)), nil
	}
	return nil, c.argType(0, "String, Array or Object", args[0])
}

func clampCount(n int64, l int) int {
	if n < 0 {
		return 0
	}
	if n > int64(l) {
		return l
	}
	return int(n)
}

func fnSkip(c *callCtx, args []any) (any, error) {
	n, err := c.integer(args, 1)
	if err != nil {
		return nil, err
	}
	switch t := args[0].(type) {
	case string:
		r := []rune(t)
		return string(r[clampCount(n, len(r)):]), nil
	case []any:
		return append([]any{}, t[clampCount(n, len(t)):]...), nil
	}
	return nil, c.argType(0, "String or Array", args[0])
}

func fnTake(c *callCtx, args []any) (any, error) {
	n, err := c.integer(args, 1)
	if err != nil {
		return nil, err
	}
	switch t := args[0].(type) {
	case string:
		r := []rune(t)
		return string(r[:clampCount(n, len(r))]), nil
	case []any:
		return append([]any{}, t[:clampCount(n, len(t))]...), nil
	}
	return nil, c.argType(0, "String or Array", args[0])
}

func fnArray(_ *callCtx, args []any) (any, error) {
	if a, ok := args[0].([]any); ok {
		return a, nil
	}
	return []any{args[0]}, nil
}

func fnCreateArray(_ *callCtx, args []any) (any, error) {
	return append([]any{}, args...), nil
}

func fnCreateObject(c *callCtx, args []any) (any, error) {
	if len(args)%2 != 0 {
		return nil, c.errf("the function requires an even number of parameters (key/value pairs)")
	}
	out := make(map[string]any, len(args)/2)
	for i := 0; i < len(args); i += 2 {
		k, err := c.str(args, i)
		if err != nil {
			return nil, err
		}
		out[k] = args[i+1]
	}
	return out, nil
}

// mergeObjects merges b into a copy of a; nested objects merge recursively.
func mergeObjects(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		if bo, ok := v.(map[string]any); ok {
			if ao, ok := out[k].(map[string]any); ok {
				out[k] = mergeObjects(ao, bo)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func fnUnion(c *callCtx, args []any) (any, error) {
	switch args[0].(type) {
	case map[string]any:
		out := map[string]any{}
		for i := range args {
			if args[i] == nil {
				continue
			}
			o, err := c.object(args, i)
			if err != nil {
				return nil, err
			}
			out = mergeObjects(out, o)
		}
		return out, nil
	case []any:
		out := []any{}
		seen := map[string]bool{}
		for i := range args {
			if args[i] == nil {
				continue
			}
			a, err := c.array(args, i)
			if err != nil {
				return nil, err
			}
			for _, v := range a {
				if k := canonKey(v); !seen[k] {
					seen[k] = true
					out = append(out, v)
				}
			}
		}
		return out, nil
	}
	return nil, c.argType(0, "Array or Object", args[0])
}

func fnIntersection(c *callCtx, args []any) (any, error) {
	switch first := args[0].(type) {
	case map[string]any:
		out := map[string]any{}
		for k, v := range first {
			keep := true
			for i := 1; i < len(args); i++ {
				o, err := c.object(args, i)
				if err != nil {
					return nil, err
				}
				w, ok := o[k]
				if !ok || !deepEqual(v, w) {
					keep = false
					break
				}
			}
			if keep {
				out[k] = v
			}
		}
		return out, nil
	case []any:
		sets := make([]map[string]bool, 0, len(args)-1)
		for i := 1; i < len(args); i++ {
			a, err := c.array(args, i)
			if err != nil {
				return nil, err
			}
			set := make(map[string]bool, len(a))
			for _, w := range a {
				set[canonKey(w)] = true
			}
			sets = append(sets, set)
		}
		out := []any{}
		emitted := map[string]bool{}
		for _, v := range first {
			k := canonKey(v)
			keep := !emitted[k]
			for _, set := range sets {
				if !set[k] {
					keep = false
					break
				}
			}
			if keep {
				emitted[k] = true
				out = append(out, v)
			}
		}
		return out, nil
	}
	return nil, c.argType(0, "Array or Object", args[0])
}

// maxRange bounds range() like ARM (count at most 10000).
const maxRange = 10000

func fnRange(c *callCtx, args []any) (any, error) {
	start, err := c.integer(args, 0)
	if err != nil {
		return nil, err
	}
	count, err := c.integer(args, 1)
	if err != nil {
		return nil, err
	}
	if count < 0 || count > maxRange {
		return nil, c.errf("the count '%d' must be between 0 and %d", count, maxRange)
	}
	if start+count-1 > 2147483647 || start < -2147483648 {
		return nil, c.errf("the sum of start index and count must be no more than 2147483647")
	}
	out := make([]any, count)
	for i := range out {
		out[i] = start + int64(i)
	}
	return out, nil
}

func fnFlatten(c *callCtx, args []any) (any, error) {
	arr, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for i, v := range arr {
		inner, ok := v.([]any)
		if !ok {
			return nil, c.errf("the element %d is of type '%s'; flatten needs an array of arrays", i, typeName(v))
		}
		out = append(out, inner...)
	}
	return out, nil
}

func fnItems(c *callCtx, args []any) (any, error) {
	o, err := c.object(args, 0)
	if err != nil {
		return nil, err
	}
	keys := sortedKeys(o)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = map[string]any{"key": k, "value": o[k]}
	}
	return out, nil
}

func fnObjectKeys(c *callCtx, args []any) (any, error) {
	o, err := c.object(args, 0)
	if err != nil {
		return nil, err
	}
	keys := sortedKeys(o)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = k
	}
	return out, nil
}

func fnTryGet(c *callCtx, args []any) (any, error) {
	cur := args[0]
	for i := 1; i < len(args); i++ {
		switch t := cur.(type) {
		case map[string]any:
			k, ok := args[i].(string)
			if !ok {
				return nil, nil
			}
			v, found := lookupKey(t, k)
			if !found {
				return nil, nil
			}
			cur = v
		case []any:
			k, ok := args[i].(int64)
			if !ok || k < 0 || k >= int64(len(t)) {
				return nil, nil
			}
			cur = t[k]
		default:
			return nil, nil
		}
	}
	return cur, nil
}

// Lambdas.

func fnLambda(c *callCtx) (any, error) {
	n := len(c.x.args)
	var params []string
	for _, a := range c.x.args[:n-1] {
		if a.kind != exprString || a.s == "" {
			return nil, exprErrf(a.pos, "Unable to evaluate template language function 'lambda' at position '%d': the lambda parameter names must be string literals", c.x.pos)
		}
		params = append(params, a.s)
	}
	return &lambdaValue{params: params, body: c.x.args[n-1], scope: c.sc}, nil
}

func fnLambdaVariables(c *callCtx, args []any) (any, error) {
	name, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	if v, ok := c.sc.lambdas[name]; ok {
		return v, nil
	}
	return nil, c.notHere("lambdaVariables('" + name + "') can only be used inside a lambda that declares '" + name + "'")
}

func (c *callCtx) lambda(args []any, i, arity int) (*lambdaValue, error) {
	l, ok := args[i].(*lambdaValue)
	if !ok {
		return nil, c.argType(i, "Lambda", args[i])
	}
	if len(l.params) != arity && !(arity == 2 && len(l.params) == 1) {
		return nil, c.errf("the lambda must take %d parameter(s), not %d", arity, len(l.params))
	}
	return l, nil
}

// apply evaluates a lambda with the given argument values.
func (c *callCtx) apply(l *lambdaValue, vals ...any) (any, error) {
	sc := *l.scope
	vars := make(map[string]any, len(l.scope.lambdas)+len(l.params))
	for k, v := range l.scope.lambdas {
		vars[k] = v
	}
	for i, p := range l.params {
		if i < len(vals) {
			vars[p] = vals[i]
		}
	}
	sc.lambdas = vars
	return c.e.evalExpr(l.body, &sc)
}

func fnFilter(c *callCtx, args []any) (any, error) {
	arr, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	l, err := c.lambda(args, 1, 2)
	if err != nil {
		return nil, err
	}
	out := []any{}
	for i, v := range arr {
		r, err := c.apply(l, v, int64(i))
		if err != nil {
			return nil, err
		}
		if _, ok := r.(unknown); ok {
			return unknown{text: c.x.text()}, nil
		}
		b, ok := r.(bool)
		if !ok {
			return nil, c.errf("the filter lambda must return a boolean, not '%s'", typeName(r))
		}
		if b {
			out = append(out, v)
		}
	}
	return out, nil
}

func fnMap(c *callCtx, args []any) (any, error) {
	arr, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	l, err := c.lambda(args, 1, 2)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(arr))
	for i, v := range arr {
		r, err := c.apply(l, v, int64(i))
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func fnReduce(c *callCtx, args []any) (any, error) {
	arr, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	l, ok := args[2].(*lambdaValue)
	if !ok || len(l.params) < 2 || len(l.params) > 3 {
		return nil, c.errf("the third parameter must be a lambda taking 2 or 3 parameters")
	}
	acc := args[1]
	for i, v := range arr {
		if acc, err = c.apply(l, acc, v, int64(i)); err != nil {
			return nil, err
		}
	}
	return acc, nil
}

func fnSort(c *callCtx, args []any) (any, error) {
	arr, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	l, ok := args[1].(*lambdaValue)
	if !ok || len(l.params) != 2 {
		return nil, c.errf("the second parameter must be a lambda taking 2 parameters")
	}
	out := append([]any{}, arr...)
	var serr error
	sort.SliceStable(out, func(i, j int) bool {
		if serr != nil {
			return false
		}
		r, err := c.apply(l, out[i], out[j])
		if err != nil {
			serr = err
			return false
		}
		b, ok := r.(bool)
		if !ok {
			serr = c.errf("the sort lambda must return a boolean, not '%s'", typeName(r))
			return false
		}
		return b
	})
	if serr != nil {
		return nil, serr
	}
	return out, nil
}

func fnToObject(c *callCtx, args []any) (any, error) {
	arr, err := c.array(args, 0)
	if err != nil {
		return nil, err
	}
	kl, ok := args[1].(*lambdaValue)
	if !ok || len(kl.params) != 1 {
		return nil, c.errf("the second parameter must be a lambda taking 1 parameter")
	}
	var vl *lambdaValue
	if len(args) > 2 {
		if vl, ok = args[2].(*lambdaValue); !ok || len(vl.params) != 1 {
			return nil, c.errf("the third parameter must be a lambda taking 1 parameter")
		}
	}
	out := map[string]any{}
	for _, v := range arr {
		k, err := c.apply(kl, v)
		if err != nil {
			return nil, err
		}
		ks, ok := k.(string)
		if !ok {
			return nil, c.errf("the key lambda must return a string, not '%s'", typeName(k))
		}
		val := v
		if vl != nil {
			if val, err = c.apply(vl, v); err != nil {
				return nil, err
			}
		}
		out[ks] = val
	}
	return out, nil
}
