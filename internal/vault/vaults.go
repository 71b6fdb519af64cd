package vault

import (
	"context"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/store"
)

// Management operations (audit names follow Azure's diagnostic logs).
const (
	opVaultPut           = "VaultPut"
	opVaultGet           = "VaultGet"
	opVaultList          = "VaultList"
	opVaultDelete        = "VaultDelete"
	opVaultRecover       = "VaultRecover"
	opVaultPurge         = "VaultPurge"
	opVaultGetDeleted    = "VaultGetDeleted"
	opVaultListDeleted   = "VaultListDeleted"
	opVaultAccessPolicy  = "VaultAccessPolicyUpdate"
	defaultRetentionDays = 90
)

func (s *Service) mgmtFinish(ctx context.Context, c Caller, opName, vault string, opErr error, start time.Time) error {
	vaultID := ""
	s.mu.RLock()
	if vs := s.vaults[strings.ToLower(vault)]; vs != nil {
		vaultID = vs.auth.id
	}
	s.mu.RUnlock()
	if err := s.record(ctx, c, opName, vault, vaultID, "", "", opErr, start, false); err != nil && opErr == nil {
		return err
	}
	return opErr
}

func (s *Service) toVault(rec vaultRecord) Vault {
	pols := make([]AccessPolicy, len(rec.AccessPolicies))
	for i, p := range rec.AccessPolicies {
		pols[i] = AccessPolicy{TenantID: p.TenantID, ObjectID: p.ObjectID, ApplicationID: p.ApplicationID, Permissions: Permissions{
			Keys: slices.Clone(p.Permissions.Keys), Secrets: slices.Clone(p.Permissions.Secrets),
			Certificates: slices.Clone(p.Permissions.Certificates), Storage: slices.Clone(p.Permissions.Storage),
		}}
	}
	return Vault{
		ID: VaultResourceID(rec.SubscriptionID, rec.ResourceGroup, rec.Name), Name: rec.Name,
		SubscriptionID: rec.SubscriptionID, ResourceGroup: rec.ResourceGroup, Location: rec.Location,
		TenantID: rec.TenantID, SKU: rec.SKU, EnableSoftDelete: rec.EnableSoftDelete,
		SoftDeleteRetentionInDays: rec.RetentionDays, EnablePurgeProtection: rec.PurgeProtection,
		EnableRbacAuthorization: rec.RBAC, EnabledForDeployment: rec.EnabledForDeployment,
		EnabledForDiskEncryption: rec.EnabledForDiskEncryption, EnabledForTemplateDeployment: rec.EnabledForTemplateDeployment,
		PublicNetworkAccess: rec.PublicNetworkAccess, AccessPolicies: pols, VaultURI: s.VaultURI(rec.Name),
		Tags: cloneTags(rec.Tags), CreatedAt: rec.CreatedAt, CreatedBy: rec.CreatedBy, UpdatedAt: rec.UpdatedAt, UpdatedBy: rec.UpdatedBy,
	}
}

func toDeletedVault(rec vaultRecord) DeletedVault {
	return DeletedVault{
		ID:   DeletedVaultResourceID(rec.SubscriptionID, rec.Location, rec.Name),
		Name: rec.Name, VaultID: VaultResourceID(rec.SubscriptionID, rec.ResourceGroup, rec.Name),
		Location: rec.Location, Tags: cloneTags(rec.Tags), DeletionDate: rec.Deleted.Date,
		ScheduledPurgeDate: rec.Deleted.ScheduledPurge, PurgeProtectionEnabled: rec.PurgeProtection,
	}
}

// matches reports whether a vault record is the one ref names.
func (ref VaultRef) matches(rec vaultRecord) bool {
	return strings.EqualFold(rec.Name, ref.Name) &&
		(ref.SubscriptionID == "" || strings.EqualFold(rec.SubscriptionID, ref.SubscriptionID)) &&
		(ref.ResourceGroup == "" || strings.EqualFold(rec.ResourceGroup, ref.ResourceGroup))
}

