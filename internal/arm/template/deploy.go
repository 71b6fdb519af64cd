package template

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Deploy deploys a template to the scope through the Deployer: it binds the
// parameters, validates every expression that can be evaluated up front,
// puts the resources one at a time in dependency order (a resource whose
// dependency failed is skipped; independent resources still run), deletes
// resources missing from the template in Complete mode, and evaluates the
// outputs.
//
// Validation failures return (nil, *Error with code InvalidTemplate) before
// anything is changed. Resource failures return the partial Result and an
// *Error with code DeploymentFailed whose Details name each failed resource
// (Target) with its inner code and message.
func Deploy(ctx context.Context, t *Template, params Parameters, scope Scope, d Deployer, mode Mode) (*Result, error) {
	if t == nil {
		return nil, &Error{Code: CodeInvalidTemplate, Message: "Deployment template validation failed: 'The template is missing.'."}
	}
	if d == nil {
		return nil, errors.New("template: deploy: nil Deployer")
	}
	if mode != "" && mode != Incremental && mode != Complete {
		return nil, &Error{Code: "InvalidDeploymentMode", Message: fmt.Sprintf("The deployment mode '%s' is not supported. Supported modes are 'Incremental' and 'Complete'.", mode)}
	}
	e := newEngine(ctx, t, params, scope, d, mode)
	if err := e.bindParameters(); err != nil {
		return nil, err
	}
	order, terr := e.plan()
	if terr != nil {
		return nil, terr
	}
	if _, oerr := e.evalOutputs(true); oerr != nil {
		return nil, oerr
	}
	res := &Result{Outputs: map[string]Output{}}
	var failures []*Error
	for _, in := range order {
		if ctx.Err() != nil {
			return res, e.canceled()
		}
		if f := e.deployOne(in, res); f != nil {
			if f.Code == CodeCanceled {
				return res, f
			}
			failures = append(failures, f)
		}
	}
	if len(failures) > 0 {
		return res, deploymentFailed(failures)
	}
	if e.mode == Complete {
		if f := e.deleteUnlisted(res); len(f) > 0 {
			return res, deploymentFailed(f)
		}
	}
	outs, oerr := e.evalOutputs(false)
	if oerr != nil {
		return res, oerr
	}
	res.Outputs = outs
	return res, nil
}

func deploymentFailed(details []*Error) *Error {
	return &Error{Code: CodeDeploymentFailed, Details: details,
		Message: "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details."}
}

// deployOne deploys one instance and records the operation; it returns the
// failure detail, if any.
func (e *engine) deployOne(in *instance, res *Result) *Error {
	for _, dep := range in.deps {
		if dep.state == stateFailed || dep.state == stateSkipped {
			in.state = stateSkipped
			return nil
		}
	}
	if in.cond == condDeferred {
		v, err := e.evalNode(in.def.node.get("condition"), in.scope(siteCondition, false), nodeOpts{})
		if err != nil {
			return e.runtimeErr(in, err)
		}
		b, ok := v.(bool)
		if !ok {
			return e.runtimeErr(in, &nodeError{n: in.def.node.get("condition"), msg: fmt.Sprintf("the condition must evaluate to a boolean, not '%s'", typeName(v))})
		}
		if !b {
			in.state = stateOff
			return nil
		}
	}
	start := e.clock()
	body, err := e.evalBody(in, in.scope(siteBody, false))
	if err != nil {
		f := e.runtimeErr(in, err)
		if f.Code != CodeCanceled {
			e.recordOp(res, in, "Create", start, f)
		}
		in.state = stateFailed
		return f
	}
	if containsUnknown(body) { // cannot happen outside validate mode; be safe
		f := e.runtimeErr(in, errors.New("the resource body still contains unresolved values"))
		in.state = stateFailed
		return f
	}
	req := ResourceRequest{ID: in.id, Type: in.typ, Name: in.name, APIVersion: in.apiVersion,
		Location: in.location, Body: deepCopy(body).(map[string]any), Existing: in.def.existing}
	var (
		obj map[string]any
		op  = "Create"
	)
	if in.def.existing {
		op = "Read"
		obj, err = e.d.GetResource(e.ctx, in.id, in.apiVersion)
	} else {
		obj, err = e.d.PutResource(e.ctx, req)
	}
	if err != nil {
		if e.ctx.Err() != nil {
			return e.canceled()
		}
		f := deployerError(in.id, err)
		e.recordOp(res, in, op, start, f)
		in.state = stateFailed
		return f
	}
	if obj == nil {
		obj = body
	}
	nobj, _ := normalize(obj).(map[string]any)
	e.deployed[strings.ToLower(in.id)] = &deployedRes{apiVersion: in.apiVersion, obj: nobj}
	in.state = stateDone
	e.recordOp(res, in, op, start, nil)
	if !in.def.existing {
		res.OutputResources = append(res.OutputResources, ResourceRef{ID: in.id})
	}
	return nil
}

