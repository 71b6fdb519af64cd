// Package managedidentity is the Microsoft.ManagedIdentity resource provider
// (user-assigned identities) and the helper every other provider uses to
// materialize a resource's "identity" block: it creates, keeps and deletes a
// resource's system-assigned identity and resolves its user-assigned ones.
package managedidentity

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/identity"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Directory is what the package needs from the identity service.
type Directory interface {
	CreateManagedIdentity(ctx context.Context, tenantID, resourceID, displayName string) (identity.Principal, error)
	DeletePrincipal(ctx context.Context, tenantID, objectID string) error
	Principal(ctx context.Context, tenantID, objectID string) (identity.Principal, error)
	CreateIdentityEndpointSecret(ctx context.Context, tenantID, resourceID, system string, user []string) (string, error)
}

// UserAssigned is a user-assigned identity resource.
type UserAssigned struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Location    string            `json:"location"`
	Tags        map[string]string `json:"tags,omitempty"`
	TenantID    string            `json:"tenantId"`
	PrincipalID string            `json:"principalId"`
	ClientID    string            `json:"clientId"`
	CreatedAt   time.Time         `json:"createdAt"`
}

// UserRef is a user-assigned identity as a resource refers to it.
type UserRef struct {
	PrincipalID string `json:"principalId"`
	ClientID    string `json:"clientId"`
}

// State is a resource's identities as its provider stores them.
type State struct {
	TenantID          string             `json:"tenantId,omitempty"`
	SystemPrincipalID string             `json:"systemPrincipalId,omitempty"`
	SystemClientID    string             `json:"systemClientId,omitempty"`
	User              map[string]UserRef `json:"user,omitempty"` // resource id -> ids
}

// HasSystem reports whether the resource has a system-assigned identity.
func (s State) HasSystem() bool { return s.SystemPrincipalID != "" }

// Type returns the ARM identity type string.
func (s State) Type() string {
	switch {
	case s.HasSystem() && len(s.User) > 0:
		return "SystemAssigned, UserAssigned"
	case s.HasSystem():
		return "SystemAssigned"
	case len(s.User) > 0:
		return "UserAssigned"
	}
	return "None"
}

// JSON is an ARM "identity" block.
type JSON struct {
	Type                   string                  `json:"type"`
	PrincipalID            string                  `json:"principalId,omitempty"`
	TenantID               string                  `json:"tenantId,omitempty"`
	UserAssignedIdentities map[string]*UserRefJSON `json:"userAssignedIdentities,omitempty"`
}

// UserRefJSON is one entry of identity.userAssignedIdentities.
type UserRefJSON struct {
	PrincipalID string `json:"principalId,omitempty"`
	ClientID    string `json:"clientId,omitempty"`
}

// JSON returns the identity block of s, or nil for no identity.
func (s State) JSON() *JSON {
	if !s.HasSystem() && len(s.User) == 0 {
		return nil
	}
	j := &JSON{Type: s.Type()}
	if s.HasSystem() {
		j.PrincipalID, j.TenantID = s.SystemPrincipalID, s.TenantID
	}
	if len(s.User) > 0 {
		j.UserAssignedIdentities = map[string]*UserRefJSON{}
		for id, u := range s.User {
			j.UserAssignedIdentities[id] = &UserRefJSON{PrincipalID: u.PrincipalID, ClientID: u.ClientID}
		}
	}
	return j
}

