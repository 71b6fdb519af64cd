// Package keybinding is the customer-managed-key engine: it gives a resource
// (a Service Bus namespace, an integration service environment) a service
// data key, wraps it under up to three customer keys in key vaults as the
// resource's managed identity, and keeps it usable exactly while at least one
// of those keys is: it polls the keys, follows their key events, re-wraps the
// data key when a versionless key rotates, drops it from memory when every key
// is revoked (status Revoked), and unwraps it again when a key comes back.
//
// A resource without customer keys gets a data key wrapped by the root key:
// encryption at rest is always on.
package keybinding

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Status is a binding's encryption status.
type Status string

// Statuses.
const (
	StatusActive  Status = "Active"
	StatusRevoked Status = "Revoked"
)

// ErrRevoked is returned by DataKey when every customer key of the resource
// is unusable.
var ErrRevoked = errors.New("keybinding: every customer-managed key of the resource is unusable (encryption status Revoked)")

// ErrNotFound is returned for a resource without a binding.
var ErrNotFound = errors.New("keybinding: no key binding for the resource")

// Vault errors the engine tells apart. A Vault implementation wraps its
// errors with one of them.
var (
	// ErrKeyDenied: the identity may not use the key (no access policy or
	// role, or the vault belongs to another tenant).
	ErrKeyDenied = errors.New("access to the key is denied")
	// ErrKeyDisabled: the key (version) is disabled, not yet active, or expired.
	ErrKeyDisabled = errors.New("the key is disabled or outside its activation window")
	// ErrKeyNotFound: the key, its version or its vault does not exist (or is deleted).
	ErrKeyNotFound = errors.New("the key does not exist or is deleted")
	// ErrVaultUnreachable: a transient failure; the engine keeps serving
	// from its cache for the grace period.
	ErrVaultUnreachable = errors.New("the key vault cannot be reached")
)

// MaxKeys is the most customer keys one resource may list.
const MaxKeys = 3

// KeyRef names one customer key of a resource.
type KeyRef struct {
	// VaultURI is the vault's URI, e.g. "https://kv1.vault.keyward.localhost:8443/".
	VaultURI string `json:"keyVaultUri"`
	// KeyName is the key's name.
	KeyName string `json:"keyName"`
	// KeyVersion pins a version; empty follows the latest version.
	KeyVersion string `json:"keyVersion,omitempty"`
	// Identity is the resource id of the user-assigned identity that reads the
	// key; empty means the resource's system-assigned identity.
	Identity string `json:"identity,omitempty"`
}

// VaultName returns the vault's name (the first label of the URI's host).
func (k KeyRef) VaultName() string {
	h := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(k.VaultURI), "https://"), "http://")
	if i := strings.IndexAny(h, ".:/"); i >= 0 {
		h = h[:i]
	}
	return h
}

// ID returns the key's versionless identity used as the KEK id in wraps.
func (k KeyRef) ID() string {
	return strings.TrimRight(strings.ToLower(k.VaultURI), "/") + "/keys/" + strings.ToLower(k.KeyName)
}

// Same reports whether two references name the same key.
func (k KeyRef) Same(o KeyRef) bool { return k.ID() == o.ID() }

// Principal is the identity the engine uses for a key.
type Principal struct {
	TenantID string
	ObjectID string
	AppID    string
	// ResourceID is the resource the identity belongs to (audit).
	ResourceID string
}

// KeyInfo is what the engine reads of a key.
type KeyInfo struct {
	Version            string // the version read (latest when asked without one)
	Kty                string
	Size               int // RSA modulus bits
	Enabled            bool
	NotBefore, Expires time.Time // zero when unset
	Ops                []string
}

// Usable reports whether the key can wrap now.
func (k KeyInfo) Usable(now time.Time) error {
	if !k.Enabled {
		return fmt.Errorf("%w: the key version %s is disabled", ErrKeyDisabled, k.Version)
	}
	if !k.NotBefore.IsZero() && now.Before(k.NotBefore) {
		return fmt.Errorf("%w: the key version %s is not active before %s", ErrKeyDisabled, k.Version, k.NotBefore.UTC().Format(time.RFC3339))
	}
	if !k.Expires.IsZero() && !now.Before(k.Expires) {
		return fmt.Errorf("%w: the key version %s expired at %s", ErrKeyDisabled, k.Version, k.Expires.UTC().Format(time.RFC3339))
	}
	return nil
}

// Event is a key vault event the engine reacts to.
type Event struct {
	VaultName string
	KeyName   string // empty for vault-wide events (access policies, roles)
}

// Vault is the engine's view of the key vault service. Every call is made as
// principal p and is authorized and audited by the vault like any client's.
type Vault interface {
	GetKey(ctx context.Context, p Principal, vaultName, keyName, version string) (KeyInfo, error)
	WrapKey(ctx context.Context, p Principal, vaultName, keyName, version, alg string, plaintext []byte) (usedVersion string, ciphertext []byte, err error)
	UnwrapKey(ctx context.Context, p Principal, vaultName, keyName, version, alg string, ciphertext []byte) ([]byte, error)
	// Subscribe calls fn for every key vault event; cancel stops it.
	Subscribe(fn func(Event)) (cancel func())
}

// WrapAlgorithm is the algorithm keyward wraps data keys with.
const WrapAlgorithm = "RSA-OAEP"

// classify maps an error to the rule the engine applies: revoke now or
// coast on the cache.
func transient(err error) bool {
	return errors.Is(err, ErrVaultUnreachable) || errors.Is(err, context.DeadlineExceeded)
}
