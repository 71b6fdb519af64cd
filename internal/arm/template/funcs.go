package template

import (
	"fmt"
	"strconv"
	"strings"
)

// listBuiltin handles every list*() function (listKeys, listSecrets, ...).
var listBuiltin *builtin

func init() {
	b := map[string]*builtin{}
	reg := func(name string, min, max int, fn func(c *callCtx, args []any) (any, error)) {
		b[strings.ToLower(name)] = &builtin{min: min, max: max, fn: fn}
	}
	lazy := func(name string, min, max int, fn func(c *callCtx) (any, error)) {
		b[strings.ToLower(name)] = &builtin{min: min, max: max, lazy: fn}
	}
	// Deployment and scope.
	reg("parameters", 1, 1, fnParameters)
	reg("variables", 1, 1, fnVariables)
	reg("deployment", 0, 0, fnDeployment)
	reg("environment", 0, 0, fnEnvironment)
	reg("resourceGroup", 0, 0, fnResourceGroup)
	reg("subscription", 0, 0, fnSubscription)
	reg("tenant", 0, 0, fnTenant)
	reg("managementGroup", 0, 1, fnManagementGroup)
	reg("copyIndex", 0, 2, fnCopyIndex)
	// Resources.
	reg("resourceId", 2, -1, fnResourceID)
	reg("subscriptionResourceId", 2, -1, fnSubscriptionResourceID)
	reg("tenantResourceId", 2, -1, fnTenantResourceID)
	reg("extensionResourceId", 3, -1, fnExtensionResourceID)
	reg("reference", 1, 3, fnReference)
	reg("pickZones", 3, 5, fnPickZones)
	listBuiltin = &builtin{min: 2, max: 3, fn: fnList}
	// Strings.
	reg("base64", 1, 1, fnBase64)
	reg("base64ToString", 1, 1, fnBase64ToString)
	reg("base64ToJson", 1, 1, fnBase64ToJSON)
	reg("dataUri", 1, 1, fnDataURI)
	reg("dataUriToString", 1, 1, fnDataURIToString)
	reg("endsWith", 2, 2, fnEndsWith)
	reg("startsWith", 2, 2, fnStartsWith)
	reg("format", 1, -1, fnFormat)
	reg("guid", 1, -1, fnGUID)
	reg("newGuid", 0, 0, fnNewGUID)
	reg("uniqueString", 1, -1, fnUniqueString)
	reg("indexOf", 2, 2, fnIndexOf)
	reg("lastIndexOf", 2, 2, fnLastIndexOf)
	reg("padLeft", 2, 3, fnPadLeft)
	reg("replace", 3, 3, fnReplace)
	reg("split", 2, 2, fnSplit)
	reg("string", 1, 1, fnString)
	reg("substring", 2, 3, fnSubstring)
	reg("toLower", 1, 1, fnToLower)
	reg("toUpper", 1, 1, fnToUpper)
	reg("trim", 1, 1, fnTrim)
	reg("uri", 2, 2, fnURI)
	reg("uriComponent", 1, 1, fnURIComponent)
	reg("uriComponentToString", 1, 1, fnURIComponentToString)
	reg("join", 2, 2, fnJoin)
	reg("json", 1, 1, fnJSON)
	reg("utcNow", 0, 1, fnUtcNow)
	reg("dateTimeAdd", 2, 3, fnDateTimeAdd)
	reg("dateTimeToEpoch", 1, 1, fnDateTimeToEpoch)
	reg("dateTimeFromEpoch", 1, 1, fnDateTimeFromEpoch)
	// Arrays and objects.
	reg("concat", 0, -1, fnConcat)
	reg("contains", 2, 2, fnContains)
	reg("empty", 1, 1, fnEmpty)
	reg("first", 1, 1, fnFirst)
	reg("last", 1, 1, fnLast)
	reg("length", 1, 1, fnLength)
	reg("skip", 2, 2, fnSkip)
	reg("take", 2, 2, fnTake)
	reg("array", 1, 1, fnArray)
	reg("createArray", 0, -1, fnCreateArray)
	reg("createObject", 0, -1, fnCreateObject)
	reg("union", 1, -1, fnUnion)
	reg("intersection", 1, -1, fnIntersection)
	reg("range", 2, 2, fnRange)
	reg("flatten", 1, 1, fnFlatten)
	reg("items", 1, 1, fnItems)
	reg("objectKeys", 1, 1, fnObjectKeys)
	reg("tryGet", 2, -1, fnTryGet)
	reg("null", 0, 0, func(*callCtx, []any) (any, error) { return nil, nil })
	// Comparison, logic, numbers.
	reg("equals", 2, 2, fnEquals)
	reg("less", 2, 2, cmpFn(func(c int) bool { return c < 0 }))
	reg("lessOrEquals", 2, 2, cmpFn(func(c int) bool { return c <= 0 }))
	reg("greater", 2, 2, cmpFn(func(c int) bool { return c > 0 }))
	reg("greaterOrEquals", 2, 2, cmpFn(func(c int) bool { return c >= 0 }))
	reg("not", 1, 1, fnNot)
	reg("bool", 1, 1, fnBool)
	reg("true", 0, 0, func(*callCtx, []any) (any, error) { return true, nil })
	reg("false", 0, 0, func(*callCtx, []any) (any, error) { return false, nil })
	reg("int", 1, 1, fnInt)
	reg("add", 2, 2, arith('+'))
	reg("sub", 2, 2, arith('-'))
	reg("mul", 2, 2, arith('*'))
	reg("div", 2, 2, arith('/'))
	reg("mod", 2, 2, arith('%'))
	reg("min", 1, -1, minMax(true))
	reg("max", 1, -1, minMax(false))
	lazy("if", 3, 3, fnIf)
	lazy("and", 2, -1, fnAnd)
	lazy("or", 2, -1, fnOr)
	lazy("coalesce", 1, -1, fnCoalesce)
	// Lambdas.
	lazy("lambda", 2, -1, fnLambda)
	reg("lambdaVariables", 1, 1, fnLambdaVariables)
	reg("filter", 2, 2, fnFilter)
	reg("map", 2, 2, fnMap)
	reg("reduce", 3, 3, fnReduce)
	reg("sort", 2, 2, fnSort)
	reg("toObject", 2, 3, fnToObject)
	for _, name := range []string{"parameters", "variables", "first", "last", "tryGet", "array", "skip", "take",
		"filter", "lambdaVariables", "reference", "json", "base64ToJson", "sort", "deployment", "environment"} {
		b[strings.ToLower(name)].passThrough = true
	}
	listBuiltin.passThrough = true
	builtins = b
}

