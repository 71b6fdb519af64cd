package arm

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
)

// Caller is the authenticated principal of a request.
type Caller struct {
	TenantID      string
	ObjectID      string
	AppID         string
	ClientIP      string
	CorrelationID string
	RequestID     string
	// System marks keyward's own internal calls (cascading deletes): they
	// skip authorization.
	System bool
}

// Request is one ARM request, from HTTP or from a template deployment.
type Request struct {
	Method     string // GET, PUT, PATCH, DELETE, POST, HEAD
	Target     Target
	APIVersion string
	Query      url.Values
	Body       json.RawMessage
	Caller     Caller
	// BaseURL is the resource manager's external base URL, for links
	// (nextLink, operation URLs), e.g. "https://management.keyward.localhost:8443".
	BaseURL string
}

// Decode decodes the request body into v, answering bad JSON with ARM's
// InvalidRequestContent error.
func (r *Request) Decode(v any) error {
	if len(strings.TrimSpace(string(r.Body))) == 0 {
		return BadRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: the body is empty.")
	}
	if err := json.Unmarshal(r.Body, v); err != nil {
		// Resource Manager also accepts relaxed JSON (comments, property
		// names without quotes), which the Azure CLI sends for deployments.
		if relaxed, ok := lenientJSON(r.Body); ok && json.Unmarshal(relaxed, v) == nil {
			return nil
		}
		return BadRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: '%s'.", err.Error())
	}
	return nil
}

// Response is a provider's answer.
type Response struct {
	Status int // 200, 201, 202, 204
	Body   any
	// Operation, if set, is a long-running operation the framework exposes
	// through Azure-AsyncOperation and Location headers.
	Operation *Operation
	// RetryAfter, in seconds, for async responses (0: framework default).
	RetryAfter int
}

// OK returns a 200 response with body.
func OK(body any) *Response { return &Response{Status: 200, Body: body} }

// Created returns a 201 response with body.
func Created(body any) *Response { return &Response{Status: 201, Body: body} }

// NoContent returns a 204 response.
func NoContent() *Response { return &Response{Status: 204} }

// List returns a 200 list response ({"value": items}); the framework pages it.
func List(items []any) *Response { return &Response{Status: 200, Body: ListBody{Value: items}} }

// ListBody is the body of list responses.
type ListBody struct {
	Value    []any  `json:"value"`
	NextLink string `json:"nextLink,omitempty"`
}

// ResourceType describes one resource type a provider serves.
type ResourceType struct {
	// Type is the provider-relative type path: "vaults", "namespaces/queues",
	// "locations/deletedVaults", "roleAssignments".
	Type string
	// APIVersions the type accepts.
	APIVersions []string
	// Extension marks extension resource types that live under any scope
	// (roleAssignments).
	Extension bool
	// SubscriptionLevel marks types that live directly under a subscription
	// (locations/deletedVaults) rather than in a resource group.
	SubscriptionLevel bool
	// Tracked marks types that appear in the generic resource list (top-level
	// resources with a location).
	Tracked bool
}

// Provider is a resource provider: it owns the state of its resources.
type Provider interface {
	// Namespace is the provider namespace, e.g. "Microsoft.KeyVault".
	Namespace() string
	// ResourceTypes lists the types the provider serves.
	ResourceTypes() []ResourceType
	// Handle serves one request for one of its types. The framework has
	// already authenticated and authorized the caller, checked the
	// api-version, the subscription and the resource group.
	Handle(ctx context.Context, m *Manager, req *Request) (*Response, error)
}
