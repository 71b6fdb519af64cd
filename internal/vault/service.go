package vault

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/clock"
	"github.com/keyward/keyward/internal/keycrypto"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Config configures a Service.
type Config struct {
	// DNSSuffix is the vault host suffix, "vault.<domain>": vault v is
	// served at https://v.<DNSSuffix>:<Port>/.
	DNSSuffix string
	// Port is the HTTPS port in vault URIs; "" or "443" leaves it out.
	Port string
	// AuditFile, when set, also receives every audit entry as a JSON line.
	AuditFile string
	// RBACCacheTTL bounds how long a role-assignment decision is reused
	// (default 1 minute; NotifyRoleAssignmentsChanged clears the cache at
	// once). Negative disables the cache.
	RBACCacheTTL time.Duration
	// SchedulerMaxWait is the longest the background scheduler sleeps
	// between checks (default 1 hour).
	SchedulerMaxWait time.Duration
}

// RoleChecker answers role-assignment questions for vaults that use Azure
// RBAC (enableRbacAuthorization). scope is the vault's resource id, or
// "<vault id>/keys/<name>" for an operation on one key; an assignment at the
// scope or any ancestor scope applies. dataAction is an Azure data action
// such as "Microsoft.KeyVault/vaults/keys/unwrap/action" (see the DataAction
// constants).
type RoleChecker interface {
	HasDataAction(ctx context.Context, tenantID, principalObjectID, scope, dataAction string) (bool, error)
}

// Service is the key vault: vaults, keys, key operations, authorization,
// audit, events and the background scheduler.
type Service struct {
	st    store.Store
	dk    *seal.DataKey
	clk   clock.Clock
	log   *slog.Logger
	cfg   Config
	roles RoleChecker

	vaultsT records.Table[vaultRecord]
	keysT   records.Table[keyRecord]
	versT   records.Table[versionRecord]

	// mu guards the in-memory state below; wmu serializes writers, which
	// persist first and then take mu to publish the change.
	mu     sync.RWMutex
	vaults map[string]*vaultState // by lower-case name
	wmu    sync.Mutex

	audit  *auditLog
	events *publisher
	rbac   *rbacCache
	wake   chan struct{}

	runMu   sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	closed  bool
	backoff map[string]time.Time // scheduler: failed task -> retry time
}

// Store key prefixes.
const (
	prefixVault = "kv/vault/"
	prefixKey   = "kv/key/"
	prefixVer   = "kv/ver/"
	prefixAudit = "kv/audit/"
)

// deletion records a soft delete.
type deletion struct {
	Date           time.Time `json:"date"`
	ScheduledPurge time.Time `json:"scheduledPurge"`
}

// vaultRecord is a vault as stored.
type vaultRecord struct {
	Name                         string            `json:"name"`
	SubscriptionID               string            `json:"subscriptionId"`
	ResourceGroup                string            `json:"resourceGroup"`
	Location                     string            `json:"location"`
	TenantID                     string            `json:"tenantId"`
	SKU                          SKU               `json:"sku"`
	EnableSoftDelete             bool              `json:"enableSoftDelete"`
	RetentionDays                int               `json:"retentionDays"`
	PurgeProtection              bool              `json:"purgeProtection"`
	RBAC                         bool              `json:"rbac"`
	EnabledForDeployment         bool              `json:"enabledForDeployment,omitempty"`
	EnabledForDiskEncryption     bool              `json:"enabledForDiskEncryption,omitempty"`
	EnabledForTemplateDeployment bool              `json:"enabledForTemplateDeployment,omitempty"`
	PublicNetworkAccess          string            `json:"publicNetworkAccess,omitempty"`
	AccessPolicies               []AccessPolicy    `json:"accessPolicies"`
	Tags                         map[string]string `json:"tags,omitempty"`
	CreatedAt                    time.Time         `json:"createdAt"`
	CreatedBy                    string            `json:"createdBy,omitempty"`
	UpdatedAt                    time.Time         `json:"updatedAt"`
	UpdatedBy                    string            `json:"updatedBy,omitempty"`
	Deleted                      *deletion         `json:"deleted,omitempty"`
}