func fnParameters(c *callCtx, args []any) (any, error) {
	name, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	p, ok := c.e.t.paramIdx[strings.ToLower(name)]
	if !ok {
		return nil, exprErrf(c.x.pos, "The template parameter '%s' is not found. Please see https://aka.ms/arm-template/#parameters for usage details", name)
	}
	return c.e.paramValue(p)
}

func fnVariables(c *callCtx, args []any) (any, error) {
	if c.sc.site == siteParam {
		return nil, c.notHere("Variables can't be used in the default value of a parameter")
	}
	name, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	v, ok := c.e.t.varIdx[strings.ToLower(name)]
	if !ok {
		return nil, exprErrf(c.x.pos, "The template variable '%s' is not found. Please see https://aka.ms/arm-template/#variables for usage details", name)
	}
	return c.e.variableValue(v)
}

func fnDeployment(c *callCtx, _ []any) (any, error) {
	e := c.e
	return map[string]any{
		"name": e.sc.DeploymentName,
		"properties": map[string]any{
			"template":          e.t.header(),
			"templateHash":      strconv.FormatUint(murmur64([]byte(e.t.src)), 10),
			"parameters":        map[string]any{},
			"mode":              string(e.mode),
			"provisioningState": "Accepted",
		},
	}, nil
}

func fnEnvironment(c *callCtx, _ []any) (any, error) {
	env := c.e.sc.Environment
	aud := make([]any, len(env.Audiences))
	for i, a := range env.Audiences {
		aud[i] = a
	}
	suffixes := map[string]any{}
	for k, v := range env.Suffixes {
		suffixes[k] = v
	}
	return map[string]any{
		"name":                    env.Name,
		"gallery":                 "",
		"graph":                   env.Graph,
		"portal":                  env.Portal,
		"graphAudience":           env.GraphAudience,
		"activeDirectoryDataLake": "",
		"batch":                   "",
		"media":                   "",
		"sqlManagement":           "",
		"vmImageAliasDoc":         "",
		"resourceManager":         env.ResourceManager,
		"authentication": map[string]any{
			"loginEndpoint":    env.LoginEndpoint,
			"audiences":        aud,
			"tenant":           "common",
			"identityProvider": "AAD",
		},
		"suffixes": suffixes,
	}, nil
}

func fnResourceGroup(c *callCtx, _ []any) (any, error) {
	sc := c.e.sc
	if sc.ResourceGroup == "" {
		return nil, c.notHere("The resourceGroup function can only be used in a deployment to a resource group")
	}
	tags := map[string]any{}
	for k, v := range sc.ResourceGroupTags {
		tags[k] = v
	}
	rg := map[string]any{
		"id":         c.e.rgID(),
		"name":       sc.ResourceGroup,
		"type":       "Microsoft.Resources/resourceGroups",
		"location":   sc.ResourceGroupLocation,
		"tags":       tags,
		"properties": map[string]any{"provisioningState": "Succeeded"},
	}
	if sc.ResourceGroupManagedBy != "" {
		rg["managedBy"] = sc.ResourceGroupManagedBy
	}
	return rg, nil
}

