package arm

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Authorizer answers control-plane access questions (authz.Service).
type Authorizer interface {
	Allowed(principalID, scope, action string) bool
}

// AssignmentCleaner removes the role assignments under a deleted scope.
type AssignmentCleaner interface {
	DeleteUnder(ctx context.Context, scope string) error
}

// GroupCleaner is implemented by providers that keep state in a resource
// group outside the tracked resources (deployments): the framework calls it
// when the group is deleted.
type GroupCleaner interface {
	DeleteGroup(ctx context.Context, subscriptionID, resourceGroup string) error
}

// Subscription is an Azure subscription.
type Subscription struct {
	ID          string    `json:"subscriptionId"`
	TenantID    string    `json:"tenantId"`
	DisplayName string    `json:"displayName"`
	CreatedAt   time.Time `json:"createdAt"`
}

// ResourceGroup is a resource group.
type ResourceGroup struct {
	SubscriptionID string            `json:"subscriptionId"`
	Name           string            `json:"name"`
	Location       string            `json:"location"`
	Tags           map[string]string `json:"tags,omitempty"`
	ManagedBy      string            `json:"managedBy,omitempty"`
	CreatedAt      time.Time         `json:"createdAt"`
	Deleting       bool              `json:"deleting,omitempty"`
}

// ID returns the group's resource id.
func (g ResourceGroup) ID() string { return ResourceGroupScope(g.SubscriptionID, g.Name) }