// CreateOrUpdateVault creates a vault or updates an existing one (the same
// subscription, resource group and name). It reports whether the vault was
// created. A name taken by another vault, live or soft-deleted, is a
// Conflict.
func (s *Service) CreateOrUpdateVault(ctx context.Context, c Caller, spec VaultSpec) (Vault, bool, error) {
	start := time.Now()
	v, created, err := s.createOrUpdateVault(ctx, c, spec)
	return v, created, s.mgmtFinish(ctx, c, opVaultPut, spec.Name, err, start)
}

func (s *Service) createOrUpdateVault(ctx context.Context, c Caller, spec VaultSpec) (Vault, bool, error) {
	if !ValidVaultName(spec.Name) {
		return Vault{}, false, errVaultName(spec.Name)
	}
	if spec.SubscriptionID == "" || spec.ResourceGroup == "" {
		return Vault{}, false, errBadParameter("A vault needs a subscription and a resource group.")
	}
	var pols []AccessPolicy
	if spec.AccessPolicies != nil {
		var err error
		if pols, err = normalizeAccessPolicies(spec.AccessPolicies); err != nil {
			return Vault{}, false, err
		}
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	now := s.clk.Now()
	lname := strings.ToLower(spec.Name)
	vs := s.vaults[lname]
	var rec vaultRecord
	created := vs == nil
	if created {
		var err error
		if rec, err = newVaultRecord(spec, c, now); err != nil {
			return Vault{}, false, err
		}
		if pols == nil {
			pols = []AccessPolicy{}
		}
		rec.AccessPolicies = pols
	} else {
		if vs.rec.Deleted != nil {
			return Vault{}, false, newError(StatusConflict, "ConflictError", "",
				"A vault with the same name already exists in deleted state. You need to either recover or purge existing key vault. Follow this link https://go.microsoft.com/fwlink/?linkid=2149745 for more information on soft delete.")
		}
		if !(VaultRef{SubscriptionID: spec.SubscriptionID, ResourceGroup: spec.ResourceGroup, Name: spec.Name}).matches(vs.rec) {
			return Vault{}, false, newError(StatusConflict, "VaultAlreadyExists", "",
				"The vault name '%s' is already in use. Vault names are globally unique so it is possible that the name is already taken. If you are sure that the vault name was not taken then it is possible that a vault with the same name was recently deleted but not purged after being placed in a recoverable state. If the vault is in a recoverable state then the vault will need to be purged before reusing the name. For more information on soft delete and purging a vault follow this link https://go.microsoft.com/fwlink/?linkid=2147740.", spec.Name)
		}
		var err error
		if rec, err = updateVaultRecord(vs.rec, spec, c, now); err != nil {
			return Vault{}, false, err
		}
		if pols != nil {
			rec.AccessPolicies = pols
		}
	}
	b := &store.Batch{}
	if err := s.vaultsT.Put(b, lname, rec); err != nil {
		return Vault{}, false, err
	}
	if err := s.apply(ctx, b); err != nil {
		return Vault{}, false, err
	}
	policyChanged := !created && (!reflect.DeepEqual(vs.rec.AccessPolicies, rec.AccessPolicies) || vs.rec.RBAC != rec.RBAC || !strings.EqualFold(vs.rec.TenantID, rec.TenantID))
	s.mu.Lock()
	if created {
		vs = &vaultState{keys: map[string]*keyState{}}
		s.vaults[lname] = vs
	}
	vs.rec = rec
	vs.auth = newVaultAuth(rec)
	s.mu.Unlock()
	if policyChanged {
		s.events.publish(Event{Type: EventVaultAccessPolicy, Time: now, VaultName: lname, VaultID: vs.auth.id})
	}
	return s.toVault(rec), created, nil
}

func validateSKU(sku *SKU) (SKU, error) {
	if sku == nil {
		return SKU{}, errBadParameter("The property \"sku\" is required: family \"A\", name \"standard\" or \"premium\".")
	}
	if !strings.EqualFold(sku.Family, "A") {
		return SKU{}, errBadParameter("Invalid sku family '%s'; the only family is \"A\".", clip(sku.Family))
	}
	name := strings.ToLower(sku.Name)
	if name != "standard" && name != "premium" {
		return SKU{}, errBadParameter("Invalid sku name '%s'; use \"standard\" or \"premium\".", clip(sku.Name))
	}
	return SKU{Family: "A", Name: name}, nil
}

func validTenant(t string) (string, error) {
	if _, err := uuid.Parse(t); err != nil {
		return "", errBadParameter("The property \"tenantId\" must be a GUID, got '%s'.", clip(t))
	}
	return strings.ToLower(t), nil
}

func newVaultRecord(spec VaultSpec, c Caller, now time.Time) (vaultRecord, error) {
	rec := vaultRecord{
		Name: spec.Name, SubscriptionID: spec.SubscriptionID, ResourceGroup: spec.ResourceGroup,
		Location:         strings.ToLower(strings.ReplaceAll(spec.Location, " ", "")),
		EnableSoftDelete: true, RetentionDays: defaultRetentionDays,
		CreatedAt: now, UpdatedAt: now, CreatedBy: c.ObjectID, UpdatedBy: c.ObjectID,
		Tags: cloneTags(spec.Tags), PublicNetworkAccess: "Enabled",
	}
	if rec.Location == "" {
		return rec, errBadParameter("The property \"location\" is required.")
	}
	if spec.TenantID == nil {
		return rec, errBadParameter("The property \"tenantId\" is required.")
	}
	var err error
	if rec.TenantID, err = validTenant(*spec.TenantID); err != nil {
		return rec, err
	}
	if rec.SKU, err = validateSKU(spec.SKU); err != nil {
		return rec, err
	}
	if spec.EnableSoftDelete != nil && !*spec.EnableSoftDelete {
		return rec, errBadParameter("The property \"enableSoftDelete\" cannot be set to false: soft delete is always on for new vaults.")
	}
	if spec.SoftDeleteRetentionInDays != nil {
		d := *spec.SoftDeleteRetentionInDays
		if d < 7 || d > 90 {
			return rec, errBadParameter("The property \"softDeleteRetentionInDays\" must be between 7 and 90, got %d.", d)
		}
		rec.RetentionDays = d
	}
	if spec.EnablePurgeProtection != nil {
		if !*spec.EnablePurgeProtection {
			return rec, errPurgeProtectionOff()
		}
		rec.PurgeProtection = true
	}
	setFlags(&rec, spec)
	return rec, nil
}

func errPurgeProtectionOff() *Error {
	return newError(StatusBadRequest, "BadRequest", "",
		"The property \"enablePurgeProtection\" cannot be set to false. Enabling the purge protection for a vault is an irreversible action.")
}

func setFlags(rec *vaultRecord, spec VaultSpec) {
	if spec.EnableRbacAuthorization != nil {
		rec.RBAC = *spec.EnableRbacAuthorization
	}
	if spec.EnabledForDeployment != nil {
		rec.EnabledForDeployment = *spec.EnabledForDeployment
	}
	if spec.EnabledForDiskEncryption != nil {
		rec.EnabledForDiskEncryption = *spec.EnabledForDiskEncryption
	}
	if spec.EnabledForTemplateDeployment != nil {
		rec.EnabledForTemplateDeployment = *spec.EnabledForTemplateDeployment
	}
	if spec.PublicNetworkAccess != nil && *spec.PublicNetworkAccess != "" {
		rec.PublicNetworkAccess = *spec.PublicNetworkAccess
	}
}

func updateVaultRecord(old vaultRecord, spec VaultSpec, c Caller, now time.Time) (vaultRecord, error) {
	rec := old
	rec.AccessPolicies = slices.Clone(old.AccessPolicies)
	rec.UpdatedAt, rec.UpdatedBy = now, c.ObjectID
	if loc := strings.ToLower(strings.ReplaceAll(spec.Location, " ", "")); loc != "" && loc != old.Location {
		return rec, newError(StatusBadRequest, "LocationNotAvailableForResourceType", "",
			"The location of vault '%s' is '%s' and cannot be changed to '%s'.", old.Name, old.Location, clip(spec.Location))
	}
	if spec.TenantID != nil {
		t, err := validTenant(*spec.TenantID)
		if err != nil {
			return rec, err
		}
		rec.TenantID = t
	}
	if spec.SKU != nil {
		sku, err := validateSKU(spec.SKU)
		if err != nil {
			return rec, err
		}
		rec.SKU = sku
	}
	if spec.EnableSoftDelete != nil && !*spec.EnableSoftDelete {
		return rec, errBadParameter("The property \"enableSoftDelete\" cannot be set to false. Enabling soft delete for a vault is an irreversible action.")
	}
	if spec.SoftDeleteRetentionInDays != nil && *spec.SoftDeleteRetentionInDays != old.RetentionDays {
		return rec, errBadParameter("The property \"softDeleteRetentionInDays\" has been set already and it can't be modified.")
	}
	if spec.EnablePurgeProtection != nil {
		if !*spec.EnablePurgeProtection && old.PurgeProtection {
			return rec, errPurgeProtectionOff()
		}
		if *spec.EnablePurgeProtection {
			rec.PurgeProtection = true
		}
	}
	if spec.Tags != nil {
		rec.Tags = cloneTags(spec.Tags)
	}
	setFlags(&rec, spec)
	return rec, nil
}

// lookupVault finds a live vault by ref (under s.mu or s.wmu).
func (s *Service) lookupVault(ref VaultRef) (*vaultState, error) {
	vs := s.vaults[strings.ToLower(ref.Name)]
	if vs == nil || vs.rec.Deleted != nil || !ref.matches(vs.rec) {
		return nil, errResourceNotFound(ref.ResourceGroup, ref.Name)
	}
	return vs, nil
}

// GetVault returns a live vault.
func (s *Service) GetVault(ctx context.Context, c Caller, ref VaultRef) (Vault, error) {
	start := time.Now()
	s.mu.RLock()
	vs, err := s.lookupVault(ref)
	var v Vault
	if err == nil {
		v = s.toVault(vs.rec)
	}
	s.mu.RUnlock()
	return v, s.mgmtFinish(ctx, c, opVaultGet, ref.Name, err, start)
}

// ListVaults returns the live vaults of a subscription (and resource group,
// if not empty), by name; an empty subscription lists every vault.
func (s *Service) ListVaults(ctx context.Context, c Caller, subscriptionID, resourceGroup string) ([]Vault, error) {
	start := time.Now()
	s.mu.RLock()
	out := []Vault{}
	for _, vs := range s.vaults {
		if vs.rec.Deleted != nil {
			continue
		}
		if subscriptionID != "" && !strings.EqualFold(vs.rec.SubscriptionID, subscriptionID) {
			continue
		}
		if resourceGroup != "" && !strings.EqualFold(vs.rec.ResourceGroup, resourceGroup) {
			continue
		}
		out = append(out, s.toVault(vs.rec))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, s.mgmtFinish(ctx, c, opVaultList, "", nil, start)
}

// DeleteVault soft-deletes a vault: its keys become unreachable, its name
// stays taken, and it is purged after its retention period unless
// recovered.
func (s *Service) DeleteVault(ctx context.Context, c Caller, ref VaultRef) error {
	start := time.Now()
	err := s.deleteVault(ctx, ref)
	return s.mgmtFinish(ctx, c, opVaultDelete, ref.Name, err, start)
}

func (s *Service) deleteVault(ctx context.Context, ref VaultRef) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs, err := s.lookupVault(ref)
	if err != nil {
		return err
	}
	now := s.clk.Now()
	rec := vs.rec
	rec.Deleted = &deletion{Date: now, ScheduledPurge: now.AddDate(0, 0, rec.RetentionDays)}
	b := &store.Batch{}
	if err := s.vaultsT.Put(b, strings.ToLower(rec.Name), rec); err != nil {
		return err
	}
	if err := s.apply(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	vs.rec = rec
	vs.auth = newVaultAuth(rec)
	s.mu.Unlock()
	s.events.publish(Event{Type: EventVaultDeleted, Time: now, VaultName: vs.auth.name, VaultID: vs.auth.id})
	s.poke()
	return nil
}

// deletedVault finds a soft-deleted vault (under s.mu or s.wmu).
func (s *Service) deletedVault(subscriptionID, location, name string) (*vaultState, error) {
	vs := s.vaults[strings.ToLower(name)]
	if vs == nil || vs.rec.Deleted == nil ||
		(subscriptionID != "" && !strings.EqualFold(vs.rec.SubscriptionID, subscriptionID)) ||
		(location != "" && !strings.EqualFold(vs.rec.Location, strings.ReplaceAll(location, " ", ""))) {
		return nil, newError(StatusNotFound, "ResourceNotFound", "",
			"The Resource 'Microsoft.KeyVault/deletedVaults/%s' was not found.", name)
	}
	return vs, nil
}

// GetDeletedVault returns a soft-deleted vault. Empty subscription or
// location match any.
func (s *Service) GetDeletedVault(ctx context.Context, c Caller, subscriptionID, location, name string) (DeletedVault, error) {
	start := time.Now()
	s.mu.RLock()
	vs, err := s.deletedVault(subscriptionID, location, name)
	var dv DeletedVault
	if err == nil {
		dv = toDeletedVault(vs.rec)
	}
	s.mu.RUnlock()
	return dv, s.mgmtFinish(ctx, c, opVaultGetDeleted, name, err, start)
}

// DeletedVaults lists the soft-deleted vaults of a subscription (all when
// empty), by name.
func (s *Service) DeletedVaults(ctx context.Context, c Caller, subscriptionID string) ([]DeletedVault, error) {
	start := time.Now()
	s.mu.RLock()
	out := []DeletedVault{}
	for _, vs := range s.vaults {
		if vs.rec.Deleted == nil || (subscriptionID != "" && !strings.EqualFold(vs.rec.SubscriptionID, subscriptionID)) {
			continue
		}
		out = append(out, toDeletedVault(vs.rec))
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name) < strings.ToLower(out[j].Name) })
	return out, s.mgmtFinish(ctx, c, opVaultListDeleted, "", nil, start)
}