func fnSubscription(c *callCtx, _ []any) (any, error) {
	sc := c.e.sc
	return map[string]any{
		"id":             "/subscriptions/" + sc.SubscriptionID,
		"subscriptionId": sc.SubscriptionID,
		"tenantId":       sc.TenantID,
		"displayName":    sc.SubscriptionName,
	}, nil
}

func fnTenant(c *callCtx, _ []any) (any, error) {
	sc := c.e.sc
	return map[string]any{
		"id":          "/tenants/" + sc.TenantID,
		"tenantId":    sc.TenantID,
		"countryCode": "",
		"displayName": "",
	}, nil
}

func fnManagementGroup(c *callCtx, _ []any) (any, error) {
	return nil, c.notHere("keyward has no management groups")
}

func fnCopyIndex(c *callCtx, args []any) (any, error) {
	name, hasName := "", false
	var offset int64
	switch len(args) {
	case 1:
		switch v := args[0].(type) {
		case string:
			name, hasName = v, true
		case int64:
			offset = v
		default:
			return nil, c.argType(0, "String or Integer", v)
		}
	case 2:
		s, err := c.str(args, 0)
		if err != nil {
			return nil, err
		}
		o, err := c.integer(args, 1)
		if err != nil {
			return nil, err
		}
		name, hasName, offset = s, true, o
	}
	loops := c.sc.loops
	for i := len(loops) - 1; i >= 0; i-- {
		l := loops[i]
		if (hasName && strings.EqualFold(l.name, name)) || (!hasName && l.primary) {
			return int64(l.index) + offset, nil
		}
	}
	if hasName {
		return nil, c.notHere(fmt.Sprintf("The copy loop '%s' is not an enclosing copy loop", name))
	}
	return nil, c.notHere("The function can only be used in a resource, property, variable or output with copy specified")
}

