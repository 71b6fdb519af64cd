// Package namespaces holds Service Bus namespaces as resources: their SKU,
// managed identities, shared access authorization rules and SAS token
// verification, customer-managed-key encryption (through the key-binding
// engine) with the rules Azure documents, and geo-disaster-recovery pairings.
// The broker (package servicebus) holds their entities and messages; this
// package tells it each namespace's data key.
package namespaces

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/keybinding"
	"github.com/keyward/keyward/internal/managedidentity"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/store"
)

// SKU is a namespace's pricing tier.
type SKU struct {
	Name     string `json:"name"`
	Tier     string `json:"tier"`
	Capacity int    `json:"capacity,omitempty"`
}

// KeyVaultProperty is one customer key of a namespace.
type KeyVaultProperty struct {
	KeyName     string `json:"keyName"`
	KeyVaultURI string `json:"keyVaultUri"`
	KeyVersion  string `json:"keyVersion,omitempty"`
	// UserAssignedIdentity is the resource id of the user-assigned identity
	// that reads the key; empty means the system-assigned identity.
	UserAssignedIdentity string `json:"userAssignedIdentity,omitempty"`
}

// Encryption is a namespace's customer-managed-key configuration.
type Encryption struct {
	KeySource                       string             `json:"keySource"`
	KeyVaultProperties              []KeyVaultProperty `json:"keyVaultProperties"`
	RequireInfrastructureEncryption bool               `json:"requireInfrastructureEncryption,omitempty"`
}

// AuthRule is a shared access authorization rule.
type AuthRule struct {
	Name         string    `json:"name"`
	Rights       []string  `json:"rights"`
	PrimaryKey   string    `json:"primaryKey"`
	SecondaryKey string    `json:"secondaryKey"`
	CreatedAt    time.Time `json:"createdAt"`
	ModifiedAt   time.Time `json:"modifiedAt"`
}

// HasRight reports whether the rule grants right ("Manage" implies Send and Listen).
func (r AuthRule) HasRight(right string) bool {
	for _, x := range r.Rights {
		if strings.EqualFold(x, right) || strings.EqualFold(x, "Manage") {
			return true
		}
	}
	return false
}

// DRConfig is a namespace's side of a geo-disaster-recovery pairing.
type DRConfig struct {
	Alias         string `json:"alias"`
	Role          string `json:"role"` // "Primary", "Secondary", "PrimaryNotReplicating"
	Partner       string `json:"partner"`
	AlternateName string `json:"alternateName,omitempty"`
}

// Namespace is a Service Bus namespace resource.
type Namespace struct {
	ID                  string                `json:"id"`
	Name                string                `json:"name"`
	SubscriptionID      string                `json:"subscriptionId"`
	ResourceGroup       string                `json:"resourceGroup"`
	TenantID            string                `json:"tenantId"`
	Location            string                `json:"location"`
	Tags                map[string]string     `json:"tags,omitempty"`
	SKU                 SKU                   `json:"sku"`
	Identity            managedidentity.State `json:"identity"`
	Encryption          *Encryption           `json:"encryption,omitempty"`
	AuthRules           []AuthRule            `json:"authRules"`
	DR                  *DRConfig             `json:"dr,omitempty"`
	DisableLocalAuth    bool                  `json:"disableLocalAuth,omitempty"`
	MinimumTLSVersion   string                `json:"minimumTlsVersion,omitempty"`
	PublicNetworkAccess string                `json:"publicNetworkAccess,omitempty"`
	ZoneRedundant       bool                  `json:"zoneRedundant,omitempty"`
	CreatedAt           time.Time             `json:"createdAt"`
	UpdatedAt           time.Time             `json:"updatedAt"`
}

// Vaults answers the namespace's questions about key vaults.
type Vaults interface {
	// Protection returns a vault's soft-delete and purge-protection settings;
	// an error for an unknown vault.
	Protection(ctx context.Context, vaultName string) (softDelete, purgeProtection bool, err error)
}

// Config configures the Service.
type Config struct {
	// DNSSuffix is "servicebus.<domain>".
	DNSSuffix string
	// HTTPSPort and AMQPPort go into endpoints.
	HTTPSPort string
}

// Service manages namespaces.
type Service struct {
	st     store.Store
	tab    records.Table[Namespace]
	broker *servicebus.Broker
	kb     *keybinding.Engine
	msi    *managedidentity.Service
	vaults Vaults
	clock  clock.Clock
	log    *slog.Logger
	cfg    Config

	mu    sync.RWMutex
	byKey map[string]*Namespace // lower name -> record (a copy kept for fast SAS checks)
	wmu   sync.Mutex            // serializes writes
}

// New returns the service. Start opens every stored namespace in the broker.
func New(st store.Store, dk *seal.DataKey, kb *keybinding.Engine, msi *managedidentity.Service, vaults Vaults, clk clock.Clock, log *slog.Logger, cfg Config) *Service {
	return &Service{st: st, tab: records.NewTable[Namespace](st, dk, "sbns/"), kb: kb, msi: msi, vaults: vaults, clock: clk, log: log, cfg: cfg, byKey: map[string]*Namespace{}}
}

// SetBroker connects the broker (built after the service, since the broker
// asks the service for data keys).
func (s *Service) SetBroker(b *servicebus.Broker) { s.broker = b }

