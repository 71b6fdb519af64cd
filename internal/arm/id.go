// Package arm is keyward's resource manager: Azure Resource Manager's
// protocol model (resource ids, targets, api-versions, errors, long-running
// operations), subscriptions, resource groups, the generic resource index,
// and the Provider interface that every resource provider (key vaults,
// Service Bus, Logic, managed identities, authorization, deployments)
// implements. It is free of HTTP: armhttp puts it on the wire, and template
// deployments call it in-process.
package arm

import (
	"fmt"
	"strings"
)

// TargetKind says what a request addresses.
type TargetKind int

// Target kinds.
const (
	KindSubscriptions    TargetKind = iota + 1 // /subscriptions
	KindSubscription                           // /subscriptions/{s}
	KindLocations                              // /subscriptions/{s}/locations
	KindProviders                              // /subscriptions/{s}/providers
	KindProvider                               // /subscriptions/{s}/providers/{ns}
	KindProviderAction                         // /subscriptions/{s}/providers/{ns}/register
	KindResourceGroups                         // /subscriptions/{s}/resourcegroups
	KindResourceGroup                          // /subscriptions/{s}/resourcegroups/{rg}
	KindResources                              // /subscriptions/{s}[/resourcegroups/{rg}]/resources
	KindProviderResource                       // …/providers/{ns}/{type}[/{name}…]
)

// Target is a parsed ARM path.
type Target struct {
	Kind           TargetKind
	SubscriptionID string
	ResourceGroup  string
	// For KindProviderResource:
	Scope     string   // what precedes "/providers/{ns}": "/subscriptions/s[/resourceGroups/g]" or a resource id for extension resources
	Namespace string   // e.g. "Microsoft.KeyVault"
	Types     []string // e.g. ["namespaces", "queues"]
	Names     []string // one per type for a resource; one fewer for a collection
	Action    string   // a trailing action segment (POST …/listKeys) or provider action (register)
}

// ParseTarget parses an ARM request path.
func ParseTarget(path string) (Target, error) {
	segs := splitPath(path)
	var t Target
	if len(segs) == 0 || !strings.EqualFold(segs[0], "subscriptions") {
		if len(segs) >= 2 && strings.EqualFold(segs[0], "providers") {
			// Tenant-level provider paths (e.g. /providers/Microsoft.Authorization/...).
			return parseProviderPart(t, "", segs[1:])
		}
		return t, fmt.Errorf("the path %q is not an ARM resource path", path)
	}
	if len(segs) == 1 {
		t.Kind = KindSubscriptions
		return t, nil
	}
	t.SubscriptionID = segs[1]
	scope := "/subscriptions/" + segs[1]
	rest := segs[2:]
	if len(rest) == 0 {
		t.Kind = KindSubscription
		return t, nil
	}
	switch strings.ToLower(rest[0]) {
	case "locations":
		if len(rest) == 1 {
			t.Kind = KindLocations
			return t, nil
		}
	case "resources":
		if len(rest) == 1 {
			t.Kind = KindResources
			return t, nil
		}
	case "resourcegroups":
		if len(rest) == 1 {
			t.Kind = KindResourceGroups
			return t, nil
		}
		t.ResourceGroup = rest[1]
		scope += "/resourceGroups/" + rest[1]
		rest = rest[2:]
		if len(rest) == 0 {
			t.Kind = KindResourceGroup
			return t, nil
		}
		if len(rest) == 1 && strings.EqualFold(rest[0], "resources") {
			t.Kind = KindResources
			return t, nil
		}
	case "providers":
		if len(rest) == 1 {
			t.Kind = KindProviders
			return t, nil
		}
		if len(rest) == 2 {
			t.Kind = KindProvider
			t.Namespace = rest[1]
			return t, nil
		}
		if len(rest) == 3 && isProviderAction(rest[2]) {
			t.Kind = KindProviderAction
			t.Namespace = rest[1]
			t.Action = rest[2]
			return t, nil
		}
	}
	if !strings.EqualFold(rest[0], "providers") {
		return t, fmt.Errorf("the path segment %q is not valid here", rest[0])
	}
	return parseProviderPart(t, scope, rest[1:])
}

func isProviderAction(s string) bool {
	return strings.EqualFold(s, "register") || strings.EqualFold(s, "unregister")
}

