// Package vaultarm is the Microsoft.KeyVault resource provider: vaults,
// their access policies and soft-deleted vaults through the resource
// manager, over the vault service.
package vaultarm

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/vault"
)

// Provider serves Microsoft.KeyVault.
type Provider struct {
	v *vault.Service
}

// New returns the provider.
func New(v *vault.Service) *Provider { return &Provider{v: v} }

var apiVersions = []string{
	"2015-06-01", "2016-10-01", "2018-02-14", "2019-09-01", "2021-04-01-preview", "2021-06-01-preview", "2021-10-01",
	"2021-11-01-preview", "2022-02-01-preview", "2022-07-01", "2022-11-01", "2023-02-01", "2023-07-01", "2024-04-01-preview",
	"2024-11-01", "2024-12-01-preview", "2025-05-01",
}

// Namespace implements arm.Provider.
func (p *Provider) Namespace() string { return "Microsoft.KeyVault" }

// ResourceTypes implements arm.Provider.
func (p *Provider) ResourceTypes() []arm.ResourceType {
	return []arm.ResourceType{
		{Type: "vaults", APIVersions: apiVersions, Tracked: true},
		{Type: "vaults/accessPolicies", APIVersions: apiVersions},
		{Type: "deletedVaults", APIVersions: apiVersions, SubscriptionLevel: true},
		{Type: "locations/deletedVaults", APIVersions: apiVersions, SubscriptionLevel: true},
		{Type: "checkNameAvailability", APIVersions: apiVersions, SubscriptionLevel: true},
		// keyward has no Managed HSM; the types answer so that clients which
		// treat vaults and HSMs together (az keyvault list, list-deleted,
		// check-name) work.
		{Type: "managedHSMs", APIVersions: apiVersions},
		{Type: "deletedManagedHSMs", APIVersions: apiVersions, SubscriptionLevel: true},
		{Type: "checkMhsmNameAvailability", APIVersions: apiVersions, SubscriptionLevel: true},
	}
}

func caller(c arm.Caller) vault.Caller {
	return vault.Caller{TenantID: c.TenantID, ObjectID: c.ObjectID, AppID: c.AppID, ClientIP: c.ClientIP, CorrelationID: c.CorrelationID, RequestID: c.RequestID}
}

// armErr maps vault errors to ARM errors.
func armErr(err error) error {
	if e, ok := vault.AsError(err); ok {
		return &arm.Error{Status: e.Status, Code: e.Code, Message: e.Message}
	}
	return err
}