// IndexEntry is a resource in the generic resource index.
type IndexEntry struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Location string            `json:"location,omitempty"`
	Kind     string            `json:"kind,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	SKU      json.RawMessage   `json:"sku,omitempty"`
	Identity json.RawMessage   `json:"identity,omitempty"`
	Tracked  bool              `json:"tracked"`
}

// Config configures a Manager.
type Config struct {
	Locations []Location
}

// Location is an Azure region keyward accepts.
type Location struct {
	Name        string
	DisplayName string
}

// DefaultLocations are the regions keyward accepts.
var DefaultLocations = []Location{
	{"westus", "West US"}, {"westus2", "West US 2"}, {"westus3", "West US 3"}, {"eastus", "East US"}, {"eastus2", "East US 2"},
	{"centralus", "Central US"}, {"northcentralus", "North Central US"}, {"southcentralus", "South Central US"},
	{"westeurope", "West Europe"}, {"northeurope", "North Europe"}, {"uksouth", "UK South"}, {"ukwest", "UK West"},
	{"francecentral", "France Central"}, {"germanywestcentral", "Germany West Central"}, {"swedencentral", "Sweden Central"},
	{"switzerlandnorth", "Switzerland North"}, {"norwayeast", "Norway East"}, {"canadacentral", "Canada Central"},
	{"brazilsouth", "Brazil South"}, {"japaneast", "Japan East"}, {"australiaeast", "Australia East"},
	{"southeastasia", "Southeast Asia"}, {"eastasia", "East Asia"}, {"centralindia", "Central India"},
	{"koreacentral", "Korea Central"}, {"southafricanorth", "South Africa North"}, {"uaenorth", "UAE North"},
}

// resourcesAPIVersions are the Microsoft.Resources api-versions keyward accepts.
var resourcesAPIVersions = []string{
	"2014-04-01", "2015-01-01", "2015-11-01", "2016-02-01", "2016-06-01", "2016-07-01", "2016-09-01", "2017-05-10", "2017-08-01",
	"2018-02-01", "2018-05-01", "2019-03-01", "2019-05-01", "2019-05-10", "2019-07-01", "2019-08-01", "2019-10-01", "2019-11-01",
	"2020-01-01", "2020-06-01", "2020-08-01", "2020-10-01", "2021-01-01", "2021-04-01", "2022-01-01", "2022-09-01", "2022-12-01",
	"2023-07-01", "2024-03-01", "2024-07-01", "2024-11-01", "2025-03-01", "2025-04-01",
}

// Manager is the resource manager.
type Manager struct {
	st    store.Store
	clock clock.Clock
	log   *slog.Logger
	cfg   Config
	authz Authorizer
	clean AssignmentCleaner

	subs   records.Table[Subscription]
	groups records.Table[ResourceGroup]
	index  records.Table[IndexEntry]

	mu        sync.Mutex
	providers map[string]Provider // lower namespace
	ops       map[string]*Operation
	groupMu   sync.Map // lower group id -> *sync.Mutex

	ctx    context.Context // lifetime of background operations
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewManager opens the resource manager.
func NewManager(st store.Store, dk *seal.DataKey, clk clock.Clock, log *slog.Logger, authz Authorizer, clean AssignmentCleaner, cfg Config) *Manager {
	if len(cfg.Locations) == 0 {
		cfg.Locations = DefaultLocations
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Manager{
		st: st, clock: clk, log: log, cfg: cfg, authz: authz, clean: clean,
		subs:      records.NewTable[Subscription](st, dk, "arm/sub/"),
		groups:    records.NewTable[ResourceGroup](st, dk, "arm/rg/"),
		index:     records.NewTable[IndexEntry](st, dk, "arm/res/"),
		providers: map[string]Provider{},
		ops:       map[string]*Operation{},
		ctx:       ctx, cancel: cancel,
	}
}

// Close stops background operations and waits for them.
func (m *Manager) Close() {
	m.cancel()
	m.wg.Wait()
}

// Register adds a provider.
func (m *Manager) Register(p Provider) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.providers[strings.ToLower(p.Namespace())] = p
}

// Clock returns the manager's clock.
func (m *Manager) Clock() clock.Clock { return m.clock }

// EnsureSubscription creates a subscription if it does not exist.
func (m *Manager) EnsureSubscription(ctx context.Context, id, tenantID, displayName string) error {
	if _, err := m.subs.Get(ctx, strings.ToLower(id)); err == nil {
		return nil
	}
	b := &store.Batch{Sync: true}
	if err := m.subs.Put(b, strings.ToLower(id), Subscription{ID: strings.ToLower(id), TenantID: tenantID, DisplayName: displayName, CreatedAt: m.clock.Now().UTC()}); err != nil {
		return err
	}
	return m.st.Apply(ctx, b)
}

// Subscription returns a subscription.
func (m *Manager) Subscription(ctx context.Context, id string) (Subscription, error) {
	s, err := m.subs.Get(ctx, strings.ToLower(id))
	if errors.Is(err, store.ErrNotFound) {
		return s, Errorf(404, "SubscriptionNotFound", "The subscription '%s' could not be found.", id)
	}
	return s, err
}

// Group returns a resource group, or ResourceGroupNotFound.
func (m *Manager) Group(ctx context.Context, sub, name string) (ResourceGroup, error) {
	g, err := m.groups.Get(ctx, groupKey(sub, name))
	if errors.Is(err, store.ErrNotFound) {
		return g, Errorf(404, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
	}
	return g, err
}

func groupKey(sub, name string) string { return strings.ToLower(sub) + "/" + strings.ToLower(name) }

// Do serves one request: it checks the api-version, the subscription, the
// resource group and the caller's access, and dispatches.
func (m *Manager) Do(ctx context.Context, req *Request) (*Response, error) {
	t := req.Target
	if req.APIVersion == "" {
		return nil, BadRequest("MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
	}
	if !validAPIVersion(req.APIVersion) {
		return nil, BadRequest("InvalidApiVersionParameter", "The api-version '%s' is invalid. The supported versions are '%s'.", req.APIVersion, strings.Join(resourcesAPIVersions[len(resourcesAPIVersions)-5:], ","))
	}
	if t.Kind == KindSubscriptions {
		return m.listSubscriptions(ctx, req)
	}
	if t.SubscriptionID != "" {
		sub, err := m.Subscription(ctx, t.SubscriptionID)
		if err != nil {
			return nil, err
		}
		if !req.Caller.System && !strings.EqualFold(sub.TenantID, req.Caller.TenantID) {
			return nil, Errorf(401, "InvalidAuthenticationTokenTenant", "The access token is from the wrong issuer. It must match the tenant '%s' associated with this subscription.", sub.TenantID)
		}
	}
	switch t.Kind {
	case KindSubscription:
		if err := m.check(req, "/subscriptions/"+t.SubscriptionID, "Microsoft.Resources/subscriptions/read"); err != nil {
			return nil, err
		}
		s, _ := m.Subscription(ctx, t.SubscriptionID)
		return OK(subscriptionJSON(s)), nil
	case KindLocations:
		return m.listLocations(req)
	case KindProviders, KindProvider, KindProviderAction:
		return m.providerInfo(req)
	case KindResourceGroups, KindResourceGroup:
		if !contains(resourcesAPIVersions, req.APIVersion) {
			return nil, m.noAPIVersion("resourceGroups", req.APIVersion, resourcesAPIVersions)
		}
		return m.groupRequest(ctx, req)
	case KindResources:
		return m.listResources(ctx, req)
	case KindProviderResource:
		return m.providerRequest(ctx, req)
	}
	return nil, BadRequest("InvalidRequestUri", "The request URI is not valid.")
}

var apiVersionRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}(-preview|-beta|-alpha|-privatepreview)?$`)

