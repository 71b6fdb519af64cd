package logic

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/keybinding"
	"github.com/keyward/keyward/internal/managedidentity"
	"github.com/keyward/keyward/internal/store"
)

// Provisioning states of an ISE.
const (
	StateInProgress = "InProgress"
	StateSucceeded  = "Succeeded"
	StateFailed     = "Failed"
)

// Access endpoint types.
const (
	EndpointExternal = "External"
	EndpointInternal = "Internal"
)

// ISE SKU names.
const (
	SKUDeveloper = "Developer"
	SKUPremium   = "Premium"
)

// SKU is an ISE's SKU.
type SKU struct {
	Name     string `json:"name"`
	Capacity int    `json:"capacity"`
}

// KeyReference is an ISE's customer-managed key.
type KeyReference struct {
	VaultID   string `json:"vaultId"`
	VaultName string `json:"vaultName"`
	VaultURI  string `json:"vaultUri,omitempty"`
	KeyName   string `json:"keyName"`
	// KeyVersion is the version as given ("" when none was).
	KeyVersion string `json:"keyVersion,omitempty"`
	// PinnedVersion is the version the data key is wrapped under, for good.
	PinnedVersion string `json:"pinnedVersion,omitempty"`
}

// ISE is an integration service environment.
type ISE struct {
	ID                string                `json:"id"`
	Name              string                `json:"name"`
	SubscriptionID    string                `json:"subscriptionId"`
	ResourceGroup     string                `json:"resourceGroup"`
	TenantID          string                `json:"tenantId"`
	Location          string                `json:"location"`
	Tags              map[string]string     `json:"tags,omitempty"`
	SKU               SKU                   `json:"sku"`
	Identity          managedidentity.State `json:"identity"`
	AccessEndpoint    string                `json:"accessEndpoint"`
	Subnets           []string              `json:"subnets"`
	AddressSpace      string                `json:"addressSpace,omitempty"`
	Key               *KeyReference         `json:"key,omitempty"`
	EnvironmentID     string                `json:"environmentId"`
	ProvisioningState string                `json:"provisioningState"`
	Error             *arm.Error            `json:"error,omitempty"`
	AcceptedAt        time.Time             `json:"acceptedAt"`
	Deadline          time.Time             `json:"deadline,omitempty"`
	// PolicyAddedBy is set when the ISE added its own access policy to the
	// vault (Contributor on the vault).
	PolicyAdded bool      `json:"policyAdded,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

// Status returns the ISE's encryption status: "Active", or "Revoked" while
// its customer-managed key is unusable.
func (s *Service) Status(x ISE) string {
	if x.ProvisioningState != StateSucceeded {
		return ""
	}
	info, err := s.kb.Info(x.ID)
	if err == nil && info.Status == keybinding.StatusRevoked {
		return "Revoked"
	}
	return "Active"
}

// NetworkSpec is an ISE's requested network configuration.
type NetworkSpec struct {
	AccessEndpoint string
	Subnets        []string
	AddressSpace   string
}

// KeySpec is a requested customer key.
type KeySpec struct {
	VaultID    string
	VaultName  string
	KeyName    string
	KeyVersion string
}

// ISESpec is a create-or-update request. Nil fields keep the current value
// on PATCH.
type ISESpec struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
	TenantID       string
	Location       string
	Tags           map[string]string
	SKU            *SKU
	Identity       *managedidentity.JSON
	Network        *NetworkSpec
	// Key is the requested key; KeyGiven tells an absent
	// encryptionConfiguration apart from an explicit empty one.
	Key      *KeySpec
	KeyGiven bool
	Patch    bool
}

var iseName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.()-]{0,79}$`)

var subnetRE = regexp.MustCompile(`(?i)^/subscriptions/([^/]+)/resourceGroups/([^/]+)/providers/Microsoft\.Network/virtualNetworks/([^/]+)/subnets/([^/]+)$`)

// normalizeID adds the leading slash the seed document's key vault ids lack.
func normalizeID(id string) string {
	id = strings.TrimSpace(id)
	if id != "" && !strings.HasPrefix(id, "/") {
		id = "/" + id
	}
	return strings.TrimRight(id, "/")
}

// GetISE returns an ISE by resource id.
func (s *Service) GetISE(id string) (ISE, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	x, ok := s.iseByID[strings.ToLower(id)]
	if !ok {
		return ISE{}, false
	}
	return *x, true
}

