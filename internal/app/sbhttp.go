package app

import (
	"net/http"

	"github.com/keyward/keyward/internal/servicebus/atomhttp"
)

// serviceBusHTTP returns the handler of namespace host <name>.servicebus.<domain>:
// the ATOM management API and the REST messaging API (package atomhttp).
// The handler is a small value over the App's services, built per request.
func (a *App) serviceBusHTTP(name string) http.Handler {
	return atomhttp.New(atomhttp.Options{
		Broker:        a.Broker,
		Namespaces:    a.Namespaces,
		ValidateToken: a.Identity.ValidateToken,
		Audiences:     a.serviceBusAudiences(),
		Authz:         a.Authz,
		Now:           a.clock.Now,
		Log:           a.log.With("component", "sbhttp"),
	}).Handler(name)
}
