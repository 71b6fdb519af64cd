package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyward/keyward/internal/keycrypto"
	"github.com/keyward/keyward/internal/seal"
)

func TestKeyLifecycle(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := e.subscribe(t)
	e.vault(t, "kvt", nil)
	kb := e.rsaKey(t, "kvt", "CMK", func(p *CreateKeyParams) { p.Tags = map[string]string{"env": "test"} })
	v1 := versionOf(kb)
	if !strings.HasPrefix(kb.Key.Kid, "https://kvt.vault.test.local:8443/keys/CMK/") || len(v1) != 32 {
		t.Fatalf("kid %q", kb.Key.Kid)
	}
	if kb.Key.Kty != keycrypto.KeyTypeRSA || len(kb.Key.N) != 256 || kb.Key.D != nil || len(kb.Key.KeyOps) != 6 {
		t.Fatalf("bundle %+v", kb.Key)
	}
	if a := kb.Attributes; !a.Enabled || a.RecoveryLevel != "Recoverable+Purgeable" || a.RecoverableDays != 90 || !a.Created.Equal(t0) {
		t.Fatalf("attributes %+v", a)
	}
	if x := ev.wait(t, EventKeyNewVersionCreated); x.KeyID != kb.Key.Kid || x.VaultName != "kvt" {
		t.Fatalf("event %+v", x)
	}
	// A second version through create; names are case-insensitive.
	e.clk.Advance(time.Minute)
	kb2 := e.rsaKey(t, "kvt", "cmk", nil)
	v2 := versionOf(kb2)
	if !strings.Contains(kb2.Key.Kid, "/keys/CMK/") || v2 == v1 {
		t.Fatalf("second version kid %q", kb2.Key.Kid)
	}
	got, err := e.s.GetKey(ctx, owner, "kvt", "cmk", "")
	if err != nil || versionOf(got) != v2 {
		t.Fatalf("GetKey latest = %v, %v", got.Key.Kid, err)
	}
	got, err = e.s.GetKey(ctx, owner, "kvt", "CMK", v1)
	if err != nil || versionOf(got) != v1 || got.Tags["env"] != "test" {
		t.Fatalf("GetKey v1 = %+v, %v", got, err)
	}
	_, err = e.s.GetKey(ctx, owner, "kvt", "CMK", "00000000000000000000000000000000")
	wantErr(t, err, 404, "KeyNotFound", "", "CMK/00000000000000000000000000000000")
	_, err = e.s.GetKey(ctx, owner, "kvt", "nokey", "")
	wantErr(t, err, 404, "KeyNotFound", "", "nokey")

	// Versions list, paged.
	l, err := e.s.ListKeyVersions(ctx, owner, "kvt", "CMK", Page{MaxResults: 1})
	if err != nil || len(l.Items) != 1 || l.Next == "" || !strings.HasSuffix(l.Items[0].KID, v1) {
		t.Fatalf("versions page 1: %+v %v", l, err)
	}
	l, err = e.s.ListKeyVersions(ctx, owner, "kvt", "CMK", Page{MaxResults: 1, Skip: l.Next})
	if err != nil || len(l.Items) != 1 || l.Next != "" || !strings.HasSuffix(l.Items[0].KID, v2) {
		t.Fatalf("versions page 2: %+v %v", l, err)
	}
	_, err = e.s.ListKeyVersions(ctx, owner, "kvt", "CMK", Page{MaxResults: 26})
	wantErr(t, err, 400, "BadParameter", "", "maxresults")

	// Update: disable v1, tags, key_ops.
	u, err := e.s.UpdateKey(ctx, owner, "kvt", "CMK", v1, KeyUpdate{Attributes: AttributesUpdate{Enabled: ptr(false)}, KeyOps: []string{"wrapKey", "unwrapKey"}, Tags: map[string]string{}})
	if err != nil || u.Attributes.Enabled || len(u.Key.KeyOps) != 2 || len(u.Tags) != 0 {
		t.Fatalf("update: %+v %v", u, err)
	}
	ev.wait(t, EventKeyDisabled)
	_, err = e.s.UpdateKey(ctx, owner, "kvt", "CMK", "", KeyUpdate{Attributes: AttributesUpdate{NotBefore: ptr(t0.Add(time.Hour)), Expires: ptr(t0)}})
	wantErr(t, err, 400, "BadParameter", "", "nbf")
	_, err = e.s.UpdateKey(ctx, owner, "kvt", "CMK", "", KeyUpdate{KeyOps: []string{"fly"}})
	wantErr(t, err, 400, "BadParameter", "", "fly")

	// Delete: soft, name blocked, recover, delete, purge.
	dk, err := e.s.DeleteKey(ctx, owner, "kvt", "cmk")
	if err != nil || dk.RecoveryID != "https://kvt.vault.test.local:8443/deletedkeys/CMK" || !dk.ScheduledPurgeDate.Equal(e.clk.Now().AddDate(0, 0, 90)) {
		t.Fatalf("delete: %+v %v", dk, err)
	}
	ev.wait(t, EventKeyDeleted)
	_, err = e.s.GetKey(ctx, owner, "kvt", "CMK", "")
	wantErr(t, err, 404, "KeyNotFound", "", "")
	_, err = e.s.CreateKey(ctx, owner, "kvt", "CMK", CreateKeyParams{Kty: "EC"})
	wantErr(t, err, 409, "Conflict", "ObjectIsDeletedButRecoverable", "deleted but recoverable")
	dl, err := e.s.ListDeletedKeys(ctx, owner, "kvt", Page{})
	if err != nil || len(dl.Items) != 1 || dl.Items[0].KID != "https://kvt.vault.test.local:8443/keys/CMK" {
		t.Fatalf("deleted list %+v %v", dl, err)
	}
	if _, err := e.s.GetDeletedKey(ctx, owner, "kvt", "CMK"); err != nil {
		t.Fatal(err)
	}
	rk, err := e.s.RecoverDeletedKey(ctx, owner, "kvt", "CMK")
	if err != nil || versionOf(rk) != v2 {
		t.Fatalf("recover %v %v", rk.Key.Kid, err)
	}
	ev.wait(t, EventKeyRecovered)
	_, err = e.s.GetDeletedKey(ctx, owner, "kvt", "CMK")
	wantErr(t, err, 404, "KeyNotFound", "", "")
	if _, err := e.s.DeleteKey(ctx, owner, "kvt", "CMK"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.PurgeDeletedKey(ctx, owner, "kvt", "CMK"); err != nil {
		t.Fatal(err)
	}
	ev.wait(t, EventKeyPurged)
	if _, err := e.s.CreateKey(ctx, owner, "kvt", "CMK", CreateKeyParams{Kty: "EC"}); err != nil {
		t.Fatalf("name not free after purge: %v", err)
	}
}

func TestCreateKeyBadInput(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "kvt", nil)
	for _, tc := range []struct {
		name string
		key  string
		p    CreateKeyParams
		part string
	}{
		{"kty", "k", CreateKeyParams{Kty: "DSA"}, "DSA"},
		{"no kty", "k", CreateKeyParams{}, "kty"},
		{"oct", "k", CreateKeyParams{Kty: "oct"}, "oct"},
		{"size", "k", CreateKeyParams{Kty: "RSA", Size: 1024}, "1024"},
		{"curve", "k", CreateKeyParams{Kty: "EC", Curve: "P-192"}, "P-192"},
		{"hsm on standard", "k", CreateKeyParams{Kty: "RSA-HSM"}, "premium"},
		{"ops for EC", "k", CreateKeyParams{Kty: "EC", KeyOps: []string{"encrypt"}}, "encrypt"},
		{"nbf after exp", "k", CreateKeyParams{Kty: "EC", Attributes: AttributesUpdate{NotBefore: ptr(t0.Add(time.Hour)), Expires: ptr(t0)}}, "nbf"},
		{"exportable", "k", CreateKeyParams{Kty: "EC", Attributes: AttributesUpdate{Exportable: ptr(true)}}, "exportable"},
		{"too many tags", "k", CreateKeyParams{Kty: "EC", Tags: manyTags(16)}, "tags"},
		{"bad name", "k_1", CreateKeyParams{Kty: "EC"}, "k_1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.s.CreateKey(ctx, owner, "kvt", tc.key, tc.p)
			wantErr(t, err, 400, "BadParameter", "", tc.part)
		})
	}
	l, _ := e.s.ListKeys(ctx, owner, "kvt", Page{})
	if len(l.Items) != 0 {
		t.Fatalf("bad input created keys: %+v", l.Items)
	}
}

