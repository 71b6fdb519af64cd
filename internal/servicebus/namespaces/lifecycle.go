package namespaces

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/keybinding"
	"github.com/keyward/keyward/internal/managedidentity"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/store"
)

// Spec is a create-or-update request. Nil fields keep the current value on
// PATCH and take defaults on create.
type Spec struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
	TenantID       string
	Location       string
	Tags           map[string]string
	SKU            *SKU
	Identity       *managedidentity.JSON
	// Encryption is the requested encryption; EncryptionGiven tells an
	// absent property apart from an explicit one.
	Encryption          *Encryption
	EncryptionGiven     bool
	DisableLocalAuth    *bool
	MinimumTLSVersion   *string
	PublicNetworkAccess *string
	ZoneRedundant       *bool
	Patch               bool
}

// RootRule is the authorization rule every namespace gets on creation.
const RootRule = "RootManageSharedAccessKey"

// CreateOrUpdate applies spec. It reports whether the namespace was created.
func (s *Service) CreateOrUpdate(ctx context.Context, m *arm.Manager, caller arm.Caller, spec Spec) (Namespace, bool, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	cur, exists := s.lookup(spec.Name)
	if exists && (!strings.EqualFold(cur.SubscriptionID, spec.SubscriptionID) || !strings.EqualFold(cur.ResourceGroup, spec.ResourceGroup)) {
		return Namespace{}, false, arm.Conflict("NamespaceAlreadyExists", "The namespace name '%s' is already taken by another namespace. Namespace names are global: choose another name.", spec.Name)
	}
	if !exists {
		if spec.Patch {
			return Namespace{}, false, arm.Errorf(404, "ResourceNotFound", "The Resource 'Microsoft.ServiceBus/namespaces/%s' under resource group '%s' was not found.", spec.Name, spec.ResourceGroup)
		}
		if !ValidName(spec.Name) {
			return Namespace{}, false, arm.BadRequest("InvalidNamespaceName", "The namespace name '%s' is invalid: it must be 6 to 50 characters, start with a letter, end with a letter or digit, contain only letters, digits and single hyphens, and not end with '-sb' or '-mgmt'.", spec.Name)
		}
		if s.aliasTaken(spec.Name) {
			return Namespace{}, false, arm.Conflict("NamespaceAlreadyExists", "The name '%s' is used as a geo-disaster-recovery alias.", spec.Name)
		}
	}
	now := s.clock.Now().UTC()
	n := cur
	if !exists {
		loc, err := m.ValidateLocation(spec.Location, "Microsoft.ServiceBus/namespaces")
		if err != nil {
			return Namespace{}, false, err
		}
		n = Namespace{
			ID:   arm.ResourceGroupScope(spec.SubscriptionID, spec.ResourceGroup) + "/providers/Microsoft.ServiceBus/namespaces/" + spec.Name,
			Name: spec.Name, SubscriptionID: spec.SubscriptionID, ResourceGroup: spec.ResourceGroup, TenantID: spec.TenantID,
			Location: loc, SKU: SKU{Name: "Standard", Tier: "Standard"}, MinimumTLSVersion: "1.2", PublicNetworkAccess: "Enabled", CreatedAt: now,
		}
	} else if spec.Location != "" {
		if loc, _ := m.NormalizeLocation(spec.Location); loc != cur.Location {
			return Namespace{}, false, arm.BadRequest("LocationCannotBeChanged", "The location of namespace '%s' is '%s' and cannot be changed.", cur.Name, cur.Location)
		}
	}
	if spec.SKU != nil {
		sku, err := validSKU(*spec.SKU)
		if err != nil {
			return Namespace{}, false, err
		}
		if exists && (sku.Tier == "Premium") != (cur.SKU.Tier == "Premium") {
			return Namespace{}, false, arm.BadRequest("SkuUpdateNotSupported", "A namespace cannot move between the Premium tier and the Basic or Standard tiers; create a new namespace instead.")
		}
		if exists && cur.SKU.Tier == "Standard" && sku.Tier == "Basic" {
			if has, _ := s.hasTopics(ctx, cur.Name); has {
				return Namespace{}, false, arm.BadRequest("SkuUpdateNotSupported", "The namespace has topics, which the Basic tier does not support.")
			}
		}
		n.SKU = sku
	}
	if spec.Tags != nil || !spec.Patch {
		n.Tags = spec.Tags
	}
	if spec.DisableLocalAuth != nil {
		n.DisableLocalAuth = *spec.DisableLocalAuth
	}
	if spec.MinimumTLSVersion != nil {
		switch *spec.MinimumTLSVersion {
		case "1.0", "1.1", "1.2":
			n.MinimumTLSVersion = *spec.MinimumTLSVersion
		default:
			return Namespace{}, false, arm.BadRequest("InvalidMinimumTlsVersion", "minimumTlsVersion must be 1.0, 1.1 or 1.2.")
		}
	}
	if spec.PublicNetworkAccess != nil {
		n.PublicNetworkAccess = *spec.PublicNetworkAccess
	}
	if spec.ZoneRedundant != nil {
		n.ZoneRedundant = *spec.ZoneRedundant
	}

	// Validate the encryption request before anything changes.
	enc, encChange, err := s.checkEncryption(ctx, cur, exists, spec, n.SKU)
	if err != nil {
		return Namespace{}, false, err
	}

	// Identities (creates or deletes the system-assigned identity).
	idState, err := s.msi.Apply(ctx, m, caller, spec.TenantID, n.ID, spec.Identity, cur.Identity)
	if err != nil {
		return Namespace{}, false, err
	}
	n.Identity = idState
	rollback := func() {
		if spec.Identity != nil && !exists {
			_ = s.msi.Release(context.WithoutCancel(ctx), n.ID, idState)
		}
	}

	if !exists {
		root, err := NewAuthRule(RootRule, []string{"Listen", "Manage", "Send"}, now)
		if err != nil {
			rollback()
			return Namespace{}, false, err
		}
		n.AuthRules = []AuthRule{root}
		if err := s.kb.Create(ctx, n.ID, n.TenantID); err != nil {
			rollback()
			return Namespace{}, false, err
		}
		s.kb.Watch(n.ID, s.statusWatcher(n.Name))
	}
	if encChange {
		if err := s.applyKeys(ctx, n, enc); err != nil {
			if !exists {
				_ = s.kb.Delete(context.WithoutCancel(ctx), n.ID)
			}
			rollback()
			return Namespace{}, false, err
		}
		n.Encryption = enc
	} else if enc != nil {
		n.Encryption.RequireInfrastructureEncryption = enc.RequireInfrastructureEncryption
	}
	n.UpdatedAt = now
	if err := s.put(ctx, n); err != nil {
		rollback()
		return Namespace{}, false, err
	}
	if _, err := s.broker.OpenNamespace(ctx, n.Name, brokerOptions(n)); err != nil {
		return Namespace{}, false, err
	}
	return n, !exists, nil
}

