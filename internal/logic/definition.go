package logic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/arm/template"
)

// Definition is a workflow definition in the Workflow Definition Language.
type Definition struct {
	Schema         string                `json:"$schema,omitempty"`
	ContentVersion string                `json:"contentVersion,omitempty"`
	Parameters     map[string]*ParamDef  `json:"parameters,omitempty"`
	Triggers       map[string]*Trigger   `json:"triggers,omitempty"`
	Actions        map[string]*Action    `json:"actions,omitempty"`
	Outputs        map[string]*OutputDef `json:"outputs,omitempty"`
}

// ParamDef is a definition parameter.
type ParamDef struct {
	Type          string `json:"type"`
	DefaultValue  any    `json:"defaultValue,omitempty"`
	AllowedValues []any  `json:"allowedValues,omitempty"`
	Metadata      any    `json:"metadata,omitempty"`
}

// OutputDef is a definition output.
type OutputDef struct {
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Recurrence is a Recurrence trigger's schedule.
type Recurrence struct {
	Frequency string `json:"frequency"`
	Interval  int    `json:"interval"`
	StartTime string `json:"startTime,omitempty"`
	EndTime   string `json:"endTime,omitempty"`
	TimeZone  string `json:"timeZone,omitempty"`
	Schedule  any    `json:"schedule,omitempty"`
}

// Trigger is a workflow trigger.
type Trigger struct {
	Type        string      `json:"type"`
	Kind        string      `json:"kind,omitempty"`
	Inputs      any         `json:"inputs,omitempty"`
	Recurrence  *Recurrence `json:"recurrence,omitempty"`
	Conditions  any         `json:"conditions,omitempty"`
	Description string      `json:"description,omitempty"`
}

// ElseBranch is an If action's else branch.
type ElseBranch struct {
	Actions map[string]*Action `json:"actions,omitempty"`
}

// Action is a workflow action.
type Action struct {
	Type        string              `json:"type"`
	Kind        string              `json:"kind,omitempty"`
	Inputs      any                 `json:"inputs,omitempty"`
	RunAfter    map[string][]string `json:"runAfter,omitempty"`
	Expression  any                 `json:"expression,omitempty"`
	Actions     map[string]*Action  `json:"actions,omitempty"`
	Else        *ElseBranch         `json:"else,omitempty"`
	Foreach     any                 `json:"foreach,omitempty"`
	Description string              `json:"description,omitempty"`
	// RuntimeConfiguration and other members are kept as given.
	RuntimeConfiguration any `json:"runtimeConfiguration,omitempty"`
	TrackedProperties    any `json:"trackedProperties,omitempty"`
}

// Action and trigger types the runtime executes (compared case-insensitively).
const (
	TypeRequest       = "Request"
	TypeRecurrence    = "Recurrence"
	TypeCompose       = "Compose"
	TypeResponse      = "Response"
	TypeHTTP          = "Http"
	TypeIf            = "If"
	TypeForeach       = "Foreach"
	TypeScope         = "Scope"
	TypeTerminate     = "Terminate"
	TypeServiceBus    = "ServiceBus"
	TypeAPIConnection = "ApiConnection"
	TypeServiceProv   = "ServiceProvider"
	TypeInitVariable  = "InitializeVariable"
	TypeSetVariable   = "SetVariable"
	TypeIncrement     = "IncrementVariable"
	TypeDecrement     = "DecrementVariable"
	TypeAppendArray   = "AppendToArrayVariable"
	TypeAppendString  = "AppendToStringVariable"
)

var actionTypes = []string{TypeCompose, TypeResponse, TypeHTTP, TypeIf, TypeForeach, TypeScope, TypeTerminate, TypeServiceBus,
	TypeAPIConnection, TypeServiceProv, TypeInitVariable, TypeSetVariable, TypeIncrement, TypeDecrement, TypeAppendArray, TypeAppendString}

// canonType returns the canonical spelling of an action type, or "".
func canonType(t string) string {
	for _, c := range actionTypes {
		if strings.EqualFold(c, t) {
			return c
		}
	}
	return ""
}

// Limits of a definition.
const (
	maxTriggers      = 10
	maxActionsPerDef = 500
	maxNesting       = 8
	maxDefinition    = 1 << 20
)

var actionNameRE = regexp.MustCompile(`^[^<>%&\\?/#:*]{1,80}$`)

// decodeJSON decodes raw into evaluator values (integers as int64).
func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, fmt.Errorf("trailing data after the JSON value")
	}
	return template.NormalizeValue(v), nil
}

func invalidTemplate(format string, args ...any) *arm.Error {
	return arm.BadRequest("InvalidTemplate", "The template validation failed: '%s'.", fmt.Sprintf(format, args...))
}