func manyTags(n int) map[string]string {
	m := map[string]string{}
	for i := range n {
		m[string(rune('a'+i))] = "x"
	}
	return m
}

func TestAuthorizationAccessPolicies(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "kvt", func(s *VaultSpec) {
		s.AccessPolicies = append(s.AccessPolicies,
			AccessPolicy{TenantID: testTenant, ObjectID: "wrapper", Permissions: Permissions{Keys: []string{"WrapKey"}}},
			AccessPolicy{TenantID: testTenant, ObjectID: "compound", ApplicationID: "44444444-4444-4444-4444-444444444444", Permissions: allKeys()})
	})
	e.rsaKey(t, "kvt", "k", nil)
	wrapper := caller("wrapper")
	w, err := e.s.WrapKey(ctx, wrapper, "kvt", "k", "", keycrypto.AlgRSAOAEP256, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.UnwrapKey(ctx, wrapper, "kvt", "k", "", keycrypto.AlgRSAOAEP256, w.Value)
	wantErr(t, err, 403, "Forbidden", "AccessDenied", "does not have keys unwrapKey permission on key vault 'kvt;location=westeurope'")
	if !strings.Contains(err.Error(), "appid=app-wrapper;oid=wrapper;iss=https://sts.windows.net/"+testTenant+"/") {
		t.Fatalf("caller string missing: %v", err)
	}
	// Compound identity: only through the named application.
	comp := caller("compound")
	_, err = e.s.GetKey(ctx, comp, "kvt", "k", "")
	wantErr(t, err, 403, "Forbidden", "AccessDenied", "keys get")
	comp.AppID = "44444444-4444-4444-4444-444444444444"
	if _, err := e.s.GetKey(ctx, comp, "kvt", "k", ""); err != nil {
		t.Fatal(err)
	}
	// Another tenant: 401.
	foreign := owner
	foreign.TenantID = otherTen
	_, err = e.s.GetKey(ctx, foreign, "kvt", "k", "")
	wantErr(t, err, 401, "Unauthorized", "", "AKV10032")
	// Every operation is refused to a stranger, before anything else.
	for name, fn := range strangerOps(e.s) {
		err := fn(ctx, stranger)
		wantErr(t, err, 403, "Forbidden", "AccessDenied", "does not have keys")
		_ = name
	}
}

