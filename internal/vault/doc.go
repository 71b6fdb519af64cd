// Package vault is keyward's key vault: Azure Key Vault vaults and keys,
// free of any transport. vaulthttp puts the keys API (the data plane) on
// the wire; the resource-manager adapter for Microsoft.KeyVault/vaults uses
// the vault methods (the management plane).
//
// # State
//
// Every vault, key and key version is a sealed record (internal/records)
// under the data key the service is given, itself wrapped under the
// installation's root key: kv/vault/<vault>, kv/key/<vault>/<key>,
// kv/ver/<vault>/<key>/<version> (names lower-cased). A version record holds
// the private key (keycrypto.MarshalPrivate) inside the sealed record, so no
// key material reaches the store in the clear. New loads everything into
// memory and parses every private key once; operations read memory only,
// writers persist first (one durable batch, so nothing is ever half
// created) and then publish the change under a short lock. The
// authorization view of a vault (tenant, RBAC flag, compiled access
// policies) is an immutable snapshot swapped on every change, so the hot
// path (unwrapKey) takes one read lock, a few map lookups and the RSA
// operation.
//
// # Decisions
//
//   - Soft delete is always on: EnableSoftDelete false is refused on create
//     and update, as Azure does for new vaults since 2025. Retention is 7-90
//     days (default 90) and immutable; purge protection can only be turned
//     on. recoveryLevel is Recoverable+Purgeable, Recoverable (purge
//     protection), or the CustomizedRecoverable variants below 90 days.
//   - Vault names are unique in an installation (they are DNS names); a
//     soft-deleted vault keeps its name until purged. Key names are
//     case-insensitive and keep the spelling of their first version.
//   - -HSM key types need a premium vault (software keys either way).
//   - GetKey returns disabled versions (with enabled false); every
//     cryptographic operation needs an enabled version inside nbf/exp whose
//     key_ops allow it.
//   - Access policies: per identity (tenant, objectId, optional
//     applicationId for compound identities), Azure's key permission names
//     case-insensitively, "all" granting every key permission. RBAC vaults
//     ask the RoleChecker with Azure's data actions (answers cached briefly,
//     dropped by NotifyRoleAssignmentsChanged). getRandomBytes and the audit
//     query need keys get (access policies); with RBAC, keys/read and
//     DataActionAuditRead.
//   - Backups are sealed under the data key with a context naming the
//     format, hold every version, and restore into any vault of the same
//     installation under the same name (Conflict if the name is taken).
//   - Rotation policies follow Azure's limits (expiryTime at least 28 days,
//     rotate/notify at least 7 days after creation and before expiry, at
//     most one Rotate and one Notify action). A key without a policy reports
//     Azure's default (Notify 30 days before expiry), which also drives
//     KeyNearExpiry.
//
// # Background work
//
// Start runs one scheduler goroutine driven by the Clock: rotation per
// policy, KeyNearExpiry and KeyExpired events for current versions, and
// automatic purge of deleted keys and vaults after retention. Failed tasks
// are retried after a minute.
//
// # Audit and events
//
// Every data-plane and management operation, allowed or not, appends a
// sealed AuditEntry durably (Store.Apply with Sync; concurrent appends
// share syncs) before it returns, optionally also as a JSON line to a file.
// Events are published in-process to subscribers asynchronously, in order.
package vault
