package arm

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"github.com/keyward/keyward/internal/store"
)

func groupJSON(g ResourceGroup) map[string]any {
	state := "Succeeded"
	if g.Deleting {
		state = "Deleting"
	}
	out := map[string]any{
		"id": g.ID(), "name": g.Name, "type": "Microsoft.Resources/resourceGroups", "location": g.Location,
		"properties": map[string]any{"provisioningState": state},
	}
	if g.Tags != nil {
		out["tags"] = g.Tags
	}
	if g.ManagedBy != "" {
		out["managedBy"] = g.ManagedBy
	}
	return out
}

// validGroupName reports whether name is a valid resource group name: 1 to
// 90 letters, digits, '_', '-', '.', '(' and ')', not ending in '.'.
func validGroupName(name string) bool {
	if name == "" || len(name) > 90 || strings.HasSuffix(name, ".") {
		return false
	}
	for _, r := range name {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("_-.()", r)) {
			return false
		}
	}
	return true
}

func (m *Manager) groupLock(sub, name string) *sync.Mutex {
	l, _ := m.groupMu.LoadOrStore(groupKey(sub, name), &sync.Mutex{})
	return l.(*sync.Mutex)
}

func (m *Manager) groupRequest(ctx context.Context, req *Request) (*Response, error) {
	t := req.Target
	sub := t.SubscriptionID
	if t.Kind == KindResourceGroups {
		if req.Method != "GET" {
			return nil, Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed on the resource group collection.", req.Method)
		}
		groups, err := m.groups.List(ctx, strings.ToLower(sub)+"/")
		if err != nil {
			return nil, err
		}
		var items []any
		for _, g := range groups {
			if req.Caller.System || m.authz == nil || m.authz.Allowed(req.Caller.ObjectID, g.ID(), "Microsoft.Resources/subscriptions/resourceGroups/read") {
				items = append(items, groupJSON(g))
			}
		}
		return OK(page(req, items)), nil
	}
	scope := ResourceGroupScope(sub, t.ResourceGroup)
	switch req.Method {
	case "GET", "HEAD":
		if err := m.check(req, scope, "Microsoft.Resources/subscriptions/resourceGroups/read"); err != nil {
			return nil, err
		}
		g, err := m.Group(ctx, sub, t.ResourceGroup)
		if err != nil {
			if req.Method == "HEAD" {
				return &Response{Status: 404}, nil
			}
			return nil, err
		}
		if req.Method == "HEAD" {
			return NoContent(), nil
		}
		return OK(groupJSON(g)), nil
	case "PUT", "PATCH":
		if err := m.check(req, scope, "Microsoft.Resources/subscriptions/resourceGroups/write"); err != nil {
			return nil, err
		}
		var body struct {
			Location  string            `json:"location"`
			Tags      map[string]string `json:"tags"`
			ManagedBy string            `json:"managedBy"`
		}
		if err := req.Decode(&body); err != nil {
			return nil, err
		}
		if !validGroupName(t.ResourceGroup) {
			return nil, BadRequest("InvalidResourceGroup", "The provided resource group name '%s' has these invalid characters: the name must be 1 to 90 letters, digits, underscores, hyphens, periods or parentheses and cannot end in a period.", t.ResourceGroup)
		}
		l := m.groupLock(sub, t.ResourceGroup)
		l.Lock()
		defer l.Unlock()
		old, err := m.Group(ctx, sub, t.ResourceGroup)
		exists := err == nil
		if err != nil && !isNotFound(err) {
			return nil, err
		}
		if exists && old.Deleting {
			return nil, Conflict("ResourceGroupBeingDeleted", "The resource group '%s' is in deprovisioning state and cannot perform this operation.", old.Name)
		}
		g := old
		if !exists {
			if req.Method == "PATCH" {
				return nil, err
			}
			loc, lerr := m.NormalizeLocation(body.Location)
			if body.Location == "" {
				return nil, BadRequest("LocationRequired", "The location property is required for this definition.")
			}
			if !lerr {
				return nil, BadRequest("LocationNotAvailableForResourceGroup", "The provided location '%s' is not available for resource group. List of available regions is '%s'.", body.Location, strings.Join(m.locationNames(), ","))
			}
			g = ResourceGroup{SubscriptionID: strings.ToLower(sub), Name: t.ResourceGroup, Location: loc, CreatedAt: m.clock.Now().UTC()}
		} else if body.Location != "" {
			if loc, _ := m.NormalizeLocation(body.Location); loc != old.Location {
				return nil, BadRequest("InvalidResourceGroupLocation", "Invalid resource group location '%s'. The Resource group already exists in location '%s' in subscription '%s'.", body.Location, old.Location, sub)
			}
		}
		if body.Tags != nil || req.Method == "PUT" {
			g.Tags = body.Tags
		}
		if body.ManagedBy != "" {
			g.ManagedBy = body.ManagedBy
		}
		b := &store.Batch{Sync: true}
		if err := m.groups.Put(b, groupKey(sub, g.Name), g); err != nil {
			return nil, err
		}
		if err := m.st.Apply(ctx, b); err != nil {
			return nil, err
		}
		if exists {
			return OK(groupJSON(g)), nil
		}
		return Created(groupJSON(g)), nil
	case "DELETE":
		if err := m.check(req, scope, "Microsoft.Resources/subscriptions/resourceGroups/delete"); err != nil {
			return nil, err
		}
		l := m.groupLock(sub, t.ResourceGroup)
		l.Lock()
		g, err := m.Group(ctx, sub, t.ResourceGroup)
		if err != nil {
			// A missing group is 404 ResourceGroupNotFound, as in Azure
			// (the delete operation's answers are 200 and 202 only).
			l.Unlock()
			return nil, err
		}
		g.Deleting = true
		b := &store.Batch{Sync: true}
		if err := m.groups.Put(b, groupKey(sub, g.Name), g); err != nil {
			l.Unlock()
			return nil, err
		}
		err = m.st.Apply(ctx, b)
		l.Unlock()
		if err != nil {
			return nil, err
		}
		op := m.Async(req, "global", func(ctx context.Context) error { return m.deleteGroup(ctx, g, req.Caller) })
		op.Namespace = "Microsoft.Resources"
		return &Response{Status: 202, Operation: op}, nil
	}
	return nil, Errorf(405, "MethodNotAllowed", "The method '%s' is not allowed on a resource group.", req.Method)
}

