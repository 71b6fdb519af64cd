package logic

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/arm/template"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Run and action statuses.
const (
	StatusRunning   = "Running"
	StatusSucceeded = "Succeeded"
	StatusFailed    = "Failed"
	StatusSkipped   = "Skipped"
	StatusCancelled = "Cancelled"
)

// RunError is an action's or a run's error.
type RunError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ActionResult is one trigger or action of a run, with its inputs and outputs.
type ActionResult struct {
	Name        string    `json:"name"`
	Type        string    `json:"type,omitempty"`
	Scope       string    `json:"scope,omitempty"` // the enclosing If, Foreach or Scope action
	Status      string    `json:"status"`
	Code        string    `json:"code,omitempty"`
	Error       *RunError `json:"error,omitempty"`
	StartTime   time.Time `json:"startTime"`
	EndTime     time.Time `json:"endTime,omitempty"`
	Scheduled   time.Time `json:"scheduledTime,omitempty"`
	Inputs      any       `json:"inputs,omitempty"`
	Outputs     any       `json:"outputs,omitempty"`
	Repetitions int       `json:"repetitions,omitempty"`
	TrackingID  string    `json:"trackingId,omitempty"`
}

// Run is one run of a workflow.
type Run struct {
	Name             string          `json:"name"`
	WorkflowID       string          `json:"workflowId"`
	Version          string          `json:"version"`
	Status           string          `json:"status"`
	Code             string          `json:"code,omitempty"`
	Error            *RunError       `json:"error,omitempty"`
	StartTime        time.Time       `json:"startTime"`
	EndTime          time.Time       `json:"endTime,omitempty"`
	ClientTrackingID string          `json:"clientTrackingId"`
	Trigger          ActionResult    `json:"trigger"`
	Actions          []*ActionResult `json:"actions,omitempty"`
	Response         *ActionResult   `json:"response,omitempty"`
	Outputs          map[string]any  `json:"outputs,omitempty"`
}

// Action returns a run's action by name.
func (r *Run) Action(name string) (*ActionResult, bool) {
	for _, a := range r.Actions {
		if strings.EqualFold(a.Name, name) {
			return a, true
		}
	}
	return nil, false
}

func runPrefix(workflowID string) string { return "logic/run/" + strings.ToLower(workflowID) + "/" }

func (s *Service) runTable(dk *seal.DataKey, workflowID string) records.Table[Run] {
	return records.NewTable[Run](s.st, dk, runPrefix(workflowID))
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func encodeQuery(q map[string]string) string {
	v := url.Values{}
	for k, x := range q {
		v.Set(k, x)
	}
	return v.Encode()
}

func (s *Service) runLock(id string) *sync.Mutex {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.runMu[strings.ToLower(id)]
	if !ok {
		l = &sync.Mutex{}
		s.runMu[strings.ToLower(id)] = l
	}
	return l
}

// saveRun stores a run (and trims the history to Config.RunsKept).
func (s *Service) saveRun(ctx context.Context, h workflowHead, r *Run, trim bool) error {
	dk, err := s.dataKey(h.owner())
	if err != nil {
		return err
	}
	l := s.runLock(h.ID)
	l.Lock()
	defer l.Unlock()
	b := &store.Batch{}
	if err := s.runTable(dk, h.ID).Put(b, r.Name, *r); err != nil {
		return err
	}
	if trim {
		var keys [][]byte
		prefix := []byte(runPrefix(h.ID))
		err := store.ForEach(ctx, s.st, prefix, func(k, _ []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			return nil
		})
		if err != nil {
			return err
		}
		// Names sort newest first; the new run is not in keys yet.
		for i := s.cfg.RunsKept - 1; i >= 0 && i < len(keys); i++ {
			b.Delete(keys[i])
		}
	}
	return s.apply(ctx, b)
}

// ListRuns returns a workflow's runs, newest first.
func (s *Service) ListRuns(ctx context.Context, id string) ([]Run, error) {
	h, ok := s.head(id)
	if !ok {
		return nil, arm.NotFound(mustTarget(id))
	}
	dk, err := s.dataKey(h.owner())
	if err != nil {
		return nil, s.dataErr(h.owner(), err)
	}
	runs, err := s.runTable(dk, h.ID).List(ctx, "")
	if err != nil {
		if errors.Is(err, seal.ErrDestroyed) {
			return nil, s.revokedError(h.owner())
		}
		return nil, err
	}
	return runs, nil
}

// GetRun returns one run.
func (s *Service) GetRun(ctx context.Context, id, name string) (Run, error) {
	h, ok := s.head(id)
	if !ok {
		return Run{}, arm.NotFound(mustTarget(id))
	}
	dk, err := s.dataKey(h.owner())
	if err != nil {
		return Run{}, s.dataErr(h.owner(), err)
	}
	r, err := s.runTable(dk, h.ID).Get(ctx, name)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Run{}, arm.Errorf(404, "WorkflowRunNotFound", "The workflow '%s' has no run '%s'.", h.Name, name)
	case errors.Is(err, seal.ErrDestroyed):
		return Run{}, s.revokedError(h.owner())
	case err != nil:
		return Run{}, err
	}
	return r, nil
}

