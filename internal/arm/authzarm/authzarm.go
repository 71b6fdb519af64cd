// Package authzarm is the Microsoft.Authorization resource provider: role
// assignments and role definitions at any scope, over the authz service.
package authzarm

import (
	"context"
	"errors"
	"regexp"
	"strings"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/authz"
	"github.com/keyward/keyward/internal/identity"
)

// Directory looks principals up (identity.Service).
type Directory interface {
	Principal(ctx context.Context, tenantID, objectID string) (identity.Principal, error)
}

// Provider serves Microsoft.Authorization.
type Provider struct {
	authz *authz.Service
	dir   Directory
}

// New returns the provider.
func New(a *authz.Service, dir Directory) *Provider { return &Provider{authz: a, dir: dir} }

var apiVersions = []string{"2015-07-01", "2017-10-01-preview", "2018-01-01-preview", "2018-09-01-preview", "2020-03-01-preview", "2020-04-01-preview", "2020-08-01-preview", "2020-10-01", "2020-10-01-preview", "2021-04-01-preview", "2022-01-01-preview", "2022-04-01", "2022-05-01-preview"}

// Namespace implements arm.Provider.
func (p *Provider) Namespace() string { return "Microsoft.Authorization" }

// ResourceTypes implements arm.Provider.
func (p *Provider) ResourceTypes() []arm.ResourceType {
	return []arm.ResourceType{
		{Type: "roleAssignments", APIVersions: apiVersions, Extension: true},
		{Type: "roleDefinitions", APIVersions: apiVersions, Extension: true},
	}
}