func (e *engine) recordOp(res *Result, in *instance, op string, start time.Time, f *Error) {
	st := "Succeeded"
	if f != nil {
		st = "Failed"
	}
	now := e.clock()
	res.Operations = append(res.Operations, Operation{ResourceID: in.id, ResourceType: in.typ, ResourceName: in.name,
		ProvisioningOperation: op, ProvisioningState: st, Error: f, Timestamp: now, Duration: now.Sub(start)})
}

// runtimeErr formats an expression failure that happened while deploying,
// in ARM's "Unable to process template language expressions" wording.
func (e *engine) runtimeErr(in *instance, err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		c := *te
		if c.Target == "" {
			c.Target = in.id
		}
		return &c
	}
	if errors.Is(err, errCanceled) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return e.canceled()
	}
	line, col := in.def.node.line, in.def.node.col
	var ne *nodeError
	msg := err.Error()
	if errors.As(err, &ne) {
		line, col = ne.n.line, ne.n.col
		msg = ne.msg
	}
	return &Error{Code: CodeInvalidTemplate, Target: in.id, Line: line, Column: col,
		Message: fmt.Sprintf("Unable to process template language expressions for resource '%s'%s. '%s'", in.id, at(line, col), msg)}
}

// deleteUnlisted implements Complete mode: resources of the group that the
// template did not deploy are deleted, except children of deployed
// resources and resources whose parent is deleted too (the provider removes
// those with their parent).
func (e *engine) deleteUnlisted(res *Result) []*Error {
	ids, err := e.d.ListResourceIDs(e.ctx)
	if err != nil {
		return []*Error{deployerError(e.rgID(), err)}
	}
	doomed := e.unlisted(ids)
	var fails []*Error
	for _, id := range doomed {
		if e.ctx.Err() != nil {
			return append(fails, e.canceled())
		}
		start := e.clock()
		typ, name, _ := parseResourceID(id)
		in := &instance{id: id, typ: typ, name: name}
		if err := e.d.DeleteResource(e.ctx, id); err != nil && !isNotFound(err) {
			f := deployerError(id, err)
			e.recordOp(res, in, "Delete", start, f)
			fails = append(fails, f)
			continue
		}
		e.recordOp(res, in, "Delete", start, nil)
	}
	return fails
}

// unlisted returns the ids Complete mode deletes, in listing order.
func (e *engine) unlisted(ids []string) []string {
	kept := map[string]bool{}
	for _, in := range e.insts {
		if in.state == stateDone || in.state == statePending && in.cond != condFalse {
			kept[strings.ToLower(in.id)] = true
		}
	}
	hasAncestorIn := func(id string, set map[string]bool) bool {
		l := strings.ToLower(id)
		for k := range set {
			if strings.HasPrefix(l, k+"/") {
				return true
			}
		}
		return false
	}
	cand := map[string]bool{}
	for _, id := range ids {
		l := strings.ToLower(id)
		if kept[l] || hasAncestorIn(id, kept) {
			continue
		}
		cand[l] = true
	}
	var out []string
	reported := map[string]bool{}
	for _, id := range ids {
		l := strings.ToLower(id)
		if cand[l] && !reported[l] && !hasAncestorIn(id, cand) {
			reported[l] = true
			out = append(out, id)
		}
	}
	return out
}

var outputTypeDisplay = map[string]string{
	"string": "String", "securestring": "SecureString", "int": "Int", "bool": "Bool",
	"object": "Object", "secureobject": "SecureObject", "array": "Array",
}

