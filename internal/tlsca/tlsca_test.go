package tlsca

import (
	"crypto/x509"
	"net"
	"testing"
	"time"
)

func TestIssueAndVerify(t *testing.T) {
	now := time.Now()
	ca, err := New(now)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := ca.MarshalKey()
	if err != nil {
		t.Fatal(err)
	}
	ca2, err := Parse(ca.CertPEM(), keyDER)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := ca2.Issue([]string{"login.keyward.localhost", "*.vault.keyward.localhost"}, []net.IP{net.ParseIP("127.0.0.1")}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"login.keyward.localhost", "kv1.vault.keyward.localhost", "127.0.0.1"} {
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: ca.Pool()}); err != nil {
			t.Errorf("verify %s: %v", host, err)
		}
	}
	if _, err := cert.Leaf.Verify(x509.VerifyOptions{DNSName: "evil.example", Roots: ca.Pool()}); err == nil {
		t.Error("certificate verified for a host it does not name")
	}
	other, _ := New(now)
	if _, err := Parse(other.CertPEM(), keyDER); err == nil {
		t.Error("Parse accepted a key that does not match the certificate")
	}
}
