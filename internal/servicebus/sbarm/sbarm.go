// Package sbarm is the Microsoft.ServiceBus resource provider: namespaces
// (SKU, identity, customer-managed-key encryption), their authorization
// rules and keys, queues, topics, subscriptions and rules, and
// geo-disaster-recovery configurations, through the resource manager.
package sbarm

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/managedidentity"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
)

// Provider serves Microsoft.ServiceBus.
type Provider struct {
	ns     *namespaces.Service
	broker *servicebus.Broker
	now    func() time.Time
}

// New returns the provider.
func New(ns *namespaces.Service, broker *servicebus.Broker, now func() time.Time) *Provider {
	return &Provider{ns: ns, broker: broker, now: now}
}

var apiVersions = []string{"2014-09-01", "2015-08-01", "2017-04-01", "2018-01-01-preview", "2021-01-01-preview", "2021-06-01-preview", "2021-11-01", "2022-01-01-preview", "2022-10-01-preview", "2023-01-01-preview", "2024-01-01"}

// Namespace implements arm.Provider.
func (p *Provider) Namespace() string { return "Microsoft.ServiceBus" }

// ResourceTypes implements arm.Provider.
func (p *Provider) ResourceTypes() []arm.ResourceType {
	t := func(typ string) arm.ResourceType { return arm.ResourceType{Type: typ, APIVersions: apiVersions} }
	ns := t("namespaces")
	ns.Tracked = true
	sub := t("checkNameAvailability")
	sub.SubscriptionLevel = true
	return []arm.ResourceType{
		ns, sub,
		t("namespaces/authorizationRules"), t("namespaces/queues"), t("namespaces/topics"),
		t("namespaces/topics/subscriptions"), t("namespaces/topics/subscriptions/rules"),
		t("namespaces/queues/authorizationRules"), t("namespaces/topics/authorizationRules"),
		t("namespaces/disasterRecoveryConfigs"), t("namespaces/networkRuleSets"),
	}
}

// Handle implements arm.Provider.
func (p *Provider) Handle(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	switch strings.ToLower(t.TypePath()) {
	case "checknameavailability":
		return p.checkName(req)
	case "namespaces":
		return p.namespace(ctx, m, req)
	}
	// Children of a namespace.
	if _, ok := p.ns.Get(t.Names[0]); !ok || !p.inScope(t) {
		return nil, arm.NotFound(arm.Target{Namespace: t.Namespace, Types: t.Types[:1], Names: t.Names[:1], ResourceGroup: t.ResourceGroup})
	}
	switch strings.ToLower(t.TypePath()) {
	case "namespaces/authorizationrules":
		return p.nsAuthRules(ctx, req)
	case "namespaces/queues", "namespaces/topics", "namespaces/topics/subscriptions", "namespaces/topics/subscriptions/rules":
		resp, err := p.entity(ctx, req)
		if err == nil && req.Method != "GET" {
			_ = p.ns.ReplicateFrom(ctx, t.Names[0])
		}
		return resp, err
	case "namespaces/queues/authorizationrules", "namespaces/topics/authorizationrules":
		return p.entityAuthRules(ctx, req)
	case "namespaces/disasterrecoveryconfigs":
		return p.dr(ctx, req)
	case "namespaces/networkrulesets":
		return arm.OK(map[string]any{"id": t.ResourceID(), "name": "default", "type": "Microsoft.ServiceBus/Namespaces/NetworkRuleSets",
			"properties": map[string]any{"defaultAction": "Allow", "publicNetworkAccess": "Enabled", "virtualNetworkRules": []any{}, "ipRules": []any{}}}), nil
	}
	return nil, arm.BadRequest("InvalidResourceType", "The resource type '%s' is not supported.", t.TypePath())
}

// inScope checks that the namespace of t lives in t's subscription and group.
func (p *Provider) inScope(t arm.Target) bool {
	n, ok := p.ns.Get(t.Names[0])
	return ok && strings.EqualFold(n.SubscriptionID, t.SubscriptionID) && strings.EqualFold(n.ResourceGroup, t.ResourceGroup)
}

