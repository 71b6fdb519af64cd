package logic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm/template"
	"github.com/keyward/keyward/internal/isoduration"
)

// evaluator builds the run's WDL function table over the shared template
// functions.
func (st *runState) evaluator() (*template.Evaluator, error) {
	funcs := commonFuncs(st.s.clock.Now)
	funcs["parameters"] = fn(1, 1, func(args []any) (any, error) {
		n, err := argString(args, 0, "parameters")
		if err != nil {
			return nil, err
		}
		v, ok := st.params[strings.ToLower(n)]
		if !ok {
			return nil, fmt.Errorf("the workflow parameter '%s' is not found", n)
		}
		return v, nil
	})
	funcs["trigger"] = fn(0, 0, func([]any) (any, error) { return st.triggerObject(), nil })
	funcs["triggerOutputs"] = fn(0, 0, func([]any) (any, error) { return st.run.Trigger.Outputs, nil })
	funcs["triggerBody"] = fn(0, 0, func([]any) (any, error) {
		if m, ok := st.run.Trigger.Outputs.(map[string]any); ok {
			return m["body"], nil
		}
		return nil, nil
	})
	funcs["outputs"] = fn(1, 1, func(args []any) (any, error) {
		r, err := st.actionRef(args, "outputs")
		if err != nil {
			return nil, err
		}
		return r.Outputs, nil
	})
	funcs["body"] = fn(1, 1, func(args []any) (any, error) {
		r, err := st.actionRef(args, "body")
		if err != nil {
			return nil, err
		}
		if r.Type == TypeCompose {
			return r.Outputs, nil
		}
		if m, ok := r.Outputs.(map[string]any); ok {
			return m["body"], nil
		}
		return nil, nil
	})
	funcs["actions"] = fn(1, 1, func(args []any) (any, error) {
		r, err := st.actionRef(args, "actions")
		if err != nil {
			return nil, err
		}
		return actionObject(r), nil
	})
	funcs["result"] = fn(1, 1, func(args []any) (any, error) {
		n, err := argString(args, 0, "result")
		if err != nil {
			return nil, err
		}
		st.mu.Lock()
		names, ok := st.byScope[strings.ToLower(n)]
		st.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("the scope action '%s' has not run", n)
		}
		out := []any{}
		for _, an := range names {
			if r, ok := st.result(an); ok {
				out = append(out, actionObject(r))
			}
		}
		return out, nil
	})
	funcs["items"] = fn(1, 1, func(args []any) (any, error) {
		n, err := argString(args, 0, "items")
		if err != nil {
			return nil, err
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		v, ok := st.items[strings.ToLower(n)]
		if !ok {
			return nil, fmt.Errorf("items('%s') can only be used inside the Foreach action '%s'", n, n)
		}
		return v, nil
	})
	funcs["item"] = fn(0, 0, func([]any) (any, error) {
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.loops) == 0 {
			return nil, errors.New("item() can only be used inside a Foreach action")
		}
		return st.items[strings.ToLower(st.loops[len(st.loops)-1])], nil
	})
	funcs["variables"] = fn(1, 1, func(args []any) (any, error) {
		n, err := argString(args, 0, "variables")
		if err != nil {
			return nil, err
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		v, ok := st.vars[strings.ToLower(n)]
		if !ok {
			return nil, fmt.Errorf("the variable '%s' is not initialized", n)
		}
		return v, nil
	})
	funcs["workflow"] = fn(0, 0, func([]any) (any, error) {
		w := map[string]any{"id": st.h.ID, "name": st.h.Name, "type": "Microsoft.Logic/workflows", "location": st.h.Location,
			"run": map[string]any{"id": st.h.ID + "/runs/" + st.run.Name, "name": st.run.Name, "type": "Microsoft.Logic/workflows/runs"}}
		if st.h.Tags != nil {
			tags := map[string]any{}
			for k, v := range st.h.Tags {
				tags[k] = v
			}
			w["tags"] = tags
		}
		return w, nil
	})
	ev, err := template.NewEvaluator(funcs, template.SharedBuiltins())
	if err != nil {
		return nil, fmt.Errorf("logic: expression evaluator: %w", err)
	}
	return ev, nil
}

