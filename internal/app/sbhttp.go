package app

import "net/http"

// serviceBusHTTP returns the handler of namespace host <name>.servicebus.<domain>:
// the ATOM management API and the REST messaging API.
func (a *App) serviceBusHTTP(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "the Service Bus HTTPS APIs are not available yet", http.StatusNotImplemented)
	})
}
