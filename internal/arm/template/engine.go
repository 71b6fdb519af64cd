package template

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
)

// engine holds the state of one Deploy, Validate or WhatIf run. It is used
// by a single goroutine.
type engine struct {
	ctx      context.Context
	t        *Template
	sc       Scope
	mode     Mode
	d        Deployer
	provided Parameters
	now      time.Time

	paramVal  map[*paramDef]any
	paramBusy map[*paramDef]bool
	varVal    map[*varDef]any
	varBusy   map[*varDef]bool

	insts    []*instance
	byID     map[string]*instance // lower-case id
	byDef    map[*resourceDef][]*instance
	deployed map[string]*deployedRes // lower-case id; resources put (or read) by this run
}

// deployedRes is a resource this run has put, for reference().
type deployedRes struct {
	apiVersion string
	obj        map[string]any
}

func newEngine(ctx context.Context, t *Template, params Parameters, sc Scope, d Deployer, mode Mode) *engine {
	now := time.Now
	if sc.Now != nil {
		now = sc.Now
	}
	if mode == "" {
		mode = Incremental
	}
	provided := make(Parameters, len(params))
	for k, v := range params {
		provided[k] = normalize(v)
	}
	return &engine{
		ctx: ctx, t: t, sc: sc, mode: mode, d: d, provided: provided, now: now().UTC(),
		paramVal: map[*paramDef]any{}, paramBusy: map[*paramDef]bool{},
		varVal: map[*varDef]any{}, varBusy: map[*varDef]bool{},
		byID: map[string]*instance{}, byDef: map[*resourceDef][]*instance{},
		deployed: map[string]*deployedRes{},
	}
}

func (e *engine) clock() time.Time {
	if e.sc.Now != nil {
		return e.sc.Now().UTC()
	}
	return time.Now().UTC()
}

func (e *engine) newGUID() string {
	if e.sc.NewGUID != nil {
		return e.sc.NewGUID()
	}
	return uuid.NewString()
}

// canceled converts a context error into the package's error shape.
func (e *engine) canceled() *Error {
	return &Error{Code: CodeCanceled, Message: "The deployment was canceled.", cause: e.ctx.Err()}
}

// sectionErr formats an evaluation failure of a template element.
func (e *engine) sectionErr(where, target string, err error) *Error {
	var te *Error
	if errors.As(err, &te) {
		return te
	}
	if errors.Is(err, errCanceled) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return e.canceled()
	}
	var ne *nodeError
	if errors.As(err, &ne) {
		return invalidTemplate(ne.n.line, ne.n.col, target,
			"%s is not valid: %s. The failing element is at line '%d' and column '%d'. Please see https://aka.ms/arm-template-expressions for usage details",
			where, ne.msg, ne.n.line, ne.n.col)
	}
	return invalidTemplate(0, 0, target, "%s is not valid: %s", where, err.Error())
}

// bindParameters resolves every parameter (provided value or default) and
// every variable so that errors are reported before anything is deployed.
func (e *engine) bindParameters() *Error {
	if err := e.t.checkProvided(e.provided); err != nil {
		return err
	}
	for _, p := range e.t.params {
		if _, err := e.paramValue(p); err != nil {
			var te *Error
			if errors.As(err, &te) {
				return te
			}
			return e.sectionErr("The template parameter '"+p.name+"'", p.name, err)
		}
	}
	// ARM evaluates every variable while validating, used or not.
	for _, v := range e.t.vars {
		if _, err := e.variableValue(v); err != nil {
			return e.sectionErr("The template variable '"+v.name+"'", v.name, err)
		}
	}
	return nil
}

// paramValue returns the value of a parameter, evaluating its default.
func (e *engine) paramValue(p *paramDef) (any, error) {
	if v, ok := e.paramVal[p]; ok {
		return v, nil
	}
	n := p.node
	where := fmt.Sprintf("The template parameter '%s'%s", p.name, at(n.line, n.col))
	if e.paramBusy[p] {
		return nil, invalidTemplate(n.line, n.col, p.name, "%s is not valid: its default value refers to itself through other parameters (circular reference)", where)
	}
	var v any
	if pv, ok := e.provided.lookup(p.name); ok {
		v = pv
	} else if p.def != nil {
		e.paramBusy[p] = true
		dv, err := e.evalNode(p.def, &scope{site: siteParam}, nodeOpts{})
		delete(e.paramBusy, p)
		if err != nil {
			return nil, e.sectionErr(where, p.name, err)
		}
		v = dv
	} else if p.nullable {
		e.paramVal[p] = nil
		return nil, nil
	} else {
		return nil, invalidTemplate(n.line, n.col, p.name,
			"The value for the template parameter '%s'%s is not provided. Please see https://aka.ms/arm-create-parameter-file for usage details", p.name, at(n.line, n.col))
	}
	cv, terr := e.t.checkParam(p, v)
	if terr != nil {
		return nil, terr
	}
	if checkSize(cv) != nil {
		return nil, invalidTemplate(n.line, n.col, p.name, "%s is not valid: %s", where, errTooLarge.Error())
	}
	e.paramVal[p] = cv
	return cv, nil
}