// strangerOps calls every data-plane operation on vault "kvt", key "k".
func strangerOps(s *Service) map[string]func(context.Context, Caller) error {
	digest := sha256.Sum256([]byte("x"))
	return map[string]func(context.Context, Caller) error{
		"create": func(ctx context.Context, c Caller) error {
			_, err := s.CreateKey(ctx, c, "kvt", "k2", CreateKeyParams{Kty: "EC"})
			return err
		},
		"import": func(ctx context.Context, c Caller) error {
			_, err := s.ImportKey(ctx, c, "kvt", "k2", ImportKeyParams{})
			return err
		},
		"get":  func(ctx context.Context, c Caller) error { _, err := s.GetKey(ctx, c, "kvt", "k", ""); return err },
		"list": func(ctx context.Context, c Caller) error { _, err := s.ListKeys(ctx, c, "kvt", Page{}); return err },
		"versions": func(ctx context.Context, c Caller) error {
			_, err := s.ListKeyVersions(ctx, c, "kvt", "k", Page{})
			return err
		},
		"update": func(ctx context.Context, c Caller) error {
			_, err := s.UpdateKey(ctx, c, "kvt", "k", "", KeyUpdate{})
			return err
		},
		"delete":     func(ctx context.Context, c Caller) error { _, err := s.DeleteKey(ctx, c, "kvt", "k"); return err },
		"getdeleted": func(ctx context.Context, c Caller) error { _, err := s.GetDeletedKey(ctx, c, "kvt", "k"); return err },
		"listdeleted": func(ctx context.Context, c Caller) error {
			_, err := s.ListDeletedKeys(ctx, c, "kvt", Page{})
			return err
		},
		"recover": func(ctx context.Context, c Caller) error {
			_, err := s.RecoverDeletedKey(ctx, c, "kvt", "k")
			return err
		},
		"purge":  func(ctx context.Context, c Caller) error { return s.PurgeDeletedKey(ctx, c, "kvt", "k") },
		"backup": func(ctx context.Context, c Caller) error { _, err := s.BackupKey(ctx, c, "kvt", "k"); return err },
		"restore": func(ctx context.Context, c Caller) error {
			_, err := s.RestoreKey(ctx, c, "kvt", []byte("x"))
			return err
		},
		"rotate": func(ctx context.Context, c Caller) error { _, err := s.RotateKey(ctx, c, "kvt", "k"); return err },
		"getpolicy": func(ctx context.Context, c Caller) error {
			_, err := s.GetRotationPolicy(ctx, c, "kvt", "k")
			return err
		},
		"setpolicy": func(ctx context.Context, c Caller) error {
			_, err := s.UpdateRotationPolicy(ctx, c, "kvt", "k", RotationPolicy{})
			return err
		},
		"encrypt": func(ctx context.Context, c Caller) error {
			_, err := s.Encrypt(ctx, c, "kvt", "k", "", "RSA-OAEP", []byte("x"))
			return err
		},
		"decrypt": func(ctx context.Context, c Caller) error {
			_, err := s.Decrypt(ctx, c, "kvt", "k", "", "RSA-OAEP", []byte("x"))
			return err
		},
		"wrap": func(ctx context.Context, c Caller) error {
			_, err := s.WrapKey(ctx, c, "kvt", "k", "", "RSA-OAEP", []byte("x"))
			return err
		},
		"unwrap": func(ctx context.Context, c Caller) error {
			_, err := s.UnwrapKey(ctx, c, "kvt", "k", "", "RSA-OAEP", []byte("x"))
			return err
		},
		"sign": func(ctx context.Context, c Caller) error {
			_, err := s.Sign(ctx, c, "kvt", "k", "", "RS256", digest[:])
			return err
		},
		"verify": func(ctx context.Context, c Caller) error {
			_, err := s.Verify(ctx, c, "kvt", "k", "", "RS256", digest[:], []byte("x"))
			return err
		},
		"random": func(ctx context.Context, c Caller) error { _, err := s.GetRandomBytes(ctx, c, "kvt", 16); return err },
		"audit": func(ctx context.Context, c Caller) error {
			_, err := s.QueryAudit(ctx, c, "kvt", AuditQuery{})
			return err
		},
		"purge-absent": func(ctx context.Context, c Caller) error { return s.PurgeDeletedKey(ctx, c, "kvt", "absent") },
	}
}