// evalOutputs evaluates the outputs section.
func (e *engine) evalOutputs(validate bool) (map[string]Output, *Error) {
	outs := map[string]Output{}
	var fails []*Error
	for _, o := range e.t.outputs {
		where := fmt.Sprintf("The template output '%s'%s", o.name, at(o.node.line, o.node.col))
		v, include, err := e.evalOutput(o, validate)
		if err != nil {
			f := e.sectionErr(where, o.name, err)
			if f.Code == CodeCanceled {
				return nil, f
			}
			fails = append(fails, f)
			continue
		}
		if !include {
			continue
		}
		outs[o.name] = Output{Type: outputTypeDisplay[o.typ], Value: v}
	}
	if len(fails) > 0 {
		if validate {
			return nil, fails[0]
		}
		names := make([]string, len(fails))
		for i, f := range fails {
			c := *f
			c.Code = CodeDeploymentOutputEvaluationFailed
			fails[i] = &c
			names[i] = c.Target
		}
		return nil, &Error{Code: CodeDeploymentOutputEvaluationFailed, Details: fails,
			Message: fmt.Sprintf("Unable to evaluate template outputs: '%s'. Please see error details and deployment operations. Please see https://aka.ms/arm-common-errors for usage details.", strings.Join(names, ","))}
	}
	return outs, nil
}

func (e *engine) evalOutput(o *outputDef, validate bool) (any, bool, error) {
	sc := &scope{site: siteOutput, validate: validate}
	if cn := o.node.get("condition"); cn != nil {
		v, err := e.evalNode(cn, sc, nodeOpts{})
		if err != nil {
			return nil, false, err
		}
		switch b := v.(type) {
		case bool:
			if !b {
				return nil, false, nil
			}
		case unknown:
		default:
			return nil, false, &nodeError{n: cn, msg: fmt.Sprintf("the condition must evaluate to a boolean, not '%s'", typeName(v))}
		}
	}
	var (
		v   any
		err error
	)
	if c := o.node.get("copy"); c != nil {
		if c.kind != kindObject || c.get("count") == nil || c.get("input") == nil {
			return nil, false, &nodeError{n: c, msg: "the output 'copy' must be an object with 'count' and 'input'"}
		}
		count, cerr := e.evalCount(c.get("count"), sc)
		if cerr != nil {
			return nil, false, cerr
		}
		arr := make([]any, 0, count)
		for i := range count {
			x, err := e.evalNode(c.get("input"), sc.withLoop("", i, true), nodeOpts{})
			if err != nil {
				return nil, false, err
			}
			arr = append(arr, x)
		}
		v = arr
	} else {
		v, err = e.evalNode(o.node.get("value"), sc, nodeOpts{})
		if err != nil {
			return nil, false, err
		}
	}
	if _, ok := v.(unknown); ok {
		return v, true, nil
	}
	if checkSize(v) != nil {
		return nil, false, &nodeError{n: o.node, msg: errTooLarge.Error()}
	}
	ok := false
	switch o.typ {
	case "string", "securestring":
		_, ok = v.(string)
	case "int":
		_, ok = v.(int64)
	case "bool":
		_, ok = v.(bool)
	case "object", "secureobject":
		_, ok = v.(map[string]any)
		ok = ok || v == nil
	case "array":
		_, ok = v.([]any)
	}
	if !ok {
		vn := o.node.get("value")
		if vn == nil {
			vn = o.node
		}
		return nil, false, &nodeError{n: vn, msg: fmt.Sprintf("Template output JToken type is not valid. Expected '%s'. Actual '%s'", outputTypeDisplay[o.typ], typeName(v))}
	}
	return v, true, nil
}

// Validate checks a template and its parameters without side effects: it
// binds parameters, evaluates every expression that does not need a
// deployed resource (reference() and list*() results stay unresolved),
// resolves dependencies (reporting cycles) and returns the planned
// resources in deployment order. It never calls a Deployer.
func Validate(ctx context.Context, t *Template, params Parameters, scope Scope) (*Plan, error) {
	if t == nil {
		return nil, &Error{Code: CodeInvalidTemplate, Message: "Deployment template validation failed: 'The template is missing.'."}
	}
	e := newEngine(ctx, t, params, scope, nil, Incremental)
	if err := e.bindParameters(); err != nil {
		return nil, err
	}
	order, terr := e.plan()
	if terr != nil {
		return nil, terr
	}
	if _, oerr := e.evalOutputs(true); oerr != nil {
		return nil, oerr
	}
	p := &Plan{}
	for _, in := range order {
		p.Resources = append(p.Resources, plannedOf(in))
	}
	return p, nil
}

