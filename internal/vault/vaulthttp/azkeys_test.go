package vaulthttp_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azkeys"

	"github.com/keyward/keyward/internal/vault"
)

func TestChallenge(t *testing.T) {
	h := newHarness(t)
	h.vault("kvc", nil)
	status, hdr, body := h.do(http.MethodPost, "kvc", "/keys/k/create?api-version=2025-07-01", "", `{"kty":"RSA"}`)
	if status != http.StatusUnauthorized {
		t.Fatalf("status %d", status)
	}
	want := `Bearer authorization="` + h.loginBase + "/" + h.tenant + `", resource="https://vault.` + testDomain + ":" + h.port + `"`
	if got := hdr.Get("WWW-Authenticate"); got != want {
		t.Fatalf("WWW-Authenticate = %q, want %q", got, want)
	}
	if code, _, msg := errorOf(t, body); code != "Unauthorized" || !strings.Contains(msg, "AKV10000") {
		t.Fatalf("body %s", body)
	}
	// A bad token is challenged too.
	status, hdr, _ = h.do(http.MethodGet, "kvc", "/keys?api-version=7.4", "not-a-token", nil)
	if status != http.StatusUnauthorized || hdr.Get("WWW-Authenticate") != want {
		t.Fatalf("bad token: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
	// Unknown vault: 404 without a challenge.
	status, _, body = h.do(http.MethodGet, "nosuchvault", "/keys?api-version=7.4", "", nil)
	if code, _, _ := errorOf(t, body); status != 404 || code != "VaultNotFound" {
		t.Fatalf("unknown vault: %d %s", status, body)
	}
}

func TestAzkeysEveryOperation(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	owner := h.principal("owner")
	h.vault("kv1", func(s *vault.VaultSpec) { s.EnablePurgeProtection = nil }, h.policy(owner, "all"))
	c := h.keys("kv1", owner)

	// Create every key type and size.
	for _, tc := range []struct {
		name string
		p    azkeys.CreateKeyParameters
		kty  azkeys.KeyType
		size int
	}{
		{"rsa2048", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA), KeySize: ptr(int32(2048))}, azkeys.KeyTypeRSA, 256},
		{"rsa3072", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA), KeySize: ptr(int32(3072)), PublicExponent: ptr(int32(65537))}, azkeys.KeyTypeRSA, 384},
		{"rsa4096", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA), KeySize: ptr(int32(4096))}, azkeys.KeyTypeRSA, 512},
		{"rsahsm", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSAHSM)}, azkeys.KeyTypeRSAHSM, 256},
		{"ec256", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC), Curve: ptr(azkeys.CurveNameP256)}, azkeys.KeyTypeEC, 32},
		{"ec384", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC), Curve: ptr(azkeys.CurveNameP384)}, azkeys.KeyTypeEC, 48},
		{"ec521", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeECHSM), Curve: ptr(azkeys.CurveNameP521)}, azkeys.KeyTypeECHSM, 66},
	} {
		resp, err := c.CreateKey(ctx, tc.name, tc.p, nil)
		if err != nil {
			t.Fatalf("create %s: %v", tc.name, err)
		}
		k := resp.Key
		if *k.Kty != tc.kty || k.KID.Name() != tc.name || len(k.KID.Version()) != 32 || k.D != nil {
			t.Fatalf("create %s: kid %s kty %s", tc.name, *k.KID, *k.Kty)
		}
		if n := max(len(k.N), len(k.X)); n != tc.size {
			t.Fatalf("create %s: public size %d, want %d", tc.name, n, tc.size)
		}
		if a := resp.Attributes; !*a.Enabled || *a.RecoveryLevel != "Recoverable+Purgeable" || *a.RecoverableDays != 90 || a.Created == nil {
			t.Fatalf("create %s: attributes %+v", tc.name, a)
		}
	}

	// Import a JWK (EC P-256 from a known key, built by the SDK's own types).
	imp := importableRSA(t)
	ir, err := c.ImportKey(ctx, "imported", azkeys.ImportKeyParameters{Key: imp, Tags: map[string]*string{"src": ptr("byok")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(ir.Key.N, imp.N) || ir.Key.D != nil || *ir.Tags["src"] != "byok" {
		t.Fatalf("import: %+v", ir.Key)
	}

	// Get latest (trailing-slash form) and a version.
	g, err := c.GetKey(ctx, "rsa2048", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := g.Key.KID.Version()
	if g2, err := c.GetKey(ctx, "rsa2048", v1, nil); err != nil || *g2.Key.KID != *g.Key.KID {
		t.Fatal(err)
	}

	// Crypto: encrypt/decrypt with every RSA algorithm, wrap/unwrap, sign/verify.
	for _, alg := range []azkeys.EncryptionAlgorithm{azkeys.EncryptionAlgorithmRSA15, azkeys.EncryptionAlgorithmRSAOAEP, azkeys.EncryptionAlgorithmRSAOAEP256} {
		enc, err := c.Encrypt(ctx, "rsa2048", "", azkeys.KeyOperationParameters{Algorithm: &alg, Value: []byte("hello " + string(alg))}, nil)
		if err != nil {
			t.Fatalf("encrypt %s: %v", alg, err)
		}
		if enc.KID.Version() != v1 {
			t.Fatalf("encrypt kid %s", *enc.KID)
		}
		dec, err := c.Decrypt(ctx, "rsa2048", v1, azkeys.KeyOperationParameters{Algorithm: &alg, Value: enc.Result}, nil)
		if err != nil || string(dec.Result) != "hello "+string(alg) {
			t.Fatalf("decrypt %s: %v", alg, err)
		}
	}
	dek := bytes.Repeat([]byte{0x42}, 32)
	wr, err := c.WrapKey(ctx, "rsa4096", "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: dek}, nil)
	if err != nil {
		t.Fatal(err)
	}
	uw, err := c.UnwrapKey(ctx, "rsa4096", wr.KID.Version(), azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wr.Result}, nil)
	if err != nil || !bytes.Equal(uw.Result, dek) {
		t.Fatalf("unwrap: %v", err)
	}
	d256 := sha256.Sum256([]byte("message"))
	d384 := sha512.Sum384([]byte("message"))
	d512 := sha512.Sum512([]byte("message"))
	for _, tc := range []struct {
		key    string
		alg    azkeys.SignatureAlgorithm
		digest []byte
	}{
		{"rsa2048", azkeys.SignatureAlgorithmRS256, d256[:]},
		{"rsa3072", azkeys.SignatureAlgorithmPS384, d384[:]},
		{"rsahsm", azkeys.SignatureAlgorithmRS512, d512[:]},
		{"ec256", azkeys.SignatureAlgorithmES256, d256[:]},
		{"ec384", azkeys.SignatureAlgorithmES384, d384[:]},
		{"ec521", azkeys.SignatureAlgorithmES512, d512[:]},
	} {
		s, err := c.Sign(ctx, tc.key, "", azkeys.SignParameters{Algorithm: &tc.alg, Value: tc.digest}, nil)
		if err != nil {
			t.Fatalf("sign %s %s: %v", tc.key, tc.alg, err)
		}
		v, err := c.Verify(ctx, tc.key, s.KID.Version(), azkeys.VerifyParameters{Algorithm: &tc.alg, Digest: tc.digest, Signature: s.Result}, nil)
		if err != nil || !*v.Value {
			t.Fatalf("verify %s: %v %v", tc.key, err, v.Value)
		}
		bad := slices.Clone(s.Result)
		bad[0] ^= 1
		v, err = c.Verify(ctx, tc.key, "", azkeys.VerifyParameters{Algorithm: &tc.alg, Digest: tc.digest, Signature: bad}, nil)
		if err != nil || *v.Value {
			t.Fatalf("verify bad signature %s: %v %v", tc.key, err, v.Value)
		}
	}
	rb, err := c.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: ptr(int32(48))}, nil)
	if err != nil || len(rb.Value) != 48 {
		t.Fatalf("random: %v %d", err, len(rb.Value))
	}

	// Update (latest form), rotation, versions, rotation policy.
	exp := time.Now().Add(400 * 24 * time.Hour).Truncate(time.Second)
	up, err := c.UpdateKey(ctx, "rsa2048", "", azkeys.UpdateKeyParameters{
		KeyAttributes: &azkeys.KeyAttributes{Expires: &exp}, Tags: map[string]*string{"owner": ptr("team")},
		KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationWrapKey), ptr(azkeys.KeyOperationUnwrapKey)},
	}, nil)
	if err != nil || !up.Attributes.Expires.Equal(exp) || *up.Tags["owner"] != "team" || len(up.Key.KeyOps) != 2 {
		t.Fatalf("update: %+v %v", up, err)
	}
	pol, err := c.UpdateKeyRotationPolicy(ctx, "rsa2048", azkeys.KeyRotationPolicy{
		LifetimeActions: []*azkeys.LifetimeAction{{
			Action:  &azkeys.LifetimeActionType{Type: ptr(azkeys.KeyRotationPolicyActionRotate)},
			Trigger: &azkeys.LifetimeActionTrigger{TimeAfterCreate: ptr("P30D")},
		}},
		Attributes: &azkeys.KeyRotationPolicyAttributes{ExpiryTime: ptr("P90D")},
	}, nil)
	if err != nil || *pol.Attributes.ExpiryTime != "P90D" || *pol.LifetimeActions[0].Trigger.TimeAfterCreate != "P30D" || pol.Attributes.Created == nil {
		t.Fatalf("set policy: %+v %v", pol, err)
	}
	gp, err := c.GetKeyRotationPolicy(ctx, "rsa2048", nil)
	if err != nil || *gp.ID != h.vaultURL("kv1")+"/keys/rsa2048/rotationpolicy" || *gp.LifetimeActions[0].Action.Type != azkeys.KeyRotationPolicyActionRotate {
		t.Fatalf("get policy: %+v %v", gp, err)
	}
	rot, err := c.RotateKey(ctx, "rsa2048", nil)
	if err != nil || rot.Key.KID.Version() == v1 || rot.Attributes.Expires == nil || len(rot.Key.KeyOps) != 2 {
		t.Fatalf("rotate: %+v %v", rot, err)
	}
	var versions []string
	vp := c.NewListKeyPropertiesVersionsPager("rsa2048", nil)
	for vp.More() {
		page, err := vp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Value {
			versions = append(versions, it.KID.Version())
		}
	}
	if len(versions) != 2 || versions[0] != v1 || versions[1] != rot.Key.KID.Version() {
		t.Fatalf("versions %v", versions)
	}

	// List keys (names only, no versions in kid).
	var names []string
	kp := c.NewListKeyPropertiesPager(nil)
	for kp.More() {
		page, err := kp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Value {
			if it.KID.Version() != "" {
				t.Fatalf("list kid has a version: %s", *it.KID)
			}
			names = append(names, it.KID.Name())
		}
	}
	if strings.Join(names, ",") != "ec256,ec384,ec521,imported,rsa2048,rsa3072,rsa4096,rsahsm" {
		t.Fatalf("names %v", names)
	}

	// Backup, delete, deleted views, recover, delete+purge, restore.
	bk, err := c.BackupKey(ctx, "rsa4096", nil)
	if err != nil || len(bk.Value) < 1000 {
		t.Fatalf("backup: %v", err)
	}
	del, err := c.DeleteKey(ctx, "rsa4096", nil)
	if err != nil || *del.RecoveryID != h.vaultURL("kv1")+"/deletedkeys/rsa4096" || del.ScheduledPurgeDate == nil || del.DeletedDate == nil {
		t.Fatalf("delete: %+v %v", del, err)
	}
	if _, err := c.GetKey(ctx, "rsa4096", "", nil); err == nil {
		t.Fatal("deleted key still readable")
	} else {
		wantStatus(t, err, 404, "KeyNotFound")
	}
	_, err = c.CreateKey(ctx, "rsa4096", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC)}, nil)
	wantStatus(t, err, 409, "Conflict")
	gd, err := c.GetDeletedKey(ctx, "rsa4096", nil)
	if err != nil || gd.Key.KID.Version() != wr.KID.Version() {
		t.Fatalf("get deleted: %v", err)
	}
	dp := c.NewListDeletedKeyPropertiesPager(nil)
	ndel := 0
	for dp.More() {
		page, err := dp.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ndel += len(page.Value)
	}
	if ndel != 1 {
		t.Fatalf("%d deleted keys", ndel)
	}
	if _, err := c.RecoverDeletedKey(ctx, "rsa4096", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteKey(ctx, "rsa4096", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PurgeDeletedKey(ctx, "rsa4096", nil); err != nil {
		t.Fatal(err)
	}
	rs, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: bk.Value}, nil)
	if err != nil || rs.Key.KID.Name() != "rsa4096" {
		t.Fatalf("restore: %v", err)
	}
	_, err = c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: bk.Value}, nil)
	wantStatus(t, err, 409, "Conflict")
	uw, err = c.UnwrapKey(ctx, "rsa4096", wr.KID.Version(), azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wr.Result}, nil)
	if err != nil || !bytes.Equal(uw.Result, dek) {
		t.Fatalf("unwrap after restore: %v", err)
	}
}