// variableValue returns the value of a variable, evaluating it on first use.
func (e *engine) variableValue(v *varDef) (any, error) {
	if val, ok := e.varVal[v]; ok {
		return val, nil
	}
	n := v.node
	where := fmt.Sprintf("The template variable '%s'%s", v.name, at(n.line, n.col))
	if e.varBusy[v] {
		return nil, invalidTemplate(n.line, n.col, v.name, "%s is not valid: it refers to itself through other variables (circular reference)", where)
	}
	e.varBusy[v] = true
	defer delete(e.varBusy, v)
	sc := &scope{site: siteVariable}
	var (
		val any
		err error
	)
	if v.loop {
		_, val, err = e.evalCopyLoop(n, sc, nodeOpts{propCopy: true})
	} else {
		val, err = e.evalNode(n, sc, nodeOpts{propCopy: true})
	}
	if err != nil {
		return nil, e.sectionErr(where, v.name, err)
	}
	if checkSize(val) != nil {
		return nil, invalidTemplate(n.line, n.col, v.name, "%s is not valid: %s", where, errTooLarge.Error())
	}
	e.varVal[v] = val
	return val, nil
}

// rgID returns the id of the target resource group.
func (e *engine) rgID() string {
	return "/subscriptions/" + e.sc.SubscriptionID + "/resourceGroups/" + e.sc.ResourceGroup
}

// scopeBase returns the id prefix resources are created under.
func (e *engine) scopeBase() string {
	if e.sc.ResourceGroup == "" {
		return "/subscriptions/" + e.sc.SubscriptionID
	}
	return e.rgID()
}

// buildID composes "<base>/providers/<ns>/<type1>/<name1>/<type2>/<name2>...".
func buildID(base, typ string, names []string) (string, error) {
	segs := strings.Split(typ, "/")
	if len(segs) < 2 {
		return "", fmt.Errorf("the resource type '%s' is not valid: it must be of the form 'Namespace/type[/childType...]'", typ)
	}
	for _, s := range segs {
		if s == "" {
			return "", fmt.Errorf("the resource type '%s' has an empty segment", typ)
		}
	}
	if len(names) != len(segs)-1 {
		return "", fmt.Errorf("the resource type '%s' needs %d name segment(s) but %d were given ('%s')", typ, len(segs)-1, len(names), strings.Join(names, "/"))
	}
	var b strings.Builder
	b.WriteString(strings.TrimSuffix(base, "/"))
	b.WriteString("/providers/")
	b.WriteString(segs[0])
	for i, t := range segs[1:] {
		b.WriteByte('/')
		b.WriteString(t)
		b.WriteByte('/')
		b.WriteString(names[i])
	}
	return b.String(), nil
}

// splitNames joins name arguments with '/' and splits them into segments,
// so that both resourceId(t, 'a', 'b') and resourceId(t, 'a/b') work.
func splitNames(names []string) []string {
	return strings.Split(strings.Join(names, "/"), "/")
}

// parseResourceID extracts the full type and name from a resource id.
func parseResourceID(id string) (typ, name string, ok bool) {
	// Case-insensitive without strings.ToLower, which changes the length
	// of text that is not valid UTF-8 (and so the offsets into id).
	const marker = "/providers/"
	i := -1
	for j := len(id) - len(marker); j >= 0; j-- {
		if strings.EqualFold(id[j:j+len(marker)], marker) {
			i = j
			break
		}
	}
	if i < 0 {
		return "", "", false
	}
	segs := strings.Split(strings.Trim(id[i+len("/providers/"):], "/"), "/")
	if len(segs) < 3 || len(segs)%2 == 0 {
		return "", "", false
	}
	types := []string{segs[0]}
	var names []string
	for j := 1; j+1 < len(segs); j += 2 {
		types = append(types, segs[j])
		names = append(names, segs[j+1])
	}
	return strings.Join(types, "/"), strings.Join(names, "/"), true
}