// parseProviderPart parses "{ns}/{type}/{name}/…" after a "providers"
// segment; a later "providers" segment makes the part before it the scope of
// an extension resource.
func parseProviderPart(t Target, scope string, segs []string) (Target, error) {
	// Find the last "providers" segment at an even offset: everything before it is the scope.
	for i := len(segs) - 1; i > 0; i-- {
		if strings.EqualFold(segs[i], "providers") && i%2 == 1 && i+1 < len(segs) {
			inner, err := parseProviderPart(Target{SubscriptionID: t.SubscriptionID, ResourceGroup: t.ResourceGroup}, scope, segs[:i])
			if err != nil {
				return t, err
			}
			if inner.Action != "" || len(inner.Names) != len(inner.Types) {
				return t, fmt.Errorf("an extension resource must follow a resource id")
			}
			t.ResourceGroup = inner.ResourceGroup
			return parseProviderPart(t, inner.ResourceID(), segs[i+1:])
		}
	}
	if len(segs) < 2 {
		return t, fmt.Errorf("a provider path needs a namespace and a resource type")
	}
	t.Kind = KindProviderResource
	t.Scope = scope
	t.Namespace = segs[0]
	rest := segs[1:]
	for i := 0; i < len(rest); i += 2 {
		t.Types = append(t.Types, rest[i])
		if i+1 < len(rest) {
			t.Names = append(t.Names, rest[i+1])
		}
	}
	return t, nil
}

func splitPath(p string) []string {
	var out []string
	for _, s := range strings.Split(p, "/") {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// IsCollection reports whether a provider target names a collection (a list
// or, with a POST, an action on the last named resource).
func (t Target) IsCollection() bool { return len(t.Names) < len(t.Types) }

// AsAction reinterprets a collection target's last type segment as an action
// on its parent resource (…/vaults/kv1/purge).
func (t Target) AsAction() Target {
	if !t.IsCollection() || len(t.Types) < 2 {
		return t
	}
	t.Action = t.Types[len(t.Types)-1]
	t.Types = t.Types[:len(t.Types)-1]
	return t
}

// ResourceType returns "Namespace/type1/type2".
func (t Target) ResourceType() string {
	return t.Namespace + "/" + strings.Join(t.Types, "/")
}

// TypePath returns the provider-relative type path ("namespaces/queues").
func (t Target) TypePath() string { return strings.Join(t.Types, "/") }

// ResourceID returns the id of the addressed resource (for a collection, of
// the collection: its parent resource id plus the collection type).
func (t Target) ResourceID() string {
	switch t.Kind {
	case KindSubscription, KindLocations, KindProviders, KindResourceGroups, KindProvider, KindProviderAction:
		return "/subscriptions/" + t.SubscriptionID
	case KindResourceGroup:
		return "/subscriptions/" + t.SubscriptionID + "/resourceGroups/" + t.ResourceGroup
	case KindResources:
		if t.ResourceGroup != "" {
			return "/subscriptions/" + t.SubscriptionID + "/resourceGroups/" + t.ResourceGroup
		}
		return "/subscriptions/" + t.SubscriptionID
	}
	var b strings.Builder
	b.WriteString(t.Scope)
	b.WriteString("/providers/")
	b.WriteString(t.Namespace)
	for i, typ := range t.Types {
		b.WriteString("/")
		b.WriteString(typ)
		if i < len(t.Names) {
			b.WriteString("/")
			b.WriteString(t.Names[i])
		}
	}
	return b.String()
}

// ParentID returns the id of the parent of a resource target: the scope for
// a top-level resource, else the parent resource.
func (t Target) ParentID() string {
	if len(t.Types) <= 1 {
		return t.Scope
	}
	p := t
	p.Types = t.Types[:len(t.Types)-1]
	if len(t.Names) >= len(p.Types) {
		p.Names = t.Names[:len(p.Types)]
	}
	p.Action = ""
	return p.ResourceID()
}

// Name returns the last name (the resource's own name), or "".
func (t Target) Name() string {
	if len(t.Names) == 0 {
		return ""
	}
	return t.Names[len(t.Names)-1]
}

// Child returns a target for a child resource of t.
func (t Target) Child(typ, name string) Target {
	c := t
	c.Types = append(append([]string{}, t.Types...), typ)
	c.Names = append(append([]string{}, t.Names...), name)
	c.Action = ""
	return c
}

// ResourceGroupScope returns "/subscriptions/{s}/resourceGroups/{rg}".
func ResourceGroupScope(sub, rg string) string {
	return "/subscriptions/" + sub + "/resourceGroups/" + rg
}