func (st *runState) triggerObject() map[string]any {
	t := st.run.Trigger
	o := map[string]any{"name": t.Name, "inputs": t.Inputs, "outputs": t.Outputs, "startTime": formatRFC(t.StartTime),
		"endTime": formatRFC(t.EndTime), "trackingId": t.TrackingID, "clientTrackingId": st.run.ClientTrackingID, "code": t.Code, "status": t.Status}
	if !t.Scheduled.IsZero() {
		o["scheduledTime"] = formatRFC(t.Scheduled)
	}
	return o
}

func formatRFC(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.0000000Z")
}

func actionObject(r *ActionResult) map[string]any {
	o := map[string]any{"name": r.Name, "inputs": r.Inputs, "outputs": r.Outputs, "startTime": formatRFC(r.StartTime),
		"endTime": formatRFC(r.EndTime), "trackingId": r.TrackingID, "code": r.Code, "status": r.Status}
	if r.Error != nil {
		o["error"] = map[string]any{"code": r.Error.Code, "message": r.Error.Message}
	}
	return o
}

func (st *runState) actionRef(args []any, fname string) (*ActionResult, error) {
	n, err := argString(args, 0, fname)
	if err != nil {
		return nil, err
	}
	r, ok := st.result(n)
	if !ok {
		return nil, fmt.Errorf("the action '%s' is not defined in the template or has not run yet", n)
	}
	return r, nil
}

// do performs one action.
func (st *runState) do(ctx context.Context, name string, a *Action, res *ActionResult) error {
	switch a.Type {
	case TypeCompose:
		v, err := st.eval.eval(ctx, a.Inputs)
		res.Inputs = v
		if err != nil {
			return err
		}
		res.Outputs = v
		return nil
	case TypeResponse:
		return st.doResponse(ctx, a, res)
	case TypeHTTP:
		return st.doHTTP(ctx, a, res)
	case TypeIf:
		return st.doIf(ctx, name, a, res)
	case TypeForeach:
		return st.doForeach(ctx, name, a, res)
	case TypeScope:
		if st.runScope(ctx, a.Actions, name) == StatusFailed {
			return actionErr("ActionFailed", "An action failed. No dependent actions succeeded.")
		}
		return nil
	case TypeTerminate:
		return st.doTerminate(ctx, a, res)
	case TypeServiceBus, TypeAPIConnection, TypeServiceProv:
		return st.doServiceBus(ctx, a, res)
	case TypeInitVariable, TypeSetVariable, TypeIncrement, TypeDecrement, TypeAppendArray, TypeAppendString:
		return st.doVariable(ctx, a, res)
	}
	return actionErr("InvalidTemplate", "the action type '%s' is not supported", a.Type)
}

func inputsMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

func get(m map[string]any, key string) any {
	if v, ok := m[key]; ok {
		return v
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v
		}
	}
	return nil
}

func asInt(v any) (int, bool) {
	switch t := v.(type) {
	case int64:
		return int(t), true
	case float64:
		if t == float64(int(t)) {
			return int(t), true
		}
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(t))
		return n, err == nil
	}
	return 0, false
}

func stringMap(v any) map[string]string {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for k, x := range m {
		out[k] = toText(x)
	}
	return out
}