// abandonRuns marks the runs a stop interrupted as Failed.
func (s *Service) abandonRuns(ctx context.Context, h workflowHead) {
	dk, err := s.dataKey(h.owner())
	if err != nil {
		return
	}
	t := s.runTable(dk, h.ID)
	var stale []Run
	_ = t.Each(ctx, "", func(_ string, r Run) error {
		if r.Status == StatusRunning {
			stale = append(stale, r)
		}
		return nil
	})
	for i := range stale {
		r := &stale[i]
		r.Status, r.Code = StatusFailed, "ServiceStopped"
		r.Error = &RunError{Code: "ServiceStopped", Message: "keyward stopped while the run was in progress."}
		r.EndTime = s.clock.Now().UTC()
		_ = s.saveRun(ctx, h, r, false)
	}
}

// Invocation is what starts a run.
type Invocation struct {
	Trigger string
	// Outputs are the trigger's outputs ({"headers","body",…} for Request).
	Outputs any
	// Inputs are the trigger's inputs, if any.
	Inputs any
	// Scheduled is the scheduled time of a Recurrence trigger.
	Scheduled time.Time
	// ClientTrackingID is the x-ms-client-tracking-id of the request.
	ClientTrackingID string
	// Respond, if not nil, receives the Response action's response (once).
	Respond chan<- RunResponse
}

// RunResponse is what a Response action answers a Request trigger with.
type RunResponse struct {
	RunName    string
	StatusCode int
	Headers    map[string]string
	Body       any
}

// runState is one executing run.
type runState struct {
	s        *Service
	h        workflowHead
	def      *Definition
	params   map[string]any
	run      *Run
	results  map[string]*ActionResult // lower name -> latest result
	byScope  map[string][]string      // scope -> action names (for result())
	items    map[string]any           // lower Foreach name -> current item
	loops    []string                 // active Foreach names, innermost last
	vars     map[string]any           // lower variable name -> value
	respond  chan<- RunResponse
	executed int
	stopped  *RunError // set by Terminate
	stopStat string
	eval     *evaluator
	mu       sync.Mutex
}

// StartRun starts a run of the workflow from a trigger and returns its name.
// The run continues in the background.
func (s *Service) StartRun(ctx context.Context, id string, inv Invocation) (string, <-chan struct{}, error) {
	h, ok := s.head(id)
	if !ok {
		return "", nil, arm.NotFound(mustTarget(id))
	}
	if h.ISEID != "" {
		if x, ok := s.GetISE(h.ISEID); !ok || x.ProvisioningState != StateSucceeded {
			return "", nil, arm.Conflict("IntegrationServiceEnvironmentNotReady", "The integration service environment of workflow '%s' is not ready.", h.Name)
		}
	}
	d, err := s.loadData(ctx, h)
	if err != nil {
		return "", nil, s.dataErr(h.owner(), err)
	}
	def, err := ParseDefinition(d.Definition)
	if err != nil {
		return "", nil, err
	}
	trig, _ := triggerNamed(h, inv.Trigger)
	if trig == "" {
		return "", nil, arm.Errorf(404, "WorkflowTriggerNotFound", "The workflow '%s' has no trigger '%s'.", h.Name, inv.Trigger)
	}
	params, err := paramValues(def, d.Parameters)
	if err != nil {
		return "", nil, err
	}
	now := s.clock.Now().UTC()
	name := s.newVersion()
	tracking := inv.ClientTrackingID
	if tracking == "" {
		tracking = name
	}
	r := &Run{Name: name, WorkflowID: h.ID, Version: h.Version, Status: StatusRunning, StartTime: now, ClientTrackingID: tracking,
		Trigger: ActionResult{Name: trig, Type: h.Triggers[trig], Status: StatusSucceeded, Code: "OK", StartTime: now, EndTime: now,
			Scheduled: inv.Scheduled, Inputs: template.NormalizeValue(inv.Inputs), Outputs: template.NormalizeValue(inv.Outputs), TrackingID: newHexID(16)}}
	st := &runState{s: s, h: h, def: def, params: params, run: r, results: map[string]*ActionResult{}, byScope: map[string][]string{},
		items: map[string]any{}, vars: map[string]any{}, respond: inv.Respond}
	ev, err := st.evaluator()
	if err != nil {
		return "", nil, err
	}
	st.eval = &evaluator{ev: ev}
	if err := s.saveRun(ctx, h, r, true); err != nil {
		return "", nil, s.dataErr(h.owner(), err)
	}
	done := make(chan struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		defer st.recoverPanic(s.ctx)
		st.execute(s.ctx)
	}()
	return name, done, nil
}