// Start loads every namespace and opens it in the broker.
func (s *Service) Start(ctx context.Context) error {
	all, err := s.tab.List(ctx, "")
	if err != nil {
		return fmt.Errorf("namespaces: load: %w", err)
	}
	for i := range all {
		n := all[i]
		s.mu.Lock()
		s.byKey[strings.ToLower(n.Name)] = &n
		s.mu.Unlock()
		s.kb.Watch(n.ID, s.statusWatcher(n.Name))
		if _, err := s.broker.OpenNamespace(ctx, n.Name, brokerOptions(n)); err != nil {
			s.log.Warn("open namespace", "namespace", n.Name, "err", err)
		}
	}
	return nil
}

func (s *Service) statusWatcher(name string) func(keybinding.Status) {
	return func(keybinding.Status) {
		if s.broker != nil {
			_ = s.broker.NamespaceStatusChanged(context.Background(), name)
		}
	}
}

func brokerOptions(n Namespace) servicebus.NamespaceOptions {
	o := servicebus.NamespaceOptions{Tier: servicebus.Tier(n.SKU.Tier)}
	if n.SKU.Tier == string(servicebus.Premium) {
		o.MessagingUnits = n.SKU.Capacity
	}
	return o
}

// DataKey implements servicebus.KeySource.
func (s *Service) DataKey(ctx context.Context, namespace string) (*seal.DataKey, error) {
	n, ok := s.lookup(namespace)
	if !ok {
		return nil, &servicebus.Error{Code: servicebus.CodeEntityNotFound, Message: "namespace " + namespace + " does not exist"}
	}
	dk, err := s.kb.DataKey(n.ID)
	if errors.Is(err, keybinding.ErrRevoked) {
		return nil, fmt.Errorf("%w: %v", servicebus.ErrRevoked, err)
	}
	return dk, err
}

func (s *Service) lookup(name string) (Namespace, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.byKey[strings.ToLower(name)]
	if !ok {
		return Namespace{}, false
	}
	return *n, true
}

// Get returns a namespace by name.
func (s *Service) Get(name string) (Namespace, bool) { return s.lookup(name) }

// List returns the namespaces of a subscription (and resource group, if not empty).
func (s *Service) List(subscriptionID, resourceGroup string) []Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []Namespace
	for _, n := range s.byKey {
		if strings.EqualFold(n.SubscriptionID, subscriptionID) && (resourceGroup == "" || strings.EqualFold(n.ResourceGroup, resourceGroup)) {
			out = append(out, *n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Names returns every namespace name.
func (s *Service) Names() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []string
	for _, n := range s.byKey {
		out = append(out, n.Name)
	}
	sort.Strings(out)
	return out
}

// Status returns a namespace's status: "Active" or "Revoked" (every customer key unusable).
func (s *Service) Status(n Namespace) string {
	info, err := s.kb.Info(n.ID)
	if err == nil && info.Status == keybinding.StatusRevoked {
		return "Revoked"
	}
	return "Active"
}

// KeyStates returns what the key-binding engine knows of the namespace's keys.
func (s *Service) KeyStates(n Namespace) []keybinding.KeyState {
	info, err := s.kb.Info(n.ID)
	if err != nil {
		return nil
	}
	return info.Keys
}

func (s *Service) put(ctx context.Context, n Namespace) error {
	b := &store.Batch{Sync: true}
	if err := s.tab.Put(b, strings.ToLower(n.Name), n); err != nil {
		return err
	}
	if err := s.st.Apply(ctx, b); err != nil {
		return fmt.Errorf("namespaces: store %s: %w", n.Name, err)
	}
	s.mu.Lock()
	cp := n
	s.byKey[strings.ToLower(n.Name)] = &cp
	s.mu.Unlock()
	return nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{4,48}[A-Za-z0-9]$`)

// ValidName reports whether name is a valid namespace name: 6 to 50
// letters, digits and hyphens, starting with a letter and ending with a
// letter or digit, not ending in "-sb" or "-mgmt".
func ValidName(name string) bool {
	l := strings.ToLower(name)
	return nameRE.MatchString(name) && !strings.HasSuffix(l, "-sb") && !strings.HasSuffix(l, "-mgmt") && !strings.Contains(name, "--")
}

// newKey returns a random shared access key (32 bytes, base64).
func newKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// NewAuthRule returns a rule with fresh keys.
func NewAuthRule(name string, rights []string, now time.Time) (AuthRule, error) {
	p, err := newKey()
	if err != nil {
		return AuthRule{}, err
	}
	sk, err := newKey()
	if err != nil {
		return AuthRule{}, err
	}
	return AuthRule{Name: name, Rights: rights, PrimaryKey: p, SecondaryKey: sk, CreatedAt: now, ModifiedAt: now}, nil
}

// Host returns the namespace's host name.
func (s *Service) Host(name string) string { return strings.ToLower(name) + "." + s.cfg.DNSSuffix }

// Endpoint returns the namespace's serviceBusEndpoint.
func (s *Service) Endpoint(name string) string {
	return "https://" + s.Host(name) + ":" + s.cfg.HTTPSPort + "/"
}

// ConnectionString returns an SAS connection string.
func (s *Service) ConnectionString(ns, entity, keyName, key string) string {
	cs := "Endpoint=sb://" + s.Host(ns) + "/;SharedAccessKeyName=" + keyName + ";SharedAccessKey=" + key
	if entity != "" {
		cs += ";EntityPath=" + entity
	}
	return cs
}
