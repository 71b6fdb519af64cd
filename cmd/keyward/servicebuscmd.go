package main

import "github.com/spf13/cobra"

func newServiceBusCmd() *cobra.Command {
	return &cobra.Command{Use: "servicebus", Short: "Manage Service Bus namespaces, entities and messages (like az servicebus)"}
}