// ListISEs returns the ISEs of a subscription (and resource group, if not empty).
func (s *Service) ListISEs(subscriptionID, resourceGroup string) []ISE {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []ISE
	for _, x := range s.iseByID {
		if strings.EqualFold(x.SubscriptionID, subscriptionID) && (resourceGroup == "" || strings.EqualFold(x.ResourceGroup, resourceGroup)) {
			out = append(out, *x)
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].ID) < strings.ToLower(out[j].ID) })
	return out
}

func (s *Service) putISE(ctx context.Context, x ISE) error {
	b := &store.Batch{}
	if err := s.ises.Put(b, strings.ToLower(x.ID), x); err != nil {
		return err
	}
	if err := s.apply(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	cp := x
	s.iseByID[strings.ToLower(x.ID)] = &cp
	s.mu.Unlock()
	return nil
}

func iseID(sub, rg, name string) string {
	return arm.ResourceGroupScope(sub, rg) + "/providers/Microsoft.Logic/integrationServiceEnvironments/" + name
}

// CreateOrUpdateISE applies spec. It reports whether the ISE was created;
// an ISE created with a customer key is InProgress until its identity can
// use the key (WaitProvisioned).
func (s *Service) CreateOrUpdateISE(ctx context.Context, caller arm.Caller, spec ISESpec) (ISE, bool, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	id := iseID(spec.SubscriptionID, spec.ResourceGroup, spec.Name)
	cur, exists := s.GetISE(id)
	if !exists {
		if spec.Patch {
			return ISE{}, false, arm.NotFound(mustTarget(id))
		}
		return s.createISE(ctx, caller, spec, id)
	}
	return s.updateISE(ctx, caller, spec, cur)
}

func mustTarget(id string) arm.Target {
	t, _ := arm.ParseTarget(id)
	return t
}

func (s *Service) createISE(ctx context.Context, caller arm.Caller, spec ISESpec, id string) (ISE, bool, error) {
	if !iseName.MatchString(spec.Name) {
		return ISE{}, false, arm.BadRequest("InvalidIntegrationServiceEnvironmentName", "The integration service environment name '%s' is not valid: use 1 to 80 letters, digits, '-', '_', '.', '(' and ')', starting with a letter or digit.", spec.Name)
	}
	loc, err := s.m.ValidateLocation(spec.Location, "Microsoft.Logic/integrationServiceEnvironments")
	if err != nil {
		return ISE{}, false, err
	}
	sku := SKU{Name: SKUDeveloper}
	if spec.SKU != nil {
		if sku, err = validSKU(*spec.SKU); err != nil {
			return ISE{}, false, err
		}
	}
	if spec.Network == nil {
		return ISE{}, false, arm.BadRequest("NetworkConfigurationRequired", "properties.networkConfiguration is required: an accessEndpoint (External or Internal) and the four subnets of the environment's virtual network.")
	}
	endpoint, subnets, err := validNetwork(*spec.Network)
	if err != nil {
		return ISE{}, false, err
	}
	wantSystem := false
	if spec.Identity != nil {
		sys, _, err := managedidentity.ParseType(spec.Identity.Type)
		if err != nil {
			return ISE{}, false, err
		}
		wantSystem = sys
	}
	var key *KeyReference
	if spec.Key != nil {
		if endpoint != EndpointExternal {
			return ISE{}, false, arm.BadRequest("CustomerManagedKeyRequiresExternalEndpoint", "A customer-managed key requires an integration service environment with an External access endpoint; '%s' asks for %s. Set properties.networkConfiguration.accessEndpoint.type to External.", spec.Name, endpoint)
		}
		if !wantSystem {
			return ISE{}, false, arm.BadRequest("CustomerManagedKeyRequiresSystemAssignedIdentity", "A customer-managed key requires the environment's system-assigned managed identity, which reads the key: set identity.type to SystemAssigned.")
		}
		if key, err = s.validKey(ctx, *spec.Key); err != nil {
			return ISE{}, false, err
		}
	}
	now := s.clock.Now().UTC()
	x := ISE{
		ID: id, Name: spec.Name, SubscriptionID: spec.SubscriptionID, ResourceGroup: spec.ResourceGroup, TenantID: spec.TenantID,
		Location: loc, Tags: spec.Tags, SKU: sku, AccessEndpoint: endpoint, Subnets: subnets, AddressSpace: spec.Network.AddressSpace,
		Key: key, EnvironmentID: newHexID(16), AcceptedAt: now, CreatedAt: now, UpdatedAt: now,
	}
	idState, err := s.msi.Apply(ctx, s.m, caller, spec.TenantID, id, spec.Identity, managedidentity.State{})
	if err != nil {
		return ISE{}, false, err
	}
	x.Identity = idState
	rollback := func() {
		_ = s.kb.Delete(context.WithoutCancel(ctx), id)
		_ = s.msi.Release(context.WithoutCancel(ctx), id, idState)
	}
	if err := s.kb.Create(ctx, id, spec.TenantID); err != nil {
		rollback()
		return ISE{}, false, err
	}
	if key == nil {
		x.ProvisioningState = StateSucceeded
	} else {
		x.ProvisioningState = StateInProgress
		x.Deadline = now.Add(s.cfg.KeyAccessTimeout)
	}
	if err := s.putISE(ctx, x); err != nil {
		rollback()
		return ISE{}, false, err
	}
	if key != nil {
		s.startProvisioning(x)
		s.log.Info("integration service environment accepted: waiting for its identity to get access to its key", "ise", x.ID,
			"principal", x.Identity.SystemPrincipalID, "vault", key.VaultName, "key", key.KeyName, "deadline", x.Deadline)
	}
	return x, true, nil
}

func (s *Service) updateISE(ctx context.Context, caller arm.Caller, spec ISESpec, cur ISE) (ISE, bool, error) {
	x := cur
	if cur.ProvisioningState == StateInProgress {
		return ISE{}, false, arm.Conflict("AnotherOperationInProgress", "The integration service environment '%s' is still being provisioned: it waits until %s for its identity to get access to its key.", cur.Name, arm.FormatTime(cur.Deadline))
	}
	if spec.Location != "" {
		if loc, _ := s.m.NormalizeLocation(spec.Location); loc != cur.Location {
			return ISE{}, false, arm.BadRequest("LocationCannotBeChanged", "The location of integration service environment '%s' is '%s' and cannot be changed.", cur.Name, cur.Location)
		}
	}
	if spec.Network != nil {
		endpoint, subnets, err := validNetwork(*spec.Network)
		if err != nil {
			return ISE{}, false, err
		}
		if endpoint != cur.AccessEndpoint {
			return ISE{}, false, arm.BadRequest("AccessEndpointCannotBeChanged", "The access endpoint of integration service environment '%s' is %s and cannot be changed after creation.", cur.Name, cur.AccessEndpoint)
		}
		if !sameFold(subnets, cur.Subnets) {
			return ISE{}, false, arm.BadRequest("SubnetsCannotBeChanged", "The subnets of integration service environment '%s' cannot be changed after creation.", cur.Name)
		}
	}
	// The key: only at creation, never changed, removed or disabled.
	switch {
	case spec.KeyGiven && spec.Key == nil && cur.Key != nil:
		return ISE{}, false, arm.BadRequest("EncryptionKeyCannotBeRemoved", "Integration service environment '%s' encrypts its data with the customer-managed key '%s' of vault '%s'; that key can be set only when the environment is created and can never be removed or disabled.", cur.Name, cur.Key.KeyName, cur.Key.VaultName)
	case !spec.KeyGiven && !spec.Patch && cur.Key != nil:
		return ISE{}, false, arm.BadRequest("EncryptionKeyCannotBeRemoved", "Integration service environment '%s' encrypts its data with a customer-managed key, which can never be removed or disabled: include properties.encryptionConfiguration unchanged in the request.", cur.Name)
	case spec.Key != nil && cur.Key == nil:
		return ISE{}, false, arm.BadRequest("EncryptionKeyCanOnlyBeSetAtCreation", "A customer-managed key can be specified only when an integration service environment is created; '%s' exists without one. Create a new environment with the key instead.", cur.Name)
	case spec.Key != nil && !sameKey(*spec.Key, *cur.Key):
		return ISE{}, false, arm.BadRequest("EncryptionKeyCannotBeChanged", "The customer-managed key of integration service environment '%s' (key '%s', version '%s', vault '%s') was fixed at creation and cannot be changed or rotated.", cur.Name, cur.Key.KeyName, cur.Key.PinnedVersion, cur.Key.VaultName)
	}
	if cur.ProvisioningState == StateFailed {
		return ISE{}, false, arm.Conflict("IntegrationServiceEnvironmentFailed", "The integration service environment '%s' failed to provision (%s). Delete it and create it again.", cur.Name, errCode(cur.Error))
	}
	if spec.Identity != nil {
		sys, _, err := managedidentity.ParseType(spec.Identity.Type)
		if err != nil {
			return ISE{}, false, err
		}
		if !sys && cur.Key != nil {
			return ISE{}, false, arm.BadRequest("CustomerManagedKeyRequiresSystemAssignedIdentity", "Integration service environment '%s' reads its customer-managed key with its system-assigned identity, which cannot be removed.", cur.Name)
		}
		idState, err := s.msi.Apply(ctx, s.m, caller, cur.TenantID, cur.ID, spec.Identity, cur.Identity)
		if err != nil {
			return ISE{}, false, err
		}
		x.Identity = idState
	}
	if spec.SKU != nil {
		sku, err := validSKU(*spec.SKU)
		if err != nil {
			return ISE{}, false, err
		}
		if sku.Name != cur.SKU.Name {
			return ISE{}, false, arm.BadRequest("SkuCannotBeChanged", "The SKU of integration service environment '%s' is %s; it cannot move to %s.", cur.Name, cur.SKU.Name, sku.Name)
		}
		x.SKU = sku
	}
	if spec.Tags != nil || !spec.Patch {
		x.Tags = spec.Tags
	}
	x.UpdatedAt = s.clock.Now().UTC()
	if err := s.putISE(ctx, x); err != nil {
		return ISE{}, false, err
	}
	return x, false, nil
}

func errCode(e *arm.Error) string {
	if e == nil {
		return "unknown error"
	}
	return e.Code
}

func sameFold(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !strings.EqualFold(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameKey(k KeySpec, cur KeyReference) bool {
	if k.VaultID != "" && !strings.EqualFold(normalizeID(k.VaultID), cur.VaultID) {
		return false
	}
	if k.VaultID == "" && k.VaultName != "" && !strings.EqualFold(k.VaultName, cur.VaultName) {
		return false
	}
	if !strings.EqualFold(k.KeyName, cur.KeyName) {
		return false
	}
	return k.KeyVersion == "" || k.KeyVersion == cur.KeyVersion || k.KeyVersion == cur.PinnedVersion
}

func validSKU(sku SKU) (SKU, error) {
	switch strings.ToLower(sku.Name) {
	case "developer":
		if sku.Capacity != 0 && sku.Capacity != 1 {
			return SKU{}, arm.BadRequest("InvalidSkuCapacity", "The Developer SKU has no scale units: its capacity must be 0, not %d.", sku.Capacity)
		}
		return SKU{Name: SKUDeveloper, Capacity: 0}, nil
	case "premium":
		if sku.Capacity < 0 || sku.Capacity > 10 {
			return SKU{}, arm.BadRequest("InvalidSkuCapacity", "The Premium SKU's capacity (additional scale units) must be 0 to 10, not %d.", sku.Capacity)
		}
		return SKU{Name: SKUPremium, Capacity: sku.Capacity}, nil
	}
	return SKU{}, arm.BadRequest("InvalidSku", "The SKU '%s' is not valid for an integration service environment: use Developer or Premium.", sku.Name)
}

func validNetwork(n NetworkSpec) (string, []string, error) {
	var endpoint string
	switch strings.ToLower(n.AccessEndpoint) {
	case "external":
		endpoint = EndpointExternal
	case "internal":
		endpoint = EndpointInternal
	case "":
		return "", nil, arm.BadRequest("AccessEndpointRequired", "properties.networkConfiguration.accessEndpoint.type is required: External or Internal.")
	default:
		return "", nil, arm.BadRequest("InvalidAccessEndpointType", "The access endpoint type '%s' is not valid: use External or Internal.", n.AccessEndpoint)
	}
	if len(n.Subnets) != 4 {
		return "", nil, arm.BadRequest("InvalidSubnets", "An integration service environment needs exactly four subnets of one virtual network in properties.networkConfiguration.subnets; the request lists %d.", len(n.Subnets))
	}
	var out []string
	vnet := ""
	seen := map[string]bool{}
	for i, id := range n.Subnets {
		m := subnetRE.FindStringSubmatch(strings.TrimSpace(id))
		if m == nil {
			return "", nil, arm.BadRequest("InvalidSubnetId", "properties.networkConfiguration.subnets[%d].id '%s' is not a subnet resource id (/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}).", i, id)
		}
		v := strings.ToLower(strings.Join(m[1:4], "/"))
		if vnet == "" {
			vnet = v
		} else if v != vnet {
			return "", nil, arm.BadRequest("InvalidSubnets", "The four subnets of an integration service environment must belong to one virtual network; subnets[%d] is in another.", i)
		}
		if seen[strings.ToLower(id)] {
			return "", nil, arm.BadRequest("InvalidSubnets", "properties.networkConfiguration.subnets[%d] repeats a subnet: the four subnets must be different.", i)
		}
		seen[strings.ToLower(id)] = true
		out = append(out, strings.TrimSpace(id))
	}
	return endpoint, out, nil
}

// validKey resolves the key's vault and applies the vault rules.
func (s *Service) validKey(ctx context.Context, k KeySpec) (*KeyReference, error) {
	if strings.TrimSpace(k.KeyName) == "" {
		return nil, arm.BadRequest("InvalidEncryptionKeyReference", "properties.encryptionConfiguration.encryptionKeyReference.keyName is required.")
	}
	vid := normalizeID(k.VaultID)
	name := k.VaultName
	if vid != "" {
		t, err := arm.ParseTarget(vid)
		if err != nil || t.Kind != arm.KindProviderResource || !strings.EqualFold(t.Namespace, "Microsoft.KeyVault") || !strings.EqualFold(t.TypePath(), "vaults") || t.IsCollection() {
			return nil, arm.BadRequest("InvalidKeyVaultReference", "encryptionKeyReference.keyVault.id '%s' is not a key vault resource id (/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.KeyVault/vaults/{name}).", k.VaultID)
		}
		if name != "" && !strings.EqualFold(name, t.Name()) {
			return nil, arm.BadRequest("InvalidKeyVaultReference", "encryptionKeyReference.keyVault.name '%s' does not match its id '%s'.", name, k.VaultID)
		}
		name = t.Name()
	}
	if name == "" {
		return nil, arm.BadRequest("InvalidKeyVaultReference", "encryptionKeyReference.keyVault needs the vault's id.")
	}
	v, err := s.vaults.Vault(ctx, name)
	if err != nil || (vid != "" && !strings.EqualFold(v.ID, vid)) {
		return nil, arm.BadRequest("KeyVaultNotFound", "The key vault '%s' of the customer-managed key was not found.", firstNonEmpty(vid, name))
	}
	if !v.SoftDelete || !v.PurgeProtection {
		return nil, arm.BadRequest("KeyVaultSoftDeleteAndPurgeProtectionRequired", "The key vault '%s' must have soft delete and purge protection ('Do Not Purge') enabled to hold the customer-managed key of an integration service environment. Run: az keyvault update --name %s --enable-purge-protection true", v.Name, v.Name)
	}
	return &KeyReference{VaultID: v.ID, VaultName: v.Name, VaultURI: v.URI, KeyName: k.KeyName, KeyVersion: k.KeyVersion}, nil
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

func newHexID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DeleteISE deletes an ISE with every workflow it hosts, its data key (its
// sealed data can never be opened again) and its identity. It returns the
// ids of the deleted workflows.
func (s *Service) DeleteISE(ctx context.Context, id string) ([]string, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	x, ok := s.GetISE(id)
	if !ok {
		return nil, nil
	}
	s.stopProvisioning(x.ID, errors.New("the integration service environment was deleted"))
	var deleted []string
	for _, h := range s.workflowsIn(x.ID) {
		if err := s.deleteWorkflowLocked(ctx, h); err != nil {
			return deleted, err
		}
		deleted = append(deleted, h.ID)
	}
	if err := s.kb.Delete(ctx, x.ID); err != nil {
		return deleted, err
	}
	if err := s.msi.Release(ctx, x.ID, x.Identity); err != nil {
		return deleted, err
	}
	b := &store.Batch{}
	s.ises.Delete(b, strings.ToLower(x.ID))
	if err := s.apply(ctx, b); err != nil {
		return deleted, err
	}
	s.mu.Lock()
	delete(s.iseByID, strings.ToLower(x.ID))
	s.mu.Unlock()
	return deleted, nil
}
