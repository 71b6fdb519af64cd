// Package identity is keyward's identity service, modelled on Entra ID:
// tenants, applications with client secrets and certificates, service
// principals, managed identities, and the signed JWT access tokens every
// other service accepts. It is transport-free: oauthhttp and graphhttp put
// it on the wire.
package identity

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Principal types.
const (
	TypeApplication     = "Application"
	TypeManagedIdentity = "ManagedIdentity"
)

// Directory roles that allow managing applications and service principals.
const (
	RoleGlobalAdministrator      = "Global Administrator"
	RoleApplicationAdministrator = "Application Administrator"
)

// ErrNotFound is returned when a tenant, application or principal does not exist.
var ErrNotFound = errors.New("identity: not found")

// ErrConflict is returned when a create would duplicate an existing object.
var ErrConflict = errors.New("identity: already exists")

// ErrInvalid wraps validation failures of caller input.
var ErrInvalid = errors.New("identity: invalid input")

// Tenant is a directory.
type Tenant struct {
	ID          string    `json:"id"`
	DisplayName string    `json:"displayName"`
	CreatedAt   time.Time `json:"createdAt"`
}

// PasswordCredential is a client secret's metadata and verifier. The secret
// itself is never stored.
type PasswordCredential struct {
	KeyID       string    `json:"keyId"`
	DisplayName string    `json:"displayName"`
	Hint        string    `json:"hint"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
	Verifier    []byte    `json:"verifier"`
}

// KeyCredential is a certificate an application proves itself with.
type KeyCredential struct {
	KeyID       string    `json:"keyId"`
	DisplayName string    `json:"displayName"`
	Type        string    `json:"type"`  // "AsymmetricX509Cert"
	Usage       string    `json:"usage"` // "Verify"
	CertDER     []byte    `json:"cert"`
	Thumbprint  []byte    `json:"thumbprint"` // SHA-1 of the certificate
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
}

// Application is an app registration.
type Application struct {
	ObjectID     string               `json:"objectId"`
	AppID        string               `json:"appId"`
	TenantID     string               `json:"tenantId"`
	DisplayName  string               `json:"displayName"`
	CreatedAt    time.Time            `json:"createdAt"`
	Passwords    []PasswordCredential `json:"passwords,omitempty"`
	Certificates []KeyCredential      `json:"certificates,omitempty"`
}

// Principal is a service principal: the identity of an application or of a
// managed identity within a tenant.
type Principal struct {
	ObjectID       string    `json:"objectId"`
	AppID          string    `json:"appId"`
	TenantID       string    `json:"tenantId"`
	DisplayName    string    `json:"displayName"`
	Type           string    `json:"type"`
	ResourceID     string    `json:"resourceId,omitempty"` // managed identities: the resource it belongs to
	DirectoryRoles []string  `json:"directoryRoles,omitempty"`
	Enabled        bool      `json:"enabled"`
	CreatedAt      time.Time `json:"createdAt"`
}

// HasDirectoryRole reports whether p holds one of roles.
func (p Principal) HasDirectoryRole(roles ...string) bool {
	for _, have := range p.DirectoryRoles {
		for _, want := range roles {
			if strings.EqualFold(have, want) {
				return true
			}
		}
	}
	return false
}

// endpointHost is a managed-identity endpoint secret's binding: the process
// holding the secret may get tokens for these principals.
type endpointHost struct {
	ResourceID string   `json:"resourceId"`
	TenantID   string   `json:"tenantId"`
	System     string   `json:"system,omitempty"` // object id of the system-assigned identity
	User       []string `json:"user,omitempty"`   // object ids of user-assigned identities
}

// Config configures a Service.
type Config struct {
	// IssuerBase is the login host's base URL, e.g. "https://login.keyward.localhost:8443".
	IssuerBase string
	// TokenLifetime is the lifetime of issued access tokens (default 1h).
	TokenLifetime time.Duration
	// SigningKeyMaxAge is how old the active signing key may grow before it is rotated (default 30 days).
	SigningKeyMaxAge time.Duration
	// Resources reports whether a resource (audience) is one keyward serves.
	Resources func(resource string) bool
}

// Service is the identity service.
type Service struct {
	st    store.Store
	clock clock.Clock
	log   *slog.Logger
	cfg   Config

	pepper []byte // HMAC key for secret verifiers

	tenants    records.Table[Tenant]
	apps       records.Table[Application]
	principals records.Table[Principal]
	index      records.Table[string] // "appid/<appId>" -> tenant/objectId of app; "sp/<tid>/<appId>" -> sp objectId
	hosts      records.Table[endpointHost]
	keys       records.Table[signingKeyRecord]

	mu      sync.Mutex // serializes writes
	signing *keySet
}

// New opens the identity service on st with records sealed under dk.
func New(ctx context.Context, st store.Store, dk *seal.DataKey, clk clock.Clock, log *slog.Logger, cfg Config) (*Service, error) {
	if cfg.TokenLifetime <= 0 {
		cfg.TokenLifetime = time.Hour
	}
	if cfg.SigningKeyMaxAge <= 0 {
		cfg.SigningKeyMaxAge = 30 * 24 * time.Hour
	}
	if cfg.Resources == nil {
		cfg.Resources = func(string) bool { return true }
	}
	s := &Service{
		st: st, clock: clk, log: log, cfg: cfg,
		tenants:    records.NewTable[Tenant](st, dk, "id/tenant/"),
		apps:       records.NewTable[Application](st, dk, "id/app/"),
		principals: records.NewTable[Principal](st, dk, "id/sp/"),
		index:      records.NewTable[string](st, dk, "id/idx/"),
		hosts:      records.NewTable[endpointHost](st, dk, "id/mihost/"),
		keys:       records.NewTable[signingKeyRecord](st, dk, "id/sigkey/"),
	}
	pep, err := loadOrCreateSecret(ctx, st, records.NewTable[[]byte](st, dk, "id/secret/"), "pepper")
	if err != nil {
		return nil, err
	}
	s.pepper = pep
	if err := s.loadSigningKeys(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func loadOrCreateSecret(ctx context.Context, st store.Store, t records.Table[[]byte], name string) ([]byte, error) {
	v, err := t.Get(ctx, name)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("identity: load %s: %w", name, err)
	}
	v = make([]byte, 32)
	if _, err := rand.Read(v); err != nil {
		return nil, err
	}
	b := &store.Batch{Sync: true}
	if err := t.Put(b, name, v); err != nil {
		return nil, err
	}
	if err := st.Apply(ctx, b); err != nil {
		return nil, fmt.Errorf("identity: store %s: %w", name, err)
	}
	return v, nil
}

// CreateTenant creates a tenant with a new id.
func (s *Service) CreateTenant(ctx context.Context, displayName string) (Tenant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := Tenant{ID: uuid.NewString(), DisplayName: displayName, CreatedAt: s.clock.Now().UTC()}
	b := &store.Batch{Sync: true}
	if err := s.tenants.Put(b, t.ID, t); err != nil {
		return Tenant{}, err
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return Tenant{}, fmt.Errorf("identity: create tenant: %w", err)
	}
	return t, nil
}

// Tenant returns a tenant by id.
func (s *Service) Tenant(ctx context.Context, id string) (Tenant, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Tenant{}, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	t, err := s.tenants.Get(ctx, strings.ToLower(id))
	if errors.Is(err, store.ErrNotFound) {
		return Tenant{}, fmt.Errorf("tenant %q: %w", id, ErrNotFound)
	}
	return t, err
}

// Tenants lists every tenant.
func (s *Service) Tenants(ctx context.Context) ([]Tenant, error) { return s.tenants.List(ctx, "") }

// NewSecret is a client secret as returned once at creation.
type NewSecret struct {
	Credential PasswordCredential
	SecretText string
}

// CreateApplication registers an application in tenant. Like Entra ID, it
// has no service principal until CreateServicePrincipal makes one.
func (s *Service) CreateApplication(ctx context.Context, tenantID, displayName string) (Application, error) {
	if _, err := s.Tenant(ctx, tenantID); err != nil {
		return Application{}, err
	}
	if err := validDisplayName(displayName); err != nil {
		return Application{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app := Application{ObjectID: uuid.NewString(), AppID: uuid.NewString(), TenantID: strings.ToLower(tenantID), DisplayName: displayName, CreatedAt: s.clock.Now().UTC()}
	b := &store.Batch{Sync: true}
	if err := s.putApp(b, app); err != nil {
		return Application{}, err
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return Application{}, fmt.Errorf("identity: create application: %w", err)
	}
	return app, nil
}

// CreateServicePrincipal creates the service principal of an application in
// its tenant.
func (s *Service) CreateServicePrincipal(ctx context.Context, tenantID, appID string) (Principal, error) {
	app, err := s.ApplicationByAppID(ctx, appID)
	if err != nil {
		return Principal{}, err
	}
	if !strings.EqualFold(app.TenantID, tenantID) {
		return Principal{}, fmt.Errorf("application %q: %w", appID, ErrNotFound)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.PrincipalByAppID(ctx, app.TenantID, app.AppID); err == nil {
		return Principal{}, fmt.Errorf("service principal for app %s: %w", appID, ErrConflict)
	}
	sp := Principal{ObjectID: uuid.NewString(), AppID: app.AppID, TenantID: app.TenantID, DisplayName: app.DisplayName, Type: TypeApplication, Enabled: true, CreatedAt: s.clock.Now().UTC()}
	b := &store.Batch{Sync: true}
	if err := s.putPrincipal(b, sp); err != nil {
		return Principal{}, err
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return Principal{}, fmt.Errorf("identity: create service principal: %w", err)
	}
	return sp, nil
}

func validDisplayName(n string) error {
	if strings.TrimSpace(n) == "" || len(n) > 256 {
		return fmt.Errorf("%w: displayName must be 1 to 256 characters", ErrInvalid)
	}
	return nil
}

func (s *Service) putApp(b *store.Batch, app Application) error {
	if err := s.apps.Put(b, app.TenantID+"/"+app.ObjectID, app); err != nil {
		return err
	}
	return s.index.Put(b, "appid/"+app.AppID, app.TenantID+"/"+app.ObjectID)
}

func (s *Service) putPrincipal(b *store.Batch, p Principal) error {
	if err := s.principals.Put(b, p.TenantID+"/"+p.ObjectID, p); err != nil {
		return err
	}
	return s.index.Put(b, "sp/"+p.TenantID+"/"+p.AppID, p.ObjectID)
}

// Application returns an application by object id.
func (s *Service) Application(ctx context.Context, tenantID, objectID string) (Application, error) {
	a, err := s.apps.Get(ctx, tenantID+"/"+strings.ToLower(objectID))
	if errors.Is(err, store.ErrNotFound) {
		return Application{}, fmt.Errorf("application %q: %w", objectID, ErrNotFound)
	}
	return a, err
}

// ApplicationByAppID returns an application by its application (client) id.
func (s *Service) ApplicationByAppID(ctx context.Context, appID string) (Application, error) {
	ref, err := s.index.Get(ctx, "appid/"+strings.ToLower(appID))
	if errors.Is(err, store.ErrNotFound) {
		return Application{}, fmt.Errorf("application %q: %w", appID, ErrNotFound)
	}
	if err != nil {
		return Application{}, err
	}
	a, err := s.apps.Get(ctx, ref)
	if errors.Is(err, store.ErrNotFound) {
		return Application{}, fmt.Errorf("application %q: %w", appID, ErrNotFound)
	}
	return a, err
}

// Applications lists a tenant's applications.
func (s *Service) Applications(ctx context.Context, tenantID string) ([]Application, error) {
	return s.apps.List(ctx, tenantID+"/")
}

// DeleteApplication deletes an application and its service principal.
func (s *Service) DeleteApplication(ctx context.Context, tenantID, objectID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	app, err := s.Application(ctx, tenantID, objectID)
	if err != nil {
		return err
	}
	b := &store.Batch{Sync: true}
	s.apps.Delete(b, app.TenantID+"/"+app.ObjectID)
	s.index.Delete(b, "appid/"+app.AppID)
	if sp, err := s.PrincipalByAppID(ctx, tenantID, app.AppID); err == nil {
		s.principals.Delete(b, sp.TenantID+"/"+sp.ObjectID)
		s.index.Delete(b, "sp/"+sp.TenantID+"/"+sp.AppID)
	}
	return s.st.Apply(ctx, b)
}

// UpdateApplication renames an application (and its principal).
func (s *Service) UpdateApplication(ctx context.Context, tenantID, objectID, displayName string) (Application, error) {
	if err := validDisplayName(displayName); err != nil {
		return Application{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	app, err := s.Application(ctx, tenantID, objectID)
	if err != nil {
		return Application{}, err
	}
	app.DisplayName = displayName
	b := &store.Batch{Sync: true}
	if err := s.putApp(b, app); err != nil {
		return Application{}, err
	}
	if sp, err := s.PrincipalByAppID(ctx, tenantID, app.AppID); err == nil {
		sp.DisplayName = displayName
		if err := s.putPrincipal(b, sp); err != nil {
			return Application{}, err
		}
	}
	return app, s.st.Apply(ctx, b)
}

// AddPassword creates a client secret for an application. The secret text
// is returned once and never stored.
func (s *Service) AddPassword(ctx context.Context, tenantID, objectID, displayName string, end time.Time) (NewSecret, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	app, err := s.Application(ctx, tenantID, objectID)
	if err != nil {
		return NewSecret{}, err
	}
	if len(app.Passwords) >= 16 {
		return NewSecret{}, fmt.Errorf("%w: an application holds at most 16 client secrets", ErrInvalid)
	}
	raw := make([]byte, 30)
	if _, err := rand.Read(raw); err != nil {
		return NewSecret{}, err
	}
	// Entra-like shape: three characters of hint, "~", then the rest.
	text := base64.RawURLEncoding.EncodeToString(raw)
	text = text[:3] + "8Q~" + text[3:]
	now := s.clock.Now().UTC()
	if end.IsZero() {
		end = now.AddDate(2, 0, 0)
	}
	if !end.After(now) {
		return NewSecret{}, fmt.Errorf("%w: endDateTime must be in the future", ErrInvalid)
	}
	cred := PasswordCredential{KeyID: uuid.NewString(), DisplayName: displayName, Hint: text[:3], Start: now, End: end, Verifier: s.verifier(text)}
	app.Passwords = append(app.Passwords, cred)
	b := &store.Batch{Sync: true}
	if err := s.putApp(b, app); err != nil {
		return NewSecret{}, err
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return NewSecret{}, fmt.Errorf("identity: add password: %w", err)
	}
	return NewSecret{Credential: cred, SecretText: text}, nil
}

// RemovePassword deletes a client secret by key id.
func (s *Service) RemovePassword(ctx context.Context, tenantID, objectID, keyID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	app, err := s.Application(ctx, tenantID, objectID)
	if err != nil {
		return err
	}
	kept := app.Passwords[:0]
	found := false
	for _, p := range app.Passwords {
		if strings.EqualFold(p.KeyID, keyID) {
			found = true
			continue
		}
		kept = append(kept, p)
	}
	if !found {
		return fmt.Errorf("password %q: %w", keyID, ErrNotFound)
	}
	app.Passwords = kept
	b := &store.Batch{Sync: true}
	if err := s.putApp(b, app); err != nil {
		return err
	}
	return s.st.Apply(ctx, b)
}

// SetCertificates replaces an application's certificate credentials.
func (s *Service) SetCertificates(ctx context.Context, tenantID, objectID string, certs []KeyCredential) (Application, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	app, err := s.Application(ctx, tenantID, objectID)
	if err != nil {
		return Application{}, err
	}
	app.Certificates = certs
	b := &store.Batch{Sync: true}
	if err := s.putApp(b, app); err != nil {
		return Application{}, err
	}
	return app, s.st.Apply(ctx, b)
}

func (s *Service) verifier(secret string) []byte {
	m := hmac.New(sha256.New, s.pepper)
	m.Write([]byte("keyward client secret v1\x00"))
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// checkPassword reports whether secret matches one of app's current secrets,
// comparing verifiers in constant time.
func (s *Service) checkPassword(app Application, secret string, now time.Time) bool {
	v := s.verifier(secret)
	ok := 0
	for _, p := range app.Passwords {
		match := subtle.ConstantTimeCompare(v, p.Verifier)
		if now.Before(p.Start.Add(-5*time.Minute)) || now.After(p.End) {
			match = 0
		}
		ok |= match
	}
	return ok == 1
}

// Principal returns a service principal by object id.
func (s *Service) Principal(ctx context.Context, tenantID, objectID string) (Principal, error) {
	p, err := s.principals.Get(ctx, strings.ToLower(tenantID)+"/"+strings.ToLower(objectID))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("principal %q: %w", objectID, ErrNotFound)
	}
	return p, err
}

// PrincipalByAppID returns the service principal of an application in tenant.
func (s *Service) PrincipalByAppID(ctx context.Context, tenantID, appID string) (Principal, error) {
	oid, err := s.index.Get(ctx, "sp/"+strings.ToLower(tenantID)+"/"+strings.ToLower(appID))
	if errors.Is(err, store.ErrNotFound) {
		return Principal{}, fmt.Errorf("principal for app %q: %w", appID, ErrNotFound)
	}
	if err != nil {
		return Principal{}, err
	}
	return s.Principal(ctx, tenantID, oid)
}

// Principals lists a tenant's service principals.
func (s *Service) Principals(ctx context.Context, tenantID string) ([]Principal, error) {
	return s.principals.List(ctx, strings.ToLower(tenantID)+"/")
}

// SetDirectoryRoles replaces a principal's directory roles.
func (s *Service) SetDirectoryRoles(ctx context.Context, tenantID, objectID string, roles []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.Principal(ctx, tenantID, objectID)
	if err != nil {
		return err
	}
	p.DirectoryRoles = roles
	b := &store.Batch{Sync: true}
	if err := s.putPrincipal(b, p); err != nil {
		return err
	}
	return s.st.Apply(ctx, b)
}

// CreateManagedIdentity creates the service principal of a managed identity
// that belongs to resourceID (a resource's system-assigned identity, or a
// user-assigned identity resource).
func (s *Service) CreateManagedIdentity(ctx context.Context, tenantID, resourceID, displayName string) (Principal, error) {
	if _, err := s.Tenant(ctx, tenantID); err != nil {
		return Principal{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Principal{
		ObjectID: uuid.NewString(), AppID: uuid.NewString(), TenantID: strings.ToLower(tenantID),
		DisplayName: displayName, Type: TypeManagedIdentity, ResourceID: resourceID,
		Enabled: true, CreatedAt: s.clock.Now().UTC(),
	}
	b := &store.Batch{Sync: true}
	if err := s.putPrincipal(b, p); err != nil {
		return Principal{}, err
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return Principal{}, fmt.Errorf("identity: create managed identity: %w", err)
	}
	return p, nil
}

// DeletePrincipal deletes a service principal (a managed identity with its
// resource; an application's principal with DeleteApplication).
func (s *Service) DeletePrincipal(ctx context.Context, tenantID, objectID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, err := s.Principal(ctx, tenantID, objectID)
	if err != nil {
		return err
	}
	b := &store.Batch{Sync: true}
	s.principals.Delete(b, p.TenantID+"/"+p.ObjectID)
	s.index.Delete(b, "sp/"+p.TenantID+"/"+p.AppID)
	return s.st.Apply(ctx, b)
}

// CheckClientSecret reports whether secret is one of app's current client
// secrets (constant-time).
func (s *Service) CheckClientSecret(app Application, secret string) bool {
	return s.checkPassword(app, secret, s.clock.Now())
}