func (p *Provider) namespace(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	if t.IsCollection() {
		var items []any
		for _, n := range p.ns.List(t.SubscriptionID, t.ResourceGroup) {
			items = append(items, p.namespaceJSON(n))
		}
		return arm.List(items), nil
	}
	switch req.Method {
	case "GET":
		n, ok := p.ns.Get(t.Name())
		if !ok || !p.inScope(t) {
			return nil, arm.NotFound(t)
		}
		return arm.OK(p.namespaceJSON(n)), nil
	case "DELETE":
		if _, ok := p.ns.Get(t.Name()); !ok || !p.inScope(t) {
			return arm.NoContent(), nil
		}
		if err := p.ns.Delete(ctx, t.Name()); err != nil {
			return nil, err
		}
		return arm.OK(nil), nil
	case "PUT", "PATCH":
		var body struct {
			Location   string                `json:"location"`
			Tags       map[string]string     `json:"tags"`
			SKU        *namespaces.SKU       `json:"sku"`
			Identity   *managedidentity.JSON `json:"identity"`
			Properties *struct {
				Encryption          *encryptionJSON `json:"encryption"`
				DisableLocalAuth    *bool           `json:"disableLocalAuth"`
				MinimumTLSVersion   *string         `json:"minimumTlsVersion"`
				PublicNetworkAccess *string         `json:"publicNetworkAccess"`
				ZoneRedundant       *bool           `json:"zoneRedundant"`
			} `json:"properties"`
		}
		if err := req.Decode(&body); err != nil {
			return nil, err
		}
		sub, err := m.Subscription(ctx, t.SubscriptionID)
		if err != nil {
			return nil, err
		}
		spec := namespaces.Spec{
			SubscriptionID: t.SubscriptionID, ResourceGroup: t.ResourceGroup, Name: t.Name(), TenantID: sub.TenantID,
			Location: body.Location, Tags: body.Tags, SKU: body.SKU, Identity: body.Identity, Patch: req.Method == "PATCH",
		}
		if spec.SKU == nil && req.Method == "PUT" {
			if _, exists := p.ns.Get(t.Name()); !exists {
				return nil, arm.BadRequest("SkuRequired", "The sku property (Basic, Standard or Premium) is required to create a namespace.")
			}
		}
		if pr := body.Properties; pr != nil {
			if pr.Encryption != nil {
				enc, err := pr.Encryption.toDomain()
				if err != nil {
					return nil, err
				}
				spec.Encryption, spec.EncryptionGiven = enc, true
			}
			spec.DisableLocalAuth, spec.MinimumTLSVersion, spec.PublicNetworkAccess, spec.ZoneRedundant = pr.DisableLocalAuth, pr.MinimumTLSVersion, pr.PublicNetworkAccess, pr.ZoneRedundant
		}
		n, created, err := p.ns.CreateOrUpdate(ctx, m, req.Caller, spec)
		if err != nil {
			return nil, err
		}
		if created {
			return arm.Created(p.namespaceJSON(n)), nil
		}
		return arm.OK(p.namespaceJSON(n)), nil
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed on a namespace.", req.Method)
}

type encryptionJSON struct {
	KeySource          string `json:"keySource"`
	KeyVaultProperties []struct {
		KeyName     string `json:"keyName"`
		KeyVaultURI string `json:"keyVaultUri"`
		KeyVersion  string `json:"keyVersion"`
		Identity    *struct {
			UserAssignedIdentity string `json:"userAssignedIdentity"`
		} `json:"identity"`
	} `json:"keyVaultProperties"`
	RequireInfrastructureEncryption bool `json:"requireInfrastructureEncryption"`
}

func (e *encryptionJSON) toDomain() (*namespaces.Encryption, error) {
	out := &namespaces.Encryption{KeySource: e.KeySource, RequireInfrastructureEncryption: e.RequireInfrastructureEncryption}
	for _, k := range e.KeyVaultProperties {
		kv := namespaces.KeyVaultProperty{KeyName: k.KeyName, KeyVaultURI: k.KeyVaultURI, KeyVersion: k.KeyVersion}
		if k.Identity != nil {
			kv.UserAssignedIdentity = k.Identity.UserAssignedIdentity
		}
		out.KeyVaultProperties = append(out.KeyVaultProperties, kv)
	}
	return out, nil
}

func (p *Provider) namespaceJSON(n namespaces.Namespace) map[string]any {
	props := map[string]any{
		"provisioningState": "Succeeded", "status": p.ns.Status(n),
		"createdAt": arm.FormatTime(n.CreatedAt), "updatedAt": arm.FormatTime(n.UpdatedAt),
		"serviceBusEndpoint": p.ns.Endpoint(n.Name), "metricId": n.SubscriptionID + ":" + strings.ToLower(n.Name),
		"disableLocalAuth": n.DisableLocalAuth, "minimumTlsVersion": n.MinimumTLSVersion,
		"publicNetworkAccess": n.PublicNetworkAccess, "zoneRedundant": n.ZoneRedundant,
		"privateEndpointConnections": []any{},
	}
	if n.SKU.Tier == "Premium" {
		props["premiumMessagingPartitions"] = 1
	}
	if n.Encryption != nil {
		var kvs []any
		for _, k := range n.Encryption.KeyVaultProperties {
			kv := map[string]any{"keyName": k.KeyName, "keyVaultUri": k.KeyVaultURI, "keyVersion": k.KeyVersion}
			if k.UserAssignedIdentity != "" {
				kv["identity"] = map[string]any{"userAssignedIdentity": k.UserAssignedIdentity}
			}
			kvs = append(kvs, kv)
		}
		props["encryption"] = map[string]any{"keySource": "Microsoft.KeyVault", "keyVaultProperties": kvs, "requireInfrastructureEncryption": n.Encryption.RequireInfrastructureEncryption}
	}
	out := map[string]any{
		"id": n.ID, "name": n.Name, "type": "Microsoft.ServiceBus/Namespaces", "location": n.Location,
		"sku": n.SKU, "properties": props,
	}
	if id := n.Identity.JSON(); id != nil {
		out["identity"] = id
	}
	if n.Tags != nil {
		out["tags"] = n.Tags
	}
	return out
}

func (p *Provider) checkName(req *arm.Request) (*arm.Response, error) {
	var body struct {
		Name string `json:"name"`
	}
	if err := req.Decode(&body); err != nil {
		return nil, err
	}
	if !namespaces.ValidName(body.Name) {
		return arm.OK(map[string]any{"nameAvailable": false, "reason": "InvalidName", "message": "The namespace name must be 6 to 50 characters, start with a letter and end with a letter or digit."}), nil
	}
	if _, taken := p.ns.Get(body.Name); taken {
		return arm.OK(map[string]any{"nameAvailable": false, "reason": "NameInUse", "message": "The namespace name '" + body.Name + "' is already in use."}), nil
	}
	return arm.OK(map[string]any{"nameAvailable": true, "reason": "None"}), nil
}

// brokerErr maps broker errors to ARM errors.
func brokerErr(err error) error {
	var se *servicebus.Error
	if !errors.As(err, &se) {
		return err
	}
	switch se.Code {
	case servicebus.CodeEntityNotFound:
		return arm.Errorf(404, "EntityNotFound", "%s", se.Message)
	case servicebus.CodeEntityAlreadyExists:
		return arm.Conflict("Conflict", "%s", se.Message)
	case servicebus.CodeQuotaExceeded:
		return arm.BadRequest("QuotaExceeded", "%s", se.Message)
	case servicebus.CodeRevoked:
		return arm.Conflict("NamespaceRevoked", "%s", se.Message)
	case servicebus.CodeBadRequest, servicebus.CodeInvalidOperation:
		return arm.BadRequest("BadRequest", "%s", se.Message)
	}
	return arm.Errorf(500, string(se.Code), "%s", se.Message)
}
