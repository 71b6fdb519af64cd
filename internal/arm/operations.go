package arm

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Operation states as ARM reports them.
const (
	OpInProgress = "InProgress"
	OpSucceeded  = "Succeeded"
	OpFailed     = "Failed"
	OpCanceled   = "Canceled"
)

// Operation is a long-running operation.
type Operation struct {
	ID         string
	Namespace  string
	Location   string
	ResourceID string
	APIVersion string

	mu     sync.Mutex
	status string
	err    *Error
	start  time.Time
	end    time.Time
	done   chan struct{}
}

// Status returns the operation's current state.
func (o *Operation) Status() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.status
}

// Err returns the error of a failed operation.
func (o *Operation) Err() *Error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// Done is closed when the operation ends.
func (o *Operation) Done() <-chan struct{} { return o.done }

func (o *Operation) finish(err error, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.status != OpInProgress {
		return
	}
	if err != nil {
		o.status, o.err = OpFailed, AsError(err)
	} else {
		o.status = OpSucceeded
	}
	o.end = now
	close(o.done)
}

// operationsKept bounds the finished operations kept for polling.
const operationsKept = 10000

// Async starts fn as a long-running operation of the request's resource and
// returns it; the provider returns it in Response.Operation. fn runs with a
// context that lives as long as the manager.
func (m *Manager) Async(req *Request, location string, fn func(ctx context.Context) error) *Operation {
	if location == "" {
		location = "global"
	}
	op := &Operation{
		ID: NewOperationID(), Namespace: req.Target.Namespace, Location: location,
		ResourceID: req.Target.ResourceID(), APIVersion: req.APIVersion,
		status: OpInProgress, start: m.clock.Now().UTC(), done: make(chan struct{}),
	}
	m.mu.Lock()
	if len(m.ops) >= operationsKept {
		for id, o := range m.ops {
			if o.Status() != OpInProgress {
				delete(m.ops, id)
			}
		}
	}
	m.ops[op.ID] = op
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		err := m.run(fn, op)
		op.finish(err, m.clock.Now().UTC())
		if err != nil && m.log != nil {
			m.log.Info("operation failed", "operation", op.ID, "resource", op.ResourceID, "err", err)
		}
	}()
	return op
}

// run calls an operation's function. A panic (a bug: bad input must get an
// error) fails the operation with InternalServerError and is logged,
// rather than taking the server down.
func (m *Manager) run(fn func(context.Context) error, op *Operation) (err error) {
	defer func() {
		if v := recover(); v != nil {
			if m.log != nil {
				m.log.Error("operation panicked", "operation", op.ID, "resource", op.ResourceID, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			}
			err = Errorf(500, "InternalServerError", "An internal error occurred while processing the request.")
		}
	}()
	return fn(m.ctx)
}

// Wait blocks until op ends or ctx is done.
func (m *Manager) Wait(ctx context.Context, op *Operation) error {
	select {
	case <-op.Done():
		if e := op.Err(); e != nil {
			return e
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// OperationURL returns the Azure-AsyncOperation URL of op.
func (m *Manager) OperationURL(base, sub string, op *Operation, kind string) string {
	return base + "/subscriptions/" + sub + "/providers/" + op.Namespace + "/locations/" + op.Location + "/" + kind + "/" + op.ID + "?api-version=" + op.APIVersion
}

func (m *Manager) operationStatus(req *Request) (*Response, error) {
	t := req.Target
	m.mu.Lock()
	op, ok := m.ops[t.Names[1]]
	m.mu.Unlock()
	if !ok {
		return nil, Errorf(404, "OperationNotFound", "The operation '%s' could not be found.", t.Names[1])
	}
	if !req.Caller.System && m.authz != nil && !m.authz.Allowed(req.Caller.ObjectID, op.ResourceID, op.Namespace+"/locations/operationresults/read") &&
		!m.authz.Allowed(req.Caller.ObjectID, op.ResourceID, "Microsoft.Resources/subscriptions/read") {
		return nil, AuthorizationFailed(req.Caller, op.Namespace+"/locations/operationresults/read", op.ResourceID)
	}
	op.mu.Lock()
	defer op.mu.Unlock()
	if strings.EqualFold(t.Types[1], "operationResults") {
		if op.status == OpInProgress {
			return &Response{Status: 202, Operation: op}, nil
		}
		if op.err != nil {
			return nil, op.err
		}
		return NoContent(), nil
	}
	body := map[string]any{
		"id":        t.ResourceID(),
		"name":      op.ID,
		"status":    op.status,
		"startTime": FormatTime(op.start),
	}
	if !op.end.IsZero() {
		body["endTime"] = FormatTime(op.end)
	}
	if op.err != nil {
		body["error"] = op.err
	}
	return OK(body), nil
}