// RecoverVault recovers a soft-deleted vault with its keys (Azure: a PUT
// with createMode "recover"). ref must name the vault's original
// subscription and resource group (empty matches any).
func (s *Service) RecoverVault(ctx context.Context, c Caller, ref VaultRef) (Vault, error) {
	start := time.Now()
	v, err := s.recoverVault(ctx, c, ref)
	return v, s.mgmtFinish(ctx, c, opVaultRecover, ref.Name, err, start)
}

func (s *Service) recoverVault(ctx context.Context, c Caller, ref VaultRef) (Vault, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs := s.vaults[strings.ToLower(ref.Name)]
	if vs == nil || vs.rec.Deleted == nil || !ref.matches(vs.rec) {
		return Vault{}, newError(StatusNotFound, "ResourceNotFound", "",
			"There is no deleted vault named '%s' to recover.", ref.Name)
	}
	now := s.clk.Now()
	rec := vs.rec
	rec.Deleted = nil
	rec.UpdatedAt, rec.UpdatedBy = now, c.ObjectID
	b := &store.Batch{}
	if err := s.vaultsT.Put(b, strings.ToLower(rec.Name), rec); err != nil {
		return Vault{}, err
	}
	if err := s.apply(ctx, b); err != nil {
		return Vault{}, err
	}
	s.mu.Lock()
	vs.rec = rec
	vs.auth = newVaultAuth(rec)
	s.mu.Unlock()
	s.events.publish(Event{Type: EventVaultRecovered, Time: now, VaultName: vs.auth.name, VaultID: vs.auth.id})
	s.poke()
	return s.toVault(rec), nil
}