func isNotFound(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Status == 404
}

// deleteGroup deletes every resource in the group through its provider,
// then the group's role assignments, then the group.
func (m *Manager) deleteGroup(ctx context.Context, g ResourceGroup, caller Caller) error {
	entries, err := m.IndexUnder(ctx, g.ID())
	if err != nil {
		return err
	}
	sys := Caller{TenantID: caller.TenantID, ObjectID: caller.ObjectID, System: true, CorrelationID: caller.CorrelationID}
	for _, e := range entries {
		if !e.Tracked {
			continue
		}
		t, err := ParseTarget(e.ID)
		if err != nil {
			continue
		}
		p, ok := m.provider(t.Namespace)
		if !ok {
			continue
		}
		rt, ok := m.findType(p, t.TypePath())
		if !ok || len(rt.APIVersions) == 0 {
			continue
		}
		req := &Request{Method: "DELETE", Target: t, APIVersion: rt.APIVersions[len(rt.APIVersions)-1], Caller: sys}
		resp, err := m.Do(ctx, req)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("delete %s: %w", e.ID, err)
		}
		if resp != nil && resp.Operation != nil {
			if err := m.Wait(ctx, resp.Operation); err != nil {
				return fmt.Errorf("delete %s: %w", e.ID, err)
			}
		}
		m.DeleteIndex(ctx, e.ID)
	}
	m.mu.Lock()
	var cleaners []GroupCleaner
	for _, p := range m.providers {
		if c, ok := p.(GroupCleaner); ok {
			cleaners = append(cleaners, c)
		}
	}
	m.mu.Unlock()
	for _, c := range cleaners {
		if err := c.DeleteGroup(ctx, g.SubscriptionID, g.Name); err != nil {
			return err
		}
	}
	m.DeleteIndex(ctx, g.ID())
	if m.clean != nil {
		if err := m.clean.DeleteUnder(ctx, g.ID()); err != nil {
			return err
		}
	}
	b := &store.Batch{Sync: true}
	m.groups.Delete(b, groupKey(g.SubscriptionID, g.Name))
	return m.st.Apply(ctx, b)
}