func TestAzkeysPaging(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	owner := h.principal("owner")
	h.vault("kvpage", nil, h.policy(owner, "all"))
	c := h.keys("kvpage", owner)
	const n = 30
	for range n {
		if _, err := c.CreateKey(ctx, "ec", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeEC)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	pages, total := 0, 0
	p := c.NewListKeyPropertiesVersionsPager("ec", nil)
	for p.More() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		total += len(page.Value)
		if page.NextLink != nil && !strings.HasPrefix(*page.NextLink, h.vaultURL("kvpage")+"/keys/ec/versions?") {
			t.Fatalf("nextLink %q is not absolute", *page.NextLink)
		}
	}
	if pages != 2 || total != n {
		t.Fatalf("%d pages, %d versions", pages, total)
	}
	// maxresults through the raw API.
	tok := h.token(owner)
	status, _, body := h.do(http.MethodGet, "kvpage", "/keys/ec/versions?api-version=7.4&maxresults=7", tok, nil)
	if status != 200 || !bytes.Contains(body, []byte(`"nextLink":"https://kvpage.vault.`)) || !bytes.Contains(body, []byte("maxresults=7")) {
		t.Fatalf("maxresults: %d %s", status, body)
	}
	status, _, body = h.do(http.MethodGet, "kvpage", "/keys?api-version=7.4&maxresults=0", tok, nil)
	if code, _, _ := errorOf(t, body); status != 400 || code != "BadParameter" {
		t.Fatalf("maxresults=0: %d %s", status, body)
	}
}