// UserIDs returns the resource ids of the user-assigned identities, sorted.
func (s State) UserIDs() []string {
	out := make([]string, 0, len(s.User))
	for id := range s.User {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Service is the provider and the identity helper.
type Service struct {
	st    store.Store
	dir   Directory
	uais  records.Table[UserAssigned]
	holds records.Table[State] // resource id -> identities, for identity endpoints
	now   func() time.Time
}

// New returns the service.
func New(st store.Store, dk *seal.DataKey, dir Directory, now func() time.Time) *Service {
	return &Service{st: st, dir: dir, now: now,
		uais:  records.NewTable[UserAssigned](st, dk, "msi/uai/"),
		holds: records.NewTable[State](st, dk, "msi/holder/"),
	}
}

// ParseType parses an ARM identity type: "None", "SystemAssigned",
// "UserAssigned", "SystemAssigned, UserAssigned".
func ParseType(t string) (system, user bool, err error) {
	n := strings.ToLower(strings.ReplaceAll(t, " ", ""))
	switch n {
	case "", "none":
		return false, false, nil
	case "systemassigned":
		return true, false, nil
	case "userassigned":
		return false, true, nil
	case "systemassigned,userassigned", "userassigned,systemassigned":
		return true, true, nil
	}
	return false, false, arm.BadRequest("InvalidIdentityType", "The identity type '%s' is not valid. Use 'None', 'SystemAssigned', 'UserAssigned' or 'SystemAssigned, UserAssigned'.", t)
}

// Apply materializes a requested identity block for resourceID: it creates
// the system-assigned identity when newly requested, deletes it when no
// longer requested, and resolves user-assigned identities (the caller needs
// the assign action on each). req nil keeps cur.
func (s *Service) Apply(ctx context.Context, m *arm.Manager, caller arm.Caller, tenantID, resourceID string, req *JSON, cur State) (State, error) {
	if req == nil {
		return cur, nil
	}
	system, user, err := ParseType(req.Type)
	if err != nil {
		return cur, err
	}
	if user && len(req.UserAssignedIdentities) == 0 {
		return cur, arm.BadRequest("BadRequest", "The identity type 'UserAssigned' requires at least one user-assigned identity in 'userAssignedIdentities'.")
	}
	if !user && len(req.UserAssignedIdentities) > 0 {
		return cur, arm.BadRequest("BadRequest", "'userAssignedIdentities' may be given only with the identity type 'UserAssigned'.")
	}
	next := State{TenantID: tenantID}
	if user {
		next.User = map[string]UserRef{}
		for id, v := range req.UserAssignedIdentities {
			if v == nil && req.Type != "" {
				// An explicit null removes the identity (PATCH semantics).
				continue
			}
			u, err := s.UserAssigned(ctx, id)
			if err != nil {
				return cur, arm.BadRequest("InvalidUserAssignedIdentity", "The user-assigned identity '%s' was not found: %s", id, strings.TrimPrefix(err.Error(), "managedidentity: "))
			}
			if _, had := cur.User[u.ID]; !had && !m.Allowed(caller, u.ID, "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action") {
				return cur, arm.AuthorizationFailed(caller, "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", u.ID)
			}
			next.User[u.ID] = UserRef{PrincipalID: u.PrincipalID, ClientID: u.ClientID}
		}
	}
	if system {
		if cur.HasSystem() {
			next.SystemPrincipalID, next.SystemClientID = cur.SystemPrincipalID, cur.SystemClientID
		} else {
			p, err := s.dir.CreateManagedIdentity(ctx, tenantID, resourceID, lastSegment(resourceID))
			if err != nil {
				return cur, fmt.Errorf("managedidentity: create system-assigned identity: %w", err)
			}
			next.SystemPrincipalID, next.SystemClientID = p.ObjectID, p.AppID
		}
	} else if cur.HasSystem() {
		if err := s.dir.DeletePrincipal(ctx, cur.TenantID, cur.SystemPrincipalID); err != nil && !errors.Is(err, identity.ErrNotFound) {
			return cur, err
		}
	}
	if err := s.putHolder(ctx, resourceID, next); err != nil {
		return cur, err
	}
	return next, nil
}

// Release deletes a resource's system-assigned identity (with its resource).
func (s *Service) Release(ctx context.Context, resourceID string, st State) error {
	if st.HasSystem() {
		if err := s.dir.DeletePrincipal(ctx, st.TenantID, st.SystemPrincipalID); err != nil && !errors.Is(err, identity.ErrNotFound) {
			return err
		}
	}
	b := &store.Batch{Sync: true}
	s.holds.Delete(b, strings.ToLower(resourceID))
	return s.st.Apply(ctx, b)
}

func (s *Service) putHolder(ctx context.Context, resourceID string, st State) error {
	b := &store.Batch{Sync: true}
	if !st.HasSystem() && len(st.User) == 0 {
		s.holds.Delete(b, strings.ToLower(resourceID))
	} else if err := s.holds.Put(b, strings.ToLower(resourceID), st); err != nil {
		return err
	}
	return s.st.Apply(ctx, b)
}

// Holder returns the identities of a resource.
func (s *Service) Holder(ctx context.Context, resourceID string) (State, error) {
	st, err := s.holds.Get(ctx, strings.ToLower(resourceID))
	if errors.Is(err, store.ErrNotFound) {
		return State{}, nil
	}
	return st, err
}

// UserAssigned returns a user-assigned identity by resource id.
func (s *Service) UserAssigned(ctx context.Context, id string) (UserAssigned, error) {
	u, err := s.uais.Get(ctx, strings.ToLower(strings.TrimRight(id, "/")))
	if errors.Is(err, store.ErrNotFound) {
		return u, fmt.Errorf("managedidentity: %s does not exist", id)
	}
	return u, err
}

func lastSegment(id string) string {
	if i := strings.LastIndex(id, "/"); i >= 0 {
		return id[i+1:]
	}
	return id
}

var uaiName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{2,127}$`)

var apiVersions = []string{"2015-08-31-preview", "2018-11-30", "2021-09-30-preview", "2022-01-31-preview", "2023-01-31", "2023-07-31-preview", "2024-11-30", "2025-01-31-preview"}

// Namespace implements arm.Provider.
func (s *Service) Namespace() string { return "Microsoft.ManagedIdentity" }

// ResourceTypes implements arm.Provider.
func (s *Service) ResourceTypes() []arm.ResourceType {
	return []arm.ResourceType{
		{Type: "userAssignedIdentities", APIVersions: apiVersions, Tracked: true},
		{Type: "identities", APIVersions: apiVersions, Extension: true},
	}
}

func uaiJSON(u UserAssigned) map[string]any {
	out := map[string]any{
		"id": u.ID, "name": u.Name, "type": "Microsoft.ManagedIdentity/userAssignedIdentities", "location": u.Location,
		"properties": map[string]any{"tenantId": u.TenantID, "principalId": u.PrincipalID, "clientId": u.ClientID, "isolationScope": "None"},
	}
	if u.Tags != nil {
		out["tags"] = u.Tags
	}
	return out
}

// Handle implements arm.Provider.
func (s *Service) Handle(ctx context.Context, m *arm.Manager, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	if strings.EqualFold(t.Types[0], "identities") {
		return s.endpoint(ctx, req)
	}
	if t.IsCollection() {
		prefix := strings.ToLower(t.Scope) + "/"
		all, err := s.uais.List(ctx, prefix)
		if err != nil {
			return nil, err
		}
		var items []any
		for _, u := range all {
			items = append(items, uaiJSON(u))
		}
		return arm.List(items), nil
	}
	id := t.ResourceID()
	key := strings.ToLower(id)
	switch req.Method {
	case "GET":
		u, err := s.uais.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return nil, arm.NotFound(t)
		}
		if err != nil {
			return nil, err
		}
		return arm.OK(uaiJSON(u)), nil
	case "PUT", "PATCH":
		var body struct {
			Location string            `json:"location"`
			Tags     map[string]string `json:"tags"`
		}
		if err := req.Decode(&body); err != nil {
			return nil, err
		}
		u, err := s.uais.Get(ctx, key)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if !exists {
			if req.Method == "PATCH" {
				return nil, arm.NotFound(t)
			}
			if !uaiName.MatchString(t.Name()) {
				return nil, arm.BadRequest("InvalidResourceName", "The resource name '%s' is invalid: it must be 3 to 128 characters, start with a letter or digit, and hold only letters, digits, '-' and '_'.", t.Name())
			}
			loc, err := m.ValidateLocation(body.Location, "Microsoft.ManagedIdentity/userAssignedIdentities")
			if err != nil {
				return nil, err
			}
			sub, err := m.Subscription(ctx, t.SubscriptionID)
			if err != nil {
				return nil, err
			}
			p, err := s.dir.CreateManagedIdentity(ctx, sub.TenantID, id, t.Name())
			if err != nil {
				return nil, err
			}
			u = UserAssigned{ID: id, Name: t.Name(), Location: loc, TenantID: sub.TenantID, PrincipalID: p.ObjectID, ClientID: p.AppID, CreatedAt: s.now().UTC()}
		}
		if body.Tags != nil || req.Method == "PUT" {
			u.Tags = body.Tags
		}
		b := &store.Batch{Sync: true}
		if err := s.uais.Put(b, key, u); err != nil {
			return nil, err
		}
		if err := s.st.Apply(ctx, b); err != nil {
			return nil, err
		}
		if exists {
			return arm.OK(uaiJSON(u)), nil
		}
		return arm.Created(uaiJSON(u)), nil
	case "DELETE":
		u, err := s.uais.Get(ctx, key)
		if errors.Is(err, store.ErrNotFound) {
			return arm.NoContent(), nil
		}
		if err != nil {
			return nil, err
		}
		if err := s.dir.DeletePrincipal(ctx, u.TenantID, u.PrincipalID); err != nil && !errors.Is(err, identity.ErrNotFound) {
			return nil, err
		}
		b := &store.Batch{Sync: true}
		s.uais.Delete(b, key)
		if err := s.st.Apply(ctx, b); err != nil {
			return nil, err
		}
		return arm.OK(nil), nil
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed here.", req.Method)
}

// endpoint serves {resource}/providers/Microsoft.ManagedIdentity/identities/default
// (GET: the resource's identities) and its keyward action "endpoint" (POST:
// a new IDENTITY_ENDPOINT/IDENTITY_HEADER pair for the resource's identities).
func (s *Service) endpoint(ctx context.Context, req *arm.Request) (*arm.Response, error) {
	t := req.Target
	if t.Name() != "" && !strings.EqualFold(t.Name(), "default") {
		return nil, arm.NotFound(t)
	}
	st, err := s.Holder(ctx, t.Scope)
	if err != nil {
		return nil, err
	}
	tenant := st.TenantID
	system := st.SystemPrincipalID
	user := []string{}
	for _, id := range st.UserIDs() {
		user = append(user, st.User[id].PrincipalID)
	}
	if u, err := s.UserAssigned(ctx, t.Scope); err == nil {
		tenant, system, user = u.TenantID, "", []string{u.PrincipalID}
	}
	if tenant == "" {
		return nil, arm.BadRequest("NoManagedIdentity", "The resource '%s' has no managed identity.", t.Scope)
	}
	switch {
	case req.Method == "GET" && !t.IsCollection():
		return arm.OK(map[string]any{"id": t.ResourceID(), "properties": map[string]any{"tenantId": tenant, "principalId": system, "userAssignedPrincipalIds": user}}), nil
	case req.Method == "POST" && strings.EqualFold(t.Action, "endpoint"):
		secret, err := s.dir.CreateIdentityEndpointSecret(ctx, tenant, t.Scope, system, user)
		if err != nil {
			return nil, err
		}
		return arm.OK(map[string]any{"identityEndpoint": strings.Replace(req.BaseURL, "://management.", "://login.", 1) + "/msi/token", "identityHeader": secret}), nil
	}
	return nil, arm.Errorf(405, "MethodNotAllowed", "Use GET …/identities/default or POST …/identities/default/endpoint.")
}
