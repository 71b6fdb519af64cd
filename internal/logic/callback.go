package logic

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm"
)

// CallbackRequest is a request to one of a workflow's signed URLs (callback
// and content links), as logichttp hands it over.
type CallbackRequest struct {
	Method string
	// AccessID is the workflow's access id (the segment after /workflows/).
	AccessID string
	// Path is what follows /workflows/{accessId}, e.g.
	// "/triggers/manual/paths/invoke".
	Path             string
	Query            url.Values
	Headers          map[string]string
	Body             []byte
	ClientTrackingID string
}

// CallbackResponse is the answer to a CallbackRequest.
type CallbackResponse struct {
	Status  int
	Headers map[string]string
	Body    []byte
}

func errorResponse(status int, code, msg string) CallbackResponse {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{"code": code, "message": msg}})
	return CallbackResponse{Status: status, Headers: map[string]string{"Content-Type": "application/json; charset=utf-8"}, Body: b}
}

func armErrorResponse(err error) CallbackResponse {
	e := arm.AsError(err)
	return errorResponse(e.Status, e.Code, e.Message)
}

// verifySig checks a signed URL's signature (primary or secondary key) and
// expiry and returns its permission path (sp).
func (s *Service) verifySig(q url.Values, d workflowData) (string, *CallbackResponse) {
	sig, sp, sv, se := q.Get("sig"), q.Get("sp"), q.Get("sv"), q.Get("se")
	if sig == "" || sp == "" {
		r := errorResponse(401, "DirectApiAuthorizationRequired", "The request must be authenticated only by the Shared Access scheme: the callback URL's 'sig' and 'sp' query parameters are missing.")
		return "", &r
	}
	if sv == "" {
		sv = sigVersion
	}
	ok := false
	for _, k := range [][]byte{d.PrimaryKey, d.SecondaryKey} {
		want := sign(k, sp, sv, se)
		if subtle.ConstantTimeCompare([]byte(want), []byte(sig)) == 1 {
			ok = true
		}
	}
	if !ok {
		r := errorResponse(401, "DirectApiInvalidAuthorizationSignature", "The provided callback URL signature is not valid: the URL was not signed with one of the workflow's current access keys.")
		return "", &r
	}
	if se != "" {
		exp, err := time.Parse(time.RFC3339, se)
		if err != nil || !s.clock.Now().Before(exp) {
			r := errorResponse(401, "DirectApiAuthorizationExpired", "The callback URL has expired.")
			return "", &r
		}
	}
	return sp, nil
}

// allows reports whether a signed permission path covers want.
func allows(sp, want string) bool {
	if sp == "/*" || strings.EqualFold(sp, want) {
		return true
	}
	if p, ok := strings.CutSuffix(sp, "/*"); ok {
		return strings.HasPrefix(strings.ToLower(want), strings.ToLower(p)+"/")
	}
	return false
}

// HandleCallback serves a request to a workflow's callback or content URL.
func (s *Service) HandleCallback(ctx context.Context, req CallbackRequest) CallbackResponse {
	s.mu.RLock()
	lid, ok := s.byAccess[req.AccessID]
	s.mu.RUnlock()
	if !ok {
		return errorResponse(404, "WorkflowNotFound", "The workflow of this callback URL was not found.")
	}
	h, ok := s.head(lid)
	if !ok {
		return errorResponse(404, "WorkflowNotFound", "The workflow of this callback URL was not found.")
	}
	d, err := s.loadData(ctx, h)
	if err != nil {
		return armErrorResponse(s.dataErr(h.owner(), err))
	}
	sp, bad := s.verifySig(req.Query, d)
	if bad != nil {
		return *bad
	}
	segs := strings.Split(strings.Trim(req.Path, "/"), "/")
	switch {
	case len(segs) >= 2 && strings.EqualFold(segs[0], "triggers"):
		return s.invoke(ctx, h, d, sp, segs, req)
	case len(segs) >= 4 && strings.EqualFold(segs[0], "runs"):
		return s.contents(ctx, h, sp, segs, req)
	}
	return errorResponse(404, "NotFound", "The path '"+req.Path+"' is not a workflow callback or content path.")
}