// keyRecord is a key's versions and state as stored.
type keyRecord struct {
	Name               string          `json:"name"`
	Versions           []string        `json:"versions"` // oldest first; the last is current
	Deleted            *deletion       `json:"deleted,omitempty"`
	Policy             *RotationPolicy `json:"policy,omitempty"`
	NearExpiryNotified string          `json:"nearExpiryNotified,omitempty"`
	ExpiredNotified    string          `json:"expiredNotified,omitempty"`
}

// versionRecord is a key version as stored; Private is the serialized
// private key (the whole record is sealed).
type versionRecord struct {
	Version    string            `json:"version"`
	Kty        keycrypto.KeyType `json:"kty"`
	KeyOps     []string          `json:"keyOps"`
	Enabled    bool              `json:"enabled"`
	NotBefore  *time.Time        `json:"nbf,omitempty"`
	Expires    *time.Time        `json:"exp,omitempty"`
	Created    time.Time         `json:"created"`
	Updated    time.Time         `json:"updated"`
	Exportable bool              `json:"exportable,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Private    []byte            `json:"private,omitempty"`
}

// vaultState is a vault in memory.
type vaultState struct {
	rec  vaultRecord
	auth *vaultAuth           // immutable snapshot, replaced on every change
	keys map[string]*keyState // by lower-case name
}

// vaultAuth is what authorization and key operations need of a vault,
// immutable so that the hot path reads it without holding locks.
type vaultAuth struct {
	name            string // lower case
	id              string
	tenant          string // lower case
	location        string
	rbac            bool
	acl             acl
	deleted         bool
	purgeProtection bool
	retentionDays   int
	hsm             bool // premium SKU: -HSM keys allowed
}

func (a *vaultAuth) recoveryLevel() string {
	custom := a.retentionDays < 90
	switch {
	case a.purgeProtection && custom:
		return "CustomizedRecoverable"
	case a.purgeProtection:
		return "Recoverable"
	case custom:
		return "CustomizedRecoverable+Purgeable"
	default:
		return "Recoverable+Purgeable"
	}
}

// keyState is a key in memory.
type keyState struct {
	rec      keyRecord
	versions map[string]*versionState
}

// versionState is a key version in memory: its record without the private
// bytes, and the parsed key.
type versionState struct {
	rec versionRecord
	key *keycrypto.Key
}

func (k *keyState) current() *versionState {
	if len(k.rec.Versions) == 0 {
		return nil
	}
	return k.versions[k.rec.Versions[len(k.rec.Versions)-1]]
}

func newVaultAuth(rec vaultRecord) *vaultAuth {
	return &vaultAuth{
		name:            strings.ToLower(rec.Name),
		id:              VaultResourceID(rec.SubscriptionID, rec.ResourceGroup, rec.Name),
		tenant:          strings.ToLower(rec.TenantID),
		location:        rec.Location,
		rbac:            rec.RBAC,
		acl:             compileACL(rec.AccessPolicies),
		deleted:         rec.Deleted != nil,
		purgeProtection: rec.PurgeProtection,
		retentionDays:   rec.RetentionDays,
		hsm:             strings.EqualFold(rec.SKU.Name, "premium"),
	}
}

// New opens the vault service on st, with every record sealed under dk,
// and loads every vault and key into memory. roles may be nil when no vault
// uses RBAC (such vaults then refuse every data-plane call). Call Start to
// run the background scheduler and Close to stop it.
func New(st store.Store, dk *seal.DataKey, clk clock.Clock, log *slog.Logger, cfg Config, roles RoleChecker) (*Service, error) {
	if st == nil || dk == nil {
		return nil, errors.New("vault: a store and a data key are required")
	}
	if cfg.DNSSuffix == "" {
		return nil, errors.New("vault: Config.DNSSuffix is required")
	}
	if clk == nil {
		clk = clock.Real{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.RBACCacheTTL == 0 {
		cfg.RBACCacheTTL = time.Minute
	}
	if cfg.SchedulerMaxWait <= 0 {
		cfg.SchedulerMaxWait = time.Hour
	}
	s := &Service{
		st: st, dk: dk, clk: clk, log: log, cfg: cfg, roles: roles,
		vaultsT: records.NewTable[vaultRecord](st, dk, prefixVault),
		keysT:   records.NewTable[keyRecord](st, dk, prefixKey),
		versT:   records.NewTable[versionRecord](st, dk, prefixVer),
		vaults:  map[string]*vaultState{},
		events:  newPublisher(log),
		rbac:    newRBACCache(cfg.RBACCacheTTL),
		wake:    make(chan struct{}, 1),
		backoff: map[string]time.Time{},
	}
	ctx := context.Background()
	if err := s.load(ctx); err != nil {
		return nil, err
	}
	a, err := openAuditLog(ctx, st, dk, cfg.AuditFile, log)
	if err != nil {
		return nil, err
	}
	s.audit = a
	return s, nil
}

// load reads every vault, key and version into memory.
func (s *Service) load(ctx context.Context) error {
	err := s.vaultsT.Each(ctx, "", func(id string, rec vaultRecord) error {
		s.vaults[id] = &vaultState{rec: rec, auth: newVaultAuth(rec), keys: map[string]*keyState{}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: load vaults: %w", err)
	}
	err = s.keysT.Each(ctx, "", func(id string, rec keyRecord) error {
		vname, kname, ok := strings.Cut(id, "/")
		vs := s.vaults[vname]
		if !ok || vs == nil {
			s.log.Warn("vault: key record without a vault", "id", id)
			return nil
		}
		vs.keys[kname] = &keyState{rec: rec, versions: map[string]*versionState{}}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: load keys: %w", err)
	}
	err = s.versT.Each(ctx, "", func(id string, rec versionRecord) error {
		parts := strings.Split(id, "/")
		if len(parts) != 3 {
			return nil
		}
		vs := s.vaults[parts[0]]
		if vs == nil {
			return nil
		}
		ks := vs.keys[parts[1]]
		if ks == nil {
			return nil
		}
		k, err := keycrypto.ParsePrivate(rec.Private)
		clear(rec.Private)
		rec.Private = nil
		if err != nil {
			return fmt.Errorf("key %s: %w", id, err)
		}
		ks.versions[parts[2]] = &versionState{rec: rec, key: k}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: load key versions: %w", err)
	}
	return nil
}

// Start runs the background scheduler (rotation policies, near-expiry and
// expiry notices, automatic purge after retention) until ctx ends or Close.
func (s *Service) Start(ctx context.Context) {
	s.runMu.Lock()
	defer s.runMu.Unlock()
	if s.cancel != nil || s.closed {
		return
	}
	ctx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.schedulerLoop(ctx)
	}()
}

// Close stops the scheduler and event delivery and closes the audit file.
// It does not close the store, which the caller owns.
func (s *Service) Close() error {
	s.runMu.Lock()
	if s.closed {
		s.runMu.Unlock()
		return nil
	}
	s.closed = true
	cancel, done := s.cancel, s.done
	s.runMu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	s.events.close()
	return s.audit.close()
}

// Subscribe registers fn for every event. Delivery is asynchronous, in
// order, on a goroutine of its own per subscriber: a slow subscriber never
// blocks an operation. cancel stops delivery.
func (s *Service) Subscribe(fn func(Event)) (cancel func()) { return s.events.subscribe(fn) }

// Config returns the service's configuration.
func (s *Service) Config() Config { return s.cfg }

// poke wakes the scheduler after a change.
func (s *Service) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// vaultFor returns a live (not deleted) vault's auth snapshot.
func (s *Service) vaultFor(name string) (*vaultAuth, error) {
	s.mu.RLock()
	vs := s.vaults[strings.ToLower(name)]
	s.mu.RUnlock()
	if vs == nil {
		return nil, errVaultNotFound(name)
	}
	a := vs.auth
	if a.deleted {
		return nil, newError(StatusNotFound, "VaultNotFound", "", "The vault '%s' is deleted; recover it to use it again.", name)
	}
	return a, nil
}

// apply writes a batch durably.
func (s *Service) apply(ctx context.Context, b *store.Batch) error {
	b.Sync = true
	if err := s.st.Apply(ctx, b); err != nil {
		return fmt.Errorf("vault: write: %w", err)
	}
	return nil
}

func keyStoreID(vault, key string) string { return strings.ToLower(vault) + "/" + strings.ToLower(key) }

func versionStoreID(vault, key, version string) string {
	return keyStoreID(vault, key) + "/" + version
}

func cloneTags(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func cloneTime(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	c := *t
	return &c
}

// VaultTenant returns the tenant of a live vault, for the data plane's
// authentication challenge.
func (s *Service) VaultTenant(name string) (string, bool) {
	a, err := s.vaultFor(name)
	if err != nil {
		return "", false
	}
	return a.tenant, true
}