// ParseDefinition parses and validates a workflow definition.
func ParseDefinition(raw []byte) (*Definition, error) {
	if len(raw) > maxDefinition {
		return nil, invalidTemplate("the definition is %d bytes; the limit is %d", len(raw), maxDefinition)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var d Definition
	if err := dec.Decode(&d); err != nil {
		return nil, arm.BadRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: the workflow definition is not valid: %v.", err)
	}
	normalizeDef(&d)
	if err := d.validate(); err != nil {
		return nil, err
	}
	return &d, nil
}

// normalizeDef turns json.Number values into evaluator values.
func normalizeDef(d *Definition) {
	for _, p := range d.Parameters {
		if p != nil {
			p.DefaultValue = template.NormalizeValue(p.DefaultValue)
			for i := range p.AllowedValues {
				p.AllowedValues[i] = template.NormalizeValue(p.AllowedValues[i])
			}
		}
	}
	for _, t := range d.Triggers {
		if t != nil {
			t.Inputs = template.NormalizeValue(t.Inputs)
		}
	}
	var walk func(map[string]*Action)
	walk = func(as map[string]*Action) {
		for _, a := range as {
			if a == nil {
				continue
			}
			a.Inputs = template.NormalizeValue(a.Inputs)
			a.Expression = template.NormalizeValue(a.Expression)
			a.Foreach = template.NormalizeValue(a.Foreach)
			walk(a.Actions)
			if a.Else != nil {
				walk(a.Else.Actions)
			}
		}
	}
	walk(d.Actions)
	for _, o := range d.Outputs {
		if o != nil {
			o.Value = template.NormalizeValue(o.Value)
		}
	}
}

var paramTypes = map[string]string{"string": "String", "securestring": "SecureString", "int": "Int", "float": "Float", "bool": "Bool",
	"array": "Array", "object": "Object", "secureobject": "SecureObject"}

func (d *Definition) validate() error {
	for name, p := range d.Parameters {
		if p == nil {
			return invalidTemplate("the parameter '%s' has no definition", name)
		}
		t, ok := paramTypes[strings.ToLower(p.Type)]
		if !ok {
			return invalidTemplate("the parameter '%s' has the type '%s'; use String, SecureString, Int, Float, Bool, Array, Object or SecureObject", name, p.Type)
		}
		p.Type = t
	}
	if len(d.Triggers) > maxTriggers {
		return invalidTemplate("the definition has %d triggers; a workflow has at most %d", len(d.Triggers), maxTriggers)
	}
	hasRequest := false
	for name, t := range d.Triggers {
		if t == nil || !actionNameRE.MatchString(name) {
			return invalidTemplate("the trigger name '%s' is not valid", name)
		}
		switch strings.ToLower(t.Type) {
		case "request":
			t.Type = TypeRequest
			hasRequest = true
			if err := checkExpressions(t.Inputs, "trigger '"+name+"'"); err != nil {
				return err
			}
		case "recurrence":
			t.Type = TypeRecurrence
			if err := validRecurrence(name, t.Recurrence); err != nil {
				return err
			}
		default:
			return invalidTemplate("the trigger '%s' has the type '%s'; keyward supports the Request and Recurrence triggers", name, t.Type)
		}
	}
	seen := map[string]bool{}
	count := 0
	if err := validateScope(d.Actions, "", 0, seen, &count, hasRequest); err != nil {
		return err
	}
	if count > maxActionsPerDef {
		return invalidTemplate("the definition has %d actions; the limit is %d", count, maxActionsPerDef)
	}
	for name, o := range d.Outputs {
		if o == nil {
			return invalidTemplate("the output '%s' has no definition", name)
		}
		if err := checkExpressions(o.Value, "output '"+name+"'"); err != nil {
			return err
		}
	}
	return nil
}

var frequencies = map[string]string{"second": "Second", "minute": "Minute", "hour": "Hour", "day": "Day", "week": "Week", "month": "Month"}

func validRecurrence(name string, r *Recurrence) error {
	if r == nil {
		return invalidTemplate("the Recurrence trigger '%s' needs a 'recurrence' with a frequency and an interval", name)
	}
	f, ok := frequencies[strings.ToLower(r.Frequency)]
	if !ok {
		return invalidTemplate("the recurrence frequency '%s' of trigger '%s' is not valid: use Second, Minute, Hour, Day, Week or Month", r.Frequency, name)
	}
	r.Frequency = f
	if r.Interval < 1 {
		return invalidTemplate("the recurrence interval of trigger '%s' must be at least 1", name)
	}
	if r.Schedule != nil {
		return invalidTemplate("the recurrence of trigger '%s' has a schedule; keyward supports frequency, interval and startTime only", name)
	}
	if r.TimeZone != "" && !strings.EqualFold(r.TimeZone, "UTC") && !strings.EqualFold(r.TimeZone, "Coordinated Universal Time") {
		return invalidTemplate("the recurrence of trigger '%s' has the time zone '%s'; keyward supports UTC only", name, r.TimeZone)
	}
	for _, ts := range []string{r.StartTime, r.EndTime} {
		if ts != "" {
			if _, err := template.ParseDateTime(ts); err != nil {
				return invalidTemplate("the recurrence time '%s' of trigger '%s' is not an ISO 8601 date and time", ts, name)
			}
		}
	}
	return nil
}

// validateScope checks the actions of one scope: names, types, runAfter
// references (in the same scope, no cycles) and expressions.
func validateScope(actions map[string]*Action, parent string, depth int, seen map[string]bool, count *int, hasRequest bool) error {
	if depth > maxNesting {
		return invalidTemplate("the actions are nested more than %d levels deep", maxNesting)
	}
	for name, a := range actions {
		if a == nil {
			return invalidTemplate("the action '%s' has no definition", name)
		}
		if !actionNameRE.MatchString(name) {
			return invalidTemplate("the action name '%s' is not valid", name)
		}
		if seen[strings.ToLower(name)] {
			return invalidTemplate("the action name '%s' is used more than once; action names must be unique in a workflow", name)
		}
		seen[strings.ToLower(name)] = true
		*count++
		t := canonType(a.Type)
		if t == "" {
			return invalidTemplate("the action '%s' has the type '%s', which keyward does not run; supported: %s", name, a.Type, strings.Join(actionTypes, ", "))
		}
		a.Type = t
		if t == TypeResponse && !hasRequest {
			return invalidTemplate("the action '%s' is a Response action, which needs a Request trigger", name)
		}
		for dep, st := range a.RunAfter {
			if _, ok := actions[dep]; !ok {
				return invalidTemplate("the 'runAfter' property of template action '%s' contains non-existent action: '%s'", name, dep)
			}
			for _, s := range st {
				switch strings.ToLower(s) {
				case "succeeded", "failed", "skipped", "timedout":
				default:
					return invalidTemplate("the 'runAfter' status '%s' of action '%s' is not valid: use Succeeded, Failed, Skipped or TimedOut", s, name)
				}
			}
		}
		if err := checkExpressions(a.Inputs, "action '"+name+"'"); err != nil {
			return err
		}
		switch t {
		case TypeIf:
			if a.Expression == nil {
				return invalidTemplate("the If action '%s' needs an 'expression'", name)
			}
			if err := checkExpressions(a.Expression, "action '"+name+"'"); err != nil {
				return err
			}
			if err := validateScope(a.Actions, name, depth+1, seen, count, hasRequest); err != nil {
				return err
			}
			if a.Else != nil {
				if err := validateScope(a.Else.Actions, name, depth+1, seen, count, hasRequest); err != nil {
					return err
				}
			}
		case TypeForeach:
			if a.Foreach == nil {
				return invalidTemplate("the Foreach action '%s' needs a 'foreach' expression", name)
			}
			if err := checkExpressions(a.Foreach, "action '"+name+"'"); err != nil {
				return err
			}
			if err := validateScope(a.Actions, name, depth+1, seen, count, hasRequest); err != nil {
				return err
			}
		case TypeScope:
			if err := validateScope(a.Actions, name, depth+1, seen, count, hasRequest); err != nil {
				return err
			}
		default:
			if len(a.Actions) > 0 {
				return invalidTemplate("the action '%s' of type %s cannot contain actions", name, t)
			}
		}
	}
	// No cycles through runAfter.
	state := map[string]int{}
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return invalidTemplate("the 'runAfter' properties of the actions in scope '%s' form a cycle through '%s'", scopeName(parent), n)
		case 2:
			return nil
		}
		state[n] = 1
		for dep := range actions[n].RunAfter {
			if err := visit(dep); err != nil {
				return err
			}
		}
		state[n] = 2
		return nil
	}
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}

func scopeName(p string) string {
	if p == "" {
		return "workflow"
	}
	return p
}

// checkExpressions parses every expression in v.
func checkExpressions(v any, where string) error {
	switch t := v.(type) {
	case string:
		if _, err := parseTemplateString(t); err != nil {
			return invalidTemplate("unable to parse an expression of %s: %v", where, err)
		}
	case []any:
		for _, e := range t {
			if err := checkExpressions(e, where); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, e := range t {
			if err := checkExpressions(e, where); err != nil {
				return err
			}
		}
	}
	return nil
}