func (s *Service) invoke(ctx context.Context, h workflowHead, d workflowData, sp string, segs []string, req CallbackRequest) CallbackResponse {
	trig, typ := triggerNamed(h, segs[1])
	if trig == "" {
		return errorResponse(404, "WorkflowTriggerNotFound", "The workflow '"+h.Name+"' has no trigger '"+segs[1]+"'.")
	}
	rest := segs[2:]
	relative := ""
	switch {
	case len(rest) == 1 && strings.EqualFold(rest[0], "run"):
	case len(rest) >= 2 && strings.EqualFold(rest[0], "paths") && strings.EqualFold(rest[1], "invoke"):
		relative = strings.Join(rest[2:], "/")
	default:
		return errorResponse(404, "NotFound", "Use …/triggers/"+trig+"/paths/invoke.")
	}
	if !allows(sp, "/triggers/"+trig+"/run") {
		return errorResponse(401, "DirectApiInvalidAuthorizationScope", "The callback URL's signature does not allow running trigger '"+trig+"'.")
	}
	if typ != TypeRequest {
		return errorResponse(400, "WorkflowTriggerIsNotRequestTrigger", "The trigger '"+trig+"' is a "+typ+" trigger; only Request triggers can be called.")
	}
	if h.State != WorkflowEnabled {
		return errorResponse(409, "WorkflowDisabled", "The workflow '"+h.Name+"' is disabled: enable it to run its triggers.")
	}
	def, err := ParseDefinition(d.Definition)
	if err != nil {
		return armErrorResponse(err)
	}
	in, _ := def.Triggers[trig].Inputs.(map[string]any)
	if m, _ := in["method"].(string); m != "" && !strings.EqualFold(m, req.Method) {
		return errorResponse(405, "WorkflowTriggerMethodNotAllowed", "The trigger '"+trig+"' accepts only "+strings.ToUpper(m)+" requests.")
	}
	pathParams := map[string]any{}
	if rp, _ := in["relativePath"].(string); rp != "" {
		tpl := strings.Split(strings.Trim(rp, "/"), "/")
		got := strings.Split(relative, "/")
		if relative == "" || len(tpl) != len(got) {
			return errorResponse(404, "WorkflowTriggerRelativePathMismatch", "The request path does not match the trigger's relative path '"+rp+"'.")
		}
		for i, t := range tpl {
			if strings.HasPrefix(t, "{") && strings.HasSuffix(t, "}") {
				v, _ := url.PathUnescape(got[i])
				pathParams[strings.Trim(t, "{}")] = v
			} else if !strings.EqualFold(t, got[i]) {
				return errorResponse(404, "WorkflowTriggerRelativePathMismatch", "The request path does not match the trigger's relative path '"+rp+"'.")
			}
		}
	}
	headers := map[string]any{}
	for k, v := range req.Headers {
		headers[k] = v
	}
	queries := map[string]any{}
	for k, v := range req.Query {
		switch strings.ToLower(k) {
		case "sig", "sp", "sv", "se", "api-version":
			continue
		}
		if len(v) > 0 {
			queries[k] = v[0]
		}
	}
	outputs := map[string]any{"headers": headers}
	if body := decodeBody(headerValue(req.Headers, "Content-Type"), req.Body); body != nil {
		outputs["body"] = body
	}
	if len(queries) > 0 {
		outputs["queries"] = queries
	}
	if len(pathParams) > 0 {
		outputs["relativePathParameters"] = pathParams
	}
	waits := hasResponse(def.Actions)
	var ch chan RunResponse
	inv := Invocation{Trigger: trig, Outputs: outputs, ClientTrackingID: req.ClientTrackingID}
	if waits {
		ch = make(chan RunResponse, 1)
		inv.Respond = ch
	}
	name, done, err := s.StartRun(ctx, h.ID, inv)
	if err != nil {
		return armErrorResponse(err)
	}
	s.noteTrigger(h.ID, trig, func(ts *TriggerState) { ts.LastExecution = s.clock.Now().UTC() })
	hdr := map[string]string{"x-ms-workflow-run-id": name, "x-ms-workflow-name": h.Name, "x-ms-workflow-version": h.Version,
		"x-ms-workflow-id": h.AccessID, "x-ms-trigger-history-name": name}
	if !waits {
		return CallbackResponse{Status: 202, Headers: hdr}
	}
	timer := s.clock.NewTimer(s.cfg.ResponseTimeout)
	defer timer.Stop()
	var resp RunResponse
	select {
	case resp = <-ch:
	case <-done:
		select {
		case resp = <-ch:
		default:
		}
	case <-timer.C():
		r := errorResponse(504, "GatewayTimeout", "The workflow did not answer within "+s.cfg.ResponseTimeout.String()+"; the run continues.")
		mergeHeaders(r.Headers, hdr)
		return r
	case <-ctx.Done():
		return errorResponse(499, "RequestCanceled", "The request was canceled.")
	}
	if resp.StatusCode == 0 {
		r := errorResponse(502, "NoResponse", "The workflow run ended without running its Response action.")
		mergeHeaders(r.Headers, hdr)
		return r
	}
	out := CallbackResponse{Status: resp.StatusCode, Headers: map[string]string{}}
	for k, v := range resp.Headers {
		out.Headers[k] = v
	}
	mergeHeaders(out.Headers, hdr)
	out.Body, out.Headers = encodeBody(resp.Body, out.Headers)
	return out
}

func mergeHeaders(dst, src map[string]string) {
	for k, v := range src {
		dst[k] = v
	}
}

