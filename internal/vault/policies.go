package vault

import (
	"slices"
	"strings"

	"github.com/google/uuid"
)

// keyPerm is a set of access-policy key permissions.
type keyPerm uint32

// Key permissions of access policies (Azure's KeyPermissions).
const (
	permGet keyPerm = 1 << iota
	permList
	permUpdate
	permCreate
	permImport
	permDelete
	permRecover
	permBackup
	permRestore
	permDecrypt
	permEncrypt
	permUnwrapKey
	permWrapKey
	permVerify
	permSign
	permPurge
	permRelease
	permRotate
	permGetRotationPolicy
	permSetRotationPolicy
	permAllKeys keyPerm = 1<<iota - 1
)

// keyPermNames are the canonical spellings, in bit order.
var keyPermNames = [...]string{
	"get", "list", "update", "create", "import", "delete", "recover", "backup", "restore",
	"decrypt", "encrypt", "unwrapKey", "wrapKey", "verify", "sign", "purge", "release", "rotate",
	"getrotationpolicy", "setrotationpolicy",
}

// name returns the canonical name of a single permission.
func (p keyPerm) name() string {
	for i, n := range keyPermNames {
		if p == 1<<i {
			return n
		}
	}
	return "all"
}

// Other permission vocabularies, validated and stored but not enforced
// (keyward serves keys only).
var (
	secretPermNames  = []string{"get", "list", "set", "delete", "backup", "restore", "recover", "purge"}
	certPermNames    = []string{"get", "list", "delete", "create", "import", "update", "managecontacts", "getissuers", "listissuers", "setissuers", "deleteissuers", "manageissuers", "recover", "purge", "backup", "restore"}
	storagePermNames = []string{"get", "list", "delete", "set", "update", "regeneratekey", "getsas", "listsas", "deletesas", "setsas", "recover", "backup", "restore", "purge"}
)

// maxAccessPolicies is Azure's limit of access policies per vault.
const maxAccessPolicies = 1024

// normalizePermList checks a permission list against a vocabulary ("all"
// is always allowed), returning canonical spellings without duplicates.
func normalizePermList(kind string, in []string, vocab []string) ([]string, error) {
	var out []string
	for _, p := range in {
		canon := ""
		if strings.EqualFold(p, "all") {
			canon = "all"
		} else {
			for _, v := range vocab {
				if strings.EqualFold(p, v) {
					canon = v
					break
				}
			}
		}
		if canon == "" {
			return nil, errBadParameter("Invalid value '%s' for %s permissions; valid values are all, %s.", clip(p), kind, strings.Join(vocab, ", "))
		}
		if !slices.Contains(out, canon) {
			out = append(out, canon)
		}
	}
	return out, nil
}

func normalizePermissions(p Permissions) (Permissions, error) {
	var out Permissions
	var err error
	if out.Keys, err = normalizePermList("key", p.Keys, keyPermNames[:]); err != nil {
		return out, err
	}
	if out.Secrets, err = normalizePermList("secret", p.Secrets, secretPermNames); err != nil {
		return out, err
	}
	if out.Certificates, err = normalizePermList("certificate", p.Certificates, certPermNames); err != nil {
		return out, err
	}
	if out.Storage, err = normalizePermList("storage", p.Storage, storagePermNames); err != nil {
		return out, err
	}
	return out, nil
}

// normalizePolicy validates one access policy.
func normalizeAccessPolicy(p AccessPolicy) (AccessPolicy, error) {
	if _, err := uuid.Parse(p.TenantID); err != nil {
		return p, errBadParameter("accessPolicies: tenantId '%s' is not a GUID.", clip(p.TenantID))
	}
	if p.ObjectID == "" || len(p.ObjectID) > 128 {
		return p, errBadParameter("accessPolicies: objectId is missing or too long.")
	}
	if p.ApplicationID != "" {
		if _, err := uuid.Parse(p.ApplicationID); err != nil {
			return p, errBadParameter("accessPolicies: applicationId '%s' is not a GUID.", clip(p.ApplicationID))
		}
	}
	perms, err := normalizePermissions(p.Permissions)
	if err != nil {
		return p, err
	}
	return AccessPolicy{TenantID: strings.ToLower(p.TenantID), ObjectID: p.ObjectID, ApplicationID: strings.ToLower(p.ApplicationID), Permissions: perms}, nil
}

