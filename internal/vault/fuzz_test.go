package vault

import (
	"strings"
	"testing"
	"time"
)

func FuzzParseISODuration(f *testing.F) {
	for _, s := range []string{"P90D", "P1Y2M10DT2H30M", "PT48H", "P", "PT", "P1W", "p18m", "P1D2Y", "P99999999D", "-P1D", "P1.5D"} {
		f.Add(s)
	}
	ref := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseISODuration(s)
		if err != nil {
			return
		}
		if !strings.HasPrefix(strings.ToUpper(s), "P") {
			t.Fatalf("accepted %q without P", s)
		}
		later := d.addTo(ref)
		if later.Before(ref) {
			t.Fatalf("%q goes backwards", s)
		}
		if d.approx() < 0 {
			t.Fatalf("%q is negative", s)
		}
	})
}

func FuzzNormalizePolicy(f *testing.F) {
	f.Add("Rotate", "P30D", "", "Notify", "", "P7D", "P90D")
	f.Add("rotate", "", "P10D", "", "", "", "P1Y")
	f.Add("", "", "", "", "", "", "")
	f.Fuzz(func(t *testing.T, t1, ac1, be1, t2, ac2, be2, exp string) {
		p := RotationPolicy{ExpiryTime: exp, LifetimeActions: []LifetimeAction{
			{Type: t1, TimeAfterCreate: ac1, TimeBeforeExpiry: be1},
			{Type: t2, TimeAfterCreate: ac2, TimeBeforeExpiry: be2},
		}}
		np, err := normalizePolicy(p)
		if err != nil {
			if _, ok := AsError(err); !ok {
				t.Fatalf("error %v is not a vault error", err)
			}
			return
		}
		// A normalized policy normalizes to itself.
		again, err := normalizePolicy(np)
		if err != nil || len(again.LifetimeActions) != len(np.LifetimeActions) || again.ExpiryTime != np.ExpiryTime {
			t.Fatalf("not idempotent: %+v -> %+v, %v", np, again, err)
		}
	})
}

func FuzzParseKeyID(f *testing.F) {
	s := &Service{cfg: Config{DNSSuffix: "vault.test.local", Port: "8443"}}
	for _, k := range []string{"https://kv1.vault.test.local:8443/keys/k/0123", "https://a.vault.test.local/keys/k", "https://x/keys", "%zz", ""} {
		f.Add(k)
	}
	f.Fuzz(func(t *testing.T, kid string) {
		ref, err := s.ParseKeyID(kid)
		if err != nil {
			return
		}
		if !ValidVaultName(ref.Vault) || !ValidKeyName(ref.Name) {
			t.Fatalf("accepted %q as %+v", kid, ref)
		}
		back, err := s.ParseKeyID(s.KeyID(ref.Vault, ref.Name, ref.Version))
		if err != nil || back != ref {
			t.Fatalf("round trip of %+v: %+v, %v", ref, back, err)
		}
	})
}

// FuzzRestoreBlob feeds arbitrary backup blobs to the backup parser: every
// one must be refused with BadParameter (only this installation's sealed
// blobs open).
func FuzzRestoreBlob(f *testing.F) {
	e := newEnv(f)
	e.vault(f, "kvfuzz", nil)
	e.rsaKey(f, "kvfuzz", "k", func(p *CreateKeyParams) { p.Kty, p.Size = "EC", 0 })
	blob, err := e.s.backupKey(e.s.vaults["kvfuzz"].auth, "k")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(blob)
	f.Add([]byte("KWKB\x01"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		doc, err := e.s.openBackup(b)
		if err == nil {
			if string(b) != string(blob) {
				t.Fatalf("opened a blob that is not the original (%d bytes)", len(b))
			}
			if doc.Name != "k" {
				t.Fatalf("doc %+v", doc.Name)
			}
			return
		}
		if ve, ok := AsError(err); !ok || ve.Code != "BadParameter" {
			t.Fatalf("error %v", err)
		}
	})
}
