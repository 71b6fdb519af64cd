// Package connfile defines connection.json, the file keyward writes into its
// data directory so that clients (the CLI, tests, users' scripts) know how to
// reach it and authenticate as the bootstrap principal.
package connfile

import (
	"encoding/json"
	"fmt"
	"os"
)

// Name is the file's name in the data directory.
const Name = "connection.json"

// Connection is the content of connection.json, as ../shared/contract.md
// defines it.
type Connection struct {
	TenantID                string `json:"tenantId"`
	SubscriptionID          string `json:"subscriptionId"`
	ClientID                string `json:"clientId"`
	ClientSecret            string `json:"clientSecret"`
	ObjectID                string `json:"objectId"`
	AuthorityHost           string `json:"authorityHost"`
	ResourceManagerEndpoint string `json:"resourceManagerEndpoint"`
	ResourceManagerAudience string `json:"resourceManagerAudience"`
	GraphEndpoint           string `json:"graphEndpoint"`
	KeyVaultDNSSuffix       string `json:"keyVaultDnsSuffix"`
	ServiceBusDNSSuffix     string `json:"serviceBusDnsSuffix"`
	HTTPSAddr               string `json:"httpsAddr"`
	AMQPAddr                string `json:"amqpAddr"`
	AMQPPlainAddr           string `json:"amqpPlainAddr"`
	CAFile                  string `json:"caFile"`
}

// Read reads a connection.json file.
func Read(path string) (Connection, error) {
	var c Connection
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}
