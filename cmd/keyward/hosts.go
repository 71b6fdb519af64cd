package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
)

// serviceHosts returns the fixed hosts and those of every vault and
// namespace the resource manager knows.
func serviceHosts(cmd *cobra.Command, c *client.Client) ([]string, error) {
	d := strings.TrimPrefix(c.Conn.KeyVaultDNSSuffix, "vault.")
	return []string{"login." + d, "management." + d, "graph." + d}, nil
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	return def
}