func validSKU(sku SKU) (SKU, error) {
	name := strings.ToLower(sku.Name)
	if name != "" {
		name = strings.ToUpper(name[:1]) + name[1:] // tier names are ASCII
	}
	switch name {
	case "Basic", "Standard":
		sku.Capacity = 0
	case "Premium":
		switch sku.Capacity {
		case 0:
			sku.Capacity = 1
		case 1, 2, 4, 8, 16:
		default:
			return SKU{}, arm.BadRequest("InvalidSkuCapacity", "The Premium capacity (messaging units) must be 1, 2, 4, 8 or 16, not %d.", sku.Capacity)
		}
	default:
		return SKU{}, arm.BadRequest("InvalidSku", "The SKU '%s' is not valid: use Basic, Standard or Premium.", sku.Name)
	}
	if sku.Tier != "" && !strings.EqualFold(sku.Tier, name) {
		return SKU{}, arm.BadRequest("InvalidSku", "The SKU tier '%s' does not match the SKU name '%s'.", sku.Tier, sku.Name)
	}
	sku.Name, sku.Tier = name, name
	return sku, nil
}

// checkEncryption applies the seed's rules to an encryption request and
// returns the encryption to apply and whether the keys change.
func (s *Service) checkEncryption(ctx context.Context, cur Namespace, exists bool, spec Spec, sku SKU) (*Encryption, bool, error) {
	had := exists && cur.Encryption != nil
	req := spec.Encryption
	if !spec.EncryptionGiven {
		if spec.Patch || !had {
			return cur.Encryption, false, nil
		}
		return nil, false, arm.BadRequest("EncryptionCannotBeDisabled", "Customer-managed key encryption is enabled on namespace '%s' and can never be disabled: include properties.encryption (keySource Microsoft.KeyVault with at least one key) in the request.", cur.Name)
	}
	if req == nil || (req.KeySource == "" && len(req.KeyVaultProperties) == 0) {
		if had {
			return nil, false, arm.BadRequest("EncryptionCannotBeDisabled", "Customer-managed key encryption is enabled on namespace '%s' and can never be disabled.", cur.Name)
		}
		return nil, false, nil
	}
	if !strings.EqualFold(req.KeySource, "Microsoft.KeyVault") {
		if had {
			return nil, false, arm.BadRequest("EncryptionCannotBeDisabled", "Customer-managed key encryption is enabled on namespace '%s' and can never be disabled; keySource must stay Microsoft.KeyVault.", cur.Name)
		}
		return nil, false, arm.BadRequest("InvalidKeySource", "keySource must be 'Microsoft.KeyVault', not '%s'.", req.KeySource)
	}
	if sku.Tier != "Premium" {
		return nil, false, arm.BadRequest("CustomerManagedKeyNotSupported", "Customer-managed key encryption is available only for Premium namespaces; namespace '%s' is %s. Create a Premium namespace to use your own key.", spec.Name, sku.Tier)
	}
	if len(req.KeyVaultProperties) == 0 {
		return nil, false, arm.BadRequest("KeyVaultPropertiesRequired", "Customer-managed key encryption needs at least one key in keyVaultProperties (keyName and keyVaultUri).")
	}
	if len(req.KeyVaultProperties) > keybinding.MaxKeys {
		return nil, false, arm.BadRequest("TooManyKeys", "A namespace can list at most %d customer-managed keys; the request lists %d. Remove keys until %d remain.", keybinding.MaxKeys, len(req.KeyVaultProperties), keybinding.MaxKeys)
	}
	enc := &Encryption{KeySource: "Microsoft.KeyVault", RequireInfrastructureEncryption: req.RequireInfrastructureEncryption}
	for i, k := range req.KeyVaultProperties {
		if k.KeyName == "" || k.KeyVaultURI == "" {
			return nil, false, arm.BadRequest("InvalidKeyVaultProperties", "keyVaultProperties[%d] needs keyName and keyVaultUri.", i)
		}
		k.KeyVaultURI = strings.TrimRight(k.KeyVaultURI, "/") + "/"
		ref := keybinding.KeyRef{VaultURI: k.KeyVaultURI, KeyName: k.KeyName}
		for j, o := range enc.KeyVaultProperties {
			if ref.Same(keybinding.KeyRef{VaultURI: o.KeyVaultURI, KeyName: o.KeyName}) {
				return nil, false, arm.BadRequest("InvalidKeyVaultProperties", "keyVaultProperties[%d] repeats the key '%s' of '%s' (keyVaultProperties[%d]): list each key once.", i, k.KeyName, k.KeyVaultURI, j)
			}
		}
		enc.KeyVaultProperties = append(enc.KeyVaultProperties, k)
	}
	if had && sameKeys(cur.Encryption.KeyVaultProperties, enc.KeyVaultProperties) {
		return enc, false, nil
	}
	if exists && cur.DR != nil {
		return nil, false, arm.BadRequest("GeoDRPairingExists", "Namespace '%s' is paired for geo-disaster recovery (alias '%s'). Break the pairing first, set up customer-managed keys on the primary (and access for the secondary's identity), then pair again.", cur.Name, cur.DR.Alias)
	}
	if !had && exists {
		n, err := s.entityCount(ctx, cur.Name)
		if err != nil {
			return nil, false, err
		}
		if n > 0 {
			return nil, false, arm.BadRequest("NamespaceNotEmpty", "Customer-managed key encryption can be enabled only on a namespace with no queues or topics; namespace '%s' has %d. Enable it on a new or empty namespace.", cur.Name, n)
		}
	}
	for i, k := range enc.KeyVaultProperties {
		ref := keybinding.KeyRef{VaultURI: k.KeyVaultURI}
		soft, purge, err := s.vaults.Protection(ctx, ref.VaultName())
		if err != nil {
			return nil, false, arm.BadRequest("KeyVaultNotFound", "keyVaultProperties[%d]: the key vault '%s' was not found: %v", i, k.KeyVaultURI, err)
		}
		if !soft || !purge {
			return nil, false, arm.BadRequest("KeyVaultSoftDeleteAndPurgeProtectionRequired", "The key vault '%s' must have soft delete and purge protection ('Do Not Purge') enabled to hold customer-managed keys. Run: az keyvault update --name %s --enable-purge-protection true", ref.VaultName(), ref.VaultName())
		}
	}
	return enc, true, nil
}