// strArgs requires every argument to be a string.
func strArgs(c *callCtx, args []any) ([]string, error) {
	out := make([]string, len(args))
	for i := range args {
		s, err := c.str(args, i)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

func fnResourceID(c *callCtx, args []any) (any, error) {
	s, err := strArgs(c, args)
	if err != nil {
		return nil, err
	}
	idx := -1
	for i := 0; i < len(s) && i < 3; i++ {
		if strings.Contains(s[i], "/") {
			idx = i
			break
		}
	}
	if idx < 0 || idx == len(s)-1 {
		return nil, c.errf("the resource type must be given as 'Namespace/type' and followed by at least one resource name")
	}
	sub, rg := c.e.sc.SubscriptionID, c.e.sc.ResourceGroup
	switch idx {
	case 1:
		rg = s[0]
	case 2:
		sub, rg = s[0], s[1]
	}
	base := "/subscriptions/" + sub
	if rg != "" {
		base += "/resourceGroups/" + rg
	}
	id, err := buildID(base, s[idx], splitNames(s[idx+1:]))
	if err != nil {
		return nil, c.errf("%s", err.Error())
	}
	return id, nil
}

func fnSubscriptionResourceID(c *callCtx, args []any) (any, error) {
	s, err := strArgs(c, args)
	if err != nil {
		return nil, err
	}
	sub := c.e.sc.SubscriptionID
	idx := 0
	if !strings.Contains(s[0], "/") {
		sub, idx = s[0], 1
	}
	if idx >= len(s)-1 || !strings.Contains(s[idx], "/") {
		return nil, c.errf("the resource type must be given as 'Namespace/type' and followed by at least one resource name")
	}
	id, err := buildID("/subscriptions/"+sub, s[idx], splitNames(s[idx+1:]))
	if err != nil {
		return nil, c.errf("%s", err.Error())
	}
	return id, nil
}

func fnTenantResourceID(c *callCtx, args []any) (any, error) {
	s, err := strArgs(c, args)
	if err != nil {
		return nil, err
	}
	id, err := buildID("", s[0], splitNames(s[1:]))
	if err != nil {
		return nil, c.errf("%s", err.Error())
	}
	return id, nil
}

func fnExtensionResourceID(c *callCtx, args []any) (any, error) {
	s, err := strArgs(c, args)
	if err != nil {
		return nil, err
	}
	if !strings.HasPrefix(s[0], "/") {
		return nil, c.errf("the first parameter must be the id of the resource the extension applies to")
	}
	id, err := buildID(s[0], s[1], splitNames(s[2:]))
	if err != nil {
		return nil, c.errf("%s", err.Error())
	}
	return id, nil
}

// runtimeSite reports whether reference()/list*() may be used here.
func runtimeSite(c *callCtx) error {
	switch c.sc.site {
	case siteBody, siteOutput, siteCondition:
		return nil
	}
	return c.notHere("The function can only be used in the body (for example 'properties') of a resource and in outputs. Please see https://aka.ms/arm-function-reference for usage details")
}

func fnReference(c *callCtx, args []any) (any, error) {
	if err := runtimeSite(c); err != nil {
		return nil, err
	}
	target, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	apiVersion := ""
	if len(args) > 1 {
		if apiVersion, err = c.str(args, 1); err != nil {
			return nil, err
		}
	}
	full := false
	if len(args) > 2 {
		s, err := c.str(args, 2)
		if err != nil {
			return nil, err
		}
		if !strings.EqualFold(s, "Full") {
			return nil, c.errf("the third parameter must be 'Full', not '%s'", s)
		}
		full = true
	}
	if c.sc.validate {
		if c.sc.onRef != nil {
			c.sc.onRef(target)
		}
		return unknown{text: c.x.text()}, nil
	}
	return c.e.reference(c, target, apiVersion, full)
}

// resolveTarget turns a reference()/list*() target (an id, a resource name
// or a symbolic name) into a resource id and, when the resource is part of
// the template, its instance.
func (e *engine) resolveTarget(c *callCtx, target string) (string, *instance, error) {
	if strings.HasPrefix(target, "/") {
		return target, e.byID[strings.ToLower(target)], nil
	}
	ins, err := e.matchReference(target)
	if err != nil {
		return "", nil, exprErrf(c.x.pos, "%s", err.Error())
	}
	for _, in := range ins {
		if in.cond != condFalse && in.state != stateOff {
			return in.id, in, nil
		}
	}
	if len(ins) > 0 {
		return ins[0].id, ins[0], nil
	}
	return "", nil, exprErrf(c.x.pos, "The template reference '%s' is not valid: could not find template resource or resource copy with this name", target)
}

func (e *engine) reference(c *callCtx, target, apiVersion string, full bool) (any, error) {
	id, in, err := e.resolveTarget(c, target)
	if err != nil {
		return nil, err
	}
	if in != nil && apiVersion == "" {
		apiVersion = in.apiVersion
	}
	var obj map[string]any
	if dr, ok := e.deployed[strings.ToLower(id)]; ok && (apiVersion == "" || strings.EqualFold(apiVersion, dr.apiVersion)) {
		obj = dr.obj
	} else {
		if e.d == nil {
			return unknown{text: c.x.text()}, nil
		}
		got, gerr := e.d.GetResource(e.ctx, id, apiVersion)
		if gerr != nil {
			if isNotFound(gerr) {
				typ, name, _ := parseResourceID(id)
				return nil, &Error{Code: "ResourceNotFound", Target: id, cause: gerr, Message: fmt.Sprintf(
					"The Resource '%s/%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", typ, name, e.sc.ResourceGroup)}
			}
			return nil, deployerError(id, gerr)
		}
		obj, _ = normalize(got).(map[string]any)
	}
	if full {
		out, _ := deepCopy(obj).(map[string]any)
		if out == nil {
			out = map[string]any{}
		}
		if _, ok := out["apiVersion"]; !ok && apiVersion != "" {
			out["apiVersion"] = apiVersion
		}
		if _, ok := out["id"]; !ok {
			out["id"] = id
		}
		return out, nil
	}
	props, ok := obj["properties"]
	if !ok || props == nil {
		return map[string]any{}, nil
	}
	return deepCopy(props), nil
}

func fnList(c *callCtx, args []any) (any, error) {
	if err := runtimeSite(c); err != nil {
		return nil, err
	}
	target, err := c.str(args, 0)
	if err != nil {
		return nil, err
	}
	apiVersion, err := c.str(args, 1)
	if err != nil {
		return nil, err
	}
	var body any
	if len(args) > 2 {
		body = args[2]
	}
	if c.sc.validate {
		if c.sc.onRef != nil {
			c.sc.onRef(target)
		}
		return unknown{text: c.x.text()}, nil
	}
	ai, ok := c.e.d.(ActionInvoker)
	if !ok {
		return nil, exprErrf(c.x.pos, "The template function '%s' at position '%d' is not supported: this resource manager does not implement resource list actions", c.x.name, c.x.pos)
	}
	id, _, err := c.e.resolveTarget(c, target)
	if err != nil {
		return nil, err
	}
	v, err := ai.InvokeAction(c.e.ctx, id, c.x.name, apiVersion, deepCopy(body))
	if err != nil {
		return nil, deployerError(id, err)
	}
	return normalize(v), nil
}

func fnPickZones(c *callCtx, args []any) (any, error) {
	if _, err := strArgs(c, args[:3]); err != nil {
		return nil, err
	}
	// keyward regions have no availability zones.
	return []any{}, nil
}
