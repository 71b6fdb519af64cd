package template

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Parameters holds deployment parameter values by name, already unwrapped
// from ARM's {"value": ...} envelope. Names are matched case-insensitively.
// Values are literal: template expressions in parameter values are not
// evaluated (as in ARM).
type Parameters map[string]any

// ParseParameters parses either a parameter file
// ({"$schema", "contentVersion", "parameters": {"p": {"value": ...}}}) or the
// bare parameters object of a deployment request ({"p": {"value": ...}}).
// Key Vault references ({"reference": {...}}) are rejected.
func ParseParameters(data []byte) (Parameters, error) {
	root, err := parseJSON(string(data), false)
	if err != nil {
		return nil, &Error{Code: CodeInvalidRequestContent, Message: "The parameters document is not valid JSON: " + err.Error() + "."}
	}
	if root.kind == kindNull {
		return Parameters{}, nil
	}
	if root.kind != kindObject {
		return nil, &Error{Code: CodeInvalidRequestContent, Message: "The parameters document must be a JSON object."}
	}
	if isParameterFile(root) {
		root = root.get("parameters")
		if root == nil || root.kind == kindNull {
			return Parameters{}, nil
		}
		if root.kind != kindObject {
			return nil, &Error{Code: CodeInvalidRequestContent, Message: "The 'parameters' member of the parameter file must be a JSON object."}
		}
	}
	raw := make(map[string]any, len(root.keys))
	for i, k := range root.keys {
		raw[k] = root.elems[i].literal()
	}
	return ParametersFromRequest(raw)
}

// isParameterFile tells a parameter file from a bare parameters object.
func isParameterFile(root *node) bool {
	if root.get("$schema") != nil || root.get("contentVersion") != nil {
		return true
	}
	if len(root.keys) != 1 || !strings.EqualFold(root.keys[0], "parameters") {
		return false
	}
	p := root.elems[0]
	// {"parameters": {"value": ...}} is a bare object with one parameter named "parameters".
	return p.kind == kindObject && p.get("value") == nil && p.get("reference") == nil
}