func sameKeys(a, b []KeyVaultProperty) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(strings.TrimRight(a[i].KeyVaultURI, "/"), strings.TrimRight(b[i].KeyVaultURI, "/")) ||
			!strings.EqualFold(a[i].KeyName, b[i].KeyName) || a[i].KeyVersion != b[i].KeyVersion ||
			!strings.EqualFold(a[i].UserAssignedIdentity, b[i].UserAssignedIdentity) {
			return false
		}
	}
	return true
}

// keyRefs converts the namespace's key list.
func keyRefs(enc *Encryption) []keybinding.KeyRef {
	var out []keybinding.KeyRef
	for _, k := range enc.KeyVaultProperties {
		out = append(out, keybinding.KeyRef{VaultURI: k.KeyVaultURI, KeyName: k.KeyName, KeyVersion: k.KeyVersion, Identity: k.UserAssignedIdentity})
	}
	return out
}

// principalFor returns the principal of one of n's identities.
func principalFor(n Namespace) func(identity string) (keybinding.Principal, error) {
	return func(identity string) (keybinding.Principal, error) {
		if identity == "" {
			if !n.Identity.HasSystem() {
				return keybinding.Principal{}, arm.BadRequest("IdentityRequired", "Namespace '%s' has no system-assigned identity to read its keys with: set identity.type to SystemAssigned, or name a user-assigned identity in keyVaultProperties[].identity.userAssignedIdentity.", n.Name)
			}
			return keybinding.Principal{TenantID: n.TenantID, ObjectID: n.Identity.SystemPrincipalID, AppID: n.Identity.SystemClientID, ResourceID: n.ID}, nil
		}
		for id, u := range n.Identity.User {
			if strings.EqualFold(id, identity) {
				return keybinding.Principal{TenantID: n.TenantID, ObjectID: u.PrincipalID, AppID: u.ClientID, ResourceID: id}, nil
			}
		}
		return keybinding.Principal{}, arm.BadRequest("UserAssignedIdentityNotAssigned", "The user-assigned identity '%s' is not assigned to namespace '%s': add it to identity.userAssignedIdentities.", identity, n.Name)
	}
}