// encodeBody turns a Response action's body into bytes and a content type.
func encodeBody(v any, headers map[string]string) ([]byte, map[string]string) {
	setCT := func(ct string) {
		if headerValue(headers, "Content-Type") == "" {
			headers["Content-Type"] = ct
		}
	}
	switch b := v.(type) {
	case nil:
		return nil, headers
	case string:
		setCT("text/plain; charset=utf-8")
		return []byte(b), headers
	case map[string]any:
		if c, ok := b["$content"].(string); ok {
			raw, err := base64.StdEncoding.DecodeString(c)
			if err == nil {
				if ct, ok := b["$content-type"].(string); ok {
					setCT(ct)
				}
				return raw, headers
			}
		}
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, headers
	}
	setCT("application/json; charset=utf-8")
	return out, headers
}

func hasResponse(actions map[string]*Action) bool {
	for _, a := range actions {
		if a.Type == TypeResponse || hasResponse(a.Actions) || (a.Else != nil && hasResponse(a.Else.Actions)) {
			return true
		}
	}
	return false
}

// contents serves a run's content link: …/runs/{run}/contents/{TriggerInputs|TriggerOutputs}
// or …/runs/{run}/actions/{action}/contents/{ActionInputs|ActionOutputs}.
func (s *Service) contents(ctx context.Context, h workflowHead, sp string, segs []string, req CallbackRequest) CallbackResponse {
	run := segs[1]
	if !allows(sp, "/runs/"+run+"/contents/read") {
		return errorResponse(401, "DirectApiInvalidAuthorizationScope", "The URL's signature does not allow reading the contents of run '"+run+"'.")
	}
	r, err := s.GetRun(ctx, h.ID, run)
	if err != nil {
		return armErrorResponse(err)
	}
	var v any
	found := false
	switch {
	case len(segs) == 4 && strings.EqualFold(segs[2], "contents"):
		switch strings.ToLower(segs[3]) {
		case "triggerinputs":
			v, found = r.Trigger.Inputs, true
		case "triggeroutputs":
			v, found = r.Trigger.Outputs, true
		}
	case len(segs) == 6 && strings.EqualFold(segs[2], "actions") && strings.EqualFold(segs[4], "contents"):
		a, ok := r.Action(segs[3])
		if ok {
			switch strings.ToLower(segs[5]) {
			case "actioninputs":
				v, found = a.Inputs, true
			case "actionoutputs":
				v, found = a.Outputs, true
			}
		}
	}
	if !found {
		return errorResponse(404, "ContentNotFound", "The run has no such content.")
	}
	b, err := json.Marshal(v)
	if err != nil {
		return armErrorResponse(errors.New("logic: encode content"))
	}
	return CallbackResponse{Status: 200, Headers: map[string]string{"Content-Type": "application/json; charset=utf-8"}, Body: b}
}

// ContentLink returns the signed URL of one run content ("TriggerInputs",
// "TriggerOutputs", or with action set "ActionInputs"/"ActionOutputs"),
// valid for 24 hours.
func (s *Service) ContentLink(ctx context.Context, id, run, action, kind string) (string, error) {
	h, ok := s.head(id)
	if !ok {
		return "", arm.NotFound(mustTarget(id))
	}
	d, err := s.loadData(ctx, h)
	if err != nil {
		return "", s.dataErr(h.owner(), err)
	}
	sp := "/runs/" + run + "/contents/read"
	se := s.clock.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	path := "/runs/" + run
	if action != "" {
		path += "/actions/" + url.PathEscape(action)
	}
	path += "/contents/" + kind
	q := map[string]string{"api-version": callbackAPIVersion, "sp": sp, "sv": sigVersion, "se": se, "sig": sign(d.PrimaryKey, sp, sigVersion, se)}
	return s.cfg.CallbackBase + "/workflows/" + h.AccessID + path + "?" + encodeQuery(q), nil
}

// RunTrigger starts a run from a trigger through the resource manager
// (WorkflowTriggersClient.Run): a Request trigger with an empty request, a
// Recurrence trigger now.
func (s *Service) RunTrigger(ctx context.Context, id, trigger string) (string, error) {
	h, ok := s.head(id)
	if !ok {
		return "", arm.NotFound(mustTarget(id))
	}
	trig, typ := triggerNamed(h, trigger)
	if trig == "" {
		return "", arm.Errorf(404, "WorkflowTriggerNotFound", "The workflow '%s' has no trigger '%s'.", h.Name, trigger)
	}
	if h.State != WorkflowEnabled {
		return "", arm.Conflict("WorkflowDisabled", "The workflow '%s' is disabled: enable it to run its triggers.", h.Name)
	}
	inv := Invocation{Trigger: trig}
	if typ == TypeRecurrence {
		inv.Scheduled = s.clock.Now().UTC()
	} else {
		inv.Outputs = map[string]any{"headers": map[string]any{}}
	}
	name, _, err := s.StartRun(ctx, h.ID, inv)
	if err != nil {
		return "", err
	}
	s.noteTrigger(h.ID, trig, func(ts *TriggerState) { ts.LastExecution = s.clock.Now().UTC() })
	return name, nil
}
