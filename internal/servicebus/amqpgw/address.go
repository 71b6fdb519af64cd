package amqpgw

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/keyward/keyward/internal/servicebus"
)

// nodeKind is what a link address names.
type nodeKind int

const (
	nodeEntity     nodeKind = iota // a queue, topic, subscription or dead-letter queue
	nodeCBS                        // $cbs, the claims-based-security node
	nodeManagement                 // <entity>/$management
)

// Node names of the Service Bus dialect.
const (
	cbsNode        = "$cbs"
	managementNode = "$management"
)

// address is a parsed link address.
type address struct {
	kind nodeKind
	// ep and path name the entity (for nodeEntity and nodeManagement);
	// path is ep in canonical spelling.
	ep   servicebus.EntityPath
	path string
}

// authPath is the lower-case path claims are matched against: the entity
// path, or "<entity>/$management" for the management node.
func (a address) authPath() string {
	p := strings.ToLower(a.path)
	if a.kind == nodeManagement {
		p += "/" + strings.ToLower(managementNode)
	}
	return p
}

// stripURL turns "amqps://host:port/path" into "path"; other addresses are
// returned without a leading "/".
func stripURL(addr string) string {
	if i := strings.Index(addr, "://"); i >= 0 {
		rest := addr[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			addr = rest[j:]
		} else {
			addr = ""
		}
	}
	return strings.TrimPrefix(addr, "/")
}

// parseAddress parses a source or target address: "$cbs",
// "<entity>/$management" or an entity path ("queue", "topic",
// "topic/Subscriptions/sub", either with "/$DeadLetterQueue" or
// "/$Transfer/$DeadLetterQueue"), case-insensitively, optionally as a URL.
func parseAddress(addr string) (address, error) {
	p := strings.TrimRight(stripURL(addr), "/")
	if p == "" {
		return address{}, errors.New("empty address")
	}
	if strings.EqualFold(p, cbsNode) {
		return address{kind: nodeCBS, path: cbsNode}, nil
	}
	kind := nodeEntity
	suffix := "/" + managementNode
	if len(p) > len(suffix) && strings.EqualFold(p[len(p)-len(suffix):], suffix) {
		kind = nodeManagement
		p = p[:len(p)-len(suffix)]
	}
	ep, err := servicebus.ParseEntityPath(p)
	if err != nil {
		return address{}, fmt.Errorf("address %q: %w", addr, err)
	}
	return address{kind: kind, ep: ep, path: ep.String()}, nil
}

// hostOnly returns host without a port, lower-case.
func hostOnly(host string) string {
	host = strings.TrimSpace(host)
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// namespaceFromHost returns the namespace a host name names
// ("<ns>.<suffix>"), or "" when it is an IP address or another name.
func namespaceFromHost(host, suffix string) string {
	h := hostOnly(host)
	if h == "" || net.ParseIP(h) != nil {
		return ""
	}
	name, ok := strings.CutSuffix(h, "."+strings.ToLower(suffix))
	if !ok || name == "" || strings.Contains(name, ".") {
		return ""
	}
	return name
}

// splitAudience splits a token audience ("amqp://host:port/path",
// "sb://host/path") into its host (no port, lower-case) and its path
// (lower-case, no leading or trailing "/").
func splitAudience(aud string) (host, path string, err error) {
	a := strings.TrimSpace(aud)
	i := strings.Index(a, "://")
	if i < 0 {
		return "", "", fmt.Errorf("audience %q is not a URL", aud)
	}
	rest := a[i+3:]
	h, p, _ := strings.Cut(rest, "/")
	if q := strings.IndexAny(p, "?#"); q >= 0 {
		p = p[:q]
	}
	host = hostOnly(h)
	if host == "" {
		return "", "", fmt.Errorf("audience %q has no host", aud)
	}
	return host, strings.ToLower(strings.Trim(p, "/")), nil
}

// covers reports whether a claim for claimPath (lower-case, "" for the
// whole namespace) covers path.
func covers(claimPath, path string) bool {
	return claimPath == "" || claimPath == path || strings.HasPrefix(path, claimPath+"/")
}