func (st *runState) doResponse(ctx context.Context, a *Action, res *ActionResult) error {
	v, err := st.eval.eval(ctx, a.Inputs)
	res.Inputs = v
	if err != nil {
		return err
	}
	in := inputsMap(v)
	code := 200
	if sc := get(in, "statusCode"); sc != nil {
		n, ok := asInt(sc)
		if !ok || n < 100 || n > 599 {
			return actionErr("InvalidResponseStatusCode", "the Response action's statusCode '%v' is not an HTTP status code", sc)
		}
		code = n
	}
	resp := RunResponse{StatusCode: code, Headers: stringMap(get(in, "headers")), Body: get(in, "body")}
	out := map[string]any{"statusCode": int64(code), "body": resp.Body}
	if resp.Headers != nil {
		out["headers"] = get(in, "headers")
	}
	res.Outputs = out
	st.mu.Lock()
	st.run.Response = res
	st.mu.Unlock()
	st.sendResponse(resp)
	return nil
}

func (st *runState) doHTTP(ctx context.Context, a *Action, res *ActionResult) error {
	v, err := st.eval.eval(ctx, a.Inputs)
	res.Inputs = v
	if err != nil {
		return err
	}
	in := inputsMap(v)
	method, _ := get(in, "method").(string)
	if method == "" {
		return actionErr("InvalidTemplate", "the Http action needs a method")
	}
	uri, _ := get(in, "uri").(string)
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return actionErr("InvalidTemplate", "the Http action's uri '%s' is not an absolute http or https URL", uri)
	}
	if qs, ok := get(in, "queries").(map[string]any); ok {
		q := u.Query()
		for k, x := range qs {
			q.Set(k, toText(x))
		}
		u.RawQuery = q.Encode()
	}
	headers := stringMap(get(in, "headers"))
	if headers == nil {
		headers = map[string]string{}
	}
	var body []byte
	switch b := get(in, "body").(type) {
	case nil:
	case string:
		body = []byte(b)
	default:
		body, err = json.Marshal(b)
		if err != nil {
			return actionErr("InvalidTemplate", "the Http action's body cannot be serialized: %v", err)
		}
		if headerValue(headers, "Content-Type") == "" {
			headers["Content-Type"] = "application/json"
		}
	}
	if st.s.http == nil {
		return actionErr("HttpNotAvailable", "the Http action is not available")
	}
	resp, err := st.s.http.Do(ctx, HTTPRequest{Method: strings.ToUpper(method), URL: u.String(), Headers: headers, Body: body})
	if err != nil {
		return actionErr("BadGateway", "the Http request failed: %v", err)
	}
	out := map[string]any{"statusCode": int64(resp.StatusCode), "headers": headersAny(resp.Headers), "body": decodeBody(headerValue(resp.Headers, "Content-Type"), resp.Body)}
	res.Outputs = out
	res.Code = statusCodeName(resp.StatusCode)
	if resp.StatusCode >= 400 {
		return actionErr(res.Code, "the Http request returned status %d", resp.StatusCode)
	}
	return nil
}

