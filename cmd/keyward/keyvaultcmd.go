package main

import "github.com/spf13/cobra"

func newKeyVaultCmd() *cobra.Command {
	return &cobra.Command{Use: "keyvault", Short: "Manage key vaults and keys (like az keyvault)"}
}
