// Package deployments is the Microsoft.Resources/deployments resource
// provider: it deploys ARM templates at resource-group scope with the
// template engine, putting each resource through the resource manager as the
// deploying principal, so every resource is authorized as if the principal
// had sent it itself.
package deployments

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/arm/template"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Deployment is a stored deployment.
type Deployment struct {
	ID                string                     `json:"id"`
	Name              string                     `json:"name"`
	SubscriptionID    string                     `json:"subscriptionId"`
	ResourceGroup     string                     `json:"resourceGroup"`
	Mode              string                     `json:"mode"`
	ProvisioningState string                     `json:"provisioningState"`
	Parameters        map[string]any             `json:"parameters,omitempty"`
	Outputs           map[string]template.Output `json:"outputs,omitempty"`
	OutputResources   []template.ResourceRef     `json:"outputResources,omitempty"`
	Operations        []operationJSON            `json:"operations,omitempty"`
	Error             *template.Error            `json:"error,omitempty"`
	CorrelationID     string                     `json:"correlationId"`
	Timestamp         time.Time                  `json:"timestamp"`
	Duration          time.Duration              `json:"duration"`
	TemplateHash      string                     `json:"templateHash,omitempty"`
}

type operationJSON struct {
	ID                    string          `json:"operationId"`
	ResourceID            string          `json:"resourceId"`
	ResourceType          string          `json:"resourceType"`
	ResourceName          string          `json:"resourceName"`
	ProvisioningOperation string          `json:"provisioningOperation"`
	ProvisioningState     string          `json:"provisioningState"`
	Error                 *template.Error `json:"error,omitempty"`
	Timestamp             time.Time       `json:"timestamp"`
	Duration              time.Duration   `json:"duration"`
}

// Config carries what environment() returns in templates.
type Config struct {
	Environment template.Environment
}

// Provider serves Microsoft.Resources/deployments.
type Provider struct {
	st  store.Store
	tab records.Table[Deployment]
	cfg Config

	mu      sync.Mutex
	running map[string]bool // lower id
}

// New returns the provider.
func New(st store.Store, dk *seal.DataKey, cfg Config) *Provider {
	return &Provider{st: st, tab: records.NewTable[Deployment](st, dk, "arm/deploy/"), cfg: cfg, running: map[string]bool{}}
}

var apiVersions = []string{
	"2016-09-01", "2017-05-10", "2018-02-01", "2018-05-01", "2019-05-01", "2019-05-10", "2019-07-01", "2019-08-01", "2019-10-01",
	"2020-06-01", "2020-08-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-09-01", "2023-07-01", "2024-03-01", "2024-07-01",
	"2024-11-01", "2025-03-01", "2025-04-01",
}

// Namespace implements arm.Provider.
func (p *Provider) Namespace() string { return "Microsoft.Resources" }

// ResourceTypes implements arm.Provider.
func (p *Provider) ResourceTypes() []arm.ResourceType {
	return []arm.ResourceType{
		{Type: "deployments", APIVersions: apiVersions},
		{Type: "deployments/operations", APIVersions: apiVersions},
	}
}

func key(sub, rg, name string) string {
	return strings.ToLower(sub) + "/" + strings.ToLower(rg) + "/" + strings.ToLower(name)
}

var nameRE = regexp.MustCompile(`^[-\w._()]{1,64}$`)