func TestAuthorizationRBAC(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := e.subscribe(t)
	v := e.vault(t, "kvt", func(s *VaultSpec) { s.EnableRbacAuthorization = ptr(true) })
	e.roles.set(owner.ObjectID, "*")
	e.rsaKey(t, "kvt", "k", nil)
	sb := caller("servicebus")
	// Key Vault Crypto Service Encryption User.
	e.roles.set(sb.ObjectID, DataActionKeysRead, DataActionKeysWrap, DataActionKeysUnwrap)
	if _, err := e.s.GetKey(ctx, sb, "kvt", "k", ""); err != nil {
		t.Fatal(err)
	}
	w, err := e.s.WrapKey(ctx, sb, "kvt", "k", "", keycrypto.AlgRSAOAEP256, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UnwrapKey(ctx, sb, "kvt", "k", "", keycrypto.AlgRSAOAEP256, w.Value); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Decrypt(ctx, sb, "kvt", "k", "", keycrypto.AlgRSAOAEP256, w.Value)
	wantErr(t, err, 403, "Forbidden", "ForbiddenByRbac", "Action: '"+DataActionKeysDecrypt+"'")
	wantMsg := "Resource: '" + strings.ToLower(v.ID) + "/keys/k'"
	if !strings.Contains(err.Error(), wantMsg) {
		t.Fatalf("message lacks %q: %v", wantMsg, err)
	}
	// Decisions are cached until role assignments change.
	calls := e.roles.calls
	for range 5 {
		if _, err := e.s.UnwrapKey(ctx, sb, "kvt", "k", "", keycrypto.AlgRSAOAEP256, w.Value); err != nil {
			t.Fatal(err)
		}
	}
	if e.roles.calls != calls {
		t.Fatalf("role checker called %d more times; want cached", e.roles.calls-calls)
	}
	e.roles.set(sb.ObjectID)
	e.s.NotifyRoleAssignmentsChanged("/subscriptions/" + testSub)
	if x := ev.wait(t, EventRoleAssignmentsChanged); x.VaultName != "kvt" {
		t.Fatalf("event %+v", x)
	}
	_, err = e.s.UnwrapKey(ctx, sb, "kvt", "k", "", keycrypto.AlgRSAOAEP256, w.Value)
	wantErr(t, err, 403, "Forbidden", "ForbiddenByRbac", "")
	// Access policies are ignored in RBAC mode.
	_, err = e.s.GetKey(ctx, stranger, "kvt", "k", "")
	wantErr(t, err, 403, "Forbidden", "ForbiddenByRbac", "")
	// A failing role checker fails closed.
	e.roles.fail = errors.New("authz down")
	e.s.NotifyRoleAssignmentsChanged(v.ID)
	_, err = e.s.GetKey(ctx, owner, "kvt", "k", "")
	if err == nil || StatusOf(err) != 500 {
		t.Fatalf("got %v, want an internal error", err)
	}
}

func TestKeyUseChecks(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "kvt", nil)
	kb := e.rsaKey(t, "kvt", "k", func(p *CreateKeyParams) {
		p.Attributes = AttributesUpdate{NotBefore: ptr(t0.Add(time.Hour)), Expires: ptr(t0.Add(3 * time.Hour))}
		p.KeyOps = []string{"wrapKey", "unwrapKey", "encrypt"}
	})
	v := versionOf(kb)
	wrap := func() error {
		_, err := e.s.WrapKey(ctx, owner, "kvt", "k", v, keycrypto.AlgRSAOAEP, make([]byte, 16))
		return err
	}
	wantErr(t, wrap(), 403, "Forbidden", "KeyNotYetValid", "Operation wrapKey is not allowed before")
	e.clk.Advance(time.Hour)
	if err := wrap(); err != nil {
		t.Fatal(err)
	}
	_, err := e.s.Sign(ctx, owner, "kvt", "k", v, keycrypto.AlgRS256, make([]byte, 32))
	wantErr(t, err, 403, "Forbidden", "KeyOperationForbidden", "Operation sign is not permitted on this key.")
	if _, err := e.s.UpdateKey(ctx, owner, "kvt", "k", v, KeyUpdate{Attributes: AttributesUpdate{Enabled: ptr(false)}}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, wrap(), 403, "Forbidden", "KeyDisabled", "Operation wrapKey is not allowed on a disabled key.")
	// A disabled version can still be read.
	if got, err := e.s.GetKey(ctx, owner, "kvt", "k", v); err != nil || got.Attributes.Enabled {
		t.Fatalf("GetKey disabled: %+v %v", got.Attributes, err)
	}
	if _, err := e.s.UpdateKey(ctx, owner, "kvt", "k", v, KeyUpdate{Attributes: AttributesUpdate{Enabled: ptr(true)}}); err != nil {
		t.Fatal(err)
	}
	e.clk.Advance(2 * time.Hour)
	wantErr(t, wrap(), 403, "Forbidden", "KeyExpired", "expired")
	// Bad requests once the key is usable again.
	if _, err := e.s.UpdateKey(ctx, owner, "kvt", "k", v, KeyUpdate{Attributes: AttributesUpdate{Expires: ptr(t0.Add(10 * time.Hour))}}); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Encrypt(ctx, owner, "kvt", "k", v, "RSA-OAEP-512", []byte("x"))
	wantErr(t, err, 400, "BadParameter", "", "RSA-OAEP-512")
	_, err = e.s.Encrypt(ctx, owner, "kvt", "k", v, keycrypto.AlgRSAOAEP256, make([]byte, 191))
	wantErr(t, err, 400, "BadParameter", "", "at most 190")
}