// paramValues resolves the definition's parameters.
func paramValues(def *Definition, given map[string]json.RawMessage) (map[string]any, error) {
	out := map[string]any{}
	for name, p := range def.Parameters {
		v := p.DefaultValue
		if raw, ok := given[name]; ok {
			var w struct {
				Value json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(raw, &w); err != nil {
				return nil, arm.BadRequest("InvalidWorkflowParameters", "The workflow parameter '%s' is not valid JSON.", name)
			}
			dv, err := decodeJSON(w.Value)
			if err != nil {
				return nil, arm.BadRequest("InvalidWorkflowParameters", "The workflow parameter '%s' is not valid JSON.", name)
			}
			v = dv
		}
		out[strings.ToLower(name)] = v
	}
	return out, nil
}

func (st *runState) execute(ctx context.Context) {
	status := st.runScope(ctx, st.def.Actions, "")
	r := st.run
	st.mu.Lock()
	if st.stopped != nil || st.stopStat != "" {
		status = st.stopStat
		r.Error = st.stopped
	}
	st.mu.Unlock()
	if ctx.Err() != nil {
		status = StatusCancelled
		r.Error = &RunError{Code: "ServiceStopped", Message: "keyward stopped while the run was in progress."}
	}
	r.Status = status
	r.Code = status
	if status == StatusFailed && r.Error == nil {
		r.Error = &RunError{Code: "ActionFailed", Message: "An action failed. No dependent actions succeeded."}
	}
	if len(st.def.Outputs) > 0 {
		r.Outputs = map[string]any{}
		for name, o := range st.def.Outputs {
			v, err := st.eval.eval(ctx, o.Value)
			if err != nil {
				v = map[string]any{"error": err.Error()}
			}
			r.Outputs[name] = map[string]any{"type": o.Type, "value": v}
		}
	}
	r.EndTime = st.s.clock.Now().UTC()
	if st.respond != nil {
		st.sendResponse(RunResponse{})
	}
	save := context.WithoutCancel(ctx)
	if err := st.s.saveRun(save, st.h, r, false); err != nil {
		st.s.log.Warn("workflow run: store the run history", "workflow", st.h.ID, "run", r.Name, "err", err)
	}
	st.s.noteTrigger(st.h.ID, r.Trigger.Name, func(ts *TriggerState) { ts.LastStatus = status })
}

// recoverPanic ends a run whose execution panicked (a bug: a definition
// must get an error, never a panic) as Failed with an internal error,
// instead of letting the panic take the server down.
func (st *runState) recoverPanic(ctx context.Context) {
	v := recover()
	if v == nil {
		return
	}
	r := st.run
	st.s.log.Error("workflow run panicked", "workflow", st.h.ID, "run", r.Name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
	r.Status, r.Code = StatusFailed, StatusFailed
	r.Error = &RunError{Code: "InternalServerError", Message: "An internal error occurred while running the workflow."}
	r.EndTime = st.s.clock.Now().UTC()
	if st.respond != nil {
		st.sendResponse(RunResponse{})
	}
	if err := st.s.saveRun(context.WithoutCancel(ctx), st.h, r, false); err != nil {
		st.s.log.Warn("workflow run: store the run history", "workflow", st.h.ID, "run", r.Name, "err", err)
	}
	st.s.noteTrigger(st.h.ID, r.Trigger.Name, func(ts *TriggerState) { ts.LastStatus = StatusFailed })
}

// sendResponse answers the waiting Request trigger once; an empty response
// means the run ended without a Response action.
func (st *runState) sendResponse(resp RunResponse) {
	st.mu.Lock()
	ch := st.respond
	st.respond = nil
	st.mu.Unlock()
	if ch == nil {
		return
	}
	resp.RunName = st.run.Name
	select {
	case ch <- resp:
	default:
	}
}

// runScope runs the actions of one scope in runAfter order and returns the
// scope's status: Failed when an action failed and nothing ran after it.
func (st *runState) runScope(ctx context.Context, actions map[string]*Action, scope string) string {
	statuses := map[string]string{}
	names := make([]string, 0, len(actions))
	for n := range actions {
		names = append(names, n)
	}
	sort.Strings(names)
	st.mu.Lock()
	st.byScope[strings.ToLower(scope)] = names
	st.mu.Unlock()
	for len(statuses) < len(actions) {
		progressed := false
		for _, n := range names {
			if _, done := statuses[n]; done {
				continue
			}
			a := actions[n]
			ready, run := true, true
			for dep, want := range a.RunAfter {
				ds, ok := statuses[dep]
				if !ok {
					ready = false
					break
				}
				if !statusIn(ds, want) {
					run = false
				}
			}
			if !ready {
				continue
			}
			progressed = true
			if !run || st.halted() || ctx.Err() != nil {
				statuses[n] = StatusSkipped
				st.record(&ActionResult{Name: n, Type: a.Type, Scope: scope, Status: StatusSkipped, Code: "ActionSkipped",
					StartTime: st.s.clock.Now().UTC(), EndTime: st.s.clock.Now().UTC(),
					Error: &RunError{Code: "ActionConditionFailed", Message: "The execution of template action '" + n + "' is skipped: the 'runAfter' condition for it is not satisfied."}})
				continue
			}
			statuses[n] = st.runAction(ctx, n, a, scope)
		}
		if !progressed {
			break // unreachable with a validated definition
		}
	}
	// A failure is handled when an action that runs after it ran.
	for n, s := range statuses {
		if s != StatusFailed {
			continue
		}
		handled := false
		for m, a := range actions {
			if _, ok := a.RunAfter[n]; ok && statuses[m] != StatusSkipped {
				handled = true
			}
		}
		if !handled {
			return StatusFailed
		}
	}
	return StatusSucceeded
}

func statusIn(s string, want []string) bool {
	if len(want) == 0 {
		return s == StatusSucceeded
	}
	for _, w := range want {
		if strings.EqualFold(w, s) {
			return true
		}
	}
	return false
}

func (st *runState) halted() bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.stopStat != ""
}

// record adds or replaces an action's result in the run and returns the
// stored result.
func (st *runState) record(res *ActionResult) *ActionResult {
	st.mu.Lock()
	defer st.mu.Unlock()
	key := strings.ToLower(res.Name)
	if old, ok := st.results[key]; ok {
		res.Repetitions = old.Repetitions
		*old = *res
		return old
	}
	st.results[key] = res
	st.run.Actions = append(st.run.Actions, res)
	return res
}

func (st *runState) result(name string) (*ActionResult, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	r, ok := st.results[strings.ToLower(name)]
	return r, ok
}

// runAction runs one action and records its result.
func (st *runState) runAction(ctx context.Context, name string, a *Action, scope string) string {
	st.mu.Lock()
	st.executed++
	over := st.executed > st.s.cfg.MaxActions
	st.mu.Unlock()
	res := st.record(&ActionResult{Name: name, Type: a.Type, Scope: scope, Status: StatusRunning, StartTime: st.s.clock.Now().UTC(), TrackingID: newHexID(16)})
	var err error
	if over {
		err = actionErr("ActionLimitExceeded", "the run executed more than %d actions", st.s.cfg.MaxActions)
	} else {
		err = st.do(ctx, name, a, res)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	res.EndTime = st.s.clock.Now().UTC()
	if err != nil {
		res.Status = StatusFailed
		ae := asActionError(err)
		if res.Code == "" || res.Code == "OK" {
			res.Code = ae.Code
		}
		res.Error = &RunError{Code: ae.Code, Message: ae.Message}
	} else if res.Status == StatusRunning {
		res.Status = StatusSucceeded
		if res.Code == "" {
			res.Code = "OK"
		}
	}
	return res.Status
}

// actionError is an action's failure.
type actionError struct {
	Code    string
	Message string
}

// Error implements error.
func (e *actionError) Error() string { return e.Code + ": " + e.Message }

func actionErr(code, format string, args ...any) error {
	return &actionError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func asActionError(err error) *actionError {
	var ae *actionError
	if errors.As(err, &ae) {
		return ae
	}
	var ee *template.ExpressionError
	if errors.As(err, &ee) {
		return &actionError{Code: "InvalidTemplate", Message: "Unable to process template language expressions in action inputs: " + err.Error()}
	}
	return &actionError{Code: "ActionFailed", Message: err.Error()}
}

// noteTrigger updates a trigger's remembered state.
func (s *Service) noteTrigger(id, trigger string, fn func(*TriggerState)) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	h, ok := s.head(id)
	if !ok {
		return
	}
	ts := h.TriggerStates[trigger]
	fn(&ts)
	if h.TriggerStates == nil {
		h.TriggerStates = map[string]TriggerState{}
	}
	h.TriggerStates[trigger] = ts
	if err := s.putHead(context.WithoutCancel(s.ctx), &store.Batch{}, h); err != nil {
		s.log.Warn("workflow trigger state", "workflow", id, "err", err)
	}
}
