// Package e2e holds keyward's conformance suite: tests that start a real
// keyward on loopback and drive it with the official Azure SDK clients,
// unmodified but for endpoint, trusted CA and credentials.
package e2e
