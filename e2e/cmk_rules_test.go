package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/keyvault/armkeyvault"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/msi/armmsi"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/servicebus/armservicebus"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyward/keyward/internal/app"
	"github.com/keyward/keyward/internal/testenv"
)

// sbFixture has a vault with purge protection and helpers to make
// namespaces through armservicebus.
type sbFixture struct {
	*kvFixture
	nc       *armservicebus.NamespacesClient
	vaultURI string
	keys     *azkeys.Client
}

func newSBFixture(t testing.TB, env *testenv.Env) *sbFixture {
	f := newKVFixture(t, env)
	v := f.createVault(t, "sb-keys", true)
	nc, err := armservicebus.NewNamespacesClient(env.Conn.SubscriptionID, f.admin, env.ARMOptions())
	if err != nil {
		t.Fatal(err)
	}
	return &sbFixture{kvFixture: f, nc: nc, vaultURI: *v.Properties.VaultURI, keys: f.keysClient(t, *v.Properties.VaultURI, f.admin)}
}

func (f *sbFixture) createKey(t testing.TB, name string) {
	t.Helper()
	if _, err := f.keys.CreateKey(ctxT(t), name, azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil); err != nil {
		t.Fatal(err)
	}
}

func (f *sbFixture) putNamespace(t testing.TB, name string, ns armservicebus.SBNamespace) (armservicebus.SBNamespace, error) {
	t.Helper()
	ctx := ctxT(t)
	p, err := f.nc.BeginCreateOrUpdate(ctx, f.rg, name, ns, nil)
	if err != nil {
		return armservicebus.SBNamespace{}, err
	}
	res, err := p.PollUntilDone(ctx, fastPoll)
	return res.SBNamespace, err
}

func premium(identity bool) armservicebus.SBNamespace {
	ns := armservicebus.SBNamespace{Location: to.Ptr("westeurope"), SKU: &armservicebus.SBSKU{Name: to.Ptr(armservicebus.SKUNamePremium), Tier: to.Ptr(armservicebus.SKUTierPremium), Capacity: to.Ptr[int32](1)}}
	if identity {
		ns.Identity = &armservicebus.Identity{Type: to.Ptr(armservicebus.ManagedServiceIdentityTypeSystemAssigned)}
	}
	return ns
}

func (f *sbFixture) keyProps(names ...string) *armservicebus.Encryption {
	enc := &armservicebus.Encryption{KeySource: to.Ptr("Microsoft.KeyVault")}
	for _, n := range names {
		enc.KeyVaultProperties = append(enc.KeyVaultProperties, &armservicebus.KeyVaultProperties{KeyName: to.Ptr(n), KeyVaultURI: to.Ptr(f.vaultURI)})
	}
	return enc
}