func TestDecryptErrorsAreUniform(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "kvt", nil)
	e.rsaKey(t, "kvt", "k", nil)
	ct, err := e.s.Encrypt(ctx, owner, "kvt", "k", "", keycrypto.AlgRSAOAEP256, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, c := range [][]byte{{1, 2, 3}, make([]byte, 256), append([]byte{0xff}, ct.Value[1:]...), flip(ct.Value)} {
		_, err := e.s.Decrypt(ctx, owner, "kvt", "k", "", keycrypto.AlgRSAOAEP256, c)
		wantErr(t, err, 400, "BadParameter", "", "")
		msgs = append(msgs, err.Error())
	}
	// The same ciphertext with the other OAEP hash fails the same way.
	_, err = e.s.Decrypt(ctx, owner, "kvt", "k", "", keycrypto.AlgRSAOAEP, ct.Value)
	msgs = append(msgs, err.Error())
	for _, m := range msgs {
		if m != msgs[0] {
			t.Fatalf("decryption errors differ: %q vs %q", m, msgs[0])
		}
	}
}

func flip(b []byte) []byte {
	c := bytes.Clone(b)
	c[len(c)-1] ^= 1
	return c
}

func TestPurgeProtectionOnKeys(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := e.subscribe(t)
	e.vault(t, "kvt", func(s *VaultSpec) { s.EnablePurgeProtection = ptr(true); s.SoftDeleteRetentionInDays = ptr(7) })
	kb := e.rsaKey(t, "kvt", "k", nil)
	if kb.Attributes.RecoveryLevel != "CustomizedRecoverable" || kb.Attributes.RecoverableDays != 7 {
		t.Fatalf("attributes %+v", kb.Attributes)
	}
	if _, err := e.s.DeleteKey(ctx, owner, "kvt", "k"); err != nil {
		t.Fatal(err)
	}
	err := e.s.PurgeDeletedKey(ctx, owner, "kvt", "k")
	wantErr(t, err, 403, "Forbidden", "", "purge protection is enabled")
	// Automatic purge after the retention period.
	e.s.Start(ctx)
	e.clk.Advance(6 * 24 * time.Hour)
	if _, err := e.s.GetDeletedKey(ctx, owner, "kvt", "k"); err != nil {
		t.Fatalf("purged too early: %v", err)
	}
	e.clk.Advance(24*time.Hour + time.Second)
	if x := ev.wait(t, EventKeyPurged); x.KeyName != "k" {
		t.Fatalf("event %+v", x)
	}
	_, err = e.s.GetDeletedKey(ctx, owner, "kvt", "k")
	wantErr(t, err, 404, "KeyNotFound", "", "")
	entries, err := e.s.Audit(ctx, AuditQuery{Operation: "KeyPurge"})
	if err != nil || len(entries) != 2 || entries[1].ObjectID != "keyward-system" || entries[1].ResultCode != 200 || entries[0].ResultCode != 403 {
		t.Fatalf("purge audit: %+v %v", entries, err)
	}
}

func TestRotationPolicyValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    RotationPolicy
		part string // "" = valid
	}{
		{"empty", RotationPolicy{}, ""},
		{"rotate after create", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "rotate", TimeAfterCreate: "p30d"}}, ExpiryTime: "P90D"}, ""},
		{"rotate before expiry", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeBeforeExpiry: "P30D"}, {Type: "Notify", TimeBeforeExpiry: "P7D"}}, ExpiryTime: "P1Y"}, ""},
		{"months", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeAfterCreate: "P18M"}}, ExpiryTime: "P2Y"}, ""},
		{"short expiry", RotationPolicy{ExpiryTime: "P27D"}, "28 days"},
		{"short rotate", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeAfterCreate: "P6D"}}}, "7 days"},
		{"rotate too close to expiry", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeAfterCreate: "P85D"}}, ExpiryTime: "P90D"}, "before the expiry"},
		{"before expiry without expiry", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeBeforeExpiry: "P30D"}}}, "expiryTime"},
		{"both triggers", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeAfterCreate: "P30D", TimeBeforeExpiry: "P30D"}}}, "exactly one"},
		{"no trigger", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate"}}}, "exactly one"},
		{"notify after create", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Notify", TimeAfterCreate: "P30D"}}}, "timeBeforeExpiry"},
		{"unknown type", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Delete", TimeAfterCreate: "P30D"}}}, "Delete"},
		{"two rotates", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeAfterCreate: "P30D"}, {Type: "Rotate", TimeAfterCreate: "P40D"}}}, "more than one"},
		{"bad duration", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeAfterCreate: "30 days"}}}, "ISO-8601"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := normalizePolicy(tc.p)
			if tc.part == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantErr(t, err, 400, "BadParameter", "", tc.part)
		})
	}
}

