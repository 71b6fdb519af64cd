package logic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/keybinding"
)

// provisioning is the access window of one ISE.
type provisioning struct {
	id    string
	vault string
	kick  chan struct{}
	stop  chan error
	done  chan struct{}
}

func (p *provisioning) kickNow() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// Action the ISE needs on the vault to add its own access policy.
const accessPolicyWriteAction = "Microsoft.KeyVault/vaults/accessPolicies/write"

// startProvisioning starts (or resumes after a restart) the access window
// of an InProgress ISE.
func (s *Service) startProvisioning(x ISE) {
	p := &provisioning{id: x.ID, vault: x.Key.VaultName, kick: make(chan struct{}, 1), stop: make(chan error, 1), done: make(chan struct{})}
	s.mu.Lock()
	s.prov[strings.ToLower(x.ID)] = p
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.provision(p)
	}()
}

// stopProvisioning ends the access window of an ISE that is being deleted.
func (s *Service) stopProvisioning(id string, why error) {
	s.mu.Lock()
	p := s.prov[strings.ToLower(id)]
	s.mu.Unlock()
	if p == nil {
		return
	}
	select {
	case p.stop <- why:
	default:
	}
	<-p.done
}

// WaitProvisioned waits until the ISE leaves InProgress and returns its
// failure, if any (the resource manager's operation for the creating PUT).
func (s *Service) WaitProvisioned(ctx context.Context, id string) error {
	s.mu.RLock()
	p := s.prov[strings.ToLower(id)]
	s.mu.RUnlock()
	if p != nil {
		select {
		case <-p.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	x, ok := s.GetISE(id)
	if !ok {
		return arm.Conflict("IntegrationServiceEnvironmentDeleted", "The integration service environment was deleted while it was being provisioned.")
	}
	switch x.ProvisioningState {
	case StateFailed:
		if x.Error != nil {
			return x.Error
		}
		return arm.Conflict("ProvisioningFailed", "The integration service environment failed to provision.")
	case StateInProgress:
		return arm.Conflict("ProvisioningInterrupted", "keyward stopped while the integration service environment was waiting for access to its key; provisioning resumes when keyward starts again.")
	}
	return nil
}

func (s *Service) provision(p *provisioning) {
	defer func() {
		s.mu.Lock()
		delete(s.prov, strings.ToLower(p.id))
		s.mu.Unlock()
		close(p.done)
	}()
	x, ok := s.GetISE(p.id)
	if !ok {
		return
	}
	deadline := s.clock.NewTimer(x.Deadline.Sub(s.clock.Now()))
	defer deadline.Stop()
	for {
		ferr, ok := s.tryAccess(s.ctx, p.id)
		if ok {
			s.finishProvisioning(p.id, nil)
			return
		}
		if ferr != nil {
			s.finishProvisioning(p.id, ferr)
			return
		}
		poll := s.clock.NewTimer(s.cfg.AccessPollInterval)
		select {
		case <-s.ctx.Done():
			poll.Stop()
			return // resumed at the next start
		case why := <-p.stop:
			poll.Stop()
			s.log.Info("integration service environment provisioning stopped", "ise", p.id, "reason", why)
			return
		case <-deadline.C():
			poll.Stop()
			// One last look: access may have arrived with the deadline.
			if _, ok := s.tryAccess(s.ctx, p.id); ok {
				s.finishProvisioning(p.id, nil)
				return
			}
			s.finishProvisioning(p.id, s.windowClosed(p.id))
			return
		case <-p.kick:
		case <-poll.C():
		}
		poll.Stop()
	}
}

// windowClosed is the permissions error of an ISE whose identity got no
// access in time.
func (s *Service) windowClosed(id string) *arm.Error {
	x, _ := s.GetISE(id)
	k := x.Key
	return arm.Errorf(403, "KeyVaultPermissionsMissing",
		"The integration service environment's system-assigned identity (principal id '%s') was not given access to the key '%s' in key vault '%s' within %s after the request that created it. Grant the identity the get, wrapKey and unwrapKey key permissions (an access policy), a Key Vault crypto role (RBAC vaults), or the Contributor role on the vault within the window; then delete the environment and create it again.",
		x.Identity.SystemPrincipalID, k.KeyName, k.VaultName, s.cfg.KeyAccessTimeout)
}

// tryAccess makes one attempt to bind the ISE's data key to its customer
// key. ok is true on success; a non-nil error fails provisioning for good
// (the key is missing, disabled or of the wrong type); otherwise the window
// stays open.
func (s *Service) tryAccess(ctx context.Context, id string) (*arm.Error, bool) {
	x, found := s.GetISE(id)
	if !found || x.Key == nil {
		return nil, false
	}
	err := s.bindKey(ctx, x)
	if err == nil {
		return nil, true
	}
	if errors.Is(err, keybinding.ErrKeyDenied) && s.addOwnPolicy(ctx, x) {
		err = s.bindKey(ctx, x)
		if err == nil {
			return nil, true
		}
	}
	var ke *keybinding.KeyError
	switch {
	case errors.Is(err, keybinding.ErrKeyDenied), errors.Is(err, keybinding.ErrVaultUnreachable), errors.Is(err, context.Canceled):
		return nil, false
	case errors.As(err, &ke) && errors.Is(err, keybinding.ErrKeyNotFound):
		return arm.BadRequest("KeyNotFound", "The key '%s' (version '%s') was not found in key vault '%s'. %v", x.Key.KeyName, x.Key.KeyVersion, x.Key.VaultName, ke.Err), false
	case errors.As(err, &ke) && errors.Is(err, keybinding.ErrKeyDisabled):
		return arm.BadRequest("KeyDisabled", "The key '%s' in key vault '%s' is not usable: %v. The key of an integration service environment must be enabled.", x.Key.KeyName, x.Key.VaultName, ke.Err), false
	case errors.As(err, &ke):
		return arm.BadRequest("InvalidEncryptionKey", "The key '%s' in key vault '%s' cannot protect an integration service environment: %v. Use an enabled RSA key of 2048 bits or more.", x.Key.KeyName, x.Key.VaultName, ke.Err), false
	}
	s.log.Warn("integration service environment: key binding attempt", "ise", id, "err", err)
	return nil, false
}

// bindKey wraps the ISE's data key under its customer key, as its identity,
// pinning the key version.
func (s *Service) bindKey(ctx context.Context, x ISE) error {
	refs := []keybinding.KeyRef{{VaultURI: x.Key.VaultURI, KeyName: x.Key.KeyName, KeyVersion: x.Key.KeyVersion}}
	principal := func(string) (keybinding.Principal, error) {
		return keybinding.Principal{TenantID: x.TenantID, ObjectID: x.Identity.SystemPrincipalID, AppID: x.Identity.SystemClientID, ResourceID: x.ID}, nil
	}
	if err := s.kb.SetKeys(ctx, x.ID, refs, principal, keybinding.Options{Pin: true}); err != nil {
		return err
	}
	return s.updateISE2(ctx, x.ID, func(cur *ISE) { cur.Key.PinnedVersion = refs[0].KeyVersion })
}

// addOwnPolicy adds the key permissions the ISE needs to the vault's access
// policies when the ISE's identity may write them (Contributor on the vault),
// through the resource manager as that identity, so the change is authorized
// like any caller's and shows in the vault's audit log. It reports whether a
// policy was added.
func (s *Service) addOwnPolicy(ctx context.Context, x ISE) bool {
	caller := arm.Caller{TenantID: x.TenantID, ObjectID: x.Identity.SystemPrincipalID, AppID: x.Identity.SystemClientID, ClientIP: "keyward", CorrelationID: newHexID(16), RequestID: newHexID(16)}
	if !s.m.Allowed(caller, x.Key.VaultID, accessPolicyWriteAction) {
		return false
	}
	// Access policies do nothing on a vault that uses Azure RBAC.
	v, err := s.vaults.Vault(ctx, x.Key.VaultName)
	if err != nil || v.RBAC {
		return false
	}
	body, _ := json.Marshal(map[string]any{"properties": map[string]any{"accessPolicies": []any{map[string]any{
		"tenantId": x.TenantID, "objectId": x.Identity.SystemPrincipalID,
		"permissions": map[string]any{"keys": []string{"get", "wrapKey", "unwrapKey"}},
	}}}})
	t, err := arm.ParseTarget(v.ID + "/accessPolicies/add")
	if err != nil {
		return false
	}
	_, err = s.m.Do(ctx, &arm.Request{Method: "PUT", Target: t, APIVersion: s.m.LatestAPIVersion(v.ID), Body: body, Caller: caller})
	if err != nil {
		s.log.Info("integration service environment could not add its access policy", "ise", x.ID, "vault", v.Name, "err", err)
		return false
	}
	s.log.Info("integration service environment added its own access policy (get, wrapKey, unwrapKey) to the vault", "ise", x.ID, "vault", v.Name, "principal", x.Identity.SystemPrincipalID)
	_ = s.updateISE2(ctx, x.ID, func(cur *ISE) { cur.PolicyAdded = true })
	return true
}

// updateISE2 applies fn to the stored ISE.
func (s *Service) updateISE2(ctx context.Context, id string, fn func(*ISE)) error {
	x, ok := s.GetISE(id)
	if !ok {
		return fmt.Errorf("logic: ISE %s is gone", id)
	}
	fn(&x)
	return s.putISE(ctx, x)
}

func (s *Service) finishProvisioning(id string, failure *arm.Error) {
	ctx := context.WithoutCancel(s.ctx)
	now := s.clock.Now().UTC()
	if failure != nil {
		// The ISE holds no data: its data key is destroyed.
		if err := s.kb.Delete(ctx, id); err != nil {
			s.log.Warn("integration service environment: drop data key", "ise", id, "err", err)
		}
	}
	err := s.updateISE2(ctx, id, func(x *ISE) {
		x.UpdatedAt = now
		if failure != nil {
			x.ProvisioningState, x.Error = StateFailed, failure
			return
		}
		x.ProvisioningState, x.Error = StateSucceeded, nil
	})
	if err != nil {
		s.log.Error("integration service environment: store provisioning result", "ise", id, "err", err)
	}
	if failure != nil {
		s.log.Info("integration service environment failed", "ise", id, "code", failure.Code, "err", failure.Message)
	} else {
		s.log.Info("integration service environment succeeded: its data key is wrapped under its customer-managed key", "ise", id)
	}
}
