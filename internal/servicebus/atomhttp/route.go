package atomhttp

import (
	"net/http"
	"strings"

	"github.com/google/uuid"
)

type routeKind uint8

const (
	routeNone routeKind = iota
	routeNamespaceInfo
	routeListQueues
	routeListTopics
	routeEntity // a queue or topic (ATOM)
	routeListSubscriptions
	routeSubscription
	routeListRules
	routeRule
	routeSend   // POST {entity}/messages
	routeHead   // POST|DELETE|GET {entity}/messages/head
	routeLocked // PUT|DELETE|POST {entity}/messages/{id|seq}/{lock}
)

// route is a parsed request path.
type route struct {
	kind             routeKind
	entity           string // queue or topic name (ATOM), or entity path (REST)
	topic, sub, rule string
	msgRef, lock     string
}

// parseRoute maps a method and path to an operation. Paths are matched
// case-insensitively on their fixed segments; entity names may hold "/".
// The REST messaging paths (…/messages, …/messages/head,
// …/messages/{id}/{lock-token}) take precedence over an entity of the same
// name, except that an ATOM PUT (Content-Type application/atom+xml) always
// addresses an entity.
func parseRoute(method, path, contentType string) (route, *apiError) {
	p := strings.Trim(path, "/")
	if p == "" {
		return route{}, errorf(http.StatusNotFound, codeNotFound, "No entity is named in the request path.")
	}
	segs := strings.Split(p, "/")
	for _, s := range segs {
		if s == "" {
			return route{}, errorf(http.StatusBadRequest, codeBadRequest, "The request path '%s' has an empty segment.", clip(path))
		}
	}
	n := len(segs)
	atomPut := method == http.MethodPut && strings.HasPrefix(strings.ToLower(strings.TrimSpace(contentType)), "application/atom+xml")
	eq := strings.EqualFold
	join := func(s []string) string { return strings.Join(s, "/") }

	// REST messaging.
	if !atomPut {
		switch {
		case n >= 2 && eq(segs[n-1], "messages") && method == http.MethodPost:
			return route{kind: routeSend, entity: join(segs[:n-1])}, nil
		case n >= 3 && eq(segs[n-2], "messages") && eq(segs[n-1], "head") &&
			(method == http.MethodPost || method == http.MethodDelete || method == http.MethodGet):
			return route{kind: routeHead, entity: join(segs[:n-2])}, nil
		case n >= 4 && eq(segs[n-3], "messages") && isUUID(segs[n-1]) &&
			(method == http.MethodPut || method == http.MethodDelete || method == http.MethodPost):
			return route{kind: routeLocked, entity: join(segs[:n-3]), msgRef: segs[n-2], lock: segs[n-1]}, nil
		}
	}

	// ATOM management.
	switch {
	case n == 1 && eq(segs[0], "$namespaceinfo"):
		return route{kind: routeNamespaceInfo}, onlyGet(method)
	case n == 2 && eq(segs[0], "$Resources") && eq(segs[1], "Queues"):
		return route{kind: routeListQueues}, onlyGet(method)
	case n == 2 && eq(segs[0], "$Resources") && eq(segs[1], "Topics"):
		return route{kind: routeListTopics}, onlyGet(method)
	}
	for i := 1; i < n; i++ {
		if !eq(segs[i], "Subscriptions") {
			continue
		}
		topic, rest := join(segs[:i]), segs[i+1:]
		switch {
		case len(rest) == 0:
			return route{kind: routeListSubscriptions, topic: topic}, onlyGet(method)
		case len(rest) == 1:
			return route{kind: routeSubscription, topic: topic, sub: rest[0]}, nil
		case len(rest) == 2 && eq(rest[1], "Rules"):
			return route{kind: routeListRules, topic: topic, sub: rest[0]}, onlyGet(method)
		case len(rest) == 3 && eq(rest[1], "Rules"):
			return route{kind: routeRule, topic: topic, sub: rest[0], rule: rest[2]}, nil
		}
		return route{}, errorf(http.StatusNotFound, codeNotFound, "No operation is served at '%s'.", clip(path))
	}
	if strings.HasPrefix(segs[0], "$") {
		return route{}, errorf(http.StatusNotFound, codeNotFound, "No operation is served at '%s'.", clip(path))
	}
	return route{kind: routeEntity, entity: p}, nil
}

func onlyGet(method string) *apiError {
	if method != http.MethodGet {
		return errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed, "The method %s is not allowed here: use GET.", method)
	}
	return nil
}

func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}