func TestScheduledRotationAndExpiryEvents(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	ev := e.subscribe(t)
	e.vault(t, "kvt", nil)
	kb := e.rsaKey(t, "kvt", "k", nil)
	v1 := versionOf(kb)
	ev.wait(t, EventKeyNewVersionCreated)
	def, err := e.s.GetRotationPolicy(ctx, owner, "kvt", "k")
	if err != nil || len(def.LifetimeActions) != 1 || def.LifetimeActions[0] != (LifetimeAction{Type: "Notify", TimeBeforeExpiry: "P30D"}) || !def.Created.IsZero() {
		t.Fatalf("default policy %+v %v", def, err)
	}
	p, err := e.s.UpdateRotationPolicy(ctx, owner, "kvt", "k", RotationPolicy{
		LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeAfterCreate: "P30D"}, {Type: "Notify", TimeBeforeExpiry: "P10D"}},
		ExpiryTime:      "P60D",
	})
	if err != nil || p.ID != "https://kvt.vault.test.local:8443/keys/k/rotationpolicy" || !p.Created.Equal(t0) {
		t.Fatalf("policy %+v %v", p, err)
	}
	e.s.Start(ctx)
	e.clk.Advance(29 * 24 * time.Hour)
	e.clk.Advance(24*time.Hour + time.Second)
	x := ev.wait(t, EventKeyNewVersionCreated)
	if x.KeyVersion == v1 || x.Expires == nil || !x.Expires.Equal(unixSeconds(t0.Add(30*24*time.Hour+time.Second).AddDate(0, 0, 60))) {
		t.Fatalf("rotation event %+v", x)
	}
	v2 := x.KeyVersion
	cur, err := e.s.GetKey(ctx, owner, "kvt", "k", "")
	if err != nil || versionOf(cur) != v2 || len(cur.Key.N) != 256 || len(cur.Key.KeyOps) != 6 {
		t.Fatalf("current after rotation: %+v %v", cur.Key, err)
	}
	// Near expiry 10 days before exp (60 days after rotation), then expired.
	rotated := e.clk.Now()
	e.clk.Set(rotated.AddDate(0, 0, 29).Add(-time.Hour)) // before the next rotation (30 days)
	e.clk.Set(rotated.AddDate(0, 0, 30).Add(time.Second))
	x = ev.wait(t, EventKeyNewVersionCreated)
	v3 := x.KeyVersion
	if v3 == v2 {
		t.Fatal("no second rotation")
	}
	// Stop rotating; let v3 approach expiry.
	if _, err := e.s.UpdateRotationPolicy(ctx, owner, "kvt", "k", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Notify", TimeBeforeExpiry: "P10D"}}}); err != nil {
		t.Fatal(err)
	}
	exp := *x.Expires
	e.clk.Set(exp.AddDate(0, 0, -10).Add(time.Second))
	if n := ev.wait(t, EventKeyNearExpiry); n.KeyVersion != v3 {
		t.Fatalf("near expiry %+v", n)
	}
	e.clk.Set(exp.Add(time.Second))
	if n := ev.wait(t, EventKeyExpired); n.KeyVersion != v3 {
		t.Fatalf("expired %+v", n)
	}
	// Notices are sent once, also across a restart.
	e.reopen(t)
	e.s.Start(ctx)
	ev2 := e.subscribe(t)
	e.clk.Advance(time.Hour)
	if _, err := e.s.GetKey(ctx, owner, "kvt", "k", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case x := <-ev2.ch:
		if x.Type == EventKeyExpired || x.Type == EventKeyNearExpiry {
			t.Fatalf("notice repeated: %+v", x)
		}
	case <-time.After(200 * time.Millisecond):
	}
	// A version made with v1 still unwraps with v1.
	ver, err := e.s.ListKeyVersions(ctx, owner, "kvt", "k", Page{})
	if err != nil || len(ver.Items) != 3 {
		t.Fatalf("versions %+v %v", ver, err)
	}
}

func TestWrapWithOldVersionAfterRotation(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "kvt", nil)
	kb := e.rsaKey(t, "kvt", "k", nil)
	v1 := versionOf(kb)
	dek := bytes.Repeat([]byte{7}, 32)
	w, err := e.s.WrapKey(ctx, owner, "kvt", "k", "", keycrypto.AlgRSAOAEP256, dek)
	if err != nil || w.KID != kb.Key.Kid {
		t.Fatal(err, w.KID)
	}
	rot, err := e.s.RotateKey(ctx, owner, "kvt", "k")
	if err != nil || versionOf(rot) == v1 {
		t.Fatal(err)
	}
	got, err := e.s.UnwrapKey(ctx, owner, "kvt", "k", v1, keycrypto.AlgRSAOAEP256, w.Value)
	if err != nil || !bytes.Equal(got.Value, dek) {
		t.Fatalf("unwrap with v1 after rotation: %v", err)
	}
	_, err = e.s.UnwrapKey(ctx, owner, "kvt", "k", "", keycrypto.AlgRSAOAEP256, w.Value)
	wantErr(t, err, 400, "BadParameter", "", "could not be decrypted")
}

