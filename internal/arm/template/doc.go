// Package template implements the Azure Resource Manager (ARM) template
// language: a position-tracking template parser, the "[...]" expression
// language and its built-in functions, and a deployment planner/executor that
// turns a template plus parameters into an ordered series of resource PUTs.
//
// The package is independent of HTTP. The resource manager drives it through
// Deploy, Validate and WhatIf and supplies a Deployer, the interface defined
// here that creates, reads, lists and deletes resources on the engine's
// behalf (optionally also an ActionInvoker for listKeys() and friends).
//
// Typical use by a deployments endpoint:
//
//	// Keep properties.template as raw JSON so that errors carry line and column.
//	tmpl, err := template.Parse(req.Properties.Template) // json.RawMessage
//	params, err := template.ParametersFromRequest(req.Properties.Parameters)
//	res, err := template.Deploy(ctx, tmpl, params, scope, deployer, template.Mode(req.Properties.Mode))
//
// Every error is an *Error that marshals to ARM's {"code","message","target",
// "details"} body: InvalidTemplate for template, parameter and expression
// problems (found before anything is deployed, with the template line and
// column), DeploymentFailed with one detail per failed resource, and
// DeploymentOutputEvaluationFailed. A Deployer's own error stays reachable
// with errors.Is/errors.As; its code is taken from *Error or ErrorCoder.
//
// Resources are deployed one at a time in a deterministic topological order
// (dependsOn, reference()/list*() targets and serial copy batches; ties go
// to the resource declared first). PutResource should return only once the
// resource has reached a terminal state.
//
// Values produced by the evaluator are plain JSON-like Go values: nil, bool,
// int64 (all integers), float64 (non-integral JSON numbers only), string,
// []any and map[string]any. Values handed in by callers (parameters, resources
// returned by the Deployer) may also use float64 or json.Number for integers;
// they are normalised on entry.
package template