func TestAzkeysForbiddenWithoutPolicy(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	owner, other := h.principal("owner"), h.principal("other")
	h.vault("kv2", nil, h.policy(owner, "all"))
	oc := h.keys("kv2", owner)
	kr, err := oc.CreateKey(ctx, "k", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wr, err := oc.WrapKey(ctx, "k", "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("dek")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	bk, err := oc.BackupKey(ctx, "k", nil)
	if err != nil {
		t.Fatal(err)
	}
	c := h.keys("kv2", other)
	ver := kr.Key.KID.Version()
	d := sha256.Sum256(nil)
	oaep := ptr(azkeys.EncryptionAlgorithmRSAOAEP)
	for name, call := range map[string]func() error{
		"create": func() error {
			_, err := c.CreateKey(ctx, "k2", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil)
			return err
		},
		"import": func() error {
			_, err := c.ImportKey(ctx, "k3", azkeys.ImportKeyParameters{Key: importableRSA(t)}, nil)
			return err
		},
		"get":    func() error { _, err := c.GetKey(ctx, "k", ver, nil); return err },
		"update": func() error { _, err := c.UpdateKey(ctx, "k", "", azkeys.UpdateKeyParameters{}, nil); return err },
		"list": func() error {
			_, err := c.NewListKeyPropertiesPager(nil).NextPage(ctx)
			return err
		},
		"versions": func() error {
			_, err := c.NewListKeyPropertiesVersionsPager("k", nil).NextPage(ctx)
			return err
		},
		"delete":     func() error { _, err := c.DeleteKey(ctx, "k", nil); return err },
		"getdeleted": func() error { _, err := c.GetDeletedKey(ctx, "k", nil); return err },
		"listdeleted": func() error {
			_, err := c.NewListDeletedKeyPropertiesPager(nil).NextPage(ctx)
			return err
		},
		"recover": func() error { _, err := c.RecoverDeletedKey(ctx, "k", nil); return err },
		"purge":   func() error { _, err := c.PurgeDeletedKey(ctx, "k", nil); return err },
		"backup":  func() error { _, err := c.BackupKey(ctx, "k", nil); return err },
		"restore": func() error {
			_, err := c.RestoreKey(ctx, azkeys.RestoreKeyParameters{KeyBackup: bk.Value}, nil)
			return err
		},
		"rotate":    func() error { _, err := c.RotateKey(ctx, "k", nil); return err },
		"getpolicy": func() error { _, err := c.GetKeyRotationPolicy(ctx, "k", nil); return err },
		"setpolicy": func() error {
			_, err := c.UpdateKeyRotationPolicy(ctx, "k", azkeys.KeyRotationPolicy{}, nil)
			return err
		},
		"encrypt": func() error {
			_, err := c.Encrypt(ctx, "k", "", azkeys.KeyOperationParameters{Algorithm: oaep, Value: []byte("x")}, nil)
			return err
		},
		"decrypt": func() error {
			_, err := c.Decrypt(ctx, "k", ver, azkeys.KeyOperationParameters{Algorithm: oaep, Value: wr.Result}, nil)
			return err
		},
		"wrap": func() error {
			_, err := c.WrapKey(ctx, "k", "", azkeys.KeyOperationParameters{Algorithm: oaep, Value: []byte("x")}, nil)
			return err
		},
		"unwrap": func() error {
			_, err := c.UnwrapKey(ctx, "k", ver, azkeys.KeyOperationParameters{Algorithm: oaep, Value: wr.Result}, nil)
			return err
		},
		"sign": func() error {
			_, err := c.Sign(ctx, "k", "", azkeys.SignParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Value: d[:]}, nil)
			return err
		},
		"verify": func() error {
			_, err := c.Verify(ctx, "k", "", azkeys.VerifyParameters{Algorithm: ptr(azkeys.SignatureAlgorithmRS256), Digest: d[:], Signature: []byte("x")}, nil)
			return err
		},
		"random": func() error {
			_, err := c.GetRandomBytes(ctx, azkeys.GetRandomBytesParameters{Count: ptr(int32(8))}, nil)
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			re := wantStatus(t, call(), 403, "Forbidden")
			if !strings.Contains(re.Error(), "does not have keys") || !strings.Contains(re.Error(), "AccessDenied") {
				t.Fatalf("message: %v", re)
			}
		})
	}
	// The audit endpoint is refused too, and allowed to the owner.
	status, _, body := h.do(http.MethodGet, "kv2", "/keyward/audit", h.token(other), nil)
	if code, inner, _ := errorOf(t, body); status != 403 || code != "Forbidden" || inner != "AccessDenied" {
		t.Fatalf("audit as other: %d %s", status, body)
	}
	status, _, body = h.do(http.MethodGet, "kv2", "/keyward/audit?key=k&caller="+other.appID, h.token(owner), nil)
	if status != 200 || !bytes.Contains(body, []byte(`"operationName":"KeyUnwrap","resultCode":403`)) {
		t.Fatalf("audit as owner: %d %s", status, body)
	}
}