func (s *Service) applyKeys(ctx context.Context, n Namespace, enc *Encryption) error {
	err := s.kb.SetKeys(ctx, n.ID, keyRefs(enc), principalFor(n), keybinding.Options{})
	if err == nil {
		return nil
	}
	var ae *arm.Error
	if errors.As(err, &ae) {
		return ae
	}
	var ke *keybinding.KeyError
	if errors.As(err, &ke) {
		switch {
		case errors.Is(err, keybinding.ErrKeyDenied):
			return arm.BadRequest("KeyVaultAccessDenied", "The namespace's identity cannot use the key '%s' in '%s': grant it get, wrapKey and unwrapKey (an access policy, or the Key Vault Crypto Service Encryption User role), then retry. %v", ke.Key.KeyName, ke.Key.VaultURI, ke.Err)
		case errors.Is(err, keybinding.ErrKeyNotFound):
			return arm.BadRequest("KeyNotFound", "The key '%s' was not found in the key vault '%s'. %v", ke.Key.KeyName, ke.Key.VaultURI, ke.Err)
		case errors.Is(err, keybinding.ErrKeyDisabled):
			return arm.BadRequest("KeyDisabled", "The key '%s' in '%s' is not usable: %v", ke.Key.KeyName, ke.Key.VaultURI, ke.Err)
		}
		return arm.BadRequest("InvalidKey", "%s", ke.Error())
	}
	if errors.Is(err, keybinding.ErrRevoked) {
		return arm.Conflict("NamespaceRevoked", "Namespace '%s' is Revoked: none of its customer-managed keys is usable. Restore access to one of them before changing its keys.", n.Name)
	}
	return arm.BadRequest("InvalidEncryption", "%v", err)
}

func (s *Service) entityCount(ctx context.Context, name string) (int, error) {
	ns, err := s.broker.Namespace(name)
	if err != nil {
		return 0, nil
	}
	qs, err := ns.ListQueues(ctx)
	if err != nil {
		return 0, err
	}
	ts, err := ns.ListTopics(ctx)
	if err != nil {
		return 0, err
	}
	return len(qs) + len(ts), nil
}

func (s *Service) hasTopics(ctx context.Context, name string) (bool, error) {
	ns, err := s.broker.Namespace(name)
	if err != nil {
		return false, nil
	}
	ts, err := ns.ListTopics(ctx)
	return len(ts) > 0, err
}

// Delete deletes a namespace with its entities, messages, data key and
// system-assigned identity.
func (s *Service) Delete(ctx context.Context, name string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	n, ok := s.lookup(name)
	if !ok {
		return nil
	}
	if n.DR != nil {
		return arm.BadRequest("GeoDRPairingExists", "Namespace '%s' is paired for geo-disaster recovery (alias '%s'): break the pairing before deleting it.", n.Name, n.DR.Alias)
	}
	if err := s.broker.DeleteNamespace(ctx, n.Name); err != nil {
		var se *servicebus.Error
		if !errors.As(err, &se) || se.Code != servicebus.CodeEntityNotFound {
			return fmt.Errorf("namespaces: delete %s: %w", n.Name, err)
		}
	}
	if err := s.kb.Delete(ctx, n.ID); err != nil {
		return err
	}
	if err := s.msi.Release(ctx, n.ID, n.Identity); err != nil {
		return err
	}
	b := &store.Batch{Sync: true}
	s.tab.Delete(b, strings.ToLower(n.Name))
	if err := s.st.Apply(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.byKey, strings.ToLower(n.Name))
	s.mu.Unlock()
	return nil
}

func (s *Service) aliasTaken(name string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, n := range s.byKey {
		if n.DR != nil && strings.EqualFold(n.DR.Alias, name) {
			return true
		}
	}
	return false
}
