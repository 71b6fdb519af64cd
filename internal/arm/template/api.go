package template

import (
	"context"
	"encoding/json"
	"time"
)

// Deployer is what the engine needs from the resource manager. Every method
// works on the resource group (or subscription) of the Scope it was given.
type Deployer interface {
	// PutResource creates or updates one resource and returns its full ARM
	// JSON representation (as a GET would return it), after any long-running
	// operation has finished.
	PutResource(ctx context.Context, r ResourceRequest) (map[string]any, error)
	// GetResource returns the ARM JSON representation of a resource (for
	// reference() and existing resources); apiVersion may be "". A missing
	// resource is reported with an error matching ErrResourceNotFound (or
	// carrying the code "ResourceNotFound").
	GetResource(ctx context.Context, id string, apiVersion string) (map[string]any, error)
	// ListResourceIDs returns the ids of the resources in the target resource
	// group (for Complete mode and what-if).
	ListResourceIDs(ctx context.Context) ([]string, error)
	// DeleteResource deletes a resource (Complete mode).
	DeleteResource(ctx context.Context, id string) error
}

// ActionInvoker is optionally implemented by a Deployer to support the
// list*() template functions (listKeys, listSecrets, ...): it performs
// POST {id}/{action}?api-version={apiVersion} with the given body (nil when
// the template passes none) and returns the response. Without it those
// functions fail with a clear error.
type ActionInvoker interface {
	InvokeAction(ctx context.Context, id, action, apiVersion string, body any) (any, error)
}

// ResourceRequest is one resource PUT produced by a deployment.
type ResourceRequest struct {
	// ID is the full resource id, e.g.
	// /subscriptions/s/resourceGroups/rg/providers/Microsoft.ServiceBus/namespaces/ns1.
	ID string
	// Type is the full resource type, e.g. Microsoft.ServiceBus/namespaces/queues.
	Type string
	// Name is the full resource name, e.g. ns1/q1.
	Name string
	// APIVersion is the api-version the template asked for.
	APIVersion string
	// Location is the evaluated "location" ("" when the template has none).
	Location string
	// Body is the whole resource JSON as a resource provider receives it:
	// location, tags, sku, kind, identity, plan, zones, properties, ... (not
	// the template-only members type, name, apiVersion, dependsOn, condition,
	// copy, comments, resources). Members whose value is null are omitted.
	// Integers are int64. The map is the caller's to keep or modify.
	Body map[string]any
	// Existing is true for a languageVersion 2.0 "existing" resource; such
	// requests are only ever passed to GetResource, never to PutResource.
	Existing bool
}

// BodyJSON returns Body encoded as JSON.
func (r ResourceRequest) BodyJSON() ([]byte, error) { return json.Marshal(r.Body) }

// Environment describes the cloud for environment(). Empty fields are
// returned as empty strings.
type Environment struct {
	Name            string   // e.g. "keyward"
	ResourceManager string   // e.g. "https://management.keyward.localhost:8443/"
	LoginEndpoint   string   // authentication.loginEndpoint
	Audiences       []string // authentication.audiences
	Graph           string
	GraphAudience   string
	Portal          string
	// Suffixes becomes environment().suffixes, e.g.
	// {"keyvaultDns": ".vault.keyward.localhost", "serviceBus": ".servicebus.keyward.localhost"}.
	Suffixes map[string]string
}

// Scope is where a deployment runs and what resourceGroup(), subscription(),
// tenant(), deployment() and environment() return.
type Scope struct {
	TenantID               string
	SubscriptionID         string
	SubscriptionName       string // subscription().displayName
	ResourceGroup          string // "" for a subscription-level deployment
	ResourceGroupLocation  string
	ResourceGroupTags      map[string]string
	ResourceGroupManagedBy string
	DeploymentName         string
	Environment            Environment
	// Now is the clock for utcNow() and operation timestamps; nil means
	// time.Now. It is read once per deployment for utcNow().
	Now func() time.Time
	// NewGUID returns a random GUID for newGuid(); nil means a random v4 UUID.
	NewGUID func() string
}

// Mode is the deployment mode.
type Mode string

// Deployment modes.
const (
	// Incremental leaves resources that are not in the template alone.
	Incremental Mode = "Incremental"
	// Complete deletes resources of the resource group that the template
	// does not deploy.
	Complete Mode = "Complete"
)

// Output is one deployment output as ARM returns it: {"type":"String","value":...}.
// Secure outputs (SecureString, SecureObject) carry no value.
type Output struct {
	Type  string
	Value any
}

// MarshalJSON renders {"type","value"}, without value for secure types.
func (o Output) MarshalJSON() ([]byte, error) {
	if o.Type == "SecureString" || o.Type == "SecureObject" {
		return json.Marshal(struct {
			Type string `json:"type"`
		}{o.Type})
	}
	return json.Marshal(struct {
		Type  string `json:"type"`
		Value any    `json:"value"`
	}{o.Type, o.Value})
}

// ResourceRef is one entry of a deployment's outputResources.
type ResourceRef struct {
	ID string `json:"id"`
}

// Operation is one deployment operation (for the deployment operations list).
type Operation struct {
	ResourceID            string
	ResourceType          string
	ResourceName          string
	ProvisioningOperation string // "Create", "Read" (existing resources), "Delete"
	ProvisioningState     string // "Succeeded" or "Failed"
	Error                 *Error // set when ProvisioningState is "Failed"
	Timestamp             time.Time
	Duration              time.Duration
}

// Result is the outcome of Deploy. On failure it is returned together with
// the error and holds what was done before the failure.
type Result struct {
	Outputs         map[string]Output
	OutputResources []ResourceRef
	Operations      []Operation
}

// PlannedResource is one resource a deployment would put.
type PlannedResource struct {
	ID         string
	Type       string
	Name       string
	APIVersion string
	Location   string
	// DependsOn lists the ids this resource waits for (explicit dependsOn,
	// reference()/list*() targets in the template, copy batches).
	DependsOn []string
	// ConditionKnown is false when the condition needs reference() and is
	// only decided while deploying.
	ConditionKnown bool
	// Body is the evaluated body; values only known while deploying are
	// shown as their "[expression]" text.
	Body map[string]any
	// HasRuntimeValues is true when Body holds such "[expression]" texts.
	HasRuntimeValues bool
	Existing         bool
}

// Plan is the result of Validate: the resources in deployment order.
type Plan struct {
	Resources []PlannedResource
}

// ChangeType is a what-if change type.
type ChangeType string

// What-if change types.
const (
	ChangeCreate   ChangeType = "Create"
	ChangeModify   ChangeType = "Modify"
	ChangeNoChange ChangeType = "NoChange"
	ChangeDelete   ChangeType = "Delete"
	ChangeIgnore   ChangeType = "Ignore"
	ChangeDeploy   ChangeType = "Deploy" // the body contains values only known while deploying
)

// Change is one what-if entry.
type Change struct {
	ResourceID string
	ChangeType ChangeType
	Before     map[string]any // current state (nil when absent)
	After      map[string]any // planned body (nil for deletions)
}

// WhatIfResult lists the predicted changes in deployment order, then
// deletions and ignored resources.
type WhatIfResult struct {
	Changes []Change
}
