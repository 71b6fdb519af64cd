package vault

import (
	"time"

	"github.com/keyward/keyward/internal/keycrypto"
)

// Caller is who performs an operation, as the transport authenticated it.
// TenantID, ObjectID and AppID come from the access token; the rest is
// recorded in the audit log.
type Caller struct {
	TenantID      string
	ObjectID      string
	AppID         string
	Issuer        string // token issuer, used in Azure-style denial messages
	ClientIP      string
	CorrelationID string
	RequestID     string
}

// SKU is a vault's pricing tier: family "A", name "standard" or "premium".
type SKU struct {
	Family string `json:"family"`
	Name   string `json:"name"`
}

// Permissions are an access policy's permissions per object kind, with
// Azure's names (compared case-insensitively, stored in Azure's spelling).
type Permissions struct {
	Keys         []string `json:"keys,omitempty"`
	Secrets      []string `json:"secrets,omitempty"`
	Certificates []string `json:"certificates,omitempty"`
	Storage      []string `json:"storage,omitempty"`
}

// AccessPolicy grants an identity (objectId, optionally only through
// application applicationId: a compound identity) permissions on a vault.
type AccessPolicy struct {
	TenantID      string      `json:"tenantId"`
	ObjectID      string      `json:"objectId"`
	ApplicationID string      `json:"applicationId,omitempty"`
	Permissions   Permissions `json:"permissions"`
}

// AccessPolicyUpdateKind is the operation of AccessPolicyUpdate.
type AccessPolicyUpdateKind string

// Access policy update kinds (Azure's Vaults_UpdateAccessPolicy).
const (
	AccessPolicyAdd     AccessPolicyUpdateKind = "add"
	AccessPolicyReplace AccessPolicyUpdateKind = "replace"
	AccessPolicyRemove  AccessPolicyUpdateKind = "remove"
)

// VaultRef names a vault as the resource manager addresses it. An empty
// SubscriptionID or ResourceGroup matches any (internal callers and the CLI
// address vaults by name alone: names are unique in an installation).
type VaultRef struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
}

// VaultSpec is a create-or-update request. Nil fields keep the current
// value (or take the default on create), so it serves both PUT and PATCH.
type VaultSpec struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
	Location       string // required on create; immutable
	TenantID       *string
	SKU            *SKU
	// EnableSoftDelete defaults to true. Like Azure since 2025, keyward
	// refuses false: every vault soft-deletes.
	EnableSoftDelete *bool
	// SoftDeleteRetentionInDays is 7 to 90 (default 90) and cannot change
	// after creation.
	SoftDeleteRetentionInDays *int
	// EnablePurgeProtection, once true, can never become false.
	EnablePurgeProtection        *bool
	EnableRbacAuthorization      *bool
	EnabledForDeployment         *bool
	EnabledForDiskEncryption     *bool
	EnabledForTemplateDeployment *bool
	PublicNetworkAccess          *string
	// AccessPolicies replaces the whole list when non-nil.
	AccessPolicies []AccessPolicy
	// Tags replaces the tags when non-nil.
	Tags map[string]string
}

// Vault is a key vault's management-plane view.
type Vault struct {
	ID                           string
	Name                         string
	SubscriptionID               string
	ResourceGroup                string
	Location                     string
	TenantID                     string
	SKU                          SKU
	EnableSoftDelete             bool
	SoftDeleteRetentionInDays    int
	EnablePurgeProtection        bool
	EnableRbacAuthorization      bool
	EnabledForDeployment         bool
	EnabledForDiskEncryption     bool
	EnabledForTemplateDeployment bool
	PublicNetworkAccess          string
	AccessPolicies               []AccessPolicy
	VaultURI                     string
	Tags                         map[string]string
	CreatedAt                    time.Time
	CreatedBy                    string
	UpdatedAt                    time.Time
	UpdatedBy                    string
}

// DeletedVault is a soft-deleted vault (Azure's deletedVaults resource).
type DeletedVault struct {
	ID                     string // /subscriptions/{s}/providers/Microsoft.KeyVault/locations/{l}/deletedVaults/{n}
	Name                   string
	VaultID                string
	Location               string
	Tags                   map[string]string
	DeletionDate           time.Time
	ScheduledPurgeDate     time.Time
	PurgeProtectionEnabled bool
}

// KeyAttributes are a key version's attributes. NotBefore and Expires are
// nil when unset.
type KeyAttributes struct {
	Enabled         bool
	NotBefore       *time.Time
	Expires         *time.Time
	Created         time.Time
	Updated         time.Time
	Exportable      bool
	RecoveryLevel   string
	RecoverableDays int
}

// AttributesUpdate changes attributes; nil fields are left alone (or take
// their defaults on create).
type AttributesUpdate struct {
	Enabled    *bool
	NotBefore  *time.Time
	Expires    *time.Time
	Exportable *bool
}

// KeyBundle is a key version: its public JWK (with Kid and KeyOps set),
// attributes and tags.
type KeyBundle struct {
	Key        keycrypto.JSONWebKey
	Attributes KeyAttributes
	Tags       map[string]string
}

// KeyItem is a key or key version in a list: identifier, attributes, tags.
type KeyItem struct {
	KID        string
	Attributes KeyAttributes
	Tags       map[string]string
}

// DeletedKey is a soft-deleted key: its latest version's bundle plus the
// deletion facts.
type DeletedKey struct {
	KeyBundle
	RecoveryID         string
	DeletedDate        time.Time
	ScheduledPurgeDate time.Time
}

// DeletedKeyItem is a soft-deleted key in a list.
type DeletedKeyItem struct {
	KeyItem
	RecoveryID         string
	DeletedDate        time.Time
	ScheduledPurgeDate time.Time
}