// PurgeDeletedVault permanently deletes a soft-deleted vault and all its
// keys. Under purge protection it is refused until the scheduled purge
// date (when the scheduler purges the vault by itself).
func (s *Service) PurgeDeletedVault(ctx context.Context, c Caller, subscriptionID, location, name string) error {
	start := time.Now()
	err := s.purgeVault(ctx, subscriptionID, location, name, false)
	return s.mgmtFinish(ctx, c, opVaultPurge, name, err, start)
}

func (s *Service) purgeVault(ctx context.Context, subscriptionID, location, name string, system bool) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs, err := s.deletedVault(subscriptionID, location, name)
	if err != nil {
		return err
	}
	now := s.clk.Now()
	if vs.rec.PurgeProtection && now.Before(vs.rec.Deleted.ScheduledPurge) && !system {
		return newError(StatusMethodNotAllowed, "MethodNotAllowed", "",
			"Operation 'DeletedVaultPurge' is not allowed. Vault '%s' has purge protection enabled; it is purged automatically on %s.", vs.rec.Name, vs.rec.Deleted.ScheduledPurge.UTC().Format(time.RFC3339))
	}
	lname := strings.ToLower(vs.rec.Name)
	b := &store.Batch{}
	s.vaultsT.Delete(b, lname)
	b.DeleteRange([]byte(prefixKey+lname+"/"), store.PrefixEnd([]byte(prefixKey+lname+"/")))
	b.DeleteRange([]byte(prefixVer+lname+"/"), store.PrefixEnd([]byte(prefixVer+lname+"/")))
	if err := s.apply(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.vaults, lname)
	s.mu.Unlock()
	s.events.publish(Event{Type: EventVaultPurged, Time: now, VaultName: lname, VaultID: vs.auth.id})
	return nil
}

