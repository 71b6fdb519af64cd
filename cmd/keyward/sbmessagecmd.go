package main

import "github.com/spf13/cobra"

func newServiceBusMessageCmd() *cobra.Command {
	return &cobra.Command{Use: "message", Short: "Send, receive and peek messages (REST messaging API)"}
}
