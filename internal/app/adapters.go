package app

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/keyward/keyward/internal/keybinding"
	"github.com/keyward/keyward/internal/keycrypto"
	"github.com/keyward/keyward/internal/vault"
)

// vaultKeys adapts the vault service to the key-binding engine: every call
// is made as the resource's managed identity, authorized and audited by the
// vault like any client's call.
type vaultKeys struct{ v *vault.Service }

func caller(p keybinding.Principal) vault.Caller {
	// keyward's own calls carry the resource they act for as correlation id.
	return vault.Caller{TenantID: p.TenantID, ObjectID: p.ObjectID, AppID: p.AppID, ClientIP: "keyward", CorrelationID: p.ResourceID, RequestID: uuid.NewString()}
}

// kbError maps vault errors to the engine's error classes.
func kbError(err error) error {
	if err == nil {
		return nil
	}
	e, ok := vault.AsError(err)
	if !ok {
		return fmt.Errorf("%w: %v", keybinding.ErrVaultUnreachable, err)
	}
	switch {
	case e.Status == vault.StatusNotFound:
		return fmt.Errorf("%w: %s", keybinding.ErrKeyNotFound, e.Message)
	case e.Status == vault.StatusForbidden && (e.InnerCode == "KeyDisabled" || e.InnerCode == "KeyNotYetValid" || e.InnerCode == "KeyExpired"):
		return fmt.Errorf("%w: %s", keybinding.ErrKeyDisabled, e.Message)
	case e.Status == vault.StatusForbidden || e.Status == vault.StatusUnauthorized:
		return fmt.Errorf("%w: %s", keybinding.ErrKeyDenied, e.Message)
	case e.Status >= 500:
		return fmt.Errorf("%w: %s", keybinding.ErrVaultUnreachable, e.Message)
	}
	return fmt.Errorf("%w: %s: %s", keybinding.ErrKeyDenied, e.Code, e.Message)
}

func (a vaultKeys) GetKey(ctx context.Context, p keybinding.Principal, vaultName, key, version string) (keybinding.KeyInfo, error) {
	b, err := a.v.GetKey(ctx, caller(p), vaultName, key, version)
	if err != nil {
		return keybinding.KeyInfo{}, kbError(err)
	}
	ref, err := a.v.ParseKeyID(b.Key.Kid)
	if err != nil {
		return keybinding.KeyInfo{}, err
	}
	info := keybinding.KeyInfo{Version: ref.Version, Kty: string(b.Key.Kty), Enabled: b.Attributes.Enabled}
	for _, op := range b.Key.KeyOps {
		info.Ops = append(info.Ops, string(op))
	}
	if len(b.Key.N) > 0 {
		info.Size = len(b.Key.N) * 8
		if b.Key.N[0] == 0 {
			info.Size -= 8
		}
	}
	if b.Attributes.NotBefore != nil {
		info.NotBefore = *b.Attributes.NotBefore
	}
	if b.Attributes.Expires != nil {
		info.Expires = *b.Attributes.Expires
	}
	return info, nil
}

func (a vaultKeys) WrapKey(ctx context.Context, p keybinding.Principal, vaultName, key, version, alg string, pt []byte) (string, []byte, error) {
	r, err := a.v.WrapKey(ctx, caller(p), vaultName, key, version, keycrypto.EncryptionAlgorithm(alg), pt)
	if err != nil {
		return "", nil, kbError(err)
	}
	ref, err := a.v.ParseKeyID(r.KID)
	if err != nil {
		return "", nil, err
	}
	return ref.Version, r.Value, nil
}

func (a vaultKeys) UnwrapKey(ctx context.Context, p keybinding.Principal, vaultName, key, version, alg string, ct []byte) ([]byte, error) {
	r, err := a.v.UnwrapKey(ctx, caller(p), vaultName, key, version, keycrypto.EncryptionAlgorithm(alg), ct)
	if err != nil {
		return nil, kbError(err)
	}
	return r.Value, nil
}

func (a vaultKeys) Subscribe(fn func(keybinding.Event)) func() {
	return a.v.Subscribe(func(e vault.Event) {
		fn(keybinding.Event{VaultName: e.VaultName, KeyName: e.KeyName})
	})
}

// vaultProtection answers the Service Bus namespaces' questions about vaults.
type vaultProtection struct{ v *vault.Service }

func (a vaultProtection) Protection(ctx context.Context, name string) (bool, bool, error) {
	v, err := a.v.GetVault(ctx, vault.Caller{ObjectID: "keyward", ClientIP: "keyward"}, vault.VaultRef{Name: name})
	if err != nil {
		return false, false, err
	}
	return v.EnableSoftDelete, v.EnablePurgeProtection, nil
}