// AccessPolicyUpdate adds, replaces or removes access policies per
// identity (Azure's vaults/accessPolicies/{add|replace|remove}) and returns
// the vault's resulting policies.
func (s *Service) AccessPolicyUpdate(ctx context.Context, c Caller, ref VaultRef, kind AccessPolicyUpdateKind, policies []AccessPolicy) ([]AccessPolicy, error) {
	start := time.Now()
	out, err := s.accessPolicyUpdate(ctx, c, ref, kind, policies)
	return out, s.mgmtFinish(ctx, c, opVaultAccessPolicy, ref.Name, err, start)
}

func (s *Service) accessPolicyUpdate(ctx context.Context, c Caller, ref VaultRef, kind AccessPolicyUpdateKind, policies []AccessPolicy) ([]AccessPolicy, error) {
	changes, err := normalizeAccessPolicies(policies)
	if err != nil {
		return nil, err
	}
	kind = AccessPolicyUpdateKind(strings.ToLower(string(kind)))
	s.wmu.Lock()
	defer s.wmu.Unlock()
	vs, err := s.lookupVault(ref)
	if err != nil {
		return nil, err
	}
	pols, err := applyPolicyUpdate(vs.rec.AccessPolicies, kind, changes)
	if err != nil {
		return nil, err
	}
	now := s.clk.Now()
	rec := vs.rec
	rec.AccessPolicies = pols
	rec.UpdatedAt, rec.UpdatedBy = now, c.ObjectID
	b := &store.Batch{}
	if err := s.vaultsT.Put(b, strings.ToLower(rec.Name), rec); err != nil {
		return nil, err
	}
	if err := s.apply(ctx, b); err != nil {
		return nil, err
	}
	s.mu.Lock()
	vs.rec = rec
	vs.auth = newVaultAuth(rec)
	s.mu.Unlock()
	s.events.publish(Event{Type: EventVaultAccessPolicy, Time: now, VaultName: vs.auth.name, VaultID: vs.auth.id})
	return s.toVault(rec).AccessPolicies, nil
}