// Handle implements arm.Provider.
func (p *Provider) Handle(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	c := caller(req.Caller)
	switch strings.ToLower(t.TypePath()) {
	case "checknameavailability":
		return p.checkName(ctx, c, req)
	case "deletedvaults":
		dvs, err := p.v.DeletedVaults(ctx, c, t.SubscriptionID)
		if err != nil {
			return nil, armErr(err)
		}
		var items []any
		for _, d := range dvs {
			items = append(items, deletedJSON(d))
		}
		return arm.List(items), nil
	case "locations/deletedvaults":
		return p.deleted(ctx, c, req)
	case "vaults/accesspolicies":
		return p.accessPolicies(ctx, c, req)
	case "managedhsms", "deletedmanagedhsms", "checkmhsmnameavailability":
		return managedHSM(req)
	}
	if t.IsCollection() {
		vs, err := p.v.ListVaults(ctx, c, t.SubscriptionID, t.ResourceGroup)
		if err != nil {
			return nil, armErr(err)
		}
		var items []any
		for _, v := range vs {
			items = append(items, vaultJSON(v))
		}
		return arm.List(items), nil
	}
	ref := vault.VaultRef{SubscriptionID: t.SubscriptionID, ResourceGroup: t.ResourceGroup, Name: t.Name()}
	switch req.Method {
	case "GET", "HEAD":
		v, err := p.v.GetVault(ctx, c, ref)
		if err != nil {
			if vault.StatusOf(err) == 404 {
				return nil, arm.NotFound(t)
			}
			return nil, armErr(err)
		}
		return arm.OK(vaultJSON(v)), nil
	case "PUT", "PATCH":
		return p.put(ctx, m, c, req, ref)
	case "DELETE":
		if err := p.v.DeleteVault(ctx, c, ref); err != nil {
			if vault.StatusOf(err) == 404 {
				return arm.NoContent(), nil
			}
			return nil, armErr(err)
		}
		return arm.OK(nil), nil
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed on a vault.", req.Method)
}

// managedHSM answers for Managed HSM, which keyward does not provide: no
// HSM exists (lists are empty, a named one is not found) and none can be
// created.
func managedHSM(req *arm.Request) (*arm.Response, error) {
	t := req.Target
	switch {
	case strings.EqualFold(t.TypePath(), "checkMhsmNameAvailability"):
		return arm.OK(map[string]any{"nameAvailable": true}), nil
	case req.Method == "GET" && t.IsCollection():
		return arm.List(nil), nil
	case req.Method == "GET" || req.Method == "HEAD":
		return nil, arm.NotFound(t)
	case req.Method == "DELETE":
		return arm.NoContent(), nil
	}
	return nil, arm.Errorf(400, "FeatureNotSupported", "keyward does not provide Managed HSM: keep customer-managed keys in a key vault (Microsoft.KeyVault/vaults).")
}

type propsJSON struct {
	TenantID                     *string              `json:"tenantId"`
	SKU                          *vault.SKU           `json:"sku"`
	AccessPolicies               []vault.AccessPolicy `json:"accessPolicies"`
	EnableSoftDelete             *bool                `json:"enableSoftDelete"`
	SoftDeleteRetentionInDays    *int                 `json:"softDeleteRetentionInDays"`
	EnablePurgeProtection        *bool                `json:"enablePurgeProtection"`
	EnableRbacAuthorization      *bool                `json:"enableRbacAuthorization"`
	EnabledForDeployment         *bool                `json:"enabledForDeployment"`
	EnabledForDiskEncryption     *bool                `json:"enabledForDiskEncryption"`
	EnabledForTemplateDeployment *bool                `json:"enabledForTemplateDeployment"`
	PublicNetworkAccess          *string              `json:"publicNetworkAccess"`
	CreateMode                   *string              `json:"createMode"`
	VaultURI                     *string              `json:"vaultUri"`
}

func (p *Provider) put(ctx context.Context, m *arm.Manager, c vault.Caller, req *arm.Request, ref vault.VaultRef) (*arm.Response, error) {
	var body struct {
		Location   string            `json:"location"`
		Tags       map[string]string `json:"tags"`
		Properties *propsJSON        `json:"properties"`
	}
	if err := req.Decode(&body); err != nil {
		return nil, err
	}
	pr := body.Properties
	if pr == nil {
		if req.Method == "PUT" {
			return nil, arm.BadRequest("BadRequest", "The request body must contain 'properties' with 'tenantId' and 'sku'.")
		}
		pr = &propsJSON{}
	}
	if pr.CreateMode != nil && strings.EqualFold(*pr.CreateMode, "recover") {
		v, err := p.v.RecoverVault(ctx, c, ref)
		if err != nil {
			return nil, armErr(err)
		}
		return arm.OK(vaultJSON(v)), nil
	}
	spec := vault.VaultSpec{
		SubscriptionID: ref.SubscriptionID, ResourceGroup: ref.ResourceGroup, Name: ref.Name,
		TenantID: pr.TenantID, SKU: pr.SKU, EnableSoftDelete: pr.EnableSoftDelete, SoftDeleteRetentionInDays: pr.SoftDeleteRetentionInDays,
		EnablePurgeProtection: pr.EnablePurgeProtection, EnableRbacAuthorization: pr.EnableRbacAuthorization,
		EnabledForDeployment: pr.EnabledForDeployment, EnabledForDiskEncryption: pr.EnabledForDiskEncryption,
		EnabledForTemplateDeployment: pr.EnabledForTemplateDeployment, PublicNetworkAccess: pr.PublicNetworkAccess,
		AccessPolicies: pr.AccessPolicies, Tags: body.Tags,
	}
	if body.Location != "" {
		loc, err := m.ValidateLocation(body.Location, "Microsoft.KeyVault/vaults")
		if err != nil {
			return nil, err
		}
		spec.Location = loc
	}
	if req.Method == "PUT" {
		if pr.TenantID == nil || pr.SKU == nil {
			return nil, arm.BadRequest("BadRequest", "The properties 'tenantId' and 'sku' are required.")
		}
		if body.Location == "" {
			if _, err := p.v.GetVault(ctx, c, ref); err != nil {
				return nil, arm.BadRequest("LocationRequired", "The location property is required for this definition.")
			}
		}
		if spec.AccessPolicies == nil {
			spec.AccessPolicies = []vault.AccessPolicy{}
		}
	} else if _, err := p.v.GetVault(ctx, c, ref); err != nil {
		if vault.StatusOf(err) == 404 {
			return nil, arm.NotFound(req.Target)
		}
		return nil, armErr(err)
	}
	v, created, err := p.v.CreateOrUpdateVault(ctx, c, spec)
	if err != nil {
		return nil, armErr(err)
	}
	if created {
		return arm.Created(vaultJSON(v)), nil
	}
	return arm.OK(vaultJSON(v)), nil
}

func vaultJSON(v vault.Vault) map[string]any {
	pols := v.AccessPolicies
	if pols == nil {
		pols = []vault.AccessPolicy{}
	}
	out := map[string]any{
		"id": v.ID, "name": v.Name, "type": "Microsoft.KeyVault/vaults", "location": v.Location,
		"systemData": map[string]any{
			"createdBy": v.CreatedBy, "createdByType": "Application", "createdAt": arm.FormatTime(v.CreatedAt),
			"lastModifiedBy": v.UpdatedBy, "lastModifiedByType": "Application", "lastModifiedAt": arm.FormatTime(v.UpdatedAt),
		},
		"properties": map[string]any{
			"tenantId": v.TenantID, "sku": v.SKU, "accessPolicies": pols, "vaultUri": v.VaultURI,
			"enabledForDeployment": v.EnabledForDeployment, "enabledForDiskEncryption": v.EnabledForDiskEncryption,
			"enabledForTemplateDeployment": v.EnabledForTemplateDeployment, "enableSoftDelete": v.EnableSoftDelete,
			"softDeleteRetentionInDays": v.SoftDeleteRetentionInDays, "enableRbacAuthorization": v.EnableRbacAuthorization,
			"enablePurgeProtection": v.EnablePurgeProtection, "publicNetworkAccess": v.PublicNetworkAccess,
			"provisioningState": "Succeeded",
		},
	}
	if !v.EnablePurgeProtection {
		// Azure omits enablePurgeProtection until it is turned on.
		delete(out["properties"].(map[string]any), "enablePurgeProtection")
	}
	if v.Tags != nil {
		out["tags"] = v.Tags
	}
	return out
}

func deletedJSON(d vault.DeletedVault) map[string]any {
	return map[string]any{
		"id": d.ID, "name": d.Name, "type": "Microsoft.KeyVault/deletedVaults",
		"properties": map[string]any{
			"vaultId": d.VaultID, "location": d.Location, "deletionDate": arm.FormatTime(d.DeletionDate),
			"scheduledPurgeDate": arm.FormatTime(d.ScheduledPurgeDate), "tags": d.Tags, "purgeProtectionEnabled": d.PurgeProtectionEnabled,
		},
	}
}

func (p *Provider) deleted(ctx context.Context, c vault.Caller, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	loc := t.Names[0]
	if t.IsCollection() {
		dvs, err := p.v.DeletedVaults(ctx, c, t.SubscriptionID)
		if err != nil {
			return nil, armErr(err)
		}
		var items []any
		for _, d := range dvs {
			if strings.EqualFold(d.Location, loc) {
				items = append(items, deletedJSON(d))
			}
		}
		return arm.List(items), nil
	}
	name := t.Names[1]
	switch {
	case req.Method == "GET":
		d, err := p.v.GetDeletedVault(ctx, c, t.SubscriptionID, loc, name)
		if err != nil {
			return nil, armErr(err)
		}
		return arm.OK(deletedJSON(d)), nil
	case req.Method == "POST" && strings.EqualFold(t.Action, "purge"):
		if err := p.v.PurgeDeletedVault(ctx, c, t.SubscriptionID, loc, name); err != nil {
			return nil, armErr(err)
		}
		return arm.OK(nil), nil
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "Use GET on a deleted vault or POST …/purge.")
}

func (p *Provider) accessPolicies(ctx context.Context, c vault.Caller, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	if req.Method != "PUT" || t.IsCollection() {
		return nil, arm.Errorf(405, "MethodNotAllowed", "Use PUT …/accessPolicies/{add|replace|remove}.")
	}
	kind := vault.AccessPolicyUpdateKind(strings.ToLower(t.Name()))
	switch kind {
	case vault.AccessPolicyAdd, vault.AccessPolicyReplace, vault.AccessPolicyRemove:
	default:
		return nil, arm.BadRequest("BadRequest", "The access policy update kind '%s' is not valid: use add, replace or remove.", t.Name())
	}
	var body struct {
		Properties struct {
			AccessPolicies []vault.AccessPolicy `json:"accessPolicies"`
		} `json:"properties"`
	}
	if err := req.Decode(&body); err != nil {
		return nil, err
	}
	ref := vault.VaultRef{SubscriptionID: t.SubscriptionID, ResourceGroup: t.ResourceGroup, Name: t.Names[0]}
	pols, err := p.v.AccessPolicyUpdate(ctx, c, ref, kind, body.Properties.AccessPolicies)
	if err != nil {
		if vault.StatusOf(err) == 404 {
			return nil, arm.NotFound(t)
		}
		return nil, armErr(err)
	}
	return arm.OK(map[string]any{
		"id": t.ResourceID(), "name": string(kind), "type": "Microsoft.KeyVault/vaults/accessPolicies",
		"properties": map[string]any{"accessPolicies": pols},
	}), nil
}

func (p *Provider) checkName(ctx context.Context, c vault.Caller, req *arm.Request) (*arm.Response, error) {
	if req.Method != "POST" {
		return nil, arm.Errorf(405, "MethodNotAllowed", "Use POST.")
	}
	var body struct {
		Name string `json:"name"`
		Type string `json:"type"`
	}
	if err := json.Unmarshal(req.Body, &body); err != nil || body.Name == "" {
		return nil, arm.BadRequest("BadRequest", "The body must be {\"name\": ..., \"type\": \"Microsoft.KeyVault/vaults\"}.")
	}
	if !vault.ValidVaultName(body.Name) {
		return arm.OK(map[string]any{"nameAvailable": false, "reason": "AccountNameInvalid", "message": "Vault name must be 3 to 24 characters, start with a letter, end with a letter or digit, and contain only letters, digits and hyphens (no consecutive hyphens)."}), nil
	}
	if _, err := p.v.GetVault(ctx, vault.Caller{TenantID: c.TenantID, ObjectID: c.ObjectID}, vault.VaultRef{Name: body.Name}); err == nil || vault.StatusOf(err) != 404 {
		return arm.OK(map[string]any{"nameAvailable": false, "reason": "AlreadyExists", "message": "The vault name '" + body.Name + "' is already in use."}), nil
	}
	if dvs, err := p.v.DeletedVaults(ctx, c, req.Target.SubscriptionID); err == nil {
		for _, d := range dvs {
			if strings.EqualFold(d.Name, body.Name) {
				return arm.OK(map[string]any{"nameAvailable": false, "reason": "AlreadyExists", "message": "The vault name '" + body.Name + "' is in use by a soft-deleted vault; recover or purge it first."}), nil
			}
		}
	}
	return arm.OK(map[string]any{"nameAvailable": true}), nil
}