func (f *sbFixture) grant(t testing.TB, vaultName, objectID string) {
	t.Helper()
	_, err := f.vaults.UpdateAccessPolicy(ctxT(t), f.rg, vaultName, armkeyvault.AccessPolicyUpdateKindAdd, armkeyvault.VaultAccessPolicyParameters{
		Properties: &armkeyvault.VaultAccessPolicyProperties{AccessPolicies: []*armkeyvault.AccessPolicyEntry{{
			TenantID: to.Ptr(f.env.Conn.TenantID), ObjectID: to.Ptr(objectID),
			Permissions: &armkeyvault.Permissions{Keys: []*armkeyvault.KeyPermissions{to.Ptr(armkeyvault.KeyPermissionsGet), to.Ptr(armkeyvault.KeyPermissionsWrapKey), to.Ptr(armkeyvault.KeyPermissionsUnwrapKey)}},
		}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
}

func TestNamespaceEncryptionRules(t *testing.T) {
	env := testenv.Start(t, nil)
	f := newSBFixture(t, env)
	ctx := ctxT(t)
	for _, k := range []string{"k1", "k2", "k3", "k4"} {
		f.createKey(t, k)
	}
	// Standard tier: refused.
	std := armservicebus.SBNamespace{Location: to.Ptr("westeurope"), SKU: &armservicebus.SBSKU{Name: to.Ptr(armservicebus.SKUNameStandard)},
		Identity: &armservicebus.Identity{Type: to.Ptr(armservicebus.ManagedServiceIdentityTypeSystemAssigned)}}
	std.Properties = &armservicebus.SBNamespaceProperties{Encryption: f.keyProps("k1")}
	_, err := f.putNamespace(t, "std-ns-01", std)
	mustStatus(t, err, 400, "CustomerManagedKeyNotSupported")

	ns, err := f.putNamespace(t, "rules-ns-01", premium(true))
	if err != nil {
		t.Fatal(err)
	}
	principal := *ns.Identity.PrincipalID
	withKeys := func(names ...string) armservicebus.SBNamespace {
		n := premium(true)
		n.Properties = &armservicebus.SBNamespaceProperties{Encryption: f.keyProps(names...)}
		return n
	}
	// The identity has no access yet: refused, naming the key and what to do.
	_, err = f.putNamespace(t, "rules-ns-01", withKeys("k1"))
	mustStatus(t, err, 400, "KeyVaultAccessDenied")
	if !strings.Contains(err.Error(), "wrapKey") {
		t.Fatalf("message does not say what to grant: %v", err)
	}
	f.grant(t, "sb-keys", principal)
	// Four keys: refused.
	_, err = f.putNamespace(t, "rules-ns-01", withKeys("k1", "k2", "k3", "k4"))
	mustStatus(t, err, 400, "TooManyKeys")
	// An EC key is not an RSA key of 2048 bits or more.
	if _, err := f.keys.CreateKey(ctx, "ec1", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeEC), Curve: to.Ptr(azkeys.CurveNameP256)}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = f.putNamespace(t, "rules-ns-01", withKeys("ec1"))
	mustStatus(t, err, 400, "")
	if !strings.Contains(err.Error(), "RSA key of 2048 bits or more") {
		t.Fatalf("EC key: %v", err)
	}
	// A 1024-bit key cannot even be created in the vault.
	_, err = f.keys.CreateKey(ctx, "small", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](1024)}, nil)
	mustStatus(t, err, 400, "BadParameter")

	// A vault without purge protection is refused.
	other := f.createVault(t, "sb-keys-nopp", false)
	okc := f.keysClient(t, *other.Properties.VaultURI, f.admin)
	if _, err := okc.CreateKey(ctx, "kx", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048)}, nil); err != nil {
		t.Fatal(err)
	}
	f.grant(t, "sb-keys-nopp", principal)
	nopp := premium(true)
	nopp.Properties = &armservicebus.SBNamespaceProperties{Encryption: &armservicebus.Encryption{KeySource: to.Ptr("Microsoft.KeyVault"),
		KeyVaultProperties: []*armservicebus.KeyVaultProperties{{KeyName: to.Ptr("kx"), KeyVaultURI: other.Properties.VaultURI}}}}
	_, err = f.putNamespace(t, "rules-ns-01", nopp)
	mustStatus(t, err, 400, "KeyVaultSoftDeleteAndPurgeProtectionRequired")

	// A namespace with a queue cannot enable encryption.
	qc, _ := armservicebus.NewQueuesClient(env.Conn.SubscriptionID, f.admin, env.ARMOptions())
	if _, err := f.putNamespace(t, "busy-ns-01", premium(true)); err != nil {
		t.Fatal(err)
	}
	if _, err := qc.CreateOrUpdate(ctx, f.rg, "busy-ns-01", "q1", armservicebus.SBQueue{}, nil); err != nil {
		t.Fatal(err)
	}
	busy, _ := f.nc.Get(ctx, f.rg, "busy-ns-01", nil)
	f.grant(t, "sb-keys", *busy.Identity.PrincipalID)
	_, err = f.putNamespace(t, "busy-ns-01", withKeys("k1"))
	mustStatus(t, err, 400, "NamespaceNotEmpty")

	// Three keys accepted; removing all but one is allowed; disabling is not.
	if _, err := f.putNamespace(t, "rules-ns-01", withKeys("k1", "k2", "k3")); err != nil {
		t.Fatalf("three keys: %v", err)
	}
	if _, err := f.putNamespace(t, "rules-ns-01", withKeys("k2")); err != nil {
		t.Fatalf("replace keys: %v", err)
	}
	_, err = f.putNamespace(t, "rules-ns-01", premium(true))
	mustStatus(t, err, 400, "EncryptionCannotBeDisabled")
	noKeys := premium(true)
	noKeys.Properties = &armservicebus.SBNamespaceProperties{Encryption: &armservicebus.Encryption{KeySource: to.Ptr("Microsoft.KeyVault")}}
	_, err = f.putNamespace(t, "rules-ns-01", noKeys)
	mustStatus(t, err, 400, "")
	// PATCH without encryption keeps it.
	if _, err := f.nc.Update(ctx, f.rg, "rules-ns-01", armservicebus.SBNamespaceUpdateParameters{Tags: map[string]*string{"a": to.Ptr("b")}}, nil); err != nil {
		t.Fatalf("patch: %v", err)
	}
	got, _ := f.nc.Get(ctx, f.rg, "rules-ns-01", nil)
	if got.Properties.Encryption == nil || len(got.Properties.Encryption.KeyVaultProperties) != 1 {
		t.Fatalf("encryption after patch: %+v", got.Properties.Encryption)
	}
	// The namespace gets RootManageSharedAccessKey with connection strings.
	keys, err := f.nc.ListKeys(ctx, f.rg, "rules-ns-01", "RootManageSharedAccessKey", nil)
	if err != nil || !strings.HasPrefix(*keys.PrimaryConnectionString, "Endpoint=sb://rules-ns-01.servicebus.keyward.localhost/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=") {
		t.Fatalf("listKeys: %v %v", err, keys.PrimaryConnectionString)
	}
}