// ParametersFromRequest unwraps the "parameters" member of a deployment
// request as decoded by encoding/json: {"p": {"value": ...}}.
func ParametersFromRequest(raw map[string]any) (Parameters, error) {
	out := make(Parameters, len(raw))
	names := make([]string, 0, len(raw))
	for k := range raw {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, name := range names {
		obj, ok := raw[name].(map[string]any)
		if !ok {
			return nil, &Error{Code: CodeInvalidRequestContent, Target: name,
				Message: fmt.Sprintf("The value of deployment parameter '%s' must be an object of the form {\"value\": ...}.", name)}
		}
		if _, ok := obj["reference"]; ok {
			return nil, &Error{Code: CodeInvalidTemplate, Target: name,
				Message: fmt.Sprintf("The deployment parameter '%s' uses a Key Vault secret reference, which keyward does not support; pass the value directly.", name)}
		}
		v, ok := obj["value"]
		if !ok {
			return nil, &Error{Code: CodeInvalidRequestContent, Target: name,
				Message: fmt.Sprintf("The deployment parameter '%s' has no 'value' member.", name)}
		}
		out[name] = normalize(v)
	}
	return out, nil
}

// lookup finds a provided value by case-insensitive name.
func (p Parameters) lookup(name string) (any, bool) {
	if v, ok := p[name]; ok {
		return v, true
	}
	for k, v := range p {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return nil, false
}

var paramTypeDisplay = map[string]string{
	"string": "String, Uri", "securestring": "String, Uri", "int": "Integer", "bool": "Boolean",
	"object": "Object", "secureobject": "Object", "array": "Array",
}

// coerceParam checks (and where ARM is lenient, converts) a parameter value
// against the declared type.
func coerceParam(p *paramDef, v any) (any, bool) {
	switch p.typ {
	case "string", "securestring":
		s, ok := v.(string)
		return s, ok
	case "int":
		switch t := v.(type) {
		case int64:
			return t, true
		case string:
			i, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
			return i, err == nil
		}
	case "bool":
		switch t := v.(type) {
		case bool:
			return t, true
		case string:
			switch strings.ToLower(strings.TrimSpace(t)) {
			case "true":
				return true, true
			case "false":
				return false, true
			}
		}
	case "object", "secureobject":
		m, ok := v.(map[string]any)
		return m, ok
	case "array":
		a, ok := v.([]any)
		return a, ok
	}
	return nil, false
}

// checkParam validates a value against the parameter's type and constraints.
// provided tells whether it came from the caller (for ARM's wording).
func (t *Template) checkParam(p *paramDef, v any) (any, *Error) {
	n := p.node
	loc := at(n.line, n.col)
	if v == nil && p.nullable {
		return nil, nil
	}
	cv, ok := coerceParam(p, v)
	if !ok {
		return nil, invalidTemplate(n.line, n.col, p.name,
			"The provided value for the template parameter '%s'%s is not valid. Template parameter JToken type is not valid. Expected '%s'. Actual '%s'. Please see https://aka.ms/arm-create-parameter-file for usage details",
			p.name, loc, paramTypeDisplay[p.typ], typeName(v))
	}
	show := func(x any) string {
		if p.secure() {
			return "***"
		}
		s, ok := scalarString(x)
		if !ok {
			s = compactJSON(x)
		}
		return s
	}
	if p.allowed != nil {
		allowed := p.allowed.literal().([]any)
		in := func(x any) bool {
			for _, a := range allowed {
				if deepEqual(normalize(a), x) {
					return true
				}
			}
			return false
		}
		items := []any{cv}
		if arr, ok := cv.([]any); ok && !in(cv) {
			items = arr
		}
		for _, it := range items {
			if !in(it) {
				parts := make([]string, len(allowed))
				for i, a := range allowed {
					parts[i] = show(a)
				}
				return nil, invalidTemplate(n.line, n.col, p.name,
					"The provided value '%s' for the template parameter '%s'%s is not valid. The parameter value is not part of the allowed value(s): '%s'",
					show(it), p.name, loc, strings.Join(parts, ","))
			}
		}
	}
	if i, ok := cv.(int64); ok {
		if p.minValue != nil && i < *p.minValue {
			return nil, invalidTemplate(n.line, n.col, p.name,
				"The provided value for the template parameter '%s'%s is not valid. The value '%s' is less than the minimum allowed value '%d'", p.name, loc, show(i), *p.minValue)
		}
		if p.maxValue != nil && i > *p.maxValue {
			return nil, invalidTemplate(n.line, n.col, p.name,
				"The provided value for the template parameter '%s'%s is not valid. The value '%s' is greater than the maximum allowed value '%d'", p.name, loc, show(i), *p.maxValue)
		}
	}
	length := -1
	switch x := cv.(type) {
	case string:
		length = len([]rune(x))
	case []any:
		length = len(x)
	}
	if length >= 0 {
		if p.minLength != nil && int64(length) < *p.minLength {
			return nil, invalidTemplate(n.line, n.col, p.name,
				"The provided value for the template parameter '%s'%s is not valid. Length of the value should be greater than or equal to '%d'", p.name, loc, *p.minLength)
		}
		if p.maxLength != nil && int64(length) > *p.maxLength {
			return nil, invalidTemplate(n.line, n.col, p.name,
				"The provided value for the template parameter '%s'%s is not valid. Length of the value should be less than or equal to '%d'", p.name, loc, *p.maxLength)
		}
	}
	return cv, nil
}

// checkProvided rejects parameter values the template does not declare.
func (t *Template) checkProvided(params Parameters) *Error {
	var extra []string
	for k := range params {
		if _, ok := t.paramIdx[strings.ToLower(k)]; !ok {
			extra = append(extra, k)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	sort.Strings(extra)
	return &Error{Code: CodeInvalidTemplate, Target: extra[0], Message: fmt.Sprintf(
		"Deployment template validation failed: 'The template parameters '%s' in the parameters file are not valid; they are not present in the original template and can therefore not be provided at deployment time. The only supported parameters for this template are '%s'. Please see https://aka.ms/arm-pass-parameter-values for usage details.'.",
		strings.Join(extra, ", "), t.sortedParamNames())}
}