// Handle implements arm.Provider.
func (p *Provider) Handle(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	if t.ResourceGroup == "" {
		return nil, arm.BadRequest("InvalidDeploymentScope", "keyward deploys templates at resource group scope only.")
	}
	if len(t.Types) == 2 {
		return p.operations(ctx, req)
	}
	if t.IsCollection() {
		all, err := p.tab.List(ctx, key(t.SubscriptionID, t.ResourceGroup, ""))
		if err != nil {
			return nil, err
		}
		var items []any
		for _, d := range all {
			items = append(items, deploymentJSON(d))
		}
		return arm.List(items), nil
	}
	k := key(t.SubscriptionID, t.ResourceGroup, t.Name())
	if t.Action != "" {
		switch strings.ToLower(t.Action) {
		case "validate":
			return p.validate(ctx, m, req)
		case "whatif":
			return p.whatIf(ctx, m, req)
		case "cancel":
			return arm.NoContent(), nil
		}
		return nil, arm.BadRequest("InvalidAction", "The action '%s' is not supported on deployments.", t.Action)
	}
	switch req.Method {
	case "GET", "HEAD":
		d, err := p.tab.Get(ctx, k)
		if errors.Is(err, store.ErrNotFound) {
			return nil, arm.Errorf(404, "DeploymentNotFound", "Deployment '%s' could not be found.", t.Name())
		}
		if err != nil {
			return nil, err
		}
		return arm.OK(deploymentJSON(d)), nil
	case "DELETE":
		b := &store.Batch{Sync: true}
		p.tab.Delete(b, k)
		if err := p.st.Apply(ctx, b); err != nil {
			return nil, err
		}
		return arm.NoContent(), nil
	case "PUT":
		return p.deploy(ctx, m, req)
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed on a deployment.", req.Method)
}

type deployBody struct {
	Properties struct {
		Mode           string          `json:"mode"`
		Template       json.RawMessage `json:"template"`
		TemplateLink   json.RawMessage `json:"templateLink"`
		Parameters     map[string]any  `json:"parameters"`
		ParametersLink json.RawMessage `json:"parametersLink"`
	} `json:"properties"`
}

// prepare parses the request into a template, parameters and scope.
func (p *Provider) prepare(ctx context.Context, m *arm.Manager, req *arm.Request) (*template.Template, template.Parameters, template.Scope, template.Mode, error) {
	t := req.Target
	var body deployBody
	if err := req.Decode(&body); err != nil {
		return nil, nil, template.Scope{}, "", err
	}
	pr := body.Properties
	if len(pr.TemplateLink) > 0 || len(pr.ParametersLink) > 0 {
		return nil, nil, template.Scope{}, "", arm.BadRequest("InvalidTemplateLink", "keyward cannot fetch templateLink or parametersLink URIs; send the template inline.")
	}
	if len(pr.Template) == 0 || string(pr.Template) == "null" {
		return nil, nil, template.Scope{}, "", arm.BadRequest("InvalidDeployment", "The deployment must have a 'template' property.")
	}
	if !nameRE.MatchString(t.Name()) {
		return nil, nil, template.Scope{}, "", arm.BadRequest("InvalidDeploymentName", "The deployment name '%s' is invalid: it must be 1 to 64 letters, digits, '-', '.', '_', '(' or ')'.", t.Name())
	}
	mode := template.Incremental
	switch strings.ToLower(pr.Mode) {
	case "", "incremental":
	case "complete":
		mode = template.Complete
	default:
		return nil, nil, template.Scope{}, "", arm.BadRequest("InvalidDeploymentMode", "The deployment mode '%s' is not valid: use Incremental or Complete.", pr.Mode)
	}
	tmpl, err := template.Parse(pr.Template)
	if err != nil {
		return nil, nil, template.Scope{}, "", toARM(err)
	}
	params, err := template.ParametersFromRequest(pr.Parameters)
	if err != nil {
		return nil, nil, template.Scope{}, "", toARM(err)
	}
	sub, err := m.Subscription(ctx, t.SubscriptionID)
	if err != nil {
		return nil, nil, template.Scope{}, "", err
	}
	g, err := m.Group(ctx, t.SubscriptionID, t.ResourceGroup)
	if err != nil {
		return nil, nil, template.Scope{}, "", err
	}
	scope := template.Scope{
		TenantID: sub.TenantID, SubscriptionID: sub.ID, SubscriptionName: sub.DisplayName,
		ResourceGroup: g.Name, ResourceGroupLocation: g.Location, ResourceGroupTags: g.Tags, ResourceGroupManagedBy: g.ManagedBy,
		DeploymentName: t.Name(), Environment: p.cfg.Environment, Now: m.Clock().Now,
	}
	return tmpl, params, scope, mode, nil
}

// toARM converts template errors into ARM errors (400 for bad templates).
func toARM(err error) error {
	var te *template.Error
	if errors.As(err, &te) {
		ae := &arm.Error{Status: 400, Code: te.Code, Message: te.Message, Target: te.Target}
		for _, d := range te.Details {
			ae.Details = append(ae.Details, toARM(d).(*arm.Error))
		}
		return ae
	}
	return err
}

func (p *Provider) deploy(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	tmpl, params, scope, mode, err := p.prepare(ctx, m, req)
	if err != nil {
		return nil, err
	}
	if _, err := template.Validate(ctx, tmpl, params, scope); err != nil {
		return nil, toARM(err)
	}
	k := key(t.SubscriptionID, t.ResourceGroup, t.Name())
	p.mu.Lock()
	if p.running[k] {
		p.mu.Unlock()
		return nil, arm.Conflict("DeploymentActive", "The deployment '%s' is already running; wait for it to finish.", t.Name())
	}
	p.running[k] = true
	p.mu.Unlock()
	now := m.Clock().Now().UTC()
	d := Deployment{
		ID: t.ResourceID(), Name: t.Name(), SubscriptionID: t.SubscriptionID, ResourceGroup: t.ResourceGroup,
		Mode: string(mode), ProvisioningState: "Accepted", Parameters: publicParameters(tmpl, params),
		CorrelationID: req.Caller.CorrelationID, Timestamp: now,
	}
	if d.CorrelationID == "" {
		d.CorrelationID = uuid.NewString()
	}
	if err := p.put(ctx, k, d); err != nil {
		p.done(k)
		return nil, err
	}
	dep := &deployer{m: m, caller: req.Caller, sub: t.SubscriptionID, rg: t.ResourceGroup, base: req.BaseURL}
	// The answer is built before the operation starts: the operation
	// updates d as it runs.
	accepted := deploymentJSON(d)
	op := m.Async(req, "global", func(ctx context.Context) error {
		defer p.done(k)
		d.ProvisioningState = "Running"
		if err := p.put(ctx, k, d); err != nil {
			return err
		}
		start := m.Clock().Now()
		res, derr := template.Deploy(ctx, tmpl, params, scope, dep, mode)
		d.Duration = m.Clock().Now().Sub(start)
		d.Timestamp = m.Clock().Now().UTC()
		if res != nil {
			d.Outputs, d.OutputResources = res.Outputs, res.OutputResources
			for _, o := range res.Operations {
				d.Operations = append(d.Operations, operationJSON{
					ID: strings.ToUpper(uuid.NewString()[:16]), ResourceID: o.ResourceID, ResourceType: o.ResourceType, ResourceName: o.ResourceName,
					ProvisioningOperation: o.ProvisioningOperation, ProvisioningState: o.ProvisioningState, Error: o.Error,
					Timestamp: o.Timestamp, Duration: o.Duration,
				})
			}
		}
		if derr != nil {
			d.ProvisioningState = "Failed"
			var te *template.Error
			if !errors.As(derr, &te) {
				te = template.NewError(template.CodeDeploymentFailed, derr.Error())
			}
			d.Error = te
		} else {
			d.ProvisioningState = "Succeeded"
		}
		if err := p.put(context.WithoutCancel(ctx), k, d); err != nil {
			return err
		}
		if derr != nil {
			return toARM(d.Error)
		}
		return nil
	})
	op.Namespace = "Microsoft.Resources"
	return &arm.Response{Status: 201, Body: accepted, Operation: op}, nil
}

func (p *Provider) done(k string) {
	p.mu.Lock()
	delete(p.running, k)
	p.mu.Unlock()
}

func (p *Provider) put(ctx context.Context, k string, d Deployment) error {
	b := &store.Batch{Sync: true}
	if err := p.tab.Put(b, k, d); err != nil {
		return err
	}
	return p.st.Apply(ctx, b)
}

// publicParameters returns the parameters as ARM echoes them: secure ones
// without their value.
func publicParameters(t *template.Template, params template.Parameters) map[string]any {
	out := map[string]any{}
	for name, v := range params {
		typ := t.ParameterType(name)
		if strings.HasPrefix(strings.ToLower(typ), "secure") {
			out[name] = map[string]any{"type": typ}
			continue
		}
		out[name] = map[string]any{"type": typ, "value": v}
	}
	return out
}

func deploymentJSON(d Deployment) map[string]any {
	props := map[string]any{
		"provisioningState": d.ProvisioningState, "mode": d.Mode, "correlationId": d.CorrelationID,
		"timestamp": arm.FormatTime(d.Timestamp), "duration": isoDuration(d.Duration),
		"parameters": d.Parameters, "outputs": d.Outputs, "outputResources": d.OutputResources,
		"templateHash": d.TemplateHash,
	}
	if d.Outputs == nil {
		props["outputs"] = map[string]any{}
	}
	if d.OutputResources == nil {
		props["outputResources"] = []any{}
	}
	if d.Error != nil {
		props["error"] = d.Error
	}
	return map[string]any{"id": d.ID, "name": d.Name, "type": "Microsoft.Resources/deployments", "properties": props}
}

func isoDuration(d time.Duration) string {
	return fmt.Sprintf("PT%.3fS", d.Seconds())
}

func (p *Provider) operations(ctx context.Context, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	d, err := p.tab.Get(ctx, key(t.SubscriptionID, t.ResourceGroup, t.Names[0]))
	if errors.Is(err, store.ErrNotFound) {
		return nil, arm.Errorf(404, "DeploymentNotFound", "Deployment '%s' could not be found.", t.Names[0])
	}
	if err != nil {
		return nil, err
	}
	var items []any
	for _, o := range d.Operations {
		props := map[string]any{
			"provisioningOperation": o.ProvisioningOperation, "provisioningState": o.ProvisioningState,
			"timestamp": arm.FormatTime(o.Timestamp), "duration": isoDuration(o.Duration),
			"targetResource": map[string]any{"id": o.ResourceID, "resourceType": o.ResourceType, "resourceName": o.ResourceName},
		}
		if o.Error != nil {
			props["statusMessage"] = map[string]any{"status": "Failed", "error": o.Error}
		}
		items = append(items, map[string]any{"id": d.ID + "/operations/" + o.ID, "operationId": o.ID, "properties": props})
	}
	if !t.IsCollection() {
		for _, it := range items {
			if strings.EqualFold(it.(map[string]any)["operationId"].(string), t.Name()) {
				return arm.OK(it), nil
			}
		}
		return nil, arm.Errorf(404, "DeploymentOperationNotFound", "Deployment operation '%s' could not be found.", t.Name())
	}
	return arm.List(items), nil
}

func (p *Provider) validate(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	tmpl, params, scope, mode, err := p.prepare(ctx, m, req)
	if err != nil {
		return nil, err
	}
	plan, err := template.Validate(ctx, tmpl, params, scope)
	if err != nil {
		return nil, toARM(err)
	}
	var validated []any
	for _, r := range plan.Resources {
		validated = append(validated, map[string]any{"id": r.ID})
	}
	return arm.OK(map[string]any{"id": req.Target.ResourceID(), "name": req.Target.Name(), "type": "Microsoft.Resources/deployments",
		"properties": map[string]any{"provisioningState": "Succeeded", "mode": string(mode), "validatedResources": validated, "parameters": publicParameters(tmpl, params)}}), nil
}

func (p *Provider) whatIf(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	tmpl, params, scope, mode, err := p.prepare(ctx, m, req)
	if err != nil {
		return nil, err
	}
	dep := &deployer{m: m, caller: req.Caller, sub: req.Target.SubscriptionID, rg: req.Target.ResourceGroup, base: req.BaseURL}
	res, err := template.WhatIf(ctx, tmpl, params, scope, dep, mode)
	if err != nil {
		return nil, toARM(err)
	}
	var changes []any
	for _, c := range res.Changes {
		changes = append(changes, map[string]any{"resourceId": c.ResourceID, "changeType": string(c.ChangeType), "before": c.Before, "after": c.After})
	}
	return arm.OK(map[string]any{"status": "Succeeded", "properties": map[string]any{"changes": changes}}), nil
}

// DeleteGroup implements arm.GroupCleaner.
func (p *Provider) DeleteGroup(ctx context.Context, sub, rg string) error {
	prefix := key(sub, rg, "")
	b := &store.Batch{Sync: true}
	start := p.tab.Key(prefix)
	b.DeleteRange(start, store.PrefixEnd(start))
	return p.st.Apply(ctx, b)
}

// deployer puts resources through the resource manager as the deploying
// principal.
type deployer struct {
	m      *arm.Manager
	caller arm.Caller
	sub    string
	rg     string
	base   string
}

func (d *deployer) request(method, id, apiVersion string, body []byte) (*arm.Request, error) {
	t, err := arm.ParseTarget(id)
	if err != nil {
		return nil, template.NewError("InvalidResourceId", fmt.Sprintf("The resource id '%s' is not valid: %v", id, err))
	}
	return &arm.Request{Method: method, Target: t, APIVersion: apiVersion, Body: body, Caller: d.caller, BaseURL: d.base}, nil
}

// PutResource implements template.Deployer.
func (d *deployer) PutResource(ctx context.Context, r template.ResourceRequest) (map[string]any, error) {
	body, err := r.BodyJSON()
	if err != nil {
		return nil, err
	}
	req, err := d.request("PUT", r.ID, r.APIVersion, body)
	if err != nil {
		return nil, err
	}
	resp, err := d.m.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	if resp.Operation != nil {
		if err := d.m.Wait(ctx, resp.Operation); err != nil {
			return nil, err
		}
	}
	if got, err := d.GetResource(ctx, r.ID, r.APIVersion); err == nil {
		return got, nil
	}
	return toMap(resp.Body)
}

// GetResource implements template.Deployer.
func (d *deployer) GetResource(ctx context.Context, id, apiVersion string) (map[string]any, error) {
	if apiVersion == "" {
		apiVersion = d.m.LatestAPIVersion(id)
	}
	req, err := d.request("GET", id, apiVersion, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.m.Do(ctx, req)
	if err != nil {
		var ae *arm.Error
		if errors.As(err, &ae) && ae.Status == 404 {
			return nil, fmt.Errorf("%w: %s", template.ErrResourceNotFound, ae.Message)
		}
		return nil, err
	}
	return toMap(resp.Body)
}

// ListResourceIDs implements template.Deployer.
func (d *deployer) ListResourceIDs(ctx context.Context) ([]string, error) {
	entries, err := d.m.IndexUnder(ctx, arm.ResourceGroupScope(d.sub, d.rg))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.Tracked {
			out = append(out, e.ID)
		}
	}
	sort.Strings(out)
	return out, nil
}

// DeleteResource implements template.Deployer.
func (d *deployer) DeleteResource(ctx context.Context, id string) error {
	req, err := d.request("DELETE", id, d.m.LatestAPIVersion(id), nil)
	if err != nil {
		return err
	}
	resp, err := d.m.Do(ctx, req)
	if err != nil {
		return err
	}
	if resp.Operation != nil {
		return d.m.Wait(ctx, resp.Operation)
	}
	return nil
}

// InvokeAction implements template.ActionInvoker (listKeys and friends).
func (d *deployer) InvokeAction(ctx context.Context, id, action, apiVersion string, body any) (any, error) {
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return nil, err
		}
	}
	req, err := d.request("POST", id, apiVersion, raw)
	if err != nil {
		return nil, err
	}
	req.Target.Action = action
	resp, err := d.m.Do(ctx, req)
	if err != nil {
		return nil, err
	}
	return toMap(resp.Body)
}

func toMap(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}