// Handle implements arm.Provider.
func (p *Provider) Handle(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	if t.Scope == "" {
		t.Scope = "/"
	}
	if err := p.checkScope(ctx, m, t.Scope); err != nil {
		return nil, err
	}
	if strings.EqualFold(t.Types[0], "roleDefinitions") {
		return p.roleDefinitions(req, t)
	}
	if t.IsCollection() {
		if req.Method != "GET" {
			return nil, arm.Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed here.", req.Method)
		}
		return p.list(req, t)
	}
	name := t.Name()
	switch req.Method {
	case "GET":
		a, err := p.authz.Get(name)
		if err != nil || !strings.EqualFold(authz.NormalizeScope(a.Scope), authz.NormalizeScope(t.Scope)) {
			return nil, arm.Errorf(404, "RoleAssignmentNotFound", "The role assignment '%s' is not found.", name)
		}
		return arm.OK(assignmentJSON(a, t.SubscriptionID)), nil
	case "PUT":
		return p.create(ctx, req, t)
	case "DELETE":
		a, err := p.authz.Get(name)
		if err != nil || !strings.EqualFold(authz.NormalizeScope(a.Scope), authz.NormalizeScope(t.Scope)) {
			return arm.NoContent(), nil
		}
		if _, err := p.authz.Delete(ctx, name); err != nil {
			return nil, err
		}
		return arm.OK(assignmentJSON(a, t.SubscriptionID)), nil
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed on a role assignment.", req.Method)
}

// checkScope refuses scopes that do not exist.
func (p *Provider) checkScope(ctx context.Context, m *arm.Manager, scope string) error {
	t, err := arm.ParseTarget(scope)
	if scope == "/" {
		return nil
	}
	if err != nil {
		return arm.BadRequest("InvalidScope", "The scope '%s' is not valid.", scope)
	}
	switch t.Kind {
	case arm.KindSubscription:
		_, err := m.Subscription(ctx, t.SubscriptionID)
		return err
	case arm.KindResourceGroup:
		_, err := m.Group(ctx, t.SubscriptionID, t.ResourceGroup)
		return err
	case arm.KindProviderResource:
		if t.IsCollection() {
			return arm.BadRequest("InvalidScope", "The scope '%s' is not valid.", scope)
		}
		entries, err := m.IndexUnder(ctx, t.ParentID())
		if err != nil {
			return err
		}
		for _, e := range entries {
			if strings.EqualFold(e.ID, t.ResourceID()) {
				return nil
			}
		}
		return arm.NotFound(t)
	}
	return arm.BadRequest("InvalidScope", "The scope '%s' is not valid.", scope)
}

func roleDefinitionID(sub, guid string) string {
	if sub == "" {
		return "/providers/Microsoft.Authorization/roleDefinitions/" + guid
	}
	return "/subscriptions/" + sub + "/providers/Microsoft.Authorization/roleDefinitions/" + guid
}

func assignmentJSON(a authz.Assignment, sub string) map[string]any {
	if sub == "" {
		if t, err := arm.ParseTarget(a.Scope); err == nil {
			sub = t.SubscriptionID
		}
	}
	return map[string]any{
		"id": a.ID(), "name": a.Name, "type": "Microsoft.Authorization/roleAssignments",
		"properties": map[string]any{
			"roleDefinitionId": roleDefinitionID(sub, a.RoleDefinitionID), "principalId": a.PrincipalID,
			"principalType": a.PrincipalType, "scope": a.Scope, "description": a.Description,
			"createdOn": arm.FormatTime(a.CreatedOn), "updatedOn": arm.FormatTime(a.UpdatedOn),
			"createdBy": a.CreatedBy, "updatedBy": a.CreatedBy, "condition": nil, "conditionVersion": nil,
		},
	}
}

var guidTail = regexp.MustCompile(`(?i)([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$`)

func (p *Provider) create(ctx context.Context, req *arm.Request, t arm.Target) (*arm.Response, error) {
	var body struct {
		Properties struct {
			RoleDefinitionID string `json:"roleDefinitionId"`
			PrincipalID      string `json:"principalId"`
			PrincipalType    string `json:"principalType"`
			Description      string `json:"description"`
			Condition        string `json:"condition"`
		} `json:"properties"`
	}
	if err := req.Decode(&body); err != nil {
		return nil, err
	}
	pr := body.Properties
	if pr.Condition != "" {
		return nil, arm.BadRequest("InvalidRoleAssignmentRequest", "keyward does not support role assignment conditions.")
	}
	mm := guidTail.FindStringSubmatch(pr.RoleDefinitionID)
	if mm == nil {
		return nil, arm.BadRequest("InvalidRoleDefinitionId", "The role definition ID '%s' is not valid.", pr.RoleDefinitionID)
	}
	if _, ok := p.authz.RoleDefinition(mm[1]); !ok {
		return nil, arm.BadRequest("RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", mm[1])
	}
	pp, err := p.dir.Principal(ctx, req.Caller.TenantID, pr.PrincipalID)
	if err != nil {
		if errors.Is(err, identity.ErrNotFound) {
			return nil, arm.BadRequest("PrincipalNotFound", "Principal %s does not exist in the directory %s. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay. In this case, set the role assignment principalType property to a value, such as ServicePrincipal, User, or Group.", strings.ReplaceAll(pr.PrincipalID, "-", ""), req.Caller.TenantID)
		}
		return nil, err
	}
	ptype := pr.PrincipalType
	if ptype == "" {
		ptype = "ServicePrincipal"
	}
	a, err := p.authz.Create(ctx, authz.Assignment{
		Name: t.Name(), Scope: t.Scope, RoleDefinitionID: strings.ToLower(mm[1]), PrincipalID: pp.ObjectID,
		PrincipalType: ptype, Description: pr.Description, CreatedBy: req.Caller.ObjectID,
	})
	switch {
	case errors.Is(err, authz.ErrExists):
		return nil, arm.Conflict("RoleAssignmentExists", "The role assignment already exists.")
	case errors.Is(err, authz.ErrInvalid):
		return nil, arm.BadRequest("InvalidRoleAssignmentId", "%s", strings.TrimPrefix(err.Error(), "authz: invalid: "))
	case err != nil:
		return nil, err
	}
	return arm.Created(assignmentJSON(a, t.SubscriptionID)), nil
}

var principalFilter = regexp.MustCompile(`(?i)^\s*(principalId\s+eq\s+'([^']+)'|assignedTo\('([^']+)'\))\s*$`)

func (p *Provider) list(req *arm.Request, t arm.Target) (*arm.Response, error) {
	f := authz.Filter{Scope: t.Scope, Below: true}
	if q := req.Query.Get("$filter"); q != "" {
		switch {
		case strings.EqualFold(strings.TrimSpace(q), "atScope()"):
			f.Below = false
		default:
			mm := principalFilter.FindStringSubmatch(q)
			if mm == nil {
				return nil, arm.BadRequest("InvalidFilter", "The filter '%s' is not supported: use atScope(), principalId eq '<id>' or assignedTo('<id>').", q)
			}
			f.PrincipalID = mm[2] + mm[3]
		}
	}
	var items []any
	for _, a := range p.authz.List(f) {
		items = append(items, assignmentJSON(a, t.SubscriptionID))
	}
	return arm.List(items), nil
}

var roleNameFilter = regexp.MustCompile(`(?i)^\s*roleName\s+eq\s+'([^']+)'\s*$`)

func (p *Provider) roleDefinitions(req *arm.Request, t arm.Target) (*arm.Response, error) {
	if req.Method != "GET" {
		return nil, arm.BadRequest("RoleDefinitionsNotWritable", "keyward has built-in role definitions only.")
	}
	toJSON := func(r authz.RoleDefinition) map[string]any {
		return map[string]any{
			"id": roleDefinitionID(t.SubscriptionID, r.ID), "name": r.ID, "type": "Microsoft.Authorization/roleDefinitions",
			"properties": map[string]any{"roleName": r.Name, "description": r.Description, "type": r.Type, "permissions": r.Permissions, "assignableScopes": []string{"/"}},
		}
	}
	if !t.IsCollection() {
		r, ok := p.authz.RoleDefinition(t.Name())
		if !ok {
			return nil, arm.Errorf(404, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", t.Name())
		}
		return arm.OK(toJSON(r)), nil
	}
	var name string
	if q := req.Query.Get("$filter"); q != "" {
		mm := roleNameFilter.FindStringSubmatch(q)
		if mm == nil {
			return nil, arm.BadRequest("InvalidFilter", "The filter '%s' is not supported: use roleName eq '<name>'.", q)
		}
		name = mm[1]
	}
	var items []any
	for _, r := range p.authz.RoleDefinitions() {
		if name == "" || strings.EqualFold(r.Name, name) {
			items = append(items, toJSON(r))
		}
	}
	return arm.List(items), nil
}
