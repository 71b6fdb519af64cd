package template

import (
	"fmt"
	"sort"
	"strings"
)

// Template is a parsed ARM template. It is immutable after Parse and may be
// deployed any number of times, concurrently.
type Template struct {
	// Schema is the "$schema" URI as written.
	Schema string
	// ContentVersion is the "contentVersion" as written.
	ContentVersion string
	// LanguageVersion is "languageVersion" ("" for classic templates, "2.0"
	// for templates whose resources are an object keyed by symbolic name).
	LanguageVersion string

	src       string
	root      *node
	params    []*paramDef
	paramIdx  map[string]*paramDef // lower-case name
	vars      []*varDef
	varIdx    map[string]*varDef // lower-case name
	resources []*resourceDef     // flattened; parents precede their nested children
	outputs   []*outputDef
	copyNames map[string]*resourceDef // lower-case resource copy loop names
	symbols   map[string]*resourceDef // lower-case symbolic names (languageVersion 2.0)
}

type paramDef struct {
	name      string
	node      *node
	typ       string // lower-case ARM type
	def       *node  // defaultValue
	allowed   *node
	minValue  *int64
	maxValue  *int64
	minLength *int64
	maxLength *int64
	nullable  bool
}

func (p *paramDef) secure() bool { return p.typ == "securestring" || p.typ == "secureobject" }

type varDef struct {
	name string
	node *node // value, or the copy loop object for iterated variables
	loop bool  // declared through the variables "copy" array
}

type resourceDef struct {
	node     *node
	parent   *resourceDef
	symbolic string
	index    int
	existing bool
	copy     *node
	copyName string
	label    string // the name as written, for messages
}

type outputDef struct {
	name string
	node *node
	typ  string // lower-case ARM type
}

// Parameter types ARM accepts (lower-case).
var paramTypes = map[string]bool{
	"string": true, "securestring": true, "int": true, "bool": true,
	"object": true, "secureobject": true, "array": true,
}

// templateMembers are the top-level members ARM accepts in a template.
var templateMembers = map[string]bool{
	"$schema": true, "contentversion": true, "apiprofile": true, "parameters": true,
	"variables": true, "functions": true, "resources": true, "outputs": true,
	"metadata": true, "languageversion": true, "definitions": true, "imports": true,
	"extensions": true,
}

// Parse parses an ARM template from its JSON text. Syntax errors, unknown or
// unsupported sections and malformed expressions are reported as *Error with
// code InvalidTemplate and the line and column in the template.
func Parse(data []byte) (*Template, error) {
	root, err := parseJSON(string(data), false)
	if err != nil {
		if se, ok := err.(*jsonSyntaxError); ok {
			return nil, &Error{Code: CodeInvalidTemplate, Line: se.line, Column: se.col,
				Message: fmt.Sprintf("Deployment template parse failed: '%s, line %d, position %d.'.", se.msg, se.line, se.col)}
		}
		return nil, &Error{Code: CodeInvalidTemplate, Message: "Deployment template parse failed: '" + err.Error() + "'."}
	}
	if root.kind != kindObject {
		return nil, invalidTemplate(root.line, root.col, "", "The template must be a JSON object")
	}
	t := &Template{
		src:       string(data),
		root:      root,
		paramIdx:  map[string]*paramDef{},
		varIdx:    map[string]*varDef{},
		copyNames: map[string]*resourceDef{},
		symbols:   map[string]*resourceDef{},
	}
	for i, k := range root.keys {
		v := root.elems[i]
		if !templateMembers[strings.ToLower(k)] {
			return nil, invalidTemplate(v.line, v.col, k, "Could not find member '%s' on object of type 'Template'. Path '%s', line %d, position %d", k, k, v.line, v.col)
		}
	}
	if n := root.get("$schema"); n != nil && n.kind == kindString {
		t.Schema = n.s
	}
	if n := root.get("contentVersion"); n != nil && n.kind == kindString {
		t.ContentVersion = n.s
	}
	if n := root.get("languageVersion"); n != nil && n.kind == kindString {
		t.LanguageVersion = n.s
	}
	if err := t.checkUnsupported(); err != nil {
		return nil, err
	}
	if err := t.parseParameters(); err != nil {
		return nil, err
	}
	if err := t.parseVariables(); err != nil {
		return nil, err
	}
	if err := t.parseResources(); err != nil {
		return nil, err
	}
	if err := t.parseOutputs(); err != nil {
		return nil, err
	}
	return t, nil
}