func normalizeAccessPolicies(in []AccessPolicy) ([]AccessPolicy, error) {
	if len(in) > maxAccessPolicies {
		return nil, errBadParameter("accessPolicies has %d entries; a vault has at most %d.", len(in), maxAccessPolicies)
	}
	out := make([]AccessPolicy, 0, len(in))
	for _, p := range in {
		np, err := normalizeAccessPolicy(p)
		if err != nil {
			return nil, err
		}
		out = append(out, np)
	}
	return out, nil
}

// sameIdentity reports whether two policies name the same identity.
func sameIdentity(a, b AccessPolicy) bool {
	return strings.EqualFold(a.TenantID, b.TenantID) && strings.EqualFold(a.ObjectID, b.ObjectID) &&
		strings.EqualFold(a.ApplicationID, b.ApplicationID)
}

func unionList(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func subtractList(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func (p Permissions) empty() bool {
	return len(p.Keys) == 0 && len(p.Secrets) == 0 && len(p.Certificates) == 0 && len(p.Storage) == 0
}

// applyPolicyUpdate merges changes into current per identity, like Azure's
// Vaults_UpdateAccessPolicy: add unions permissions (adding new
// identities), replace sets an identity's permissions (adding new
// identities), remove subtracts permissions and drops an identity when none
// remain or when the change names no permissions at all.
func applyPolicyUpdate(current []AccessPolicy, kind AccessPolicyUpdateKind, changes []AccessPolicy) ([]AccessPolicy, error) {
	out := slices.Clone(current)
	for _, ch := range changes {
		i := slices.IndexFunc(out, func(p AccessPolicy) bool { return sameIdentity(p, ch) })
		switch kind {
		case AccessPolicyAdd:
			if i < 0 {
				out = append(out, ch)
				continue
			}
			p := &out[i].Permissions
			p.Keys = unionList(p.Keys, ch.Permissions.Keys)
			p.Secrets = unionList(p.Secrets, ch.Permissions.Secrets)
			p.Certificates = unionList(p.Certificates, ch.Permissions.Certificates)
			p.Storage = unionList(p.Storage, ch.Permissions.Storage)
		case AccessPolicyReplace:
			if i < 0 {
				out = append(out, ch)
				continue
			}
			out[i].Permissions = ch.Permissions
		case AccessPolicyRemove:
			if i < 0 {
				continue
			}
			if ch.Permissions.empty() {
				out = slices.Delete(out, i, i+1)
				continue
			}
			p := &out[i].Permissions
			p.Keys = subtractList(p.Keys, ch.Permissions.Keys)
			p.Secrets = subtractList(p.Secrets, ch.Permissions.Secrets)
			p.Certificates = subtractList(p.Certificates, ch.Permissions.Certificates)
			p.Storage = subtractList(p.Storage, ch.Permissions.Storage)
			if p.empty() {
				out = slices.Delete(out, i, i+1)
			}
		default:
			return nil, errBadParameter("Invalid access policy update kind '%s'; use add, replace or remove.", clip(string(kind)))
		}
	}
	if len(out) > maxAccessPolicies {
		return nil, errBadParameter("the update would give the vault %d access policies; a vault has at most %d.", len(out), maxAccessPolicies)
	}
	return out, nil
}

// aclEntry is one compiled access policy.
type aclEntry struct {
	tenant string // lower case
	app    string // lower case, "" for any application
	keys   keyPerm
}

// acl is the compiled access policies of a vault, by lower-case object id.
type acl map[string][]aclEntry

func compileACL(policies []AccessPolicy) acl {
	a := acl{}
	for _, p := range policies {
		var perm keyPerm
		for _, k := range p.Permissions.Keys {
			if k == "all" {
				perm |= permAllKeys
				continue
			}
			for i, n := range keyPermNames {
				if strings.EqualFold(k, n) {
					perm |= 1 << i
				}
			}
		}
		oid := strings.ToLower(p.ObjectID)
		a[oid] = append(a[oid], aclEntry{tenant: strings.ToLower(p.TenantID), app: strings.ToLower(p.ApplicationID), keys: perm})
	}
	return a
}

// keyPermsOf returns the key permissions access policies give a caller.
func (a acl) keyPermsOf(c Caller) keyPerm {
	var perm keyPerm
	for _, e := range a[strings.ToLower(c.ObjectID)] {
		if e.tenant != strings.ToLower(c.TenantID) {
			continue
		}
		if e.app != "" && e.app != strings.ToLower(c.AppID) {
			continue
		}
		perm |= e.keys
	}
	return perm
}