// Page asks for one page of a list. Skip is the opaque token of the
// previous page's Next ("" for the first page); MaxResults is 1 to 25
// (0 means 25, Azure's default and maximum).
type Page struct {
	MaxResults int
	Skip       string
}

// KeyList is one page of keys; Next is "" on the last page.
type KeyList struct {
	Items []KeyItem
	Next  string
}

// DeletedKeyList is one page of deleted keys; Next is "" on the last page.
type DeletedKeyList struct {
	Items []DeletedKeyItem
	Next  string
}

// CreateKeyParams is a create-key request (kty, key_size, public_exponent,
// crv, key_ops, attributes, tags).
type CreateKeyParams struct {
	Kty            keycrypto.KeyType
	Size           int
	PublicExponent int
	Curve          keycrypto.CurveName
	KeyOps         []string // nil: Key Vault's defaults for the key type
	Attributes     AttributesUpdate
	Tags           map[string]string
}

// ImportKeyParams is an import-key request. HSM imports the key as an -HSM
// key type (premium vaults only).
type ImportKeyParams struct {
	Key        keycrypto.JSONWebKey
	HSM        bool
	Attributes AttributesUpdate
	Tags       map[string]string
}

// KeyUpdate changes a key version; nil fields are left alone.
type KeyUpdate struct {
	KeyOps     []string // replaces key_ops when non-nil
	Attributes AttributesUpdate
	Tags       map[string]string // replaces the tags when non-nil
}

// OperationResult is the result of encrypt, decrypt, wrapKey, unwrapKey and
// sign: the identifier of the key version used and the output bytes.
type OperationResult struct {
	KID   string
	Value []byte
}

// Lifetime action types.
const (
	ActionRotate = "Rotate"
	ActionNotify = "Notify"
)

// LifetimeAction is one rotation-policy action and its trigger: exactly one
// of TimeAfterCreate and TimeBeforeExpiry, as ISO-8601 durations.
type LifetimeAction struct {
	Type             string `json:"type"`
	TimeAfterCreate  string `json:"timeAfterCreate,omitempty"`
	TimeBeforeExpiry string `json:"timeBeforeExpiry,omitempty"`
}

// RotationPolicy is a key's rotation policy. ExpiryTime (ISO-8601) is the
// lifetime given to versions made by rotation. Created and Updated are zero
// for the default policy of a key that never had one set.
type RotationPolicy struct {
	ID              string           `json:"id,omitempty"`
	LifetimeActions []LifetimeAction `json:"lifetimeActions"`
	ExpiryTime      string           `json:"expiryTime,omitempty"`
	Created         time.Time        `json:"created"`
	Updated         time.Time        `json:"updated"`
}

// Event types. Event Grid's names where Event Grid has the event, keyward's
// for the rest.
const (
	EventKeyNewVersionCreated   = "Microsoft.KeyVault.KeyNewVersionCreated"
	EventKeyNearExpiry          = "Microsoft.KeyVault.KeyNearExpiry"
	EventKeyExpired             = "Microsoft.KeyVault.KeyExpired"
	EventKeyEnabled             = "Keyward.KeyVault.KeyEnabled"
	EventKeyDisabled            = "Keyward.KeyVault.KeyDisabled"
	EventKeyUpdated             = "Keyward.KeyVault.KeyUpdated"
	EventKeyDeleted             = "Keyward.KeyVault.KeyDeleted"
	EventKeyRecovered           = "Keyward.KeyVault.KeyRecovered"
	EventKeyPurged              = "Keyward.KeyVault.KeyPurged"
	EventVaultAccessPolicy      = "Keyward.KeyVault.VaultAccessPolicyChanged"
	EventVaultDeleted           = "Keyward.KeyVault.VaultDeleted"
	EventVaultRecovered         = "Keyward.KeyVault.VaultRecovered"
	EventVaultPurged            = "Keyward.KeyVault.VaultPurged"
	EventRoleAssignmentsChanged = "Keyward.KeyVault.RoleAssignmentChanged"
)

// Event is a vault or key change, delivered in-process to subscribers
// (asynchronously, in order per vault). KeyID is the versioned key
// identifier when the event concerns a key version.
type Event struct {
	ID         string
	Type       string
	Time       time.Time
	VaultName  string
	VaultID    string
	KeyName    string
	KeyVersion string
	KeyID      string
	NotBefore  *time.Time
	Expires    *time.Time
	Scope      string // RoleAssignmentChanged: the scope that changed
}

// AuditEntry is one audited operation. It never holds key material or
// plaintext.
type AuditEntry struct {
	Time          time.Time `json:"time"`
	Operation     string    `json:"operationName"`
	ResultCode    int       `json:"resultCode"`
	ResultType    string    `json:"resultType"` // "Success" or the error code
	VaultName     string    `json:"vaultName,omitempty"`
	VaultID       string    `json:"vaultId,omitempty"`
	KeyName       string    `json:"keyName,omitempty"`
	KeyVersion    string    `json:"keyVersion,omitempty"`
	TenantID      string    `json:"tenantId,omitempty"`
	ObjectID      string    `json:"objectId,omitempty"`
	AppID         string    `json:"appId,omitempty"`
	ClientIP      string    `json:"clientIp,omitempty"`
	CorrelationID string    `json:"correlationId,omitempty"`
	RequestID     string    `json:"requestId,omitempty"`
	DurationMS    float64   `json:"durationMs"`
}

// AuditQuery filters the audit log. Empty fields match everything; Caller
// matches the object id or the application id; Since is inclusive and Until
// exclusive. Limit defaults to 1000 (at most 10000); entries come oldest
// first.
type AuditQuery struct {
	Vault     string
	Key       string
	Caller    string
	Operation string
	Since     time.Time
	Until     time.Time
	Limit     int
}
