// Package authz is keyward's role-based access control: Azure's built-in role
// definitions, role assignments at any scope with inheritance down the scope
// tree, and one evaluator that answers both control-plane questions (actions)
// and data-plane questions (data actions).
package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Errors of the assignment API.
var (
	ErrNotFound = errors.New("authz: not found")
	ErrExists   = errors.New("authz: the role assignment already exists")
	ErrInvalid  = errors.New("authz: invalid")
)

// Assignment is a role assignment: a principal holds a role at a scope and
// everything below it.
type Assignment struct {
	Name             string    `json:"name"` // GUID
	Scope            string    `json:"scope"`
	RoleDefinitionID string    `json:"roleDefinitionId"` // the role's GUID
	PrincipalID      string    `json:"principalId"`
	PrincipalType    string    `json:"principalType"`
	Description      string    `json:"description,omitempty"`
	CreatedOn        time.Time `json:"createdOn"`
	UpdatedOn        time.Time `json:"updatedOn"`
	CreatedBy        string    `json:"createdBy,omitempty"`
}

// ID returns the assignment's resource id.
func (a Assignment) ID() string {
	return strings.TrimRight(a.Scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + a.Name
}

// Service holds role assignments and evaluates access.
type Service struct {
	st    store.Store
	clock clock.Clock
	log   *slog.Logger
	table records.Table[Assignment]

	mu       sync.RWMutex
	byName   map[string]Assignment // lower(name) -> assignment
	watchers []func(scope string)
}

// New opens the authorization service.
func New(ctx context.Context, st store.Store, dk *seal.DataKey, clk clock.Clock, log *slog.Logger) (*Service, error) {
	s := &Service{st: st, clock: clk, log: log, table: records.NewTable[Assignment](st, dk, "authz/ra/"), byName: map[string]Assignment{}}
	err := s.table.Each(ctx, "", func(id string, a Assignment) error {
		s.byName[strings.ToLower(a.Name)] = a
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("authz: load assignments: %w", err)
	}
	return s, nil
}

// OnChange registers fn to be called (asynchronously) with the scope of every
// role assignment created or deleted.
func (s *Service) OnChange(fn func(scope string)) {
	s.mu.Lock()
	s.watchers = append(s.watchers, fn)
	s.mu.Unlock()
}

func (s *Service) notify(scope string) {
	s.mu.RLock()
	ws := append([]func(string){}, s.watchers...)
	s.mu.RUnlock()
	for _, w := range ws {
		go w(scope)
	}
}

// RoleDefinitions returns every role definition.
func (s *Service) RoleDefinitions() []RoleDefinition {
	out := make([]RoleDefinition, len(builtInRoles))
	copy(out, builtInRoles)
	for i := range out {
		out[i].Type = "BuiltInRole"
	}
	return out
}

// RoleDefinition returns a role definition by GUID.
func (s *Service) RoleDefinition(id string) (RoleDefinition, bool) {
	for _, r := range builtInRoles {
		if strings.EqualFold(r.ID, id) {
			r.Type = "BuiltInRole"
			return r, true
		}
	}
	return RoleDefinition{}, false
}

// RoleByName returns a role definition by its role name.
func (s *Service) RoleByName(name string) (RoleDefinition, bool) {
	for _, r := range builtInRoles {
		if strings.EqualFold(r.Name, name) {
			r.Type = "BuiltInRole"
			return r, true
		}
	}
	return RoleDefinition{}, false
}

// Create adds a role assignment. name must be a GUID; the same principal,
// role and scope may be assigned only once.
func (s *Service) Create(ctx context.Context, a Assignment) (Assignment, error) {
	if _, err := uuid.Parse(a.Name); err != nil {
		return Assignment{}, fmt.Errorf("%w: the role assignment ID '%s' is not valid; it must be a GUID", ErrInvalid, a.Name)
	}
	if _, ok := s.RoleDefinition(a.RoleDefinitionID); !ok {
		return Assignment{}, fmt.Errorf("%w: role definition %s: %w", ErrInvalid, a.RoleDefinitionID, ErrNotFound)
	}
	a.Scope = NormalizeScope(a.Scope)
	now := s.clock.Now().UTC()
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.byName[strings.ToLower(a.Name)]; ok {
		if strings.EqualFold(old.Scope, a.Scope) && strings.EqualFold(old.PrincipalID, a.PrincipalID) && strings.EqualFold(old.RoleDefinitionID, a.RoleDefinitionID) {
			return old, nil
		}
		return Assignment{}, fmt.Errorf("%w: a role assignment named %s already exists with other properties", ErrExists, a.Name)
	}
	for _, old := range s.byName {
		if strings.EqualFold(old.Scope, a.Scope) && strings.EqualFold(old.PrincipalID, a.PrincipalID) && strings.EqualFold(old.RoleDefinitionID, a.RoleDefinitionID) {
			return Assignment{}, ErrExists
		}
	}
	a.CreatedOn, a.UpdatedOn = now, now
	b := &store.Batch{Sync: true}
	if err := s.table.Put(b, strings.ToLower(a.Name), a); err != nil {
		return Assignment{}, err
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return Assignment{}, fmt.Errorf("authz: create assignment: %w", err)
	}
	s.byName[strings.ToLower(a.Name)] = a
	go s.notify(a.Scope)
	return a, nil
}

// Get returns an assignment by name.
func (s *Service) Get(name string) (Assignment, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.byName[strings.ToLower(name)]
	if !ok {
		return Assignment{}, ErrNotFound
	}
	return a, nil
}

// Delete removes an assignment by name and returns it.
func (s *Service) Delete(ctx context.Context, name string) (Assignment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.byName[strings.ToLower(name)]
	if !ok {
		return Assignment{}, ErrNotFound
	}
	b := &store.Batch{Sync: true}
	s.table.Delete(b, strings.ToLower(a.Name))
	if err := s.st.Apply(ctx, b); err != nil {
		return Assignment{}, fmt.Errorf("authz: delete assignment: %w", err)
	}
	delete(s.byName, strings.ToLower(a.Name))
	go s.notify(a.Scope)
	return a, nil
}

// DeleteUnder removes every assignment at scope or below it (a deleted
// resource group or resource takes its assignments along).
func (s *Service) DeleteUnder(ctx context.Context, scope string) error {
	scope = NormalizeScope(scope)
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &store.Batch{Sync: true}
	var gone []string
	for k, a := range s.byName {
		if ScopeContains(scope, a.Scope) {
			s.table.Delete(b, k)
			gone = append(gone, k)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return fmt.Errorf("authz: delete assignments under %s: %w", scope, err)
	}
	for _, k := range gone {
		delete(s.byName, k)
	}
	go s.notify(scope)
	return nil
}

// Filter selects assignments for List.
type Filter struct {
	Scope       string // with AtScope or AtScopeAndBelow
	AtScope     bool   // assignments at Scope or above it (that apply at Scope)
	Below       bool   // also assignments below Scope
	PrincipalID string
}

// List returns assignments matching f, sorted by scope then name.
func (s *Service) List(f Filter) []Assignment {
	scope := NormalizeScope(f.Scope)
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Assignment
	for _, a := range s.byName {
		if f.PrincipalID != "" && !strings.EqualFold(a.PrincipalID, f.PrincipalID) {
			continue
		}
		if scope != "" {
			applies := ScopeContains(a.Scope, scope)
			below := ScopeContains(scope, a.Scope)
			if !(applies || (f.Below && below)) {
				continue
			}
		}
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Scope != out[j].Scope {
			return out[i].Scope < out[j].Scope
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// Allowed reports whether principal may perform the control-plane action at
// scope through any role assigned at scope or above it.
func (s *Service) Allowed(principalID, scope, action string) bool {
	return s.check(principalID, scope, action, false)
}

// AllowedData reports whether principal may perform the data action at scope.
func (s *Service) AllowedData(principalID, scope, dataAction string) bool {
	return s.check(principalID, scope, dataAction, true)
}

// HasDataAction adapts AllowedData to the vault's role checker.
func (s *Service) HasDataAction(_ context.Context, _ string, principalID, scope, dataAction string) (bool, error) {
	return s.AllowedData(principalID, scope, dataAction), nil
}

func (s *Service) check(principalID, scope, action string, data bool) bool {
	scope = NormalizeScope(scope)
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, a := range s.byName {
		if !strings.EqualFold(a.PrincipalID, principalID) || !ScopeContains(a.Scope, scope) {
			continue
		}
		role, ok := s.RoleDefinition(a.RoleDefinitionID)
		if !ok {
			continue
		}
		if RoleAllows(role, action, data) {
			return true
		}
	}
	return false
}

// RoleAllows reports whether role grants action (a data action if data).
func RoleAllows(role RoleDefinition, action string, data bool) bool {
	for _, p := range role.Permissions {
		allow, deny := p.Actions, p.NotActions
		if data {
			allow, deny = p.DataActions, p.NotDataActions
		}
		if matchAny(allow, action) && !matchAny(deny, action) {
			return true
		}
	}
	return false
}

func matchAny(patterns []string, action string) bool {
	for _, p := range patterns {
		if MatchAction(p, action) {
			return true
		}
	}
	return false
}

// MatchAction matches an action against a pattern in which '*' stands for any
// run of characters, case-insensitively.
func MatchAction(pattern, action string) bool {
	p, a := strings.ToLower(pattern), strings.ToLower(action)
	// Iterative wildcard match with backtracking to the last star.
	pi, ai, star, mark := 0, 0, -1, 0
	for ai < len(a) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, ai
			pi++
		case pi < len(p) && p[pi] == a[ai]:
			pi++
			ai++
		case star >= 0:
			pi = star + 1
			mark++
			ai = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// NormalizeScope trims a scope's trailing slash ("/" stays "/").
func NormalizeScope(scope string) string {
	if scope == "/" || scope == "" {
		return scope
	}
	return strings.TrimRight(scope, "/")
}

// ScopeContains reports whether outer is inner or one of its ancestors, on
// path-segment boundaries and case-insensitively.
func ScopeContains(outer, inner string) bool {
	outer, inner = strings.ToLower(NormalizeScope(outer)), strings.ToLower(NormalizeScope(inner))
	if outer == "/" {
		return true
	}
	if outer == inner {
		return true
	}
	return strings.HasPrefix(inner, outer+"/")
}