func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "kvt", nil)
	e.vault(t, "other", nil)
	kb := e.rsaKey(t, "kvt", "k", nil)
	rot, _ := e.s.RotateKey(ctx, owner, "kvt", "k")
	if _, err := e.s.UpdateRotationPolicy(ctx, owner, "kvt", "k", RotationPolicy{LifetimeActions: []LifetimeAction{{Type: "Rotate", TimeAfterCreate: "P90D"}}}); err != nil {
		t.Fatal(err)
	}
	w, _ := e.s.WrapKey(ctx, owner, "kvt", "k", versionOf(kb), keycrypto.AlgRSAOAEP256, []byte("dek"))
	blob, err := e.s.BackupKey(ctx, owner, "kvt", "k")
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.RestoreKey(ctx, owner, "kvt", blob)
	wantErr(t, err, 409, "Conflict", "", "already exists")
	// Restore into another vault of the installation, every version.
	r, err := e.s.RestoreKey(ctx, owner, "other", blob)
	if err != nil || r.Key.Kid != "https://other.vault.test.local:8443/keys/k/"+versionOf(rot) {
		t.Fatalf("restore: %v %v", r.Key.Kid, err)
	}
	got, err := e.s.UnwrapKey(ctx, owner, "other", "k", versionOf(kb), keycrypto.AlgRSAOAEP256, w.Value)
	if err != nil || string(got.Value) != "dek" {
		t.Fatalf("unwrap restored v1: %v", err)
	}
	if p, _ := e.s.GetRotationPolicy(ctx, owner, "other", "k"); len(p.LifetimeActions) != 1 || p.LifetimeActions[0].TimeAfterCreate != "P90D" {
		t.Fatalf("policy not restored: %+v", p)
	}
	// Tampered blobs, and blobs of another installation, do not restore.
	bad := bytes.Clone(blob)
	bad[len(bad)/2] ^= 1
	other, _ := seal.NewDataKey()
	foreign := &Service{dk: other}
	fblob, _ := foreign.dk.Seal(backupContext(), []byte(`{}`))
	for _, b := range [][]byte{bad, blob[:10], append([]byte("KWKB\x01"), fblob...), []byte("not a backup")} {
		_, err := e.s.RestoreKey(ctx, owner, "kvt", b)
		wantErr(t, err, 400, "BadParameter", "", "Backup blob")
	}
	// Deleted name: Conflict.
	if _, err := e.s.DeleteKey(ctx, owner, "kvt", "k"); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.RestoreKey(ctx, owner, "kvt", blob)
	wantErr(t, err, 409, "Conflict", "ObjectIsDeletedButRecoverable", "")
	if err := e.s.PurgeDeletedKey(ctx, owner, "kvt", "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.RestoreKey(ctx, owner, "kvt", blob); err != nil {
		t.Fatal(err)
	}
}

func TestImportKey(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "kvt", func(s *VaultSpec) { s.SKU = &SKU{Family: "A", Name: "premium"} })
	k, err := keycrypto.Generate(ctx, keycrypto.KeySpec{Kty: "EC", Curve: "P-384"})
	if err != nil {
		t.Fatal(err)
	}
	jwk := privateJWK(t, k)
	kb, err := e.s.ImportKey(ctx, owner, "kvt", "imported", ImportKeyParams{Key: jwk, HSM: true})
	if err != nil || kb.Key.Kty != "EC-HSM" || kb.Key.Crv != "P-384" || kb.Key.D != nil || len(kb.Key.KeyOps) != 2 {
		t.Fatalf("import: %+v %v", kb.Key, err)
	}
	pub := jwk
	pub.D = nil
	_, err = e.s.ImportKey(ctx, owner, "kvt", "pub", ImportKeyParams{Key: pub})
	wantErr(t, err, 400, "BadParameter", "", "private part")
	bad := jwk
	bad.X = bad.X[1:]
	_, err = e.s.ImportKey(ctx, owner, "kvt", "bad", ImportKeyParams{Key: bad})
	wantErr(t, err, 400, "BadParameter", "", "")
}

// privateJWK returns a key's JWK with private parts, through the backup
// serialization (keycrypto exports only public JWKs).
func privateJWK(t testing.TB, k *keycrypto.Key) keycrypto.JSONWebKey {
	t.Helper()
	j := k.PublicJWK()
	d := privateScalar(t, k)
	j.D = d
	return j
}

func TestAuditLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	e := newEnv(t)
	path := filepath.Join(dir, "audit.jsonl")
	e.cfg.AuditFile = path
	e.reopen(t)
	e.vault(t, "kvt", nil)
	e.rsaKey(t, "kvt", "k", nil)
	c := owner
	c.RequestID = "req-1"
	w, err := e.s.WrapKey(ctx, c, "kvt", "k", "", keycrypto.AlgRSAOAEP256, []byte("plaintext-dek-value"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.UnwrapKey(ctx, stranger, "kvt", "k", "", keycrypto.AlgRSAOAEP256, w.Value); err == nil {
		t.Fatal("stranger unwrapped")
	}
	e.clk.Advance(time.Hour)
	if _, err := e.s.UnwrapKey(ctx, owner, "kvt", "k", "", keycrypto.AlgRSAOAEP256, w.Value); err != nil {
		t.Fatal(err)
	}
	all, err := e.s.Audit(ctx, AuditQuery{Vault: "KVT"})
	if err != nil {
		t.Fatal(err)
	}
	ops := []string{}
	for _, x := range all {
		ops = append(ops, x.Operation)
	}
	if strings.Join(ops, ",") != "VaultPut,KeyCreate,KeyWrap,KeyUnwrap,KeyUnwrap" {
		t.Fatalf("operations %v", ops)
	}
	wr := all[2]
	if wr.ObjectID != "owner" || wr.AppID != "app-owner" || wr.TenantID != testTenant || wr.RequestID != "req-1" || wr.CorrelationID != "cid-owner" ||
		wr.ClientIP != "127.0.0.1" || wr.ResultCode != 200 || wr.KeyName != "k" || len(wr.KeyVersion) != 32 || wr.VaultID == "" || !wr.Time.Equal(t0) {
		t.Fatalf("wrap entry %+v", wr)
	}
	if d := all[3]; d.ResultCode != 403 || d.ResultType != "Forbidden" || d.ObjectID != "stranger" {
		t.Fatalf("denied entry %+v", d)
	}
	for _, tc := range []struct {
		q    AuditQuery
		want int
	}{
		{AuditQuery{Caller: "stranger"}, 1},
		{AuditQuery{Caller: "app-owner", Key: "k"}, 3},
		{AuditQuery{Since: t0.Add(time.Minute)}, 1},
		{AuditQuery{Until: t0.Add(time.Minute)}, 4},
		{AuditQuery{Operation: "keyunwrap", Limit: 1}, 1},
		{AuditQuery{Vault: "nope"}, 0},
	} {
		got, err := e.s.Audit(ctx, tc.q)
		if err != nil || len(got) != tc.want {
			t.Errorf("Audit(%+v) = %d entries, %v; want %d", tc.q, len(got), err, tc.want)
		}
	}
	// The file sink has the same entries and no plaintext.
	e.s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 5 {
		t.Fatalf("file has %d lines", len(lines))
	}
	var x AuditEntry
	if err := json.Unmarshal([]byte(lines[2]), &x); err != nil || x.Operation != "KeyWrap" {
		t.Fatalf("line %q: %v", lines[2], err)
	}
	if bytes.Contains(raw, []byte("plaintext-dek-value")) {
		t.Fatal("plaintext in the audit file")
	}
	// Sequence numbers continue after a restart.
	e.reopen(t)
	e.clk.Set(t0)
	if _, err := e.s.GetKey(ctx, owner, "kvt", "k", ""); err != nil {
		t.Fatal(err)
	}
	got, _ := e.s.Audit(ctx, AuditQuery{Vault: "kvt"})
	if len(got) != 6 {
		t.Fatalf("after restart %d entries, want 6", len(got))
	}
}

func TestReloadKeepsKeys(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.vault(t, "kvt", nil)
	kb := e.rsaKey(t, "kvt", "k", nil)
	ec, err := e.s.CreateKey(ctx, owner, "kvt", "ec", CreateKeyParams{Kty: "EC", Curve: "P-521"})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := e.s.WrapKey(ctx, owner, "kvt", "k", "", keycrypto.AlgRSAOAEP, []byte("dek"))
	digest := sha256.Sum256([]byte("m"))
	digest512 := make([]byte, 64)
	sig, err := e.s.Sign(ctx, owner, "kvt", "ec", "", keycrypto.AlgES512, digest512)
	if err != nil {
		t.Fatal(err)
	}
	_ = digest
	e.reopen(t)
	got, err := e.s.UnwrapKey(ctx, owner, "kvt", "k", versionOf(kb), keycrypto.AlgRSAOAEP, w.Value)
	if err != nil || string(got.Value) != "dek" {
		t.Fatalf("unwrap after reload: %v", err)
	}
	ok, err := e.s.Verify(ctx, owner, "kvt", "ec", versionOf(ec), keycrypto.AlgES512, digest512, sig.Value)
	if err != nil || !ok {
		t.Fatalf("verify after reload: %v %v", ok, err)
	}
	if ok, _ := e.s.Verify(ctx, owner, "kvt", "ec", "", keycrypto.AlgES512, digest512, flip(sig.Value)); ok {
		t.Fatal("verified a bad signature")
	}
}

func TestEventsDoNotBlock(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	got := make(chan Event, 100)
	cancel := e.s.Subscribe(func(x Event) {
		<-release
		got <- x
	})
	defer cancel()
	e.vault(t, "kvt", nil)
	for i := range 3 {
		e.rsaKey(t, "kvt", "k"+string(rune('a'+i)), func(p *CreateKeyParams) { p.Kty, p.Size = "EC", 0 })
	}
	close(release)
	var names []string
	for range 3 {
		select {
		case x := <-got:
			names = append(names, x.KeyName)
		case <-time.After(5 * time.Second):
			t.Fatal("events not delivered")
		}
	}
	if strings.Join(names, ",") != "ka,kb,kc" {
		t.Fatalf("events out of order: %v", names)
	}
}

func TestParseKeyID(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		kid  string
		want KeyRef
		ok   bool
	}{
		{"https://kv1.vault.test.local:8443/keys/cmk/0123456789abcdef0123456789abcdef", KeyRef{"kv1", "cmk", "0123456789abcdef0123456789abcdef"}, true},
		{"https://KV1.vault.test.local/keys/cmk", KeyRef{"kv1", "cmk", ""}, true},
		{"https://kv1.vault.test.local/keys/cmk/", KeyRef{"kv1", "cmk", ""}, true},
		{"http://kv1.vault.test.local/keys/cmk", KeyRef{}, false},
		{"https://kv1.vault.azure.net/keys/cmk", KeyRef{}, false},
		{"https://kv1.vault.test.local/secrets/cmk", KeyRef{}, false},
		{"https://kv1.vault.test.local/keys/c_m_k", KeyRef{}, false},
		{"https://kv1.vault.test.local/keys/a/b/c", KeyRef{}, false},
		{"::", KeyRef{}, false},
	} {
		got, err := e.s.ParseKeyID(tc.kid)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseKeyID(%q) = %+v, %v", tc.kid, got, err)
		}
	}
}