func validAPIVersion(v string) bool { return apiVersionRE.MatchString(v) }

func contains(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

func (m *Manager) noAPIVersion(typ, v string, supported []string) error {
	return BadRequest("NoRegisteredProviderFound", "No registered resource provider found for location 'global' and API version '%s' for type '%s'. The supported api-versions are '%s'. The supported locations are '%s'.",
		v, typ, strings.Join(supported, ", "), strings.Join(m.locationNames(), ", "))
}

func (m *Manager) locationNames() []string {
	out := make([]string, len(m.cfg.Locations))
	for i, l := range m.cfg.Locations {
		out[i] = l.Name
	}
	return out
}

// NormalizeLocation turns "West US" or "westus" into "westus"; ok is false
// for an unknown location.
func (m *Manager) NormalizeLocation(loc string) (string, bool) {
	n := strings.ToLower(strings.ReplaceAll(loc, " ", ""))
	for _, l := range m.cfg.Locations {
		if l.Name == n || strings.EqualFold(l.DisplayName, loc) {
			return l.Name, true
		}
	}
	if n == "global" {
		return n, true
	}
	return n, false
}

// ValidateLocation returns an ARM error for an unknown location.
func (m *Manager) ValidateLocation(loc, resourceType string) (string, error) {
	if loc == "" {
		return "", BadRequest("LocationRequired", "The location property is required for this definition.")
	}
	n, ok := m.NormalizeLocation(loc)
	if !ok {
		return "", BadRequest("LocationNotAvailableForResourceType", "The provided location '%s' is not available for resource type '%s'. List of available regions for the resource type is '%s'.", loc, resourceType, strings.Join(m.locationNames(), ","))
	}
	return n, nil
}

// check authorizes the caller for action at scope.
func (m *Manager) check(req *Request, scope, action string) error {
	if req.Caller.System || m.authz == nil {
		return nil
	}
	if m.authz.Allowed(req.Caller.ObjectID, scope, action) {
		return nil
	}
	return AuthorizationFailed(req.Caller, action, scope)
}

// AuthorizationFailed is ARM's 403 for a caller without a role that allows action.
func AuthorizationFailed(c Caller, action, scope string) *Error {
	return Errorf(403, "AuthorizationFailed", "The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		c.ObjectID, c.ObjectID, action, scope)
}

// Allowed reports whether the caller may perform action at scope (providers
// use it for checks beyond the request's own action, e.g. joining an identity).
func (m *Manager) Allowed(c Caller, scope, action string) bool {
	return c.System || m.authz == nil || m.authz.Allowed(c.ObjectID, scope, action)
}

// actionFor returns the RBAC action of a provider request.
func actionFor(req *Request) string {
	t := req.Target
	base := t.Namespace + "/" + strings.Join(t.Types, "/")
	switch {
	case req.Method == "POST" && t.Action != "":
		return base + "/" + t.Action + "/action"
	case req.Method == "GET" || req.Method == "HEAD":
		return base + "/read"
	case req.Method == "PUT" || req.Method == "PATCH":
		return base + "/write"
	case req.Method == "DELETE":
		return base + "/delete"
	}
	return base + "/" + strings.ToLower(req.Method)
}

func (m *Manager) provider(ns string) (Provider, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.providers[strings.ToLower(ns)]
	return p, ok
}

func (m *Manager) findType(p Provider, typePath string) (ResourceType, bool) {
	for _, rt := range p.ResourceTypes() {
		if strings.EqualFold(rt.Type, typePath) {
			return rt, true
		}
	}
	return ResourceType{}, false
}

func (m *Manager) providerRequest(ctx context.Context, req *Request) (*Response, error) {
	t := req.Target
	if len(t.Types) == 2 && strings.EqualFold(t.Types[0], "locations") && len(t.Names) == 2 &&
		(strings.EqualFold(t.Types[1], "operationStatuses") || strings.EqualFold(t.Types[1], "operationResults") || strings.EqualFold(t.Types[1], "asyncoperations")) {
		return m.operationStatus(req)
	}
	p, ok := m.provider(t.Namespace)
	if !ok {
		return nil, BadRequest("InvalidResourceNamespace", "The resource namespace '%s' is invalid.", t.Namespace)
	}
	rt, ok := m.findType(p, t.TypePath())
	if !ok && req.Method == "POST" && t.IsCollection() {
		at := t.AsAction()
		if rt2, ok2 := m.findType(p, at.TypePath()); ok2 {
			t, rt, ok = at, rt2, true
			req.Target = t
		}
	}
	if !ok {
		return nil, BadRequest("InvalidResourceType", "The resource type '%s' could not be found in the namespace '%s' for api version '%s'.", t.TypePath(), t.Namespace, req.APIVersion)
	}
	if !contains(rt.APIVersions, req.APIVersion) {
		return nil, m.noAPIVersion(rt.Type, req.APIVersion, rt.APIVersions)
	}
	if t.ResourceGroup != "" {
		g, err := m.Group(ctx, t.SubscriptionID, t.ResourceGroup)
		if err != nil {
			return nil, err
		}
		if g.Deleting && (req.Method == "PUT" || req.Method == "PATCH") && !req.Caller.System {
			return nil, Conflict("ResourceGroupBeingDeleted", "The resource group '%s' is in deprovisioning state and cannot perform this operation.", g.Name)
		}
	}
	scope := t.ResourceID()
	if t.IsCollection() {
		scope = t.ParentID()
		if len(t.Types) == 1 {
			scope = t.Scope
		}
	}
	if err := m.check(req, scope, actionFor(req)); err != nil {
		return nil, err
	}
	resp, err := p.Handle(ctx, m, req)
	if err != nil {
		return nil, err
	}
	if resp == nil {
		return nil, errors.New("arm: provider returned no response")
	}
	m.afterWrite(ctx, req, rt, resp)
	if req.Method == "GET" && t.IsCollection() {
		return m.pageList(req, resp)
	}
	return resp, nil
}

// afterWrite keeps the generic resource index in step with provider writes.
func (m *Manager) afterWrite(ctx context.Context, req *Request, rt ResourceType, resp *Response) {
	t := req.Target
	if t.IsCollection() || t.Action != "" {
		return
	}
	switch req.Method {
	case "PUT", "PATCH":
		if resp.Status >= 300 {
			return
		}
		if e, ok := indexEntryOf(resp.Body); ok {
			e.Tracked = rt.Tracked
			if err := m.putIndex(ctx, e); err != nil {
				m.log.Warn("resource index", "id", e.ID, "err", err)
			}
		}
	case "DELETE":
		if resp.Status >= 300 {
			return
		}
		id := t.ResourceID()
		if resp.Operation != nil {
			op := resp.Operation
			go func() {
				<-op.Done()
				if op.Status() == OpSucceeded {
					m.DeleteIndex(context.Background(), id)
				}
			}()
			return
		}
		m.DeleteIndex(ctx, id)
	}
}

func indexEntryOf(body any) (IndexEntry, bool) {
	b, err := json.Marshal(body)
	if err != nil {
		return IndexEntry{}, false
	}
	var e IndexEntry
	if err := json.Unmarshal(b, &e); err != nil || e.ID == "" {
		return IndexEntry{}, false
	}
	return e, true
}

func (m *Manager) putIndex(ctx context.Context, e IndexEntry) error {
	b := &store.Batch{Sync: true}
	if err := m.index.Put(b, strings.ToLower(e.ID), e); err != nil {
		return err
	}
	return m.st.Apply(ctx, b)
}

// DeleteIndex removes a resource and everything under it from the index.
func (m *Manager) DeleteIndex(ctx context.Context, id string) {
	key := strings.ToLower(id)
	b := &store.Batch{Sync: true}
	m.index.Delete(b, key)
	prefix := string(m.index.Key(key + "/"))
	b.DeleteRange([]byte(prefix), store.PrefixEnd([]byte(prefix)))
	if err := m.st.Apply(ctx, b); err != nil {
		m.log.Warn("resource index delete", "id", id, "err", err)
	}
}

// IndexUnder returns the index entries whose id starts with scope + "/".
func (m *Manager) IndexUnder(ctx context.Context, scope string) ([]IndexEntry, error) {
	return m.index.List(ctx, strings.ToLower(strings.TrimRight(scope, "/"))+"/")
}

// pageList applies $top/$skiptoken paging to a list response.
func (m *Manager) pageList(req *Request, resp *Response) (*Response, error) {
	lb, ok := resp.Body.(ListBody)
	if !ok {
		return resp, nil
	}
	if !req.Caller.System && m.authz != nil {
		// Only what the caller may read.
		kept := lb.Value[:0]
		for _, it := range lb.Value {
			if e, ok := indexEntryOf(it); ok {
				act := readActionOf(e.Type)
				if act != "" && !m.authz.Allowed(req.Caller.ObjectID, e.ID, act) {
					continue
				}
			}
			kept = append(kept, it)
		}
		lb.Value = kept
	}
	return OK(page(req, lb.Value)), nil
}

func readActionOf(typ string) string {
	if typ == "" {
		return ""
	}
	return typ + "/read"
}

// pageSize is the default page size of list responses.
const pageSize = 100

func page(req *Request, items []any) ListBody {
	if items == nil {
		items = []any{}
	}
	start := 0
	if s := req.Query.Get("$skiptoken"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			start = n
		}
	}
	size := pageSize
	if s := req.Query.Get("$top"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 && n < size {
			size = n
		}
	}
	if start > len(items) {
		start = len(items)
	}
	end := start + size
	if end > len(items) {
		end = len(items)
	}
	out := ListBody{Value: items[start:end]}
	if end < len(items) {
		q := url.Values{}
		for k, v := range req.Query {
			q[k] = v
		}
		q.Set("$skiptoken", strconv.Itoa(end))
		out.NextLink = req.BaseURL + req.Target.ResourceID() + "?" + q.Encode()
		if req.Target.Kind == KindProviderResource && req.Target.IsCollection() {
			out.NextLink = req.BaseURL + req.Target.ResourceID() + "?" + q.Encode()
		}
	}
	return out
}

func subscriptionJSON(s Subscription) map[string]any {
	return map[string]any{
		"id": "/subscriptions/" + s.ID, "subscriptionId": s.ID, "tenantId": s.TenantID, "displayName": s.DisplayName,
		"state": "Enabled", "authorizationSource": "RoleBased",
		"subscriptionPolicies": map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
	}
}

func (m *Manager) listSubscriptions(ctx context.Context, req *Request) (*Response, error) {
	subs, err := m.subs.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var items []any
	for _, s := range subs {
		if !strings.EqualFold(s.TenantID, req.Caller.TenantID) {
			continue
		}
		if m.authz != nil && !req.Caller.System && !m.anyRoleUnder(req.Caller, "/subscriptions/"+s.ID) {
			continue
		}
		items = append(items, subscriptionJSON(s))
	}
	return OK(page(req, items)), nil
}

// anyRoleUnder reports whether the caller can read the scope itself; ARM
// lists a subscription to anyone with a role in it.
func (m *Manager) anyRoleUnder(c Caller, scope string) bool {
	return m.authz.Allowed(c.ObjectID, scope, "Microsoft.Resources/subscriptions/read") ||
		m.authz.Allowed(c.ObjectID, scope, "Microsoft.Authorization/roleAssignments/read")
}

func (m *Manager) listLocations(req *Request) (*Response, error) {
	var items []any
	for _, l := range m.cfg.Locations {
		items = append(items, map[string]any{
			"id": "/subscriptions/" + req.Target.SubscriptionID + "/locations/" + l.Name, "name": l.Name, "type": "Region",
			"displayName": l.DisplayName, "regionalDisplayName": l.DisplayName,
			"metadata": map[string]any{"regionType": "Physical", "regionCategory": "Recommended"},
		})
	}
	return OK(ListBody{Value: items}), nil
}

func (m *Manager) providerJSON(sub string, p Provider) map[string]any {
	var types []any
	for _, rt := range p.ResourceTypes() {
		types = append(types, map[string]any{"resourceType": rt.Type, "locations": m.displayNames(), "apiVersions": rt.APIVersions, "capabilities": "None"})
	}
	return map[string]any{
		"id": "/subscriptions/" + sub + "/providers/" + p.Namespace(), "namespace": p.Namespace(),
		"registrationState": "Registered", "registrationPolicy": "RegistrationRequired", "resourceTypes": types,
	}
}

func (m *Manager) displayNames() []string {
	out := make([]string, len(m.cfg.Locations))
	for i, l := range m.cfg.Locations {
		out[i] = l.DisplayName
	}
	return out
}

func (m *Manager) providerInfo(req *Request) (*Response, error) {
	t := req.Target
	m.mu.Lock()
	ps := make([]Provider, 0, len(m.providers))
	for _, p := range m.providers {
		ps = append(ps, p)
	}
	m.mu.Unlock()
	sort.Slice(ps, func(i, j int) bool { return ps[i].Namespace() < ps[j].Namespace() })
	if t.Kind == KindProviders {
		var items []any
		for _, p := range ps {
			items = append(items, m.providerJSON(t.SubscriptionID, p))
		}
		return OK(ListBody{Value: items}), nil
	}
	for _, p := range ps {
		if strings.EqualFold(p.Namespace(), t.Namespace) {
			return OK(m.providerJSON(t.SubscriptionID, p)), nil
		}
	}
	if strings.EqualFold(t.Namespace, "Microsoft.Resources") {
		return OK(map[string]any{"id": "/subscriptions/" + t.SubscriptionID + "/providers/Microsoft.Resources", "namespace": "Microsoft.Resources", "registrationState": "Registered"}), nil
	}
	return nil, Errorf(404, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", t.Namespace)
}

// FormatTime formats t as ARM does (RFC 3339 with fractional seconds, UTC).
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

// NewOperationID returns a fresh operation id.
func NewOperationID() string { return uuid.NewString() }

// ErrorDetail wraps an error into a failed operation's error.
func ErrorDetail(err error) *Error { return AsError(err) }

// LatestAPIVersion returns the newest api-version of the type of resource id
// (for internal calls that have none), or "" for an unknown type.
func (m *Manager) LatestAPIVersion(id string) string {
	t, err := ParseTarget(id)
	if err != nil || t.Kind != KindProviderResource {
		return resourcesAPIVersions[len(resourcesAPIVersions)-1]
	}
	p, ok := m.provider(t.Namespace)
	if !ok {
		return ""
	}
	rt, ok := m.findType(p, t.TypePath())
	if !ok || len(rt.APIVersions) == 0 {
		return ""
	}
	v := append([]string(nil), rt.APIVersions...)
	sort.Strings(v)
	return v[len(v)-1]
}
