// Package logicarm is the Microsoft.Logic resource provider: integration
// service environments (api-versions 2018-07-01-preview, as the seed
// document uses, and 2019-05-01, as armlogic sends) and workflows with
// their triggers (listCallbackUrl, run), runs and run actions.
package logicarm

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/logic"
	"github.com/keyward/keyward/internal/managedidentity"
)

// Provider serves Microsoft.Logic.
type Provider struct {
	s *logic.Service
}

// New returns the provider.
func New(s *logic.Service) *Provider { return &Provider{s: s} }

var (
	iseAPIVersions      = []string{"2018-07-01-preview", "2019-05-01"}
	workflowAPIVersions = []string{"2016-06-01", "2018-07-01-preview", "2019-05-01"}
)

// Namespace implements arm.Provider.
func (p *Provider) Namespace() string { return "Microsoft.Logic" }

// ResourceTypes implements arm.Provider.
func (p *Provider) ResourceTypes() []arm.ResourceType {
	wf := func(t string) arm.ResourceType { return arm.ResourceType{Type: t, APIVersions: workflowAPIVersions} }
	w := wf("workflows")
	w.Tracked = true
	return []arm.ResourceType{
		{Type: "integrationServiceEnvironments", APIVersions: iseAPIVersions, Tracked: true},
		w, wf("workflows/triggers"), wf("workflows/triggers/histories"), wf("workflows/runs"), wf("workflows/runs/actions"),
	}
}

// Handle implements arm.Provider.
func (p *Provider) Handle(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	switch strings.ToLower(t.TypePath()) {
	case "integrationserviceenvironments":
		return p.ise(ctx, m, req)
	case "workflows":
		return p.workflow(ctx, m, req)
	}
	// Children of a workflow.
	wid := workflowTargetID(t)
	if _, ok := p.s.GetWorkflow(ctx, wid); !ok {
		return nil, arm.NotFound(arm.Target{Namespace: t.Namespace, Types: t.Types[:1], Names: t.Names[:1], ResourceGroup: t.ResourceGroup})
	}
	switch strings.ToLower(t.TypePath()) {
	case "workflows/triggers":
		return p.trigger(ctx, req, wid)
	case "workflows/triggers/histories":
		return p.history(ctx, req, wid)
	case "workflows/runs":
		return p.run(ctx, req, wid)
	case "workflows/runs/actions":
		return p.runAction(ctx, req, wid)
	}
	return nil, arm.BadRequest("InvalidResourceType", "The resource type '%s' is not supported.", t.TypePath())
}

func workflowTargetID(t arm.Target) string {
	return arm.ResourceGroupScope(t.SubscriptionID, t.ResourceGroup) + "/providers/Microsoft.Logic/workflows/" + t.Names[0]
}

// inScope reports whether a resource id lives in the target's subscription
// and resource group (ids are matched case-insensitively).
func inScope(id string, t arm.Target) bool {
	want := strings.ToLower(arm.ResourceGroupScope(t.SubscriptionID, t.ResourceGroup) + "/")
	return strings.HasPrefix(strings.ToLower(id), want)
}

func notAllowed(method, what string) error {
	return arm.Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed on %s.", method, what)
}

// Integration service environments.

type iseBody struct {
	Location   string                `json:"location"`
	Tags       map[string]string     `json:"tags"`
	SKU        *logic.SKU            `json:"sku"`
	Identity   *managedidentity.JSON `json:"identity"`
	Properties *struct {
		NetworkConfiguration *struct {
			AccessEndpoint *struct {
				Type string `json:"type"`
			} `json:"accessEndpoint"`
			Subnets []struct {
				ID string `json:"id"`
			} `json:"subnets"`
			VirtualNetworkAddressSpace string `json:"virtualNetworkAddressSpace"`
		} `json:"networkConfiguration"`
		EncryptionConfiguration json.RawMessage `json:"encryptionConfiguration"`
	} `json:"properties"`
}