func headerValue(h map[string]string, name string) string {
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func headersAny(h map[string]string) map[string]any {
	out := map[string]any{}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// decodeBody turns an HTTP body into a WDL value: JSON for JSON content,
// text for text, and {"$content-type","$content"} otherwise.
func decodeBody(contentType string, b []byte) any {
	if len(b) == 0 {
		return nil
	}
	ct := strings.ToLower(contentType)
	if ct == "" || strings.Contains(ct, "json") {
		if v, err := decodeJSON(b); err == nil {
			return v
		}
	}
	if ct == "" || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "xml") || strings.Contains(ct, "x-www-form-urlencoded") {
		return string(b)
	}
	return map[string]any{"$content-type": contentType, "$content": base64.StdEncoding.EncodeToString(b)}
}

var statusNames = map[int]string{200: "OK", 201: "Created", 202: "Accepted", 204: "NoContent", 301: "MovedPermanently", 302: "Found", 304: "NotModified",
	400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 405: "MethodNotAllowed", 408: "RequestTimeout", 409: "Conflict",
	412: "PreconditionFailed", 413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 429: "TooManyRequests",
	500: "InternalServerError", 501: "NotImplemented", 502: "BadGateway", 503: "ServiceUnavailable", 504: "GatewayTimeout"}

func statusCodeName(c int) string {
	if n, ok := statusNames[c]; ok {
		return n
	}
	return "Status" + strconv.Itoa(c)
}

func (st *runState) doIf(ctx context.Context, name string, a *Action, res *ActionResult) error {
	ok, err := st.condition(ctx, a.Expression)
	res.Inputs = map[string]any{"expressionResult": ok}
	if err != nil {
		return err
	}
	run, skip := a.Actions, map[string]*Action(nil)
	if a.Else != nil {
		skip = a.Else.Actions
	}
	if !ok {
		run, skip = skip, a.Actions
	}
	st.skipAll(skip, name)
	if st.runScope(ctx, run, name) == StatusFailed {
		return actionErr("ActionFailed", "An action failed. No dependent actions succeeded.")
	}
	return nil
}

// skipAll records the actions of a branch that does not run as Skipped.
func (st *runState) skipAll(actions map[string]*Action, scope string) {
	now := st.s.clock.Now().UTC()
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := actions[n]
		st.record(&ActionResult{Name: n, Type: a.Type, Scope: scope, Status: StatusSkipped, Code: "ActionSkipped", StartTime: now, EndTime: now,
			Error: &RunError{Code: "ActionBranchingConditionNotSatisfied", Message: "The execution of template action '" + n + "' skipped: the branching condition for this action is not satisfied."}})
		st.skipAll(a.Actions, n)
		if a.Else != nil {
			st.skipAll(a.Else.Actions, n)
		}
	}
}

// condition evaluates an If expression: a string expression, a boolean, or
// the designer's object form ({"and":[{"equals":[a,b]}, …]}).
func (st *runState) condition(ctx context.Context, x any) (bool, error) {
	switch t := x.(type) {
	case bool:
		return t, nil
	case string:
		v, err := st.eval.eval(ctx, t)
		if err != nil {
			return false, err
		}
		b, ok := v.(bool)
		if !ok {
			return false, actionErr("InvalidTemplate", "the If expression '%s' evaluated to %s, not a boolean", t, kindOf(v))
		}
		return b, nil
	case map[string]any:
		if len(t) != 1 {
			return false, actionErr("InvalidTemplate", "an If condition object has exactly one operator")
		}
		for op, arg := range t {
			switch strings.ToLower(op) {
			case "and", "or":
				list, ok := arg.([]any)
				if !ok {
					return false, actionErr("InvalidTemplate", "the '%s' condition takes an array", op)
				}
				any := strings.EqualFold(op, "or")
				for _, c := range list {
					b, err := st.condition(ctx, c)
					if err != nil {
						return false, err
					}
					if b == any {
						return any, nil
					}
				}
				return !any, nil
			case "not":
				b, err := st.condition(ctx, arg)
				return !b, err
			}
			list, ok := arg.([]any)
			if !ok || len(list) != 2 {
				return false, actionErr("InvalidTemplate", "the '%s' condition takes an array of two values", op)
			}
			l, err := st.eval.eval(ctx, list[0])
			if err != nil {
				return false, err
			}
			r, err := st.eval.eval(ctx, list[1])
			if err != nil {
				return false, err
			}
			return compare(op, l, r)
		}
	}
	return false, actionErr("InvalidTemplate", "the If expression is not a boolean, an expression or a condition object")
}