func TestAzkeysWrapOnly(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	owner, sb := h.principal("owner"), h.principal("servicebus")
	h.vault("kv3", nil, h.policy(owner, "all"), h.policy(sb, "wrapKey"))
	if _, err := h.keys("kv3", owner).CreateKey(ctx, "k", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
		t.Fatal(err)
	}
	c := h.keys("kv3", sb)
	wr, err := c.WrapKey(ctx, "k", "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("dek")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.UnwrapKey(ctx, "k", wr.KID.Version(), azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wr.Result}, nil)
	re := wantStatus(t, err, 403, "Forbidden")
	if !strings.Contains(re.Error(), "does not have keys unwrapKey permission on key vault 'kv3;location=westeurope'") {
		t.Fatalf("message: %v", re)
	}
	// Set-AzKeyVaultAccessPolicy -PermissionsToKeys get,wrapKey,unwrapKey,list
	if _, err := h.svc.AccessPolicyUpdate(ctx, vault.Caller{ObjectID: "test"}, vault.VaultRef{Name: "kv3"}, vault.AccessPolicyAdd,
		[]vault.AccessPolicy{h.policy(sb, "get", "wrapKey", "unwrapKey", "list")}); err != nil {
		t.Fatal(err)
	}
	uw, err := c.UnwrapKey(ctx, "k", wr.KID.Version(), azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wr.Result}, nil)
	if err != nil || string(uw.Result) != "dek" {
		t.Fatalf("unwrap after policy update: %v", err)
	}
}

