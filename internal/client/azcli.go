package client

import (
	"fmt"
	"net/url"
	"strings"
)

// AzureCLICloud is the --cloud-config of `az cloud register` for the
// keyward described by conn: its resource manager, its login host as an
// AD FS authority (MSAL Python, which the Azure CLI uses, validates any
// other authority with login.microsoftonline.com), its directory API for
// Microsoft Graph lookups, and the key vault DNS suffix with the port.
func AzureCLICloud(conn Connection) (map[string]any, error) {
	arm, err := url.Parse(conn.ResourceManagerEndpoint)
	if err != nil || arm.Host == "" {
		return nil, fmt.Errorf("connection.json: bad resourceManagerEndpoint %q", conn.ResourceManagerEndpoint)
	}
	kv := "." + conn.KeyVaultDNSSuffix
	if p := arm.Port(); p != "" && p != "443" {
		kv += ":" + p
	}
	return map[string]any{
		"endpoints": map[string]string{
			"resourceManager":                conn.ResourceManagerEndpoint,
			"activeDirectory":                strings.TrimRight(conn.AuthorityHost, "/") + "/adfs",
			"activeDirectoryResourceId":      conn.ResourceManagerAudience,
			"management":                     conn.ResourceManagerAudience,
			"activeDirectoryGraphResourceId": conn.GraphEndpoint,
			"microsoftGraphResourceId":       conn.GraphEndpoint,
		},
		"suffixes": map[string]string{"keyvaultDns": kv},
	}, nil
}