func compare(op string, l, r any) (bool, error) {
	switch strings.ToLower(op) {
	case "equals":
		return template.EqualValues(l, r), nil
	case "contains":
		switch c := l.(type) {
		case string:
			return strings.Contains(strings.ToLower(c), strings.ToLower(toText(r))), nil
		case []any:
			for _, e := range c {
				if template.EqualValues(e, r) {
					return true, nil
				}
			}
			return false, nil
		case map[string]any:
			_, ok := c[toText(r)]
			return ok, nil
		}
		return false, nil
	case "startswith":
		return strings.HasPrefix(strings.ToLower(toText(l)), strings.ToLower(toText(r))), nil
	case "endswith":
		return strings.HasSuffix(strings.ToLower(toText(l)), strings.ToLower(toText(r))), nil
	case "greater", "greaterorequals", "less", "lessorequals":
		var c int
		a, aok, _ := number(l, 0, op)
		b, bok, _ := number(r, 1, op)
		_, lnum := l.(string)
		_, rnum := r.(string)
		switch {
		case !lnum && !rnum && (aok || isFloat(l)) && (bok || isFloat(r)):
			c = cmpFloat(a, b)
		default:
			c = strings.Compare(toText(l), toText(r))
		}
		switch strings.ToLower(op) {
		case "greater":
			return c > 0, nil
		case "greaterorequals":
			return c >= 0, nil
		case "less":
			return c < 0, nil
		default:
			return c <= 0, nil
		}
	}
	return false, actionErr("InvalidTemplate", "the condition operator '%s' is not supported", op)
}

func isFloat(v any) bool { _, ok := v.(float64); return ok }

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// maxForeachItems is Logic Apps' limit on Foreach items.
const maxForeachItems = 100000

func (st *runState) doForeach(ctx context.Context, name string, a *Action, res *ActionResult) error {
	v, err := st.eval.eval(ctx, a.Foreach)
	if err != nil {
		return err
	}
	items, ok := v.([]any)
	if !ok {
		return actionErr("InvalidTemplate", "the 'foreach' of action '%s' evaluated to %s, not an array", name, kindOf(v))
	}
	if len(items) > maxForeachItems {
		return actionErr("InvalidTemplate", "the 'foreach' of action '%s' has %d items; the limit is %d", name, len(items), maxForeachItems)
	}
	res.Inputs = items
	key := strings.ToLower(name)
	st.mu.Lock()
	st.loops = append(st.loops, name)
	st.mu.Unlock()
	defer func() {
		st.mu.Lock()
		st.loops = st.loops[:len(st.loops)-1]
		delete(st.items, key)
		st.mu.Unlock()
	}()
	failed := false
	for i, it := range items {
		if ctx.Err() != nil || st.halted() {
			break
		}
		st.mu.Lock()
		st.items[key] = it
		st.mu.Unlock()
		if st.runScope(ctx, a.Actions, name) == StatusFailed {
			failed = true
		}
		st.countRepetition(a.Actions, i+1)
		res.Repetitions = i + 1
	}
	if failed {
		return actionErr("ActionFailed", "An action failed in at least one repetition of the Foreach loop.")
	}
	return nil
}

func (st *runState) countRepetition(actions map[string]*Action, n int) {
	st.mu.Lock()
	defer st.mu.Unlock()
	for name := range actions {
		if r, ok := st.results[strings.ToLower(name)]; ok {
			r.Repetitions = n
		}
	}
}

func (st *runState) doTerminate(ctx context.Context, a *Action, res *ActionResult) error {
	v, err := st.eval.eval(ctx, a.Inputs)
	res.Inputs = v
	if err != nil {
		return err
	}
	in := inputsMap(v)
	status := StatusFailed
	switch strings.ToLower(toText(get(in, "runStatus"))) {
	case "succeeded":
		status = StatusSucceeded
	case "cancelled":
		status = StatusCancelled
	case "failed", "":
	default:
		return actionErr("InvalidTemplate", "the Terminate runStatus '%v' is not Succeeded, Failed or Cancelled", get(in, "runStatus"))
	}
	var rerr *RunError
	if status == StatusFailed {
		rerr = &RunError{Code: "Terminated", Message: "The run was terminated with status Failed."}
		if e, ok := get(in, "runError").(map[string]any); ok {
			if c := toText(get(e, "code")); c != "" {
				rerr.Code = c
			}
			if m := toText(get(e, "message")); m != "" {
				rerr.Message = m
			}
		}
	}
	st.mu.Lock()
	st.stopStat, st.stopped = status, rerr
	st.mu.Unlock()
	return nil
}