func TestThreeKeysRevokeAndRestore(t *testing.T) {
	env := testenv.Start(t, nil)
	f := newSBFixture(t, env)
	ctx := ctxT(t)
	for _, k := range []string{"k1", "k2", "k3"} {
		f.createKey(t, k)
	}
	ns, err := f.putNamespace(t, "three-keys-ns", premium(true))
	if err != nil {
		t.Fatal(err)
	}
	f.grant(t, "sb-keys", *ns.Identity.PrincipalID)
	n := premium(true)
	n.Properties = &armservicebus.SBNamespaceProperties{Encryption: f.keyProps("k1", "k2", "k3")}
	if _, err := f.putNamespace(t, "three-keys-ns", n); err != nil {
		t.Fatal(err)
	}
	disable := func(name string, enabled bool) {
		t.Helper()
		if _, err := f.keys.UpdateKey(ctx, name, "", azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: to.Ptr(enabled)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	disable("k1", false)
	disable("k2", false)
	time.Sleep(300 * time.Millisecond)
	waitNamespaceStatus(t, f.nc, f.rg, "three-keys-ns", "Active", time.Second)
	disable("k3", false)
	if d := waitNamespaceStatus(t, f.nc, f.rg, "three-keys-ns", "Revoked", time.Second); d > time.Second {
		t.Fatalf("revocation took %v", d)
	}
	disable("k2", true)
	waitNamespaceStatus(t, f.nc, f.rg, "three-keys-ns", "Active", time.Second)
}

// TestRevocationOnExpiry: a key that expires leaves the active set (by the
// vault's expiry event or, at the latest, the next poll).
func TestRevocationOnExpiry(t *testing.T) {
	env := testenv.Start(t, func(c *app.Config) { c.KeyPollInterval = 500 * time.Millisecond })
	f := newSBFixture(t, env)
	ctx := ctxT(t)
	exp := time.Now().Add(3 * time.Second)
	if _, err := f.keys.CreateKey(ctx, "short", azkeys.CreateKeyParameters{Kty: to.Ptr(azkeys.KeyTypeRSA), KeySize: to.Ptr[int32](2048),
		KeyAttributes: &azkeys.KeyAttributes{Expires: &exp}}, nil); err != nil {
		t.Fatal(err)
	}
	ns, err := f.putNamespace(t, "poll-ns-001", premium(true))
	if err != nil {
		t.Fatal(err)
	}
	f.grant(t, "sb-keys", *ns.Identity.PrincipalID)
	n := premium(true)
	n.Properties = &armservicebus.SBNamespaceProperties{Encryption: f.keyProps("short")}
	if _, err := f.putNamespace(t, "poll-ns-001", n); err != nil {
		t.Fatal(err)
	}
	waitNamespaceStatus(t, f.nc, f.rg, "poll-ns-001", "Active", time.Second)
	time.Sleep(time.Until(exp))
	waitNamespaceStatus(t, f.nc, f.rg, "poll-ns-001", "Revoked", 2*time.Second)
}

func TestGeoDisasterRecoveryRules(t *testing.T) {
	env := testenv.Start(t, nil)
	f := newSBFixture(t, env)
	ctx := ctxT(t)
	f.createKey(t, "geo-key")
	dr, _ := armservicebus.NewDisasterRecoveryConfigsClient(env.Conn.SubscriptionID, f.admin, env.ARMOptions())
	qc, _ := armservicebus.NewQueuesClient(env.Conn.SubscriptionID, f.admin, env.ARMOptions())

	// Without keys: pair, entity metadata replicated, break.
	p1, _ := f.putNamespace(t, "geo-primary-1", premium(true))
	s1, _ := f.putNamespace(t, "geo-second-1", premium(true))
	if _, err := qc.CreateOrUpdate(ctx, f.rg, "geo-primary-1", "orders", armservicebus.SBQueue{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := dr.CreateOrUpdate(ctx, f.rg, "geo-primary-1", "geo-alias-1", armservicebus.ArmDisasterRecovery{Properties: &armservicebus.ArmDisasterRecoveryProperties{PartnerNamespace: s1.ID}}, nil); err != nil {
		t.Fatalf("pair: %v", err)
	}
	if _, err := qc.Get(ctx, f.rg, "geo-second-1", "orders", nil); err != nil {
		t.Fatalf("queue not replicated to the secondary: %v", err)
	}
	if _, err := qc.CreateOrUpdate(ctx, f.rg, "geo-primary-1", "invoices", armservicebus.SBQueue{}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := qc.Get(ctx, f.rg, "geo-second-1", "invoices", nil); err != nil {
		t.Fatalf("later queue not replicated: %v", err)
	}
	got, err := dr.Get(ctx, f.rg, "geo-second-1", "geo-alias-1", nil)
	if err != nil || *got.Properties.Role != armservicebus.RoleDisasterRecoverySecondary {
		t.Fatalf("secondary role: %v", err)
	}
	// Enabling encryption on a paired namespace is refused: break the pairing first.
	f.grant(t, "sb-keys", *p1.Identity.PrincipalID)
	enc := premium(true)
	enc.Properties = &armservicebus.SBNamespaceProperties{Encryption: f.keyProps("geo-key")}
	_, err = f.putNamespace(t, "geo-primary-1", enc)
	mustStatus(t, err, 400, "GeoDRPairingExists")
	if _, err := dr.BreakPairing(ctx, f.rg, "geo-primary-1", "geo-alias-1", nil); err != nil {
		t.Fatalf("break pairing: %v", err)
	}

	// With keys: the secondary's identity needs access to the primary's keys.
	p2, _ := f.putNamespace(t, "geo-primary-2", premium(true))
	s2, _ := f.putNamespace(t, "geo-second-2", premium(true))
	f.grant(t, "sb-keys", *p2.Identity.PrincipalID)
	if _, err := f.putNamespace(t, "geo-primary-2", enc); err != nil {
		t.Fatal(err)
	}
	_, err = dr.CreateOrUpdate(ctx, f.rg, "geo-primary-2", "geo-alias-2", armservicebus.ArmDisasterRecovery{Properties: &armservicebus.ArmDisasterRecoveryProperties{PartnerNamespace: s2.ID}}, nil)
	mustStatus(t, err, 400, "SecondaryKeyAccessDenied")
	f.grant(t, "sb-keys", *s2.Identity.PrincipalID)
	if _, err := dr.CreateOrUpdate(ctx, f.rg, "geo-primary-2", "geo-alias-2", armservicebus.ArmDisasterRecovery{Properties: &armservicebus.ArmDisasterRecoveryProperties{PartnerNamespace: s2.ID}}, nil); err != nil {
		t.Fatalf("pair with keys: %v", err)
	}
	sec, _ := f.nc.Get(ctx, f.rg, "geo-second-2", nil)
	if sec.Properties.Encryption == nil || *sec.Properties.Encryption.KeyVaultProperties[0].KeyName != "geo-key" {
		t.Fatalf("secondary did not get the primary's keys: %+v", sec.Properties.Encryption)
	}
	// Fail over from the secondary: it stands alone.
	if _, err := dr.FailOver(ctx, f.rg, "geo-second-2", "geo-alias-2", nil); err != nil {
		t.Fatalf("failover: %v", err)
	}
	_, err = dr.Get(ctx, f.rg, "geo-primary-2", "geo-alias-2", nil)
	mustStatus(t, err, 404, "")
	// A user-assigned identity can read the keys instead of the system one.
	mc, _ := armmsi.NewUserAssignedIdentitiesClient(env.Conn.SubscriptionID, f.admin, env.ARMOptions())
	uai, err := mc.CreateOrUpdate(ctx, f.rg, "sb-uai", armmsi.Identity{Location: to.Ptr("westeurope")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.grant(t, "sb-keys", *uai.Properties.PrincipalID)
	un := premium(false)
	un.Identity = &armservicebus.Identity{Type: to.Ptr(armservicebus.ManagedServiceIdentityTypeUserAssigned), UserAssignedIdentities: map[string]*armservicebus.UserAssignedIdentity{*uai.ID: {}}}
	if _, err := f.putNamespace(t, "uai-ns-0001", un); err != nil {
		t.Fatal(err)
	}
	un.Properties = &armservicebus.SBNamespaceProperties{Encryption: &armservicebus.Encryption{KeySource: to.Ptr("Microsoft.KeyVault"), KeyVaultProperties: []*armservicebus.KeyVaultProperties{{
		KeyName: to.Ptr("geo-key"), KeyVaultURI: to.Ptr(f.vaultURI), Identity: &armservicebus.UserAssignedIdentityProperties{UserAssignedIdentity: uai.ID}}}}}
	if _, err := f.putNamespace(t, "uai-ns-0001", un); err != nil {
		t.Fatalf("user-assigned identity for the key: %v", err)
	}
}
