package vault

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Azure data actions of Key Vault keys (the RBAC permission model).
const (
	DataActionKeysRead            = "Microsoft.KeyVault/vaults/keys/read"
	DataActionKeysUpdate          = "Microsoft.KeyVault/vaults/keys/update/action"
	DataActionKeysCreate          = "Microsoft.KeyVault/vaults/keys/create/action"
	DataActionKeysImport          = "Microsoft.KeyVault/vaults/keys/import/action"
	DataActionKeysRecover         = "Microsoft.KeyVault/vaults/keys/recover/action"
	DataActionKeysRestore         = "Microsoft.KeyVault/vaults/keys/restore/action"
	DataActionKeysDelete          = "Microsoft.KeyVault/vaults/keys/delete"
	DataActionKeysBackup          = "Microsoft.KeyVault/vaults/keys/backup/action"
	DataActionKeysPurge           = "Microsoft.KeyVault/vaults/keys/purge/action"
	DataActionKeysEncrypt         = "Microsoft.KeyVault/vaults/keys/encrypt/action"
	DataActionKeysDecrypt         = "Microsoft.KeyVault/vaults/keys/decrypt/action"
	DataActionKeysWrap            = "Microsoft.KeyVault/vaults/keys/wrap/action"
	DataActionKeysUnwrap          = "Microsoft.KeyVault/vaults/keys/unwrap/action"
	DataActionKeysSign            = "Microsoft.KeyVault/vaults/keys/sign/action"
	DataActionKeysVerify          = "Microsoft.KeyVault/vaults/keys/verify/action"
	DataActionKeysRelease         = "Microsoft.KeyVault/vaults/keys/release/action"
	DataActionKeysRotate          = "Microsoft.KeyVault/vaults/keys/rotate/action"
	DataActionRotationPolicyRead  = "Microsoft.KeyVault/vaults/keyrotationpolicies/read"
	DataActionRotationPolicyWrite = "Microsoft.KeyVault/vaults/keyrotationpolicies/write"
	// DataActionAuditRead is keyward's own data action for reading a
	// vault's audit log. Azure has no such data action; the built-in Key
	// Vault Reader ("Microsoft.KeyVault/vaults/*/read") and Administrator
	// ("Microsoft.KeyVault/vaults/*") roles match it by wildcard, the
	// crypto roles do not.
	DataActionAuditRead = "Microsoft.KeyVault/vaults/auditEvents/read"
)

// op describes one data-plane operation: its audit name, the access-policy
// permission and the RBAC data action it needs, and its name in key_ops
// messages.
type op struct {
	name   string
	perm   keyPerm
	action string
	verb   string
}

// Data-plane operations (audit names follow Azure's diagnostic logs).
var (
	opKeyCreate      = op{"KeyCreate", permCreate, DataActionKeysCreate, "create"}
	opKeyImport      = op{"KeyImport", permImport, DataActionKeysImport, "import"}
	opKeyGet         = op{"KeyGet", permGet, DataActionKeysRead, "get"}
	opKeyList        = op{"KeyList", permList, DataActionKeysRead, "list"}
	opKeyListVer     = op{"KeyListVersions", permList, DataActionKeysRead, "list"}
	opKeyUpdate      = op{"KeyUpdate", permUpdate, DataActionKeysUpdate, "update"}
	opKeyDelete      = op{"KeyDelete", permDelete, DataActionKeysDelete, "delete"}
	opKeyGetDeleted  = op{"KeyGetDeleted", permGet, DataActionKeysRead, "get"}
	opKeyListDeleted = op{"KeyListDeleted", permList, DataActionKeysRead, "list"}
	opKeyRecover     = op{"KeyRecover", permRecover, DataActionKeysRecover, "recover"}
	opKeyPurge       = op{"KeyPurge", permPurge, DataActionKeysPurge, "purge"}
	opKeyBackup      = op{"KeyBackup", permBackup, DataActionKeysBackup, "backup"}
	opKeyRestore     = op{"KeyRestore", permRestore, DataActionKeysRestore, "restore"}
	opKeyRotate      = op{"KeyRotate", permRotate, DataActionKeysRotate, "rotate"}
	opPolicyGet      = op{"KeyGetRotationPolicy", permGetRotationPolicy, DataActionRotationPolicyRead, "getrotationpolicy"}
	opPolicySet      = op{"KeySetRotationPolicy", permSetRotationPolicy, DataActionRotationPolicyWrite, "setrotationpolicy"}
	opEncrypt        = op{"KeyEncrypt", permEncrypt, DataActionKeysEncrypt, "encrypt"}
	opDecrypt        = op{"KeyDecrypt", permDecrypt, DataActionKeysDecrypt, "decrypt"}
	opWrap           = op{"KeyWrap", permWrapKey, DataActionKeysWrap, "wrapKey"}
	opUnwrap         = op{"KeyUnwrap", permUnwrapKey, DataActionKeysUnwrap, "unwrapKey"}
	opSign           = op{"KeySign", permSign, DataActionKeysSign, "sign"}
	opVerify         = op{"KeyVerify", permVerify, DataActionKeysVerify, "verify"}
	opRandom         = op{"GetRandomBytes", permGet, DataActionKeysRead, "get"}
	opAuditRead      = op{"AuditQuery", permGet, DataActionAuditRead, "get"}
)