func TestAzkeysRBAC(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	admin, sb := h.principal("admin"), h.principal("servicebus")
	h.vault("kv4", func(s *vault.VaultSpec) { s.EnableRbacAuthorization = ptr(true) })
	h.roles.set(admin.objectID, "*")
	// Key Vault Crypto Service Encryption User.
	h.roles.set(sb.objectID, vault.DataActionKeysRead, vault.DataActionKeysWrap, vault.DataActionKeysUnwrap)
	if _, err := h.keys("kv4", admin).CreateKey(ctx, "k", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil); err != nil {
		t.Fatal(err)
	}
	c := h.keys("kv4", sb)
	g, err := c.GetKey(ctx, "k", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	wr, err := c.WrapKey(ctx, "k", g.Key.KID.Version(), azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: []byte("dek")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	uw, err := c.UnwrapKey(ctx, "k", g.Key.KID.Version(), azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wr.Result}, nil)
	if err != nil || string(uw.Result) != "dek" {
		t.Fatal(err)
	}
	_, err = c.Decrypt(ctx, "k", "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wr.Result}, nil)
	re := wantStatus(t, err, 403, "Forbidden")
	if !strings.Contains(re.Error(), "ForbiddenByRbac") || !strings.Contains(re.Error(), vault.DataActionKeysDecrypt) {
		t.Fatalf("message: %v", re)
	}
	_, err = c.CreateKey(ctx, "k2", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil)
	wantStatus(t, err, 403, "Forbidden")
	// Revoking the role takes effect once the authz service says so.
	h.roles.set(sb.objectID)
	h.svc.NotifyRoleAssignmentsChanged("/subscriptions/" + testSub + "/resourceGroups/rg")
	_, err = c.UnwrapKey(ctx, "k", g.Key.KID.Version(), azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wr.Result}, nil)
	wantStatus(t, err, 403, "Forbidden")
}

func TestAzkeysKeyStates(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	owner := h.principal("owner")
	h.vault("kv5", nil, h.policy(owner, "all"))
	c := h.keys("kv5", owner)
	now := h.clk.Now()
	k, err := c.CreateKey(ctx, "k", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA), KeyAttributes: &azkeys.KeyAttributes{
		NotBefore: ptr(now.Add(time.Hour)), Expires: ptr(now.Add(3 * time.Hour)),
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := k.Key.KID.Version()
	wrap := func(version string) error {
		_, err := c.WrapKey(ctx, "k", version, azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP), Value: []byte("x")}, nil)
		return err
	}
	re := wantStatus(t, wrap(v1), 403, "Forbidden")
	if !strings.Contains(re.Error(), "KeyNotYetValid") {
		t.Fatalf("before nbf: %v", re)
	}
	h.clk.Advance(time.Hour)
	if err := wrap(v1); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpdateKey(ctx, "k", v1, azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: ptr(false)}}, nil); err != nil {
		t.Fatal(err)
	}
	re = wantStatus(t, wrap(v1), 403, "Forbidden")
	if !strings.Contains(re.Error(), "Operation wrapKey is not allowed on a disabled key.") {
		t.Fatalf("disabled: %v", re)
	}
	// A newer enabled version works while v1 stays disabled.
	k2, err := c.CreateKey(ctx, "k", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := wrap(""); err != nil {
		t.Fatal(err)
	}
	if g, err := c.GetKey(ctx, "k", v1, nil); err != nil || *g.Attributes.Enabled {
		t.Fatalf("get disabled version: %v", err)
	}
	if _, err := c.UpdateKey(ctx, "k", v1, azkeys.UpdateKeyParameters{KeyAttributes: &azkeys.KeyAttributes{Enabled: ptr(true)}}, nil); err != nil {
		t.Fatal(err)
	}
	h.clk.Advance(3 * time.Hour)
	re = wantStatus(t, wrap(v1), 403, "Forbidden")
	if !strings.Contains(re.Error(), "KeyExpired") {
		t.Fatalf("expired: %v", re)
	}
	if err := wrap(k2.Key.KID.Version()); err != nil {
		t.Fatal(err)
	}
	// key_ops.
	if _, err := c.UpdateKey(ctx, "k", "", azkeys.UpdateKeyParameters{KeyOps: []*azkeys.KeyOperation{ptr(azkeys.KeyOperationSign)}}, nil); err != nil {
		t.Fatal(err)
	}
	re = wantStatus(t, wrap(""), 403, "Forbidden")
	if !strings.Contains(re.Error(), "Operation wrapKey is not permitted on this key.") {
		t.Fatalf("key_ops: %v", re)
	}
}

