package main

import "github.com/spf13/cobra"

func newServiceBusCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "servicebus", Short: "Manage Service Bus namespaces, entities and messages (like az servicebus)"}
	cmd.AddCommand(newServiceBusMessageCmd())
	return cmd
}