// callerString is Azure's way of naming a caller in denial messages.
func callerString(c Caller) string {
	iss := c.Issuer
	if iss == "" {
		iss = "https://sts.windows.net/" + c.TenantID + "/"
	}
	return fmt.Sprintf("appid=%s;oid=%s;iss=%s", c.AppID, c.ObjectID, iss)
}

// authorize checks that c may perform o on vault a (on key keyName if not
// empty): same tenant, then role assignments (RBAC vaults) or access
// policies.
func (s *Service) authorize(ctx context.Context, c Caller, a *vaultAuth, o op, keyName string) error {
	if c.ObjectID == "" || !strings.EqualFold(c.TenantID, a.tenant) {
		iss := c.Issuer
		if iss == "" {
			iss = "(none)"
		}
		return newError(StatusUnauthorized, "Unauthorized", "",
			"AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, found %s. The caller's tenant must be the vault's tenant.", a.tenant, iss)
	}
	if a.rbac {
		scope := a.id
		if keyName != "" {
			scope += "/keys/" + keyName
		}
		ok, err := s.hasDataAction(ctx, c, scope, o.action)
		if err != nil {
			return fmt.Errorf("vault: role check: %w", err)
		}
		if !ok {
			return newError(StatusForbidden, "Forbidden", "ForbiddenByRbac",
				"Caller is not authorized to perform action on resource.\r\nIf role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\nCaller: %s\r\nAction: '%s'\r\nResource: '%s'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: %s;location=%s\r\n",
				callerString(c), o.action, strings.ToLower(scope), a.name, a.location)
		}
		return nil
	}
	if a.acl.keyPermsOf(c)&o.perm == 0 {
		return newError(StatusForbidden, "Forbidden", "AccessDenied",
			"The user, group or application '%s' does not have keys %s permission on key vault '%s;location=%s'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
			callerString(c), o.perm.name(), a.name, a.location)
	}
	return nil
}

// rbacCache remembers role-check answers for a short time.
type rbacCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[rbacKey]rbacAnswer
}

type rbacKey struct{ tenant, oid, scope, action string }

type rbacAnswer struct {
	ok bool
	at time.Time
}

// maxRBACCache bounds the cache; it is cleared when full.
const maxRBACCache = 65536

func newRBACCache(ttl time.Duration) *rbacCache {
	return &rbacCache{ttl: ttl, m: map[rbacKey]rbacAnswer{}}
}

func (c *rbacCache) get(k rbacKey, now time.Time) (bool, bool) {
	if c.ttl < 0 {
		return false, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	a, ok := c.m[k]
	if !ok || now.Sub(a.at) >= c.ttl || now.Before(a.at) {
		return false, false
	}
	return a.ok, true
}

func (c *rbacCache) put(k rbacKey, ok bool, now time.Time) {
	if c.ttl < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxRBACCache {
		clear(c.m)
	}
	c.m[k] = rbacAnswer{ok: ok, at: now}
}

func (c *rbacCache) reset() {
	c.mu.Lock()
	clear(c.m)
	c.mu.Unlock()
}

func (s *Service) hasDataAction(ctx context.Context, c Caller, scope, action string) (bool, error) {
	if s.roles == nil {
		return false, nil
	}
	k := rbacKey{strings.ToLower(c.TenantID), strings.ToLower(c.ObjectID), strings.ToLower(scope), action}
	now := s.clk.Now()
	if ok, hit := s.rbac.get(k, now); hit {
		return ok, nil
	}
	ok, err := s.roles.HasDataAction(ctx, c.TenantID, c.ObjectID, scope, action)
	if err != nil {
		return false, err
	}
	s.rbac.put(k, ok, now)
	return ok, nil
}

// NotifyRoleAssignmentsChanged tells the vault that role assignments at
// scope changed: cached role decisions are dropped at once and
// Keyward.KeyVault.RoleAssignmentChanged is published for every vault at,
// under or above scope.
func (s *Service) NotifyRoleAssignmentsChanged(scope string) {
	s.rbac.reset()
	ls := strings.TrimRight(strings.ToLower(scope), "/")
	s.mu.RLock()
	var affected []*vaultAuth
	for _, vs := range s.vaults {
		id := strings.ToLower(vs.auth.id)
		if ls == "" || ls == id || strings.HasPrefix(id, ls+"/") || strings.HasPrefix(ls, id+"/") {
			affected = append(affected, vs.auth)
		}
	}
	s.mu.RUnlock()
	now := s.clk.Now()
	for _, a := range affected {
		s.events.publish(Event{Type: EventRoleAssignmentsChanged, Time: now, VaultName: a.name, VaultID: a.id, Scope: scope})
	}
}