type keyRefJSON struct {
	EncryptionKeyReference *struct {
		KeyVault *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"keyVault"`
		KeyName    string `json:"keyName"`
		KeyVersion string `json:"keyVersion"`
	} `json:"encryptionKeyReference"`
}

func (p *Provider) ise(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	if t.IsCollection() {
		var items []any
		for _, x := range p.s.ListISEs(t.SubscriptionID, t.ResourceGroup) {
			items = append(items, p.iseJSON(x))
		}
		return arm.List(items), nil
	}
	id := t.ResourceID()
	switch req.Method {
	case "GET":
		x, ok := p.s.GetISE(id)
		if !ok || !inScope(x.ID, t) {
			return nil, arm.NotFound(t)
		}
		return arm.OK(p.iseJSON(x)), nil
	case "DELETE":
		x, ok := p.s.GetISE(id)
		if !ok || !inScope(x.ID, t) {
			return arm.NoContent(), nil
		}
		deleted, err := p.s.DeleteISE(ctx, x.ID)
		for _, w := range deleted {
			m.DeleteIndex(ctx, w)
		}
		if err != nil {
			return nil, err
		}
		return arm.OK(nil), nil
	case "POST":
		if strings.EqualFold(t.Action, "restart") {
			if _, ok := p.s.GetISE(id); !ok {
				return nil, arm.NotFound(t)
			}
			return arm.OK(nil), nil
		}
		return nil, arm.BadRequest("InvalidAction", "The action '%s' is not supported on an integration service environment.", t.Action)
	case "PUT", "PATCH":
		var body iseBody
		if err := req.Decode(&body); err != nil {
			return nil, err
		}
		sub, err := m.Subscription(ctx, t.SubscriptionID)
		if err != nil {
			return nil, err
		}
		spec := logic.ISESpec{
			SubscriptionID: t.SubscriptionID, ResourceGroup: t.ResourceGroup, Name: t.Name(), TenantID: sub.TenantID,
			Location: body.Location, Tags: body.Tags, SKU: body.SKU, Identity: body.Identity, Patch: req.Method == "PATCH",
		}
		if pr := body.Properties; pr != nil {
			if nc := pr.NetworkConfiguration; nc != nil {
				ns := &logic.NetworkSpec{AddressSpace: nc.VirtualNetworkAddressSpace}
				if nc.AccessEndpoint != nil {
					ns.AccessEndpoint = nc.AccessEndpoint.Type
				}
				for _, s := range nc.Subnets {
					ns.Subnets = append(ns.Subnets, s.ID)
				}
				spec.Network = ns
			}
			if raw := strings.TrimSpace(string(pr.EncryptionConfiguration)); raw != "" {
				spec.KeyGiven = true
				if raw != "null" {
					var kr keyRefJSON
					if err := json.Unmarshal(pr.EncryptionConfiguration, &kr); err != nil {
						return nil, arm.BadRequest("InvalidRequestContent", "properties.encryptionConfiguration is not valid: %v", err)
					}
					if r := kr.EncryptionKeyReference; r != nil && (r.KeyVault != nil || r.KeyName != "") {
						ks := &logic.KeySpec{KeyName: r.KeyName, KeyVersion: r.KeyVersion}
						if r.KeyVault != nil {
							ks.VaultID, ks.VaultName = r.KeyVault.ID, r.KeyVault.Name
							if r.KeyVault.Type != "" && !strings.EqualFold(r.KeyVault.Type, "Microsoft.KeyVault/vaults") {
								return nil, arm.BadRequest("InvalidKeyVaultReference", "encryptionKeyReference.keyVault.type must be Microsoft.KeyVault/vaults, not '%s'.", r.KeyVault.Type)
							}
						}
						spec.Key = ks
					}
				}
			}
		}
		x, created, err := p.s.CreateOrUpdateISE(ctx, req.Caller, spec)
		if err != nil {
			return nil, err
		}
		if created && x.ProvisioningState == logic.StateInProgress {
			id := x.ID
			op := m.Async(req, x.Location, func(ctx context.Context) error { return p.s.WaitProvisioned(ctx, id) })
			return &arm.Response{Status: 201, Body: p.iseJSON(x), Operation: op}, nil
		}
		if created {
			return arm.Created(p.iseJSON(x)), nil
		}
		return arm.OK(p.iseJSON(x)), nil
	}
	return nil, notAllowed(req.Method, "an integration service environment")
}

func (p *Provider) iseJSON(x logic.ISE) map[string]any {
	status := p.s.Status(x)
	state := "Enabled"
	switch {
	case status == "Revoked":
		state = "Suspended"
	case x.ProvisioningState == logic.StateFailed:
		state = "Disabled"
	}
	var subnets []any
	for _, s := range x.Subnets {
		subnets = append(subnets, map[string]any{"id": s, "name": s[strings.LastIndex(s, "/")+1:], "type": "Microsoft.Network/virtualNetworks/subnets"})
	}
	network := map[string]any{"accessEndpoint": map[string]any{"type": x.AccessEndpoint}, "subnets": subnets}
	if x.AddressSpace != "" {
		network["virtualNetworkAddressSpace"] = x.AddressSpace
	}
	ips := []any{map[string]any{"address": "127.0.0.1"}}
	props := map[string]any{
		"provisioningState": x.ProvisioningState, "state": state, "integrationServiceEnvironmentId": x.EnvironmentID,
		"networkConfiguration": network,
		"endpointsConfiguration": map[string]any{
			"workflow":  map[string]any{"outgoingIpAddresses": ips, "accessEndpointIpAddresses": ips},
			"connector": map[string]any{"outgoingIpAddresses": ips, "accessEndpointIpAddresses": ips},
		},
	}
	if k := x.Key; k != nil {
		version := k.PinnedVersion
		if version == "" {
			version = k.KeyVersion
		}
		props["encryptionConfiguration"] = map[string]any{"encryptionKeyReference": map[string]any{
			"keyVault": map[string]any{"id": k.VaultID, "name": k.VaultName, "type": "Microsoft.KeyVault/vaults"},
			"keyName":  k.KeyName, "keyVersion": version,
		}}
	}
	if status != "" {
		props["encryptionStatus"] = status
	}
	if x.ProvisioningState == logic.StateInProgress {
		props["keyAccessDeadline"] = arm.FormatTime(x.Deadline)
	}
	if x.Error != nil {
		props["error"] = x.Error
	}
	out := map[string]any{
		"id": x.ID, "name": x.Name, "type": "Microsoft.Logic/integrationServiceEnvironments", "location": x.Location,
		"sku": map[string]any{"name": x.SKU.Name, "capacity": x.SKU.Capacity}, "properties": props,
	}
	if id := x.Identity.JSON(); id != nil {
		out["identity"] = id
	}
	if x.Tags != nil {
		out["tags"] = x.Tags
	}
	return out
}

// Workflows.

type workflowBody struct {
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags"`
	Properties *struct {
		State                         string                     `json:"state"`
		Definition                    json.RawMessage            `json:"definition"`
		Parameters                    map[string]json.RawMessage `json:"parameters"`
		IntegrationServiceEnvironment *struct {
			ID string `json:"id"`
		} `json:"integrationServiceEnvironment"`
	} `json:"properties"`
}

func (p *Provider) workflow(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	if t.IsCollection() {
		var items []any
		for _, w := range p.s.ListWorkflows(ctx, t.SubscriptionID, t.ResourceGroup) {
			items = append(items, p.workflowJSON(w))
		}
		return arm.List(items), nil
	}
	id := t.ResourceID()
	w, exists := p.s.GetWorkflow(ctx, id)
	exists = exists && inScope(w.ID, t)
	switch req.Method {
	case "GET":
		if !exists {
			return nil, arm.NotFound(t)
		}
		return arm.OK(p.workflowJSON(w)), nil
	case "DELETE":
		if !exists {
			return arm.NoContent(), nil
		}
		if err := p.s.DeleteWorkflow(ctx, w.ID); err != nil {
			return nil, err
		}
		return arm.OK(nil), nil
	case "PUT", "PATCH":
		var body workflowBody
		if err := req.Decode(&body); err != nil {
			return nil, err
		}
		sub, err := m.Subscription(ctx, t.SubscriptionID)
		if err != nil {
			return nil, err
		}
		spec := logic.WorkflowSpec{SubscriptionID: t.SubscriptionID, ResourceGroup: t.ResourceGroup, Name: t.Name(), TenantID: sub.TenantID,
			Location: body.Location, Tags: body.Tags, Patch: req.Method == "PATCH"}
		if pr := body.Properties; pr != nil {
			if d := strings.TrimSpace(string(pr.Definition)); d != "" && d != "null" {
				spec.Definition = pr.Definition
			}
			spec.Parameters, spec.State = pr.Parameters, pr.State
			if pr.IntegrationServiceEnvironment != nil {
				spec.ISEID, spec.ISEGiven = pr.IntegrationServiceEnvironment.ID, true
			}
		}
		w, created, err := p.s.CreateOrUpdateWorkflow(ctx, req.Caller, spec)
		if err != nil {
			return nil, err
		}
		if created {
			return arm.Created(p.workflowJSON(w)), nil
		}
		return arm.OK(p.workflowJSON(w)), nil
	case "POST":
		if !exists {
			return nil, arm.NotFound(t)
		}
		switch strings.ToLower(t.Action) {
		case "enable":
			return arm.OK(nil), p.s.SetWorkflowState(ctx, w.ID, logic.WorkflowEnabled)
		case "disable":
			return arm.OK(nil), p.s.SetWorkflowState(ctx, w.ID, logic.WorkflowDisabled)
		case "regenerateaccesskey":
			var body struct {
				KeyType string `json:"keyType"`
			}
			if err := req.Decode(&body); err != nil {
				return nil, err
			}
			return arm.OK(nil), p.s.RegenerateAccessKey(ctx, w.ID, body.KeyType)
		case "listcallbackurl":
			var body struct {
				KeyType  string     `json:"keyType"`
				NotAfter *time.Time `json:"notAfter"`
			}
			if len(req.Body) > 0 {
				if err := req.Decode(&body); err != nil {
					return nil, err
				}
			}
			// The workflow-level callback URL runs the workflow's Request trigger.
			for name, typ := range w.Triggers {
				if typ == logic.TypeRequest {
					var na time.Time
					if body.NotAfter != nil {
						na = *body.NotAfter
					}
					cb, err := p.s.TriggerCallbackURL(ctx, w.ID, name, body.KeyType, na)
					if err != nil {
						return nil, err
					}
					return arm.OK(map[string]any{"value": cb.Value}), nil
				}
			}
			return nil, arm.BadRequest("WorkflowHasNoRequestTrigger", "The workflow '%s' has no Request trigger and so no callback URL.", w.Name)
		}
		return nil, arm.BadRequest("InvalidAction", "The action '%s' is not supported on a workflow.", t.Action)
	}
	return nil, notAllowed(req.Method, "a workflow")
}

func ref(id, typ string) map[string]any {
	return map[string]any{"id": id, "name": id[strings.LastIndex(id, "/")+1:], "type": typ}
}

func (p *Provider) workflowJSON(w logic.Workflow) map[string]any {
	props := map[string]any{
		"provisioningState": "Succeeded", "createdTime": arm.FormatTime(w.CreatedAt), "changedTime": arm.FormatTime(w.ChangedAt),
		"state": w.State, "version": w.Version, "accessEndpoint": p.s.AccessEndpoint(w),
		"endpointsConfiguration": map[string]any{
			"workflow":  map[string]any{"outgoingIpAddresses": []any{map[string]any{"address": "127.0.0.1"}}, "accessEndpointIpAddresses": []any{map[string]any{"address": "127.0.0.1"}}},
			"connector": map[string]any{"outgoingIpAddresses": []any{map[string]any{"address": "127.0.0.1"}}},
		},
	}
	if w.ISEID != "" {
		props["integrationServiceEnvironment"] = ref(w.ISEID, "Microsoft.Logic/integrationServiceEnvironments")
	}
	if w.Revoked {
		props["encryptionStatus"] = "Revoked"
	} else {
		props["definition"] = w.Definition
		params := map[string]any{}
		for name, raw := range w.Parameters {
			typ := w.ParamTypes[name]
			entry := map[string]any{"type": typ}
			if typ != "SecureString" && typ != "SecureObject" {
				var v struct {
					Value json.RawMessage `json:"value"`
				}
				if json.Unmarshal(raw, &v) == nil && len(v.Value) > 0 {
					entry["value"] = v.Value
				}
			}
			params[name] = entry
		}
		if len(params) > 0 {
			props["parameters"] = params
		}
	}
	out := map[string]any{"id": w.ID, "name": w.Name, "type": "Microsoft.Logic/workflows", "location": w.Location, "properties": props}
	if w.Tags != nil {
		out["tags"] = w.Tags
	}
	return out
}

// Triggers.

func (p *Provider) trigger(ctx context.Context, req *arm.Request, wid string) (*arm.Response, error) {
	t := req.Target
	w, _ := p.s.GetWorkflow(ctx, wid)
	if t.IsCollection() {
		if req.Method != "GET" {
			return nil, notAllowed(req.Method, "the triggers of a workflow")
		}
		var items []any
		for name := range w.Triggers {
			items = append(items, p.triggerJSON(w, name))
		}
		return arm.List(items), nil
	}
	name := ""
	for n := range w.Triggers {
		if strings.EqualFold(n, t.Name()) {
			name = n
		}
	}
	if name == "" {
		return nil, arm.Errorf(404, "WorkflowTriggerNotFound", "The workflow '%s' has no trigger '%s'.", w.Name, t.Name())
	}
	switch {
	case req.Method == "GET" && t.Action == "":
		return arm.OK(p.triggerJSON(w, name)), nil
	case req.Method == "POST" && strings.EqualFold(t.Action, "listCallbackUrl"):
		cb, err := p.s.TriggerCallbackURL(ctx, wid, name, "Primary", time.Time{})
		if err != nil {
			return nil, err
		}
		q := map[string]any{}
		for k, v := range cb.Queries {
			q[k] = v
		}
		out := map[string]any{"value": cb.Value, "method": cb.Method, "basePath": cb.BasePath, "queries": q}
		if cb.RelativePath != "" {
			out["relativePath"] = cb.RelativePath
		}
		return arm.OK(out), nil
	case req.Method == "POST" && strings.EqualFold(t.Action, "run"):
		if _, err := p.s.RunTrigger(ctx, wid, name); err != nil {
			return nil, err
		}
		return &arm.Response{Status: 202}, nil
	case req.Method == "POST" && strings.EqualFold(t.Action, "reset"):
		return arm.OK(nil), nil
	}
	return nil, notAllowed(req.Method+" "+t.Action, "a workflow trigger")
}

func (p *Provider) triggerJSON(w logic.Workflow, name string) map[string]any {
	props := map[string]any{
		"provisioningState": "Succeeded", "createdTime": arm.FormatTime(w.CreatedAt), "changedTime": arm.FormatTime(w.ChangedAt),
		"state": w.State, "workflow": ref(w.ID+"/versions/"+w.Version, "Microsoft.Logic/workflows/versions"),
	}
	st := w.TriggerStates[name]
	if !st.LastExecution.IsZero() {
		props["lastExecutionTime"] = arm.FormatTime(st.LastExecution)
	}
	if !st.NextExecution.IsZero() && w.Triggers[name] == logic.TypeRecurrence {
		props["nextExecutionTime"] = arm.FormatTime(st.NextExecution)
	}
	if st.LastStatus != "" {
		props["status"] = st.LastStatus
	}
	if r, ok := w.Recurrences[name]; ok {
		rec := map[string]any{"frequency": r.Frequency, "interval": r.Interval}
		if r.StartTime != "" {
			rec["startTime"] = r.StartTime
		}
		if r.EndTime != "" {
			rec["endTime"] = r.EndTime
		}
		props["recurrence"] = rec
	}
	return map[string]any{"id": w.ID + "/triggers/" + name, "name": name, "type": "Microsoft.Logic/workflows/triggers", "properties": props}
}

// Trigger histories: one per run the trigger fired, named like the run.

func (p *Provider) history(ctx context.Context, req *arm.Request, wid string) (*arm.Response, error) {
	t := req.Target
	if req.Method != "GET" || t.Action != "" {
		return nil, notAllowed(req.Method+" "+t.Action, "a trigger history")
	}
	runs, err := p.s.ListRuns(ctx, wid)
	if err != nil {
		return nil, err
	}
	trigger := t.Names[1]
	var items []any
	for i := range runs {
		r := &runs[i]
		if !strings.EqualFold(r.Trigger.Name, trigger) {
			continue
		}
		h := p.historyJSON(ctx, wid, r)
		if !t.IsCollection() {
			if strings.EqualFold(r.Name, t.Name()) {
				return arm.OK(h), nil
			}
			continue
		}
		items = append(items, h)
	}
	if !t.IsCollection() {
		return nil, arm.Errorf(404, "WorkflowTriggerHistoryNotFound", "The trigger '%s' has no history '%s'.", trigger, t.Name())
	}
	return arm.List(items), nil
}

func (p *Provider) historyJSON(ctx context.Context, wid string, r *logic.Run) map[string]any {
	tr := r.Trigger
	props := map[string]any{
		"startTime": arm.FormatTime(tr.StartTime), "endTime": arm.FormatTime(tr.EndTime), "status": tr.Status, "code": tr.Code,
		"trackingId": tr.TrackingID, "correlation": map[string]any{"clientTrackingId": r.ClientTrackingID}, "fired": true,
		"run": ref(wid+"/runs/"+r.Name, "Microsoft.Logic/workflows/runs"),
	}
	if !tr.Scheduled.IsZero() {
		props["scheduledTime"] = arm.FormatTime(tr.Scheduled)
	}
	if tr.Inputs != nil {
		props["inputsLink"] = p.link(ctx, wid, r.Name, "", "TriggerInputs", tr.Inputs)
	}
	if tr.Outputs != nil {
		props["outputsLink"] = p.link(ctx, wid, r.Name, "", "TriggerOutputs", tr.Outputs)
	}
	return map[string]any{"id": wid + "/triggers/" + tr.Name + "/histories/" + r.Name, "name": r.Name, "type": "Microsoft.Logic/workflows/triggers/histories", "properties": props}
}

// Runs.

func (p *Provider) run(ctx context.Context, req *arm.Request, wid string) (*arm.Response, error) {
	t := req.Target
	if t.IsCollection() {
		if req.Method != "GET" {
			return nil, notAllowed(req.Method, "the runs of a workflow")
		}
		runs, err := p.s.ListRuns(ctx, wid)
		if err != nil {
			return nil, err
		}
		status := statusFilter(req.Query.Get("$filter"))
		var items []any
		for i := range runs {
			if status != "" && !strings.EqualFold(runs[i].Status, status) {
				continue
			}
			items = append(items, p.runJSON(ctx, wid, &runs[i]))
		}
		return arm.List(items), nil
	}
	r, err := p.s.GetRun(ctx, wid, t.Name())
	if err != nil {
		return nil, err
	}
	switch {
	case req.Method == "GET" && t.Action == "":
		return arm.OK(p.runJSON(ctx, wid, &r)), nil
	case req.Method == "POST" && strings.EqualFold(t.Action, "cancel"):
		if r.Status != logic.StatusRunning {
			return nil, arm.Conflict("WorkflowRunNotRunning", "The run '%s' is not running: its status is %s.", r.Name, r.Status)
		}
		return arm.OK(nil), nil
	}
	return nil, notAllowed(req.Method+" "+t.Action, "a workflow run")
}

// statusFilter reads "status eq 'Failed'" from a $filter.
func statusFilter(f string) string {
	f = strings.TrimSpace(f)
	l := strings.ToLower(f)
	if !strings.HasPrefix(l, "status eq ") {
		return ""
	}
	return strings.Trim(strings.TrimSpace(f[len("status eq "):]), "'")
}

func runErr(e *logic.RunError) any {
	if e == nil {
		return nil
	}
	return map[string]any{"code": e.Code, "message": e.Message}
}

func (p *Provider) link(ctx context.Context, wid, run, action, kind string, v any) any {
	if v == nil {
		return nil
	}
	uri, err := p.s.ContentLink(ctx, wid, run, action, kind)
	if err != nil {
		return nil
	}
	b, _ := json.Marshal(v)
	return map[string]any{"uri": uri, "contentVersion": "1", "contentSize": len(b)}
}

func (p *Provider) runJSON(ctx context.Context, wid string, r *logic.Run) map[string]any {
	tr := r.Trigger
	trig := map[string]any{
		"name": tr.Name, "startTime": arm.FormatTime(tr.StartTime), "endTime": arm.FormatTime(tr.EndTime), "trackingId": tr.TrackingID,
		"correlation": map[string]any{"clientTrackingId": r.ClientTrackingID}, "code": tr.Code, "status": tr.Status,
	}
	if !tr.Scheduled.IsZero() {
		trig["scheduledTime"] = arm.FormatTime(tr.Scheduled)
	}
	if tr.Inputs != nil {
		trig["inputs"] = tr.Inputs
		trig["inputsLink"] = p.link(ctx, wid, r.Name, "", "TriggerInputs", tr.Inputs)
	}
	if tr.Outputs != nil {
		trig["outputs"] = tr.Outputs
		trig["outputsLink"] = p.link(ctx, wid, r.Name, "", "TriggerOutputs", tr.Outputs)
	}
	props := map[string]any{
		"waitEndTime": arm.FormatTime(r.StartTime), "startTime": arm.FormatTime(r.StartTime), "status": r.Status,
		"correlation": map[string]any{"clientTrackingId": r.ClientTrackingID},
		"workflow":    ref(wid+"/versions/"+r.Version, "Microsoft.Logic/workflows/versions"),
		"trigger":     trig, "outputs": map[string]any{},
	}
	if !r.EndTime.IsZero() {
		props["endTime"] = arm.FormatTime(r.EndTime)
	}
	if r.Code != "" {
		props["code"] = r.Code
	}
	if r.Error != nil {
		props["error"] = runErr(r.Error)
	}
	if r.Outputs != nil {
		props["outputs"] = r.Outputs
	}
	if r.Response != nil {
		props["response"] = map[string]any{"name": r.Response.Name, "startTime": arm.FormatTime(r.Response.StartTime),
			"endTime": arm.FormatTime(r.Response.EndTime), "code": r.Response.Code, "status": r.Response.Status, "outputs": r.Response.Outputs}
	}
	return map[string]any{"id": wid + "/runs/" + r.Name, "name": r.Name, "type": "Microsoft.Logic/workflows/runs", "properties": props}
}

func (p *Provider) runAction(ctx context.Context, req *arm.Request, wid string) (*arm.Response, error) {
	t := req.Target
	if req.Method != "GET" || t.Action != "" {
		return nil, notAllowed(req.Method, "a workflow run action")
	}
	r, err := p.s.GetRun(ctx, wid, t.Names[1])
	if err != nil {
		return nil, err
	}
	if t.IsCollection() {
		var items []any
		for _, a := range r.Actions {
			items = append(items, p.actionJSON(ctx, wid, &r, a))
		}
		return arm.List(items), nil
	}
	a, ok := r.Action(t.Name())
	if !ok {
		return nil, arm.Errorf(404, "WorkflowRunActionNotFound", "The run '%s' has no action '%s'.", r.Name, t.Name())
	}
	return arm.OK(p.actionJSON(ctx, wid, &r, a)), nil
}

func (p *Provider) actionJSON(ctx context.Context, wid string, r *logic.Run, a *logic.ActionResult) map[string]any {
	props := map[string]any{
		"startTime": arm.FormatTime(a.StartTime), "status": a.Status, "code": a.Code, "trackingId": a.TrackingID,
		"correlation": map[string]any{"actionTrackingId": a.TrackingID, "clientTrackingId": r.ClientTrackingID},
	}
	if !a.EndTime.IsZero() {
		props["endTime"] = arm.FormatTime(a.EndTime)
	}
	if a.Error != nil {
		props["error"] = runErr(a.Error)
	}
	if a.Inputs != nil {
		props["inputs"] = a.Inputs
		props["inputsLink"] = p.link(ctx, wid, r.Name, a.Name, "ActionInputs", a.Inputs)
	}
	if a.Outputs != nil {
		props["outputs"] = a.Outputs
		props["outputsLink"] = p.link(ctx, wid, r.Name, a.Name, "ActionOutputs", a.Outputs)
	}
	if a.Repetitions > 0 {
		props["repetitionCount"] = a.Repetitions
	}
	if a.Type != "" {
		props["type"] = a.Type
	}
	return map[string]any{"id": wid + "/runs/" + r.Name + "/actions/" + a.Name, "name": a.Name, "type": "Microsoft.Logic/workflows/runs/actions", "properties": props}
}