var filterAnd = regexp.MustCompile(`(?i)\s+and\s+`)

var resourceFilterClause = regexp.MustCompile(`(?i)^\s*(resourceType|resourceGroup|name|location|tagName|tagValue)\s+eq\s+'((?:[^']|'')*)'\s*$`)

// resourceFilter parses the $filter of a resource list: clauses
// "<field> eq '<value>'" joined by "and", for resourceType, resourceGroup,
// name, location, and tagName (with an optional tagValue). Values match
// case-insensitively, tag values exactly.
func resourceFilter(f string) (func(IndexEntry) bool, error) {
	want := map[string]string{}
	for _, clause := range filterAnd.Split(f, -1) {
		mm := resourceFilterClause.FindStringSubmatch(clause)
		if mm == nil {
			return nil, BadRequest("InvalidFilterInQueryString", "Invalid $filter '%s' specified in the query string: keyward supports clauses <resourceType|resourceGroup|name|location|tagName|tagValue> eq '<value>' joined by 'and'.", f)
		}
		want[strings.ToLower(mm[1])] = strings.ReplaceAll(mm[2], "''", "'")
	}
	tagValue, hasTagValue := want["tagvalue"]
	tagName, hasTagName := want["tagname"]
	if hasTagValue && !hasTagName {
		return nil, BadRequest("InvalidFilterInQueryString", "Invalid $filter '%s' specified in the query string: tagValue needs tagName.", f)
	}
	return func(e IndexEntry) bool {
		if v, ok := want["resourcetype"]; ok && !strings.EqualFold(e.Type, v) {
			return false
		}
		if v, ok := want["name"]; ok && !strings.EqualFold(e.Name, v) {
			return false
		}
		if v, ok := want["location"]; ok && !strings.EqualFold(e.Location, v) {
			return false
		}
		if v, ok := want["resourcegroup"]; ok {
			id, err := ParseTarget(e.ID)
			if err != nil || !strings.EqualFold(id.ResourceGroup, v) {
				return false
			}
		}
		if hasTagName {
			found := false
			for k, tv := range e.Tags {
				if strings.EqualFold(k, tagName) && (!hasTagValue || tv == tagValue) {
					found = true
				}
			}
			if !found {
				return false
			}
		}
		return true
	}, nil
}

func (m *Manager) listResources(ctx context.Context, req *Request) (*Response, error) {
	t := req.Target
	scope := t.ResourceID()
	if t.ResourceGroup != "" {
		if _, err := m.Group(ctx, t.SubscriptionID, t.ResourceGroup); err != nil {
			return nil, err
		}
	}
	match := func(IndexEntry) bool { return true }
	if f := req.Query.Get("$filter"); f != "" {
		var err error
		if match, err = resourceFilter(f); err != nil {
			return nil, err
		}
	}
	entries, err := m.IndexUnder(ctx, scope)
	if err != nil {
		return nil, err
	}
	var items []any
	for _, e := range entries {
		if !e.Tracked || !match(e) {
			continue
		}
		if !req.Caller.System && m.authz != nil && !m.authz.Allowed(req.Caller.ObjectID, e.ID, readActionOf(e.Type)) {
			continue
		}
		item := map[string]any{"id": e.ID, "name": e.Name, "type": e.Type}
		if e.Location != "" {
			item["location"] = e.Location
		}
		if e.Kind != "" {
			item["kind"] = e.Kind
		}
		if e.Tags != nil {
			item["tags"] = e.Tags
		}
		if len(e.SKU) > 0 {
			item["sku"] = e.SKU
		}
		if len(e.Identity) > 0 {
			item["identity"] = e.Identity
		}
		items = append(items, item)
	}
	return OK(page(req, items)), nil
}