func plannedOf(in *instance) PlannedResource {
	pr := PlannedResource{ID: in.id, Type: in.typ, Name: in.name, APIVersion: in.apiVersion,
		Location: in.location, ConditionKnown: in.cond != condDeferred, Existing: in.def.existing}
	if b, ok := renderUnknowns(in.planBody).(map[string]any); ok {
		pr.Body = b
	}
	pr.HasRuntimeValues = containsUnknown(in.planBody)
	for _, d := range in.deps {
		pr.DependsOn = append(pr.DependsOn, d.id)
	}
	return pr
}

// WhatIf predicts the changes a deployment would make. It validates like
// Validate, then reads the current state of every planned resource through
// the Deployer (GetResource and, for Complete mode, ListResourceIDs); it
// never writes. A resource is "Modify" when a member of the planned body
// differs from the current state, "NoChange" when none does, and "Deploy"
// when the body needs reference() values that only exist while deploying.
func WhatIf(ctx context.Context, t *Template, params Parameters, scope Scope, d Deployer, mode Mode) (*WhatIfResult, error) {
	plan, err := Validate(ctx, t, params, scope)
	if err != nil {
		return nil, err
	}
	res := &WhatIfResult{}
	planned := map[string]bool{}
	e := newEngine(ctx, t, params, scope, d, mode)
	for _, pr := range plan.Resources {
		planned[strings.ToLower(pr.ID)] = true
		if pr.Existing {
			continue
		}
		cur, gerr := d.GetResource(ctx, pr.ID, pr.APIVersion)
		var before map[string]any
		switch {
		case gerr == nil:
			before, _ = normalize(cur).(map[string]any)
		case isNotFound(gerr):
		default:
			return nil, deployerError(pr.ID, gerr)
		}
		ch := Change{ResourceID: pr.ID, Before: before, After: pr.Body}
		switch {
		case before == nil:
			ch.ChangeType = ChangeCreate
		case pr.HasRuntimeValues:
			ch.ChangeType = ChangeDeploy
		case subsetEqual(pr.Body, before):
			ch.ChangeType = ChangeNoChange
		default:
			ch.ChangeType = ChangeModify
		}
		res.Changes = append(res.Changes, ch)
	}
	ids, lerr := d.ListResourceIDs(ctx)
	if lerr != nil {
		return nil, deployerError(e.rgID(), lerr)
	}
	var others []string
	for _, id := range ids {
		if !planned[strings.ToLower(id)] {
			others = append(others, id)
		}
	}
	deleted := map[string]bool{}
	if mode == Complete {
		e.insts = nil
		for _, pr := range plan.Resources {
			e.insts = append(e.insts, &instance{id: pr.ID, cond: condTrue})
		}
		for _, id := range e.unlisted(ids) {
			deleted[strings.ToLower(id)] = true
			res.Changes = append(res.Changes, Change{ResourceID: id, ChangeType: ChangeDelete})
		}
	}
	for _, id := range others {
		if !deleted[strings.ToLower(id)] {
			res.Changes = append(res.Changes, Change{ResourceID: id, ChangeType: ChangeIgnore})
		}
	}
	return res, nil
}

// subsetEqual reports whether every member of want is present and equal in
// have (members only have, such as read-only properties, are ignored).
// Strings compare case-insensitively for location-like values.
func subsetEqual(want, have any) bool {
	switch w := want.(type) {
	case map[string]any:
		h, ok := have.(map[string]any)
		if !ok {
			return false
		}
		for k, wv := range w {
			hv, ok := lookupKey(h, k)
			if !ok || !subsetEqual(wv, hv) {
				return false
			}
		}
		return true
	case []any:
		h, ok := have.([]any)
		if !ok || len(h) != len(w) {
			return false
		}
		for i := range w {
			if !subsetEqual(w[i], h[i]) {
				return false
			}
		}
		return true
	case string:
		h, ok := have.(string)
		return ok && (w == h || strings.EqualFold(strings.ReplaceAll(w, " ", ""), strings.ReplaceAll(h, " ", "")))
	}
	return deepEqual(want, have)
}
