package template

import (
	"container/heap"
	"fmt"
	"strings"
)

type condState uint8

const (
	condTrue     condState = iota
	condFalse              // not deployed
	condDeferred           // decided while deploying (the condition needs reference())
)

type instState uint8

const (
	statePending instState = iota
	stateDone
	stateFailed
	stateSkipped // a dependency failed
	stateOff     // condition false
)

// instance is one concrete resource: a resource definition for one copy
// index (and, for nested children, one parent instance).
type instance struct {
	def        *resourceDef
	parent     *instance
	loops      []loopBinding
	ord        int
	typ        string
	name       string
	apiVersion string
	id         string
	cond       condState
	deps       []*instance
	refs       []string // reference()/list*() targets found while planning
	planBody   map[string]any
	location   string
	state      instState
}

// where renders "The template resource 'name' at line 'L' and column 'C'".
func (in *instance) where() string {
	label := in.name
	if label == "" {
		label = in.def.label
	}
	return fmt.Sprintf("The template resource '%s'%s", label, at(in.def.node.line, in.def.node.col))
}

func (in *instance) scope(st site, validate bool) *scope {
	return &scope{site: st, validate: validate, loops: in.loops}
}

// plan expands copy loops, evaluates names, types, conditions and
// dependencies, and returns the instances in deployment order.
func (e *engine) plan() ([]*instance, *Error) {
	children := map[*resourceDef][]*resourceDef{}
	for _, d := range e.t.resources {
		if d.parent != nil {
			children[d.parent] = append(children[d.parent], d)
		}
	}
	var expand func(d *resourceDef, parent *instance, loops []loopBinding) *Error
	expand = func(d *resourceDef, parent *instance, loops []loopBinding) *Error {
		if d.copy != nil {
			sc := &scope{site: siteHead, validate: true, loops: loops}
			count, err := e.evalCount(d.copy.get("count"), sc)
			if err != nil {
				return e.sectionErr(fmt.Sprintf("The template resource '%s'%s", d.label, at(d.node.line, d.node.col)), d.label, err)
			}
			for i := range count {
				l2 := append(append([]loopBinding(nil), loops...), loopBinding{name: d.copyName, index: i, primary: true})
				in, terr := e.newInstance(d, parent, l2)
				if terr != nil {
					return terr
				}
				for _, c := range children[d] {
					if terr := expand(c, in, in.loops); terr != nil {
						return terr
					}
				}
			}
			return nil
		}
		in, terr := e.newInstance(d, parent, loops)
		if terr != nil {
			return terr
		}
		for _, c := range children[d] {
			if terr := expand(c, in, in.loops); terr != nil {
				return terr
			}
		}
		return nil
	}
	for _, d := range e.t.resources {
		if d.parent == nil {
			if err := expand(d, nil, nil); err != nil {
				return nil, err
			}
		}
	}
	// Duplicates among the resources that may be deployed.
	for _, in := range e.insts {
		if in.cond == condFalse {
			continue
		}
		key := strings.ToLower(in.id)
		if other, ok := e.byID[key]; ok && other != in {
			return nil, invalidTemplate(in.def.node.line, in.def.node.col, in.id,
				"The resource '%s'%s is defined multiple times in a template. Please see https://aka.ms/arm-template/#resources for usage details", in.id, at(in.def.node.line, in.def.node.col))
		}
		e.byID[key] = in
	}
	for _, in := range e.insts {
		if _, ok := e.byID[strings.ToLower(in.id)]; !ok {
			e.byID[strings.ToLower(in.id)] = in
		}
	}
	// Bodies (validate mode): catches expression errors early and finds
	// reference()/list*() targets.
	for _, in := range e.insts {
		if in.cond == condFalse {
			continue
		}
		sc := in.scope(siteBody, true)
		sc.onRef = func(target string) { in.refs = append(in.refs, target) }
		body, err := e.evalBody(in, sc)
		if err != nil {
			return nil, e.sectionErr(in.where(), in.id, err)
		}
		in.planBody = body
	}
	for _, in := range e.insts {
		if in.cond == condFalse {
			continue
		}
		if err := e.resolveDeps(in); err != nil {
			return nil, err
		}
	}
	return e.order()
}

