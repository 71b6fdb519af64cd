package app

import (
	"context"
	"fmt"

	"github.com/keyward/keyward/internal/keybinding"
	"github.com/keyward/keyward/internal/servicebus"
	"github.com/keyward/keyward/internal/servicebus/namespaces"
	"github.com/keyward/keyward/internal/servicebus/sbarm"
	"github.com/keyward/keyward/internal/vault"
	"github.com/keyward/keyward/internal/vault/vaultarm"
	"github.com/keyward/keyward/internal/vault/vaulthttp"
)

// openServices builds the key vault, the key-binding engine and the Service
// Bus broker with its namespaces, and registers their resource providers.
func (a *App) openServices(ctx context.Context) error {
	var err error
	a.Vault, err = vault.New(a.st, a.sysKey, a.clock, a.log.With("component", "vault"), vault.Config{
		DNSSuffix: "vault." + a.cfg.Domain, Port: a.port(), AuditFile: a.cfg.AuditFile,
	}, a.Authz)
	if err != nil {
		return fmt.Errorf("vault: %w", err)
	}
	a.Vault.Start(ctx)
	a.closers = append(a.closers, a.Vault.Close)
	a.Authz.OnChange(a.Vault.NotifyRoleAssignmentsChanged)
	a.ARM.Register(vaultarm.New(a.Vault))
	a.vaultHTTP = vaulthttp.New(a.Vault, a.Identity.ValidateToken, func(string) []string { return a.vaultAudiences() }, vaulthttp.Options{
		LoginBase: a.loginBase(), Log: a.log.With("component", "vaulthttp"), Now: a.clock.Now,
	})

	a.Keys = keybinding.New(a.st, a.sysKey, a.root, vaultKeys{a.Vault}, a.clock, a.log.With("component", "keybinding"), keybinding.Config{
		PollInterval: a.cfg.KeyPollInterval, UnreachableGrace: a.cfg.KeyUnreachableGrace, Registerer: a.reg,
	})
	a.Namespaces = namespaces.New(a.st, a.sysKey, a.Keys, a.MSI, vaultProtection{a.Vault}, a.clock, a.log.With("component", "namespaces"), namespaces.Config{
		DNSSuffix: "servicebus." + a.cfg.Domain, HTTPSPort: a.port(),
	})
	if err := a.Keys.Start(ctx); err != nil {
		return err
	}
	a.closers = append(a.closers, func() error { a.Keys.Close(); return nil })
	a.Broker, err = servicebus.New(servicebus.Options{Store: a.st, Keys: a.Namespaces, Clock: a.clock, Logger: a.log.With("component", "broker")})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	a.closers = append(a.closers, a.Broker.Close)
	a.Namespaces.SetBroker(a.Broker)
	if err := a.Namespaces.Start(ctx); err != nil {
		return err
	}
	a.ARM.Register(sbarm.New(a.Namespaces, a.Broker, a.clock.Now))
	return a.openLogic(ctx)
}