var varTypes = map[string]string{"string": "string", "integer": "integer", "int": "integer", "float": "float", "boolean": "boolean", "bool": "boolean", "array": "array", "object": "object"}

func (st *runState) doVariable(ctx context.Context, a *Action, res *ActionResult) error {
	v, err := st.eval.eval(ctx, a.Inputs)
	res.Inputs = v
	if err != nil {
		return err
	}
	in := inputsMap(v)
	st.mu.Lock()
	defer st.mu.Unlock()
	if a.Type == TypeInitVariable {
		list, _ := get(in, "variables").([]any)
		if len(list) == 0 {
			return actionErr("InvalidTemplate", "InitializeVariable needs inputs.variables")
		}
		for _, e := range list {
			m := inputsMap(e)
			n := toText(get(m, "name"))
			if n == "" {
				return actionErr("InvalidTemplate", "a variable needs a name")
			}
			if _, exists := st.vars[strings.ToLower(n)]; exists {
				return actionErr("InvalidTemplate", "the variable '%s' is already initialized", n)
			}
			typ, ok := varTypes[strings.ToLower(toText(get(m, "type")))]
			if !ok {
				return actionErr("InvalidTemplate", "the variable '%s' has the type '%v'; use string, integer, float, boolean, array or object", n, get(m, "type"))
			}
			val := get(m, "value")
			if val == nil {
				switch typ {
				case "string":
					val = ""
				case "integer":
					val = int64(0)
				case "float":
					val = float64(0)
				case "boolean":
					val = false
				case "array":
					val = []any{}
				case "object":
					val = map[string]any{}
				}
			}
			st.vars[strings.ToLower(n)] = val
		}
		res.Outputs = map[string]any{"body": map[string]any{}}
		return nil
	}
	n := toText(get(in, "name"))
	cur, ok := st.vars[strings.ToLower(n)]
	if !ok {
		return actionErr("InvalidTemplate", "the variable '%s' is not initialized", n)
	}
	val := get(in, "value")
	var next any
	switch a.Type {
	case TypeSetVariable:
		next = val
	case TypeIncrement, TypeDecrement:
		by := any(int64(1))
		if val != nil {
			by = val
		}
		op := byte('+')
		if a.Type == TypeDecrement {
			op = '-'
		}
		r, err := arith(op, "increment").Fn(ctx, []any{cur, by})
		if err != nil {
			return actionErr("InvalidTemplate", "%v", err)
		}
		next = r
	case TypeAppendArray:
		arr, ok := cur.([]any)
		if !ok {
			return actionErr("InvalidTemplate", "the variable '%s' is not an array", n)
		}
		next = append(append([]any{}, arr...), val)
	case TypeAppendString:
		s, ok := cur.(string)
		if !ok {
			return actionErr("InvalidTemplate", "the variable '%s' is not a string", n)
		}
		next = s + toText(val)
	}
	st.vars[strings.ToLower(n)] = next
	res.Outputs = map[string]any{"body": map[string]any{"value": next}}
	return nil
}

// Service Bus send-message.

// ParseConnectionString parses a Service Bus connection string
// ("Endpoint=sb://host/;SharedAccessKeyName=…;SharedAccessKey=…[;EntityPath=…]").
func ParseConnectionString(cs string) (ServiceBusConnection, error) {
	var c ServiceBusConnection
	var endpoint string
	for _, part := range strings.Split(cs, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return c, errors.New("the connection string is not a list of key=value pairs")
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "endpoint":
			endpoint = strings.TrimSpace(v)
		case "sharedaccesskeyname":
			c.KeyName = v
		case "sharedaccesskey":
			c.Key = v
		case "entitypath":
			c.EntityPath = v
		}
	}
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" || (u.Scheme != "sb" && u.Scheme != "amqps" && u.Scheme != "https") {
		return c, errors.New("the connection string needs Endpoint=sb://<namespace host>/")
	}
	c.Host = strings.ToLower(u.Hostname())
	if c.KeyName == "" || c.Key == "" {
		return c, errors.New("the connection string needs SharedAccessKeyName and SharedAccessKey")
	}
	return c, nil
}

