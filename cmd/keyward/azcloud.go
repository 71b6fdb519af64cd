package main

import (
	"github.com/spf13/cobra"

	"github.com/keyward/keyward/internal/client"
)

func newAzCloudCmd() *cobra.Command {
	var cf connFlags
	cmd := &cobra.Command{
		Use:   "az-cloud",
		Short: "Print the Azure CLI cloud configuration of this keyward (for az cloud register --cloud-config @FILE)",
		Long: `Print the Azure CLI cloud configuration of the running keyward, as JSON:

  keyward az-cloud > keyward-cloud.json
  az cloud register -n keyward --cloud-config @keyward-cloud.json
  az cloud set -n keyward
  REQUESTS_CA_BUNDLE=./keyward-data/ca.pem az login --service-principal -u CLIENT_ID -p CLIENT_SECRET --tenant TENANT_ID

The login endpoint is keyward's AD FS-style authority (/adfs), which the
Azure CLI accepts without asking login.microsoftonline.com to validate it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := cf.load()
			if err != nil {
				return err
			}
			cfg, err := client.AzureCLICloud(conn)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), cfg)
		},
	}
	cf.register(cmd)
	return cmd
}
