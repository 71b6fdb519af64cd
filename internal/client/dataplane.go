package client

import (
	"net"
	"net/url"
	"strings"
)

// publicPort is the port clients name in keyward's URLs: the one in the
// authority host (the port keyward advertises), else the listener's. It is
// "" for 443.
func (c *Client) publicPort() string {
	port := ""
	if u, err := url.Parse(c.Conn.AuthorityHost); err == nil && u.Port() != "" {
		port = u.Port()
	} else if _, p, err := net.SplitHostPort(c.Conn.HTTPSAddr); err == nil {
		port = p
	}
	if port == "443" {
		return ""
	}
	return port
}

// hostURL returns "https://<host>[:<port>]".
func (c *Client) hostURL(host string) string {
	if p := c.publicPort(); p != "" {
		return "https://" + host + ":" + p
	}
	return "https://" + host
}

// VaultURL returns the base URL of a vault's data plane, without a
// trailing slash: "https://<vault>.vault.<domain>:<port>".
func (c *Client) VaultURL(vault string) string {
	return c.hostURL(strings.ToLower(vault) + "." + c.Conn.KeyVaultDNSSuffix)
}

// VaultResource is the token audience of the vault data plane,
// "https://vault.<domain>:<port>", the resource the vaults name in their
// authentication challenges.
func (c *Client) VaultResource() string {
	return c.hostURL(c.Conn.KeyVaultDNSSuffix)
}

// VaultNameFromURL returns the vault name of a vault URL or key identifier
// ("https://kv1.vault.keyward.localhost:8443/keys/k/v" gives "kv1"), or ""
// when the URL is not one of this keyward's vaults.
func (c *Client) VaultNameFromURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	name, ok := strings.CutSuffix(strings.ToLower(u.Hostname()), "."+strings.ToLower(c.Conn.KeyVaultDNSSuffix))
	if !ok || name == "" || strings.Contains(name, ".") {
		return ""
	}
	return name
}