// redactConnection hides the key of a connection string in recorded inputs.
func redactConnection(v any) any {
	switch t := v.(type) {
	case string:
		low := strings.ToLower(t)
		i := strings.Index(low, "sharedaccesskey=")
		if i < 0 {
			return t
		}
		j := strings.Index(t[i:], ";")
		if j < 0 {
			return t[:i] + "SharedAccessKey=*****"
		}
		return t[:i] + "SharedAccessKey=*****" + t[i+j:]
	case map[string]any:
		out := map[string]any{}
		for k, x := range t {
			out[k] = redactConnection(x)
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, x := range t {
			out[i] = redactConnection(x)
		}
		return out
	}
	return v
}

// connectionFor finds a connection string in the workflow's $connections
// parameter by name or connection id.
func (st *runState) connectionFor(ref string) string {
	conns, ok := st.params["$connections"].(map[string]any)
	if !ok {
		return ""
	}
	for name, c := range conns {
		m := inputsMap(c)
		if strings.EqualFold(name, ref) || strings.EqualFold(toText(get(m, "connectionId")), ref) || strings.EqualFold(toText(get(m, "id")), ref) {
			return toText(get(m, "connectionString"))
		}
	}
	return ""
}

func (st *runState) doServiceBus(ctx context.Context, a *Action, res *ActionResult) error {
	v, err := st.eval.eval(ctx, a.Inputs)
	res.Inputs = redactConnection(v)
	if err != nil {
		return err
	}
	in := inputsMap(v)
	var cs, entity string
	var msg map[string]any
	binary := false
	switch a.Type {
	case TypeServiceBus:
		cs = toText(get(in, "connectionString"))
		if cs == "" {
			cs = st.connectionFor(toText(get(in, "connection")))
		}
		entity = firstNonEmpty(toText(get(in, "entityName")), toText(get(in, "queueName")), toText(get(in, "topicName")))
		msg = inputsMap(get(in, "message"))
	case TypeServiceProv:
		cfg := inputsMap(get(in, "serviceProviderConfiguration"))
		if !strings.EqualFold(toText(get(cfg, "serviceProviderId")), "/serviceProviders/serviceBus") || !strings.EqualFold(toText(get(cfg, "operationId")), "sendMessage") {
			return actionErr("InvalidTemplate", "keyward's ServiceProvider actions support serviceProviderId /serviceProviders/serviceBus with operationId sendMessage")
		}
		p := inputsMap(get(in, "parameters"))
		cs = toText(get(p, "connectionString"))
		if cs == "" {
			cs = st.connectionFor(toText(get(cfg, "connectionName")))
		}
		entity = toText(get(p, "entityName"))
		msg = inputsMap(get(p, "message"))
	case TypeAPIConnection:
		host := inputsMap(get(in, "host"))
		cs = st.connectionFor(toText(get(inputsMap(get(host, "connection")), "name")))
		if !strings.EqualFold(toText(get(in, "method")), "post") {
			return actionErr("InvalidTemplate", "keyward's ApiConnection actions support the Service Bus send message operation (POST /{entity}/messages)")
		}
		segs := strings.Split(strings.Trim(toText(get(in, "path")), "/"), "/")
		if len(segs) != 2 || !strings.EqualFold(segs[1], "messages") {
			return actionErr("InvalidTemplate", "keyward's ApiConnection actions support the Service Bus send message operation (POST /{entity}/messages)")
		}
		entity = segs[0]
		for i := 0; i < 2; i++ {
			if u, err := url.PathUnescape(entity); err == nil {
				entity = u
			}
		}
		msg = inputsMap(get(in, "body"))
		binary = true
	}
	if cs == "" {
		return actionErr("ConnectionNotFound", "the Service Bus action has no connection string (inputs.connectionString, or a connectionString in the $connections parameter)")
	}
	conn, err := ParseConnectionString(cs)
	if err != nil {
		return actionErr("InvalidConnectionString", "%v", err)
	}
	if entity == "" {
		entity = conn.EntityPath
	}
	if entity == "" {
		return actionErr("InvalidTemplate", "the Service Bus action needs an entityName")
	}
	m, err := buildMessage(msg, binary)
	if err != nil {
		return err
	}
	if st.s.sb == nil {
		return actionErr("ServiceBusNotAvailable", "the Service Bus action is not available")
	}
	if err := st.s.sb.Send(ctx, conn, entity, m); err != nil {
		var ae *actionError
		if errors.As(err, &ae) {
			return ae
		}
		return actionErr("ServiceBusSendFailed", "sending to '%s' failed: %v", entity, err)
	}
	res.Outputs = map[string]any{"statusCode": int64(200), "body": map[string]any{"entityName": entity, "messageId": m.MessageID}}
	return nil
}

func buildMessage(msg map[string]any, binary bool) (ServiceBusMessage, error) {
	var m ServiceBusMessage
	content := get(msg, "contentData")
	switch c := content.(type) {
	case nil:
	case string:
		if binary {
			b, err := base64.StdEncoding.DecodeString(c)
			if err != nil {
				return m, actionErr("InvalidTemplate", "ContentData must be base64 (use base64(...))")
			}
			m.Body = b
		} else {
			m.Body = []byte(c)
		}
	default:
		b, err := json.Marshal(c)
		if err != nil {
			return m, actionErr("InvalidTemplate", "the message content cannot be serialized: %v", err)
		}
		m.Body = b
		m.ContentType = "application/json"
	}
	if ct := toText(get(msg, "contentType")); ct != "" {
		m.ContentType = ct
	}
	m.MessageID = toText(get(msg, "messageId"))
	if m.MessageID == "" {
		m.MessageID = newHexID(16)
	}
	m.SessionID = toText(get(msg, "sessionId"))
	m.CorrelationID = toText(get(msg, "correlationId"))
	m.Subject = firstNonEmpty(toText(get(msg, "subject")), toText(get(msg, "label")))
	m.To = toText(get(msg, "to"))
	m.ReplyTo = toText(get(msg, "replyTo"))
	if ttl := toText(get(msg, "timeToLive")); ttl != "" {
		d, err := parseTTL(ttl)
		if err != nil {
			return m, actionErr("InvalidTemplate", "timeToLive '%s' is not an ISO 8601 duration or a number of seconds", ttl)
		}
		m.TimeToLive = d
	}
	if at := firstNonEmpty(toText(get(msg, "scheduledEnqueueTimeUtc")), toText(get(msg, "scheduledEnqueueTime"))); at != "" {
		t, err := template.ParseDateTime(at)
		if err != nil {
			return m, actionErr("InvalidTemplate", "scheduledEnqueueTimeUtc '%s' is not a date and time", at)
		}
		m.ScheduledEnqueueTime = t
	}
	props := get(msg, "properties")
	if props == nil {
		props = get(msg, "userProperties")
	}
	if p, ok := props.(map[string]any); ok {
		m.Properties = map[string]any{}
		for k, x := range p {
			switch x.(type) {
			case string, int64, float64, bool, nil:
				m.Properties[k] = x
			default:
				m.Properties[k] = toText(x)
			}
		}
	}
	return m, nil
}

func parseTTL(s string) (time.Duration, error) {
	if n, err := strconv.ParseFloat(s, 64); err == nil && n > 0 {
		return time.Duration(n * float64(time.Second)), nil
	}
	return isoduration.Parse(s)
}
