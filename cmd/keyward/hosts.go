package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
)

// serviceHosts returns the fixed hosts and those of every vault and
// namespace of the subscription, as the resource manager lists them.
func serviceHosts(cmd *cobra.Command, c *client.Client) ([]string, error) {
	d := strings.TrimPrefix(c.Conn.KeyVaultDNSSuffix, "vault.")
	hosts := []string{"login." + d, "management." + d, "graph." + d}
	ctx, cancel := waitCtx(cmd.Context())
	defer cancel()
	var list struct {
		Value []struct {
			Name string `json:"name"`
		} `json:"value"`
	}
	if err := armDo(ctx, c, "GET", subPath(c, "/providers/Microsoft.KeyVault/vaults"), "2024-11-01", nil, &list); err != nil {
		return nil, err
	}
	for _, v := range list.Value {
		hosts = append(hosts, strings.ToLower(v.Name)+"."+c.Conn.KeyVaultDNSSuffix)
	}
	list.Value = nil
	if err := armDo(ctx, c, "GET", subPath(c, "/providers/Microsoft.ServiceBus/namespaces"), "2021-11-01", nil, &list); err != nil {
		return nil, err
	}
	for _, n := range list.Value {
		hosts = append(hosts, strings.ToLower(n.Name)+"."+c.Conn.ServiceBusDNSSuffix)
	}
	return hosts, nil
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