func (t *Template) checkUnsupported() error {
	unsupported := func(key, what string) error {
		n := t.root.get(key)
		if n == nil {
			return nil
		}
		empty := n.kind == kindNull || ((n.kind == kindArray || n.kind == kindObject) && len(n.elems) == 0)
		if empty {
			return nil
		}
		return &Error{Code: CodeInvalidTemplate, Target: key, Line: n.line, Column: n.col,
			Message: fmt.Sprintf("Deployment template validation failed: 'The template section '%s' at line '%d' and column '%d' is not supported by keyward: %s.'.", key, n.line, n.col, what)}
	}
	if err := unsupported("functions", "user-defined functions cannot be used; inline the expressions instead"); err != nil {
		return err
	}
	if err := unsupported("apiProfile", "API profiles are not available; give every resource an apiVersion"); err != nil {
		return err
	}
	if err := unsupported("imports", "template imports are not available"); err != nil {
		return err
	}
	if err := unsupported("extensions", "template extensions are not available"); err != nil {
		return err
	}
	if lv := t.LanguageVersion; lv != "" && lv != "1.0" && !strings.HasPrefix(lv, "2.") {
		n := t.root.get("languageVersion")
		return invalidTemplate(n.line, n.col, "languageVersion", "The template language version '%s' at line '%d' and column '%d' is not supported. Supported versions are '1.0' and '2.0'", lv, n.line, n.col)
	}
	return nil
}