// newInstance evaluates the header of one resource instance.
func (e *engine) newInstance(d *resourceDef, parent *instance, loops []loopBinding) (*instance, *Error) {
	in := &instance{def: d, parent: parent, loops: loops, ord: len(e.insts)}
	n := d.node
	sc := in.scope(siteHead, true)
	str := func(key string) (string, *Error) {
		m := n.get(key)
		if m == nil {
			return "", nil
		}
		v, err := e.evalNode(m, sc, nodeOpts{})
		if err != nil {
			return "", e.sectionErr(in.where(), d.label, err)
		}
		s, ok := v.(string)
		if !ok {
			return "", invalidTemplate(m.line, m.col, d.label, "%s is not valid: the '%s' property must evaluate to a string, not '%s'", in.where(), key, typeName(v))
		}
		return s, nil
	}
	var terr *Error
	if in.typ, terr = str("type"); terr != nil {
		return nil, terr
	}
	if in.name, terr = str("name"); terr != nil {
		return nil, terr
	}
	if in.apiVersion, terr = str("apiVersion"); terr != nil {
		return nil, terr
	}
	if parent != nil {
		if !strings.Contains(in.typ, "/") {
			in.typ = parent.typ + "/" + in.typ
		} else if !strings.HasPrefix(strings.ToLower(in.typ), strings.ToLower(parent.typ)+"/") {
			return nil, invalidTemplate(n.line, n.col, in.name, "%s is not valid: the nested resource type '%s' is not a child type of its parent type '%s'", in.where(), in.typ, parent.typ)
		}
		typeSegs := len(strings.Split(in.typ, "/")) - 1
		if len(strings.Split(in.name, "/")) != typeSegs {
			in.name = parent.name + "/" + in.name
		}
	}
	segs := strings.Split(in.typ, "/")
	if len(segs) < 2 || len(strings.Split(in.name, "/")) != len(segs)-1 {
		return nil, invalidTemplate(n.line, n.col, in.name,
			"The template resource '%s' for type '%s'%s has incorrect segment lengths. A nested resource type must have identical number of segments as its resource name. A root resource type must have segment length one greater than its resource name. Please see https://aka.ms/arm-syntax-resources for usage details",
			in.name, in.typ, at(n.line, n.col))
	}
	base := e.scopeBase()
	if sn := n.get("scope"); sn != nil {
		s, terr := str("scope")
		if terr != nil {
			return nil, terr
		}
		if s != "" {
			if !strings.HasPrefix(s, "/") {
				// "Namespace/type/name" relative to the target scope.
				t, nm, ok := splitTypeName(s)
				if !ok {
					return nil, invalidTemplate(sn.line, sn.col, in.name, "%s is not valid: the scope '%s' must be a resource id", in.where(), s)
				}
				id, err := buildID(base, t, strings.Split(nm, "/"))
				if err != nil {
					return nil, invalidTemplate(sn.line, sn.col, in.name, "%s is not valid: the scope '%s' is not valid: %s", in.where(), s, err.Error())
				}
				s = id
			}
			base = s
		}
	} else {
		sub, rg := e.sc.SubscriptionID, e.sc.ResourceGroup
		if v, terr := str("subscriptionId"); terr != nil {
			return nil, terr
		} else if v != "" {
			sub = v
		}
		if v, terr := str("resourceGroup"); terr != nil {
			return nil, terr
		} else if v != "" {
			rg = v
		}
		if sub != e.sc.SubscriptionID || rg != e.sc.ResourceGroup {
			base = "/subscriptions/" + sub
			if rg != "" {
				base += "/resourceGroups/" + rg
			}
		}
	}
	id, err := buildID(base, in.typ, strings.Split(in.name, "/"))
	if err != nil {
		return nil, invalidTemplate(n.line, n.col, in.name, "%s is not valid: %s", in.where(), err.Error())
	}
	in.id = id
	// Condition.
	if cn := n.get("condition"); cn != nil {
		csc := in.scope(siteCondition, true)
		csc.onRef = func(target string) { in.refs = append(in.refs, target) }
		v, err := e.evalNode(cn, csc, nodeOpts{})
		if err != nil {
			return nil, e.sectionErr(in.where(), in.name, err)
		}
		switch b := v.(type) {
		case bool:
			if !b {
				in.cond = condFalse
			}
		case unknown:
			in.cond = condDeferred
		default:
			return nil, invalidTemplate(cn.line, cn.col, in.name, "%s is not valid: the condition must evaluate to a boolean, not '%s'", in.where(), typeName(v))
		}
	}
	e.insts = append(e.insts, in)
	e.byDef[d] = append(e.byDef[d], in)
	return in, nil
}