func TestAzkeysUnwrapOldVersionAfterRotation(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	owner := h.principal("owner")
	h.vault("kv6", nil, h.policy(owner, "get", "create", "wrapKey", "unwrapKey", "rotate"))
	c := h.keys("kv6", owner)
	if _, err := c.CreateKey(ctx, "cmk", azkeys.CreateKeyParameters{Kty: ptr(azkeys.KeyTypeRSA), KeySize: ptr(int32(2048))}, nil); err != nil {
		t.Fatal(err)
	}
	dek := bytes.Repeat([]byte{9}, 32)
	wr, err := c.WrapKey(ctx, "cmk", "", azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: dek}, nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := wr.KID.Version()
	rot, err := c.RotateKey(ctx, "cmk", nil)
	if err != nil || rot.Key.KID.Version() == v1 {
		t.Fatal(err)
	}
	uw, err := c.UnwrapKey(ctx, "cmk", v1, azkeys.KeyOperationParameters{Algorithm: ptr(azkeys.EncryptionAlgorithmRSAOAEP256), Value: wr.Result}, nil)
	if err != nil || !bytes.Equal(uw.Result, dek) || uw.KID.Version() != v1 {
		t.Fatalf("unwrap with v1: %v", err)
	}
	g, err := c.GetKey(ctx, "cmk", "", nil)
	if err != nil || g.Key.KID.Version() != rot.Key.KID.Version() {
		t.Fatalf("latest after rotation: %v", err)
	}
}