// preparse parses every "[...]" string below n and attaches the expression.
// what describes the enclosing template element for error messages.
func preparse(n *node, what string) error {
	switch n.kind {
	case kindString:
		_, text, isExpr := classifyString(n.s)
		if !isExpr {
			return nil
		}
		e, err := parseExpr(text)
		if err != nil {
			return invalidTemplate(n.line, n.col, "", "%s is not valid: %s. The expression is at line '%d' and column '%d'. Please see https://aka.ms/arm-template-expressions for usage details",
				what, describeParseError(text, err), n.line, n.col)
		}
		n.expr, n.isExp = e, true
	case kindArray:
		for _, e := range n.elems {
			if err := preparse(e, what); err != nil {
				return err
			}
		}
	case kindObject:
		for i, k := range n.keys {
			lk := strings.ToLower(k)
			if lk == "metadata" || lk == "comments" {
				continue
			}
			// Property names may be expressions too.
			if _, text, isExpr := classifyString(k); isExpr {
				if _, err := parseExpr(text); err != nil {
					v := n.elems[i]
					return invalidTemplate(v.line, v.col, "", "%s is not valid: %s. The property name is at line '%d' and column '%d'",
						what, describeParseError(text, err), v.line, v.col)
				}
			}
			if err := preparse(n.elems[i], what); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Template) parseParameters() error {
	sec := t.root.get("parameters")
	if sec == nil || sec.kind == kindNull {
		return nil
	}
	if sec.kind != kindObject {
		return invalidTemplate(sec.line, sec.col, "parameters", "The template 'parameters' section at line '%d' and column '%d' must be an object", sec.line, sec.col)
	}
	for i, name := range sec.keys {
		n := sec.elems[i]
		where := fmt.Sprintf("The template parameter '%s'%s", name, at(n.line, n.col))
		if n.kind != kindObject {
			return invalidTemplate(n.line, n.col, name, "%s is not valid: a parameter definition must be an object", where)
		}
		if ref := n.get("$ref"); ref != nil {
			return invalidTemplate(ref.line, ref.col, name, "%s is not valid: type references ('$ref') are not supported by keyward", where)
		}
		p := &paramDef{name: name, node: n}
		tn := n.get("type")
		if tn == nil || tn.kind != kindString {
			return invalidTemplate(n.line, n.col, name, "%s is not valid: the 'type' property is required", where)
		}
		p.typ = strings.ToLower(tn.s)
		if !paramTypes[p.typ] {
			return invalidTemplate(tn.line, tn.col, name, "%s has an invalid type '%s'. The only supported types are 'string, securestring, int, bool, object, secureObject, array'", where, tn.s)
		}
		p.def = n.get("defaultValue")
		if p.def != nil {
			if err := preparse(p.def, where); err != nil {
				return err
			}
		}
		p.allowed = n.get("allowedValues")
		if p.allowed != nil && p.allowed.kind != kindArray {
			return invalidTemplate(p.allowed.line, p.allowed.col, name, "%s is not valid: 'allowedValues' must be an array", where)
		}
		for _, lim := range []struct {
			key string
			dst **int64
		}{{"minValue", &p.minValue}, {"maxValue", &p.maxValue}, {"minLength", &p.minLength}, {"maxLength", &p.maxLength}} {
			ln := n.get(lim.key)
			if ln == nil || ln.kind == kindNull {
				continue
			}
			v, ok := ln.num.(int64)
			if ln.kind != kindNumber || !ok {
				return invalidTemplate(ln.line, ln.col, name, "%s is not valid: '%s' must be an integer", where, lim.key)
			}
			*lim.dst = &v
		}
		if nb := n.get("nullable"); nb != nil && nb.kind == kindBool {
			p.nullable = nb.b
		}
		lname := strings.ToLower(name)
		if _, dup := t.paramIdx[lname]; dup {
			return invalidTemplate(n.line, n.col, name, "The template parameter '%s'%s is defined multiple times", name, at(n.line, n.col))
		}
		t.params = append(t.params, p)
		t.paramIdx[lname] = p
	}
	return nil
}

func (t *Template) parseVariables() error {
	sec := t.root.get("variables")
	if sec == nil || sec.kind == kindNull {
		return nil
	}
	if sec.kind != kindObject {
		return invalidTemplate(sec.line, sec.col, "variables", "The template 'variables' section at line '%d' and column '%d' must be an object", sec.line, sec.col)
	}
	add := func(v *varDef) error {
		lname := strings.ToLower(v.name)
		if _, dup := t.varIdx[lname]; dup {
			return invalidTemplate(v.node.line, v.node.col, v.name, "The template variable '%s'%s is defined multiple times", v.name, at(v.node.line, v.node.col))
		}
		t.vars = append(t.vars, v)
		t.varIdx[lname] = v
		return nil
	}
	for i, name := range sec.keys {
		n := sec.elems[i]
		where := fmt.Sprintf("The template variable '%s'%s", name, at(n.line, n.col))
		if strings.EqualFold(name, "copy") && isCopyArray(n) {
			for _, loop := range n.elems {
				ln := loop.get("name")
				if ln == nil || ln.kind != kindString || ln.s == "" {
					return invalidTemplate(loop.line, loop.col, "copy", "The template variable copy loop%s is not valid: the 'name' property must be a non-empty string", at(loop.line, loop.col))
				}
				w := fmt.Sprintf("The template variable '%s'%s", ln.s, at(loop.line, loop.col))
				if err := preparse(loop, w); err != nil {
					return err
				}
				if err := add(&varDef{name: ln.s, node: loop, loop: true}); err != nil {
					return err
				}
			}
			continue
		}
		if err := preparse(n, where); err != nil {
			return err
		}
		if err := add(&varDef{name: name, node: n}); err != nil {
			return err
		}
	}
	return nil
}

// isCopyArray reports whether n has the shape of a property/variable copy
// array: objects each with "name", "count" and "input".
func isCopyArray(n *node) bool {
	if n == nil || n.kind != kindArray || len(n.elems) == 0 {
		return false
	}
	for _, e := range n.elems {
		if e.kind != kindObject || e.get("name") == nil || e.get("input") == nil || e.get("count") == nil {
			return false
		}
	}
	return true
}

// resourceMeta are resource members that are not part of the resource body
// sent to the resource provider.
var resourceMeta = map[string]bool{
	"type": true, "name": true, "apiversion": true, "dependson": true, "condition": true,
	"copy": true, "comments": true, "resources": true, "scope": true, "existing": true,
	"metadata": true, "resourcegroup": true, "subscriptionid": true, "import": true,
}

func (t *Template) parseResources() error {
	sec := t.root.get("resources")
	if sec == nil || sec.kind == kindNull {
		return nil
	}
	switch sec.kind {
	case kindArray:
		for _, n := range sec.elems {
			if err := t.addResource(n, nil, ""); err != nil {
				return err
			}
		}
	case kindObject:
		if !strings.HasPrefix(t.LanguageVersion, "2.") {
			return invalidTemplate(sec.line, sec.col, "resources", "The template 'resources' section at line '%d' and column '%d' is an object, which requires \"languageVersion\": \"2.0\"", sec.line, sec.col)
		}
		for i, sym := range sec.keys {
			if err := t.addResource(sec.elems[i], nil, sym); err != nil {
				return err
			}
		}
	default:
		return invalidTemplate(sec.line, sec.col, "resources", "The template 'resources' section at line '%d' and column '%d' must be an array", sec.line, sec.col)
	}
	return nil
}

func (t *Template) addResource(n *node, parent *resourceDef, symbolic string) error {
	if n.kind != kindObject {
		return invalidTemplate(n.line, n.col, "", "The template resource%s is not valid: a resource must be a JSON object", at(n.line, n.col))
	}
	r := &resourceDef{node: n, parent: parent, symbolic: symbolic, index: len(t.resources)}
	if nn := n.get("name"); nn != nil && nn.kind == kindString {
		r.label = nn.s
	} else if symbolic != "" {
		r.label = symbolic
	}
	where := fmt.Sprintf("The template resource '%s'%s", r.label, at(n.line, n.col))
	for _, req := range []string{"type", "name"} {
		v := n.get(req)
		if v == nil || v.kind != kindString || v.s == "" {
			return invalidTemplate(n.line, n.col, r.label, "%s is not valid: the '%s' property is required and must be a non-empty string", where, req)
		}
	}
	if ex := n.get("existing"); ex != nil && ex.kind == kindBool {
		r.existing = ex.b
	}
	if v := n.get("apiVersion"); !r.existing && (v == nil || v.kind != kindString || v.s == "") {
		return invalidTemplate(n.line, n.col, r.label, "%s is not valid: the 'apiVersion' property is required and must be a non-empty string", where)
	}
	if c := n.get("copy"); c != nil && c.kind != kindNull {
		if parent != nil {
			return invalidTemplate(c.line, c.col, r.label, "%s is not valid: Copying nested resources is not supported. Please see https://aka.ms/arm-copy/#looping-on-a-nested-resource for usage details", where)
		}
		if c.kind != kindObject {
			return invalidTemplate(c.line, c.col, r.label, "%s is not valid: the 'copy' property must be an object", where)
		}
		cn := c.get("name")
		if cn == nil || cn.kind != kindString || cn.s == "" {
			return invalidTemplate(c.line, c.col, r.label, "%s is not valid: the copy 'name' property is required", where)
		}
		if c.get("count") == nil {
			return invalidTemplate(c.line, c.col, r.label, "%s is not valid: the copy 'count' property is required", where)
		}
		if m := c.get("mode"); m != nil && (m.kind != kindString || (!strings.EqualFold(m.s, "serial") && !strings.EqualFold(m.s, "parallel"))) {
			return invalidTemplate(m.line, m.col, r.label, "%s is not valid: the copy 'mode' must be 'serial' or 'parallel'", where)
		}
		lc := strings.ToLower(cn.s)
		if _, dup := t.copyNames[lc]; dup {
			return invalidTemplate(c.line, c.col, r.label, "%s is not valid: the copy name '%s' is used by more than one loop", where, cn.s)
		}
		r.copy, r.copyName = c, cn.s
		t.copyNames[lc] = r
	}
	if symbolic != "" {
		ls := strings.ToLower(symbolic)
		if _, dup := t.symbols[ls]; dup {
			return invalidTemplate(n.line, n.col, symbolic, "%s is not valid: the symbolic name '%s' is used more than once", where, symbolic)
		}
		t.symbols[ls] = r
	}
	for i, k := range n.keys {
		lk := strings.ToLower(k)
		if lk == "resources" || lk == "comments" || lk == "metadata" {
			continue
		}
		if err := preparse(n.elems[i], where); err != nil {
			return err
		}
	}
	t.resources = append(t.resources, r)
	if kids := n.get("resources"); kids != nil && kids.kind != kindNull {
		if kids.kind != kindArray {
			return invalidTemplate(kids.line, kids.col, r.label, "%s is not valid: nested 'resources' must be an array", where)
		}
		for _, k := range kids.elems {
			if err := t.addResource(k, r, ""); err != nil {
				return err
			}
		}
	}
	return nil
}

func (t *Template) parseOutputs() error {
	sec := t.root.get("outputs")
	if sec == nil || sec.kind == kindNull {
		return nil
	}
	if sec.kind != kindObject {
		return invalidTemplate(sec.line, sec.col, "outputs", "The template 'outputs' section at line '%d' and column '%d' must be an object", sec.line, sec.col)
	}
	for i, name := range sec.keys {
		n := sec.elems[i]
		where := fmt.Sprintf("The template output '%s'%s", name, at(n.line, n.col))
		if n.kind != kindObject {
			return invalidTemplate(n.line, n.col, name, "%s is not valid: an output must be an object", where)
		}
		tn := n.get("type")
		if tn == nil || tn.kind != kindString || !paramTypes[strings.ToLower(tn.s)] {
			return invalidTemplate(n.line, n.col, name, "%s is not valid: the 'type' property must be one of 'string, securestring, int, bool, object, secureObject, array'", where)
		}
		if n.get("value") == nil && n.get("copy") == nil {
			return invalidTemplate(n.line, n.col, name, "%s is not valid: either 'value' or 'copy' must be given", where)
		}
		if err := preparse(n, where); err != nil {
			return err
		}
		t.outputs = append(t.outputs, &outputDef{name: name, node: n, typ: strings.ToLower(tn.s)})
	}
	return nil
}

// ParameterNames returns the template's parameter names in declaration order.
func (t *Template) ParameterNames() []string {
	out := make([]string, len(t.params))
	for i, p := range t.params {
		out[i] = p.name
	}
	return out
}

// OutputNames returns the template's output names in declaration order.
func (t *Template) OutputNames() []string {
	out := make([]string, len(t.outputs))
	for i, o := range t.outputs {
		out[i] = o.name
	}
	return out
}

// header returns the template's "$schema", "contentVersion" (and
// "languageVersion") for deployment().
func (t *Template) header() map[string]any {
	h := map[string]any{"$schema": t.Schema, "contentVersion": t.ContentVersion}
	if t.LanguageVersion != "" {
		h["languageVersion"] = t.LanguageVersion
	}
	if m := t.root.get("metadata"); m != nil {
		h["metadata"] = m.literal()
	}
	return h
}

// sortedParamNames lists declared parameter names, for messages.
func (t *Template) sortedParamNames() string {
	names := t.ParameterNames()
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// ParameterType returns the declared ARM type of a parameter as ARM echoes
// it ("String", "SecureString", "Int", "Bool", "Object", "SecureObject",
// "Array"), or "" for an unknown parameter.
func (t *Template) ParameterType(name string) string {
	for _, p := range t.params {
		if strings.EqualFold(p.name, name) {
			switch p.typ {
			case "securestring":
				return "SecureString"
			case "secureobject":
				return "SecureObject"
			case "int":
				return "Int"
			case "bool":
				return "Bool"
			}
			if p.typ == "" {
				return ""
			}
			return strings.ToUpper(p.typ[:1]) + p.typ[1:]
		}
	}
	return ""
}