// splitTypeName splits "Ns/type[/child]/name[/childName]" into type and name.
func splitTypeName(s string) (typ, name string, ok bool) {
	segs := strings.Split(s, "/")
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

// evalBody evaluates the resource body (everything but template-only members).
func (e *engine) evalBody(in *instance, sc *scope) (map[string]any, error) {
	n := in.def.node
	body := map[string]any{}
	innerScope := isInnerScopedDeployment(in)
	for i, k := range n.keys {
		lk := strings.ToLower(k)
		if resourceMeta[lk] {
			continue
		}
		val := n.elems[i]
		o := nodeOpts{dropNull: true}
		if lk == "properties" {
			o.propCopy = true
		}
		var (
			v   any
			err error
		)
		if lk == "properties" && innerScope && val.kind == kindObject {
			v, err = e.evalInnerDeploymentProps(val, sc, o)
		} else {
			v, err = e.evalNode(val, sc, o)
		}
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		body[k] = v
	}
	if checkSize(body) != nil {
		return nil, &nodeError{n: n, msg: "the resource body is too large: " + errTooLarge.Error()}
	}
	if loc, ok := body["location"]; ok {
		switch l := loc.(type) {
		case string:
			in.location = l
		case unknown:
		default:
			ln := n.get("location")
			return nil, &nodeError{n: ln, msg: fmt.Sprintf("the 'location' property must evaluate to a string, not '%s'", typeName(loc))}
		}
	}
	return body, nil
}

// isInnerScopedDeployment reports a nested deployment whose template is
// evaluated in its own scope (expressionEvaluationOptions.scope = inner).
func isInnerScopedDeployment(in *instance) bool {
	if !strings.EqualFold(in.typ, "Microsoft.Resources/deployments") {
		return false
	}
	p := in.def.node.get("properties")
	o := p.get("expressionEvaluationOptions")
	s := o.get("scope")
	return s != nil && s.kind == kindString && strings.EqualFold(s.s, "inner")
}

// evalInnerDeploymentProps evaluates a nested deployment's properties but
// leaves its template untouched: it is evaluated by its own deployment.
func (e *engine) evalInnerDeploymentProps(n *node, sc *scope, o nodeOpts) (any, error) {
	out := map[string]any{}
	for i, k := range n.keys {
		if strings.EqualFold(k, "template") {
			out[k] = n.elems[i].literal()
			continue
		}
		v, err := e.evalNode(n.elems[i], sc, o)
		if err != nil {
			return nil, err
		}
		if v != nil {
			out[k] = v
		}
	}
	return out, nil
}

// resolveDeps fills in.deps from dependsOn, reference()/list*() targets and
// copy batches.
func (e *engine) resolveDeps(in *instance) *Error {
	seen := map[*instance]bool{}
	add := func(d *instance) {
		if !seen[d] && d.cond != condFalse {
			seen[d] = true
			in.deps = append(in.deps, d)
		}
	}
	n := in.def.node
	if dn := n.get("dependsOn"); dn != nil && dn.kind != kindNull {
		if dn.kind != kindArray {
			return invalidTemplate(dn.line, dn.col, in.name, "%s is not valid: 'dependsOn' must be an array", in.where())
		}
		sc := in.scope(siteHead, true)
		for _, el := range dn.elems {
			v, err := e.evalNode(el, sc, nodeOpts{})
			if err != nil {
				return e.sectionErr(in.where(), in.name, err)
			}
			var refs []string
			switch t := v.(type) {
			case string:
				refs = []string{t}
			case []any: // a dependsOn entry that evaluates to an array of ids
				for _, x := range t {
					if s, ok := x.(string); ok {
						refs = append(refs, s)
					}
				}
			case nil:
				continue
			default:
				return invalidTemplate(el.line, el.col, in.name, "%s is not valid: a 'dependsOn' entry must evaluate to a string, not '%s'", in.where(), typeName(v))
			}
			for _, ref := range refs {
				if ref == "" {
					continue
				}
				targets := e.matchDependency(ref)
				if targets == nil {
					return invalidTemplate(el.line, el.col, in.name,
						"The resource '%s' is not defined in the template. Please see https://aka.ms/arm-syntax for usage details", ref)
				}
				for _, d := range targets {
					if d == in {
						return invalidTemplate(el.line, el.col, in.name,
							"Circular dependency detected on resource: '%s'. The resource depends on itself through 'dependsOn' entry '%s'. Please see https://aka.ms/arm-syntax-resources for usage details", in.id, ref)
					}
					add(d)
				}
			}
		}
	}
	for _, ref := range in.refs {
		targets, err := e.matchReference(ref)
		if err != nil {
			return invalidTemplate(n.line, n.col, in.name, "%s is not valid: %s", in.where(), err.Error())
		}
		for _, d := range targets {
			if d != in {
				add(d)
			}
		}
	}
	// Copy batches: an instance of a serial loop waits for the previous batch.
	if c := in.def.copy; c != nil && len(in.loops) > 0 {
		mode, batch := "parallel", 0
		if m := c.get("mode"); m != nil && m.kind == kindString {
			mode = strings.ToLower(m.s)
		}
		if mode == "serial" {
			batch = 1
			if bn := c.get("batchSize"); bn != nil {
				v, err := e.evalNode(bn, in.scope(siteHead, true), nodeOpts{})
				if err != nil {
					return e.sectionErr(in.where(), in.name, err)
				}
				b, ok := v.(int64)
				if !ok || b < 1 || b > maxCopyCount {
					return invalidTemplate(bn.line, bn.col, in.name, "%s is not valid: the copy 'batchSize' must be an integer from 1 to %d", in.where(), maxCopyCount)
				}
				batch = int(b)
			}
		}
		if batch > 0 {
			idx := in.loops[len(in.loops)-1].index
			start := (idx/batch - 1) * batch
			if start >= 0 {
				for _, other := range e.byDef[in.def] {
					oi := other.loops[len(other.loops)-1].index
					if oi >= start && oi < start+batch {
						add(other)
					}
				}
			}
		}
	}
	return nil
}

// matchDependency resolves one dependsOn value: a resource id, a
// "Namespace/type/name" string, a resource name, a copy loop name or (2.0)
// a symbolic name. It returns nil when nothing matches.
func (e *engine) matchDependency(ref string) []*instance {
	var out []*instance
	seen := map[*instance]bool{}
	push := func(in *instance) {
		if !seen[in] {
			seen[in] = true
			out = append(out, in)
		}
	}
	if d, ok := e.t.copyNames[strings.ToLower(ref)]; ok {
		for _, in := range e.byDef[d] {
			push(in)
		}
		if out == nil {
			out = []*instance{} // a loop with zero iterations still matches
		}
	}
	if d, ok := e.t.symbols[strings.ToLower(ref)]; ok {
		for _, in := range e.byDef[d] {
			push(in)
		}
		if out == nil {
			out = []*instance{}
		}
	}
	for _, in := range e.insts {
		switch {
		case strings.HasPrefix(ref, "/"):
			if strings.EqualFold(in.id, ref) {
				push(in)
			}
		case strings.EqualFold(in.name, ref), strings.EqualFold(in.typ+"/"+in.name, ref):
			push(in)
		}
	}
	if out == nil && strings.HasPrefix(ref, "/") {
		// An id outside this template: ARM ignores such dependencies only
		// for resources it does not deploy; report it like ARM does.
		return nil
	}
	return out
}

// matchReference resolves a reference()/list*() target found while planning
// to the template instances it denotes. Ids of resources outside the
// template resolve to nothing; unknown names are an error.
func (e *engine) matchReference(ref string) ([]*instance, error) {
	if strings.HasPrefix(ref, "/") {
		if in, ok := e.byID[strings.ToLower(ref)]; ok {
			return []*instance{in}, nil
		}
		return nil, nil
	}
	if d, ok := e.t.symbols[strings.ToLower(ref)]; ok {
		return e.byDef[d], nil
	}
	var out []*instance
	for _, in := range e.insts {
		if strings.EqualFold(in.name, ref) || strings.EqualFold(in.typ+"/"+in.name, ref) {
			out = append(out, in)
		}
	}
	if out == nil {
		return nil, fmt.Errorf("The template reference '%s' is not valid: could not find template resource or resource copy with this name. Please see https://aka.ms/arm-function-reference for usage details", ref)
	}
	return out, nil
}

// instHeap orders ready instances by their position in the template.
type instHeap []*instance

func (h instHeap) Len() int           { return len(h) }
func (h instHeap) Less(i, j int) bool { return h[i].ord < h[j].ord }
func (h instHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *instHeap) Push(x any)        { *h = append(*h, x.(*instance)) }
func (h *instHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// order sorts the deployable instances topologically; among ready
// instances the one declared first goes first, so the order is stable.
func (e *engine) order() ([]*instance, *Error) {
	var live []*instance
	for _, in := range e.insts {
		if in.cond != condFalse {
			live = append(live, in)
		}
	}
	indeg := map[*instance]int{}
	users := map[*instance][]*instance{}
	for _, in := range live {
		indeg[in] += 0
		for _, d := range in.deps {
			indeg[in]++
			users[d] = append(users[d], in)
		}
	}
	h := &instHeap{}
	for _, in := range live {
		if indeg[in] == 0 {
			heap.Push(h, in)
		}
	}
	var out []*instance
	for h.Len() > 0 {
		in := heap.Pop(h).(*instance)
		out = append(out, in)
		for _, u := range users[in] {
			indeg[u]--
			if indeg[u] == 0 {
				heap.Push(h, u)
			}
		}
	}
	if len(out) == len(live) {
		return out, nil
	}
	cycle := findCycle(live, indeg)
	names := make([]string, len(cycle))
	for i, c := range cycle {
		names[i] = "'" + c.id + "'"
	}
	first := cycle[0]
	return nil, invalidTemplate(first.def.node.line, first.def.node.col, first.id,
		"Circular dependency detected on resource: '%s'. The cycle is %s. Please see https://aka.ms/arm-syntax-resources for usage details",
		first.id, strings.Join(names, " -> "))
}

// findCycle returns one dependency cycle among the instances left unsorted
// (first element repeated at the end).
func findCycle(live []*instance, indeg map[*instance]int) []*instance {
	const (
		white = iota
		grey
		black
	)
	color := map[*instance]int{}
	var stack []*instance
	var found []*instance
	var visit func(in *instance) bool
	visit = func(in *instance) bool {
		color[in] = grey
		stack = append(stack, in)
		for _, d := range in.deps {
			if indeg[d] == 0 {
				continue
			}
			switch color[d] {
			case grey:
				for i, s := range stack {
					if s == d {
						found = append(append([]*instance(nil), stack[i:]...), d)
						return true
					}
				}
			case white:
				if visit(d) {
					return true
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[in] = black
		return false
	}
	for _, in := range live {
		if indeg[in] > 0 && color[in] == white {
			if visit(in) {
				// Report the cycle in dependency order: a depends on b ...
				return found
			}
		}
	}
	return []*instance{live[0]}
}
