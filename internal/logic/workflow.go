package logic

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm"
	"github.com/keyward/keyward/internal/records"
	"github.com/keyward/keyward/internal/seal"
	"github.com/keyward/keyward/internal/store"
)

// Workflow states.
const (
	WorkflowEnabled  = "Enabled"
	WorkflowDisabled = "Disabled"
)

// TriggerState is what the service remembers of a trigger.
type TriggerState struct {
	LastExecution time.Time `json:"lastExecution,omitempty"`
	NextExecution time.Time `json:"nextExecution,omitempty"`
	LastStatus    string    `json:"lastStatus,omitempty"`
}

// workflowHead is a workflow's resource metadata, sealed under the system
// data key: everything needed to route and list it, nothing the customer
// wrote.
type workflowHead struct {
	ID             string                  `json:"id"`
	Name           string                  `json:"name"`
	SubscriptionID string                  `json:"subscriptionId"`
	ResourceGroup  string                  `json:"resourceGroup"`
	TenantID       string                  `json:"tenantId"`
	Location       string                  `json:"location"`
	Tags           map[string]string       `json:"tags,omitempty"`
	ISEID          string                  `json:"iseId,omitempty"`
	AccessID       string                  `json:"accessId"`
	State          string                  `json:"state"`
	Version        string                  `json:"version"`
	Triggers       map[string]string       `json:"triggers,omitempty"` // name -> type
	Recurrences    map[string]Recurrence   `json:"recurrences,omitempty"`
	TriggerStates  map[string]TriggerState `json:"triggerStates,omitempty"`
	CreatedAt      time.Time               `json:"createdAt"`
	ChangedAt      time.Time               `json:"changedAt"`
}

// owner is the resource whose data key seals the workflow's data.
func (h workflowHead) owner() string {
	if h.ISEID != "" {
		return h.ISEID
	}
	return h.ID
}

// workflowData is what the customer wrote, sealed under the owner's data key.
type workflowData struct {
	Definition   json.RawMessage            `json:"definition"`
	Parameters   map[string]json.RawMessage `json:"parameters,omitempty"`
	PrimaryKey   []byte                     `json:"primaryKey"`
	SecondaryKey []byte                     `json:"secondaryKey"`
}

// Workflow is a workflow as the resource manager shows it.
type Workflow struct {
	ID             string
	Name           string
	SubscriptionID string
	ResourceGroup  string
	Location       string
	Tags           map[string]string
	ISEID          string
	State          string
	Version        string
	AccessID       string
	CreatedAt      time.Time
	ChangedAt      time.Time
	Triggers       map[string]string
	Recurrences    map[string]Recurrence
	TriggerStates  map[string]TriggerState
	// Definition and Parameters are nil when the workflow's data key is
	// unavailable (Revoked).
	Definition json.RawMessage
	Parameters map[string]json.RawMessage
	// ParamTypes gives each definition parameter's type (to hide secure values).
	ParamTypes map[string]string
	Revoked    bool
}

// WorkflowSpec is a create-or-update request.
type WorkflowSpec struct {
	SubscriptionID string
	ResourceGroup  string
	Name           string
	TenantID       string
	Location       string
	Tags           map[string]string
	Definition     json.RawMessage
	Parameters     map[string]json.RawMessage
	State          string
	ISEID          string // "" for none
	ISEGiven       bool
	Patch          bool
}

var workflowName = regexp.MustCompile(`^[A-Za-z0-9_.()-]{1,80}$`)

func workflowID(sub, rg, name string) string {
	return arm.ResourceGroupScope(sub, rg) + "/providers/Microsoft.Logic/workflows/" + name
}

func (s *Service) dataTable(dk *seal.DataKey) records.Table[workflowData] {
	return records.NewTable[workflowData](s.st, dk, "logic/wfd/")
}

func (s *Service) head(id string) (workflowHead, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.wfByID[strings.ToLower(id)]
	if !ok {
		return workflowHead{}, false
	}
	cp := *h
	cp.TriggerStates = map[string]TriggerState{}
	for k, v := range h.TriggerStates {
		cp.TriggerStates[k] = v
	}
	return cp, true
}

func (s *Service) putHead(ctx context.Context, b *store.Batch, h workflowHead) error {
	if err := s.heads.Put(b, strings.ToLower(h.ID), h); err != nil {
		return err
	}
	if err := s.apply(ctx, b); err != nil {
		return err
	}
	s.mu.Lock()
	cp := h
	s.wfByID[strings.ToLower(h.ID)] = &cp
	s.byAccess[h.AccessID] = strings.ToLower(h.ID)
	s.mu.Unlock()
	return nil
}

// loadData opens a workflow's sealed data.
func (s *Service) loadData(ctx context.Context, h workflowHead) (workflowData, error) {
	dk, err := s.dataKey(h.owner())
	if err != nil {
		return workflowData{}, err
	}
	d, err := s.dataTable(dk).Get(ctx, strings.ToLower(h.ID))
	if err != nil {
		if errors.Is(err, seal.ErrDestroyed) {
			return workflowData{}, ErrRevoked
		}
		return workflowData{}, err
	}
	return d, nil
}

func (s *Service) view(ctx context.Context, h workflowHead) Workflow {
	w := Workflow{ID: h.ID, Name: h.Name, SubscriptionID: h.SubscriptionID, ResourceGroup: h.ResourceGroup, Location: h.Location,
		Tags: h.Tags, ISEID: h.ISEID, State: h.State, Version: h.Version, AccessID: h.AccessID, CreatedAt: h.CreatedAt, ChangedAt: h.ChangedAt,
		Triggers: h.Triggers, Recurrences: h.Recurrences, TriggerStates: h.TriggerStates}
	d, err := s.loadData(ctx, h)
	if err != nil {
		w.Revoked = true
		return w
	}
	w.Definition, w.Parameters = d.Definition, d.Parameters
	if def, err := ParseDefinition(d.Definition); err == nil {
		w.ParamTypes = map[string]string{}
		for n, p := range def.Parameters {
			w.ParamTypes[n] = p.Type
		}
	}
	return w
}

// AccessEndpoint returns the base URL of a workflow's callback URLs.
func (s *Service) AccessEndpoint(w Workflow) string {
	return s.cfg.CallbackBase + "/workflows/" + w.AccessID
}

// GetWorkflow returns a workflow.
func (s *Service) GetWorkflow(ctx context.Context, id string) (Workflow, bool) {
	h, ok := s.head(id)
	if !ok {
		return Workflow{}, false
	}
	return s.view(ctx, h), true
}

// ListWorkflows returns the workflows of a subscription (and resource group).
func (s *Service) ListWorkflows(ctx context.Context, subscriptionID, resourceGroup string) []Workflow {
	s.mu.RLock()
	var hs []workflowHead
	for _, h := range s.wfByID {
		if strings.EqualFold(h.SubscriptionID, subscriptionID) && (resourceGroup == "" || strings.EqualFold(h.ResourceGroup, resourceGroup)) {
			hs = append(hs, *h)
		}
	}
	s.mu.RUnlock()
	sort.Slice(hs, func(i, j int) bool { return strings.ToLower(hs[i].ID) < strings.ToLower(hs[j].ID) })
	out := make([]Workflow, 0, len(hs))
	for _, h := range hs {
		out = append(out, s.view(ctx, h))
	}
	return out
}

func (s *Service) workflowsIn(iseID string) []workflowHead {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []workflowHead
	for _, h := range s.wfByID {
		if strings.EqualFold(h.ISEID, iseID) {
			out = append(out, *h)
		}
	}
	return out
}

// newVersion returns a version (and run) name that sorts newest first, like
// Azure's "08585…" ids.
func (s *Service) newVersion() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	r := uint64(0)
	for _, c := range b {
		r = r<<8 | uint64(c)
	}
	now := s.clock.Now().UnixNano()
	s.mu.Lock()
	if now <= s.lastName {
		now = s.lastName + 1
	}
	s.lastName = now
	s.mu.Unlock()
	return fmt.Sprintf("%019d%010dCU%02d", math.MaxInt64-now, r%10000000000, r%100)
}

func newAccessKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// checkParameters checks workflow parameter values against the definition.
func checkParameters(def *Definition, params map[string]json.RawMessage) error {
	for name := range params {
		if _, ok := def.Parameters[name]; !ok {
			return arm.BadRequest("InvalidWorkflowParameters", "The workflow parameter '%s' is not declared in the definition's parameters.", name)
		}
	}
	for name, p := range def.Parameters {
		raw, given := params[name]
		if !given && p.DefaultValue == nil {
			return arm.BadRequest("InvalidWorkflowParameters", "The workflow parameter '%s' has no value and no default value.", name)
		}
		if given {
			var w struct {
				Value json.RawMessage `json:"value"`
			}
			if err := json.Unmarshal(raw, &w); err != nil || len(w.Value) == 0 {
				return arm.BadRequest("InvalidWorkflowParameters", "The workflow parameter '%s' must be given as {\"value\": …}.", name)
			}
		}
	}
	return nil
}

// CreateOrUpdateWorkflow applies spec.
func (s *Service) CreateOrUpdateWorkflow(ctx context.Context, caller arm.Caller, spec WorkflowSpec) (Workflow, bool, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	id := workflowID(spec.SubscriptionID, spec.ResourceGroup, spec.Name)
	cur, exists := s.head(id)
	if !exists && spec.Patch {
		return Workflow{}, false, arm.NotFound(mustTarget(id))
	}
	if !exists && !workflowName.MatchString(spec.Name) {
		return Workflow{}, false, arm.BadRequest("InvalidWorkflowName", "The workflow name '%s' is not valid: use 1 to 80 letters, digits, '-', '_', '.', '(' and ')'.", spec.Name)
	}
	h := cur
	now := s.clock.Now().UTC()
	if !exists {
		loc, err := s.m.ValidateLocation(spec.Location, "Microsoft.Logic/workflows")
		if err != nil {
			return Workflow{}, false, err
		}
		h = workflowHead{ID: id, Name: spec.Name, SubscriptionID: spec.SubscriptionID, ResourceGroup: spec.ResourceGroup, TenantID: spec.TenantID,
			Location: loc, AccessID: newHexID(16), State: WorkflowEnabled, CreatedAt: now}
	} else if spec.Location != "" {
		if loc, _ := s.m.NormalizeLocation(spec.Location); loc != cur.Location {
			return Workflow{}, false, arm.BadRequest("LocationCannotBeChanged", "The location of workflow '%s' is '%s' and cannot be changed.", cur.Name, cur.Location)
		}
	}
	// The hosting ISE.
	if spec.ISEGiven || !exists {
		iseID := normalizeID(spec.ISEID)
		if exists && !strings.EqualFold(iseID, cur.ISEID) {
			return Workflow{}, false, arm.BadRequest("IntegrationServiceEnvironmentCannotBeChanged", "Workflow '%s' cannot move into or out of an integration service environment; create a new workflow instead.", cur.Name)
		}
		if iseID != "" {
			x, ok := s.GetISE(iseID)
			if !ok || !strings.EqualFold(x.SubscriptionID, spec.SubscriptionID) {
				return Workflow{}, false, arm.BadRequest("IntegrationServiceEnvironmentNotFound", "The integration service environment '%s' was not found in subscription '%s'.", spec.ISEID, spec.SubscriptionID)
			}
			if !s.m.Allowed(caller, x.ID, "Microsoft.Logic/integrationServiceEnvironments/join/action") {
				return Workflow{}, false, arm.AuthorizationFailed(caller, "Microsoft.Logic/integrationServiceEnvironments/join/action", x.ID)
			}
			switch x.ProvisioningState {
			case StateInProgress:
				return Workflow{}, false, arm.Conflict("IntegrationServiceEnvironmentNotReady", "The integration service environment '%s' is still being provisioned: it waits for its identity to get access to its key.", x.Name)
			case StateFailed:
				return Workflow{}, false, arm.Conflict("IntegrationServiceEnvironmentFailed", "The integration service environment '%s' failed to provision and cannot host workflows.", x.Name)
			}
			if !exists && x.Location != h.Location {
				return Workflow{}, false, arm.BadRequest("LocationMismatch", "A workflow in integration service environment '%s' must be in its location '%s', not '%s'.", x.Name, x.Location, h.Location)
			}
			if s.Status(x) == "Revoked" {
				return Workflow{}, false, s.revokedError(x.ID)
			}
			h.ISEID = x.ID
		}
	}
	var data workflowData
	if exists {
		d, err := s.loadData(ctx, cur)
		if err != nil {
			return Workflow{}, false, s.dataErr(cur.owner(), err)
		}
		data = d
	} else {
		data.PrimaryKey, data.SecondaryKey = newAccessKey(), newAccessKey()
	}
	if len(spec.Definition) > 0 || !spec.Patch {
		if len(spec.Definition) == 0 {
			return Workflow{}, false, arm.BadRequest("DefinitionRequired", "properties.definition is required.")
		}
		data.Definition = spec.Definition
	}
	if spec.Parameters != nil || !spec.Patch {
		data.Parameters = spec.Parameters
	}
	def, err := ParseDefinition(data.Definition)
	if err != nil {
		return Workflow{}, false, err
	}
	if err := checkParameters(def, data.Parameters); err != nil {
		return Workflow{}, false, err
	}
	if spec.State != "" {
		switch strings.ToLower(spec.State) {
		case "enabled":
			h.State = WorkflowEnabled
		case "disabled":
			h.State = WorkflowDisabled
		default:
			return Workflow{}, false, arm.BadRequest("InvalidWorkflowState", "The workflow state '%s' is not valid: use Enabled or Disabled.", spec.State)
		}
	}
	if spec.Tags != nil || !spec.Patch {
		h.Tags = spec.Tags
	}
	h.Triggers = map[string]string{}
	h.Recurrences = map[string]Recurrence{}
	for n, t := range def.Triggers {
		h.Triggers[n] = t.Type
		if t.Type == TypeRecurrence {
			h.Recurrences[n] = *t.Recurrence
		}
	}
	states := map[string]TriggerState{}
	for n := range h.Triggers {
		if st, ok := h.TriggerStates[n]; ok {
			states[n] = st
		}
	}
	h.TriggerStates = states
	h.Version = s.newVersion()
	h.ChangedAt = now
	created := false
	if !exists && h.ISEID == "" {
		if err := s.kb.Create(ctx, h.ID, h.TenantID); err != nil {
			return Workflow{}, false, err
		}
		created = true
	}
	dk, err := s.dataKey(h.owner())
	if err != nil {
		return Workflow{}, false, s.dataErr(h.owner(), err)
	}
	b := &store.Batch{}
	if err := s.dataTable(dk).Put(b, strings.ToLower(h.ID), data); err != nil {
		return Workflow{}, false, err
	}
	if err := s.putHead(ctx, b, h); err != nil {
		if created {
			_ = s.kb.Delete(context.WithoutCancel(ctx), h.ID)
		}
		return Workflow{}, false, err
	}
	s.reschedule(h.ID)
	return s.view(ctx, h), !exists, nil
}

// SetWorkflowState enables or disables a workflow.
func (s *Service) SetWorkflowState(ctx context.Context, id, state string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	h, ok := s.head(id)
	if !ok {
		return arm.NotFound(mustTarget(id))
	}
	h.State = state
	h.ChangedAt = s.clock.Now().UTC()
	if err := s.putHead(ctx, &store.Batch{}, h); err != nil {
		return err
	}
	s.reschedule(h.ID)
	return nil
}

// RegenerateAccessKey replaces the primary or secondary access key: every
// callback URL signed with the old key stops working.
func (s *Service) RegenerateAccessKey(ctx context.Context, id, keyType string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	h, ok := s.head(id)
	if !ok {
		return arm.NotFound(mustTarget(id))
	}
	d, err := s.loadData(ctx, h)
	if err != nil {
		return s.dataErr(h.owner(), err)
	}
	switch strings.ToLower(keyType) {
	case "primary":
		d.PrimaryKey = newAccessKey()
	case "secondary":
		d.SecondaryKey = newAccessKey()
	default:
		return arm.BadRequest("InvalidKeyType", "keyType must be Primary or Secondary, not '%s'.", keyType)
	}
	dk, err := s.dataKey(h.owner())
	if err != nil {
		return s.dataErr(h.owner(), err)
	}
	b := &store.Batch{}
	if err := s.dataTable(dk).Put(b, strings.ToLower(h.ID), d); err != nil {
		return err
	}
	return s.apply(ctx, b)
}

// DeleteWorkflow deletes a workflow with its run history.
func (s *Service) DeleteWorkflow(ctx context.Context, id string) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	h, ok := s.head(id)
	if !ok {
		return nil
	}
	return s.deleteWorkflowLocked(ctx, h)
}

func (s *Service) deleteWorkflowLocked(ctx context.Context, h workflowHead) error {
	s.unschedule(h.ID)
	lid := strings.ToLower(h.ID)
	b := &store.Batch{}
	s.heads.Delete(b, lid)
	b.Delete([]byte("logic/wfd/" + lid))
	prefix := []byte(runPrefix(h.ID))
	b.DeleteRange(prefix, store.PrefixEnd(prefix))
	if err := s.apply(ctx, b); err != nil {
		return err
	}
	if h.ISEID == "" {
		if err := s.kb.Delete(ctx, h.ID); err != nil {
			return err
		}
	}
	s.mu.Lock()
	delete(s.wfByID, lid)
	delete(s.byAccess, h.AccessID)
	s.mu.Unlock()
	return nil
}

// Signatures of callback and content URLs.

const sigVersion = "1.0"

// sign returns the signature of a callback permission with one access key.
func sign(key []byte, sp, sv, se string) string {
	return base64.RawURLEncoding.EncodeToString(hmacSHA256(key, sp+"\n"+sv+"\n"+se))
}

// CallbackURL is a trigger's callback URL and its parts.
type CallbackURL struct {
	Value        string
	Method       string
	BasePath     string
	RelativePath string
	Queries      map[string]string
}

// TriggerCallbackURL returns the callback URL of a Request trigger, signed
// with the primary (or secondary) access key, valid until notAfter (zero:
// forever).
func (s *Service) TriggerCallbackURL(ctx context.Context, id, trigger, keyType string, notAfter time.Time) (CallbackURL, error) {
	h, ok := s.head(id)
	if !ok {
		return CallbackURL{}, arm.NotFound(mustTarget(id))
	}
	name, typ := triggerNamed(h, trigger)
	if name == "" {
		return CallbackURL{}, arm.Errorf(404, "WorkflowTriggerNotFound", "The workflow '%s' has no trigger '%s'.", h.Name, trigger)
	}
	if typ != TypeRequest {
		return CallbackURL{}, arm.BadRequest("WorkflowTriggerHasNoCallbackUrl", "The trigger '%s' is a %s trigger; only Request triggers have callback URLs.", name, typ)
	}
	d, err := s.loadData(ctx, h)
	if err != nil {
		return CallbackURL{}, s.dataErr(h.owner(), err)
	}
	def, err := ParseDefinition(d.Definition)
	if err != nil {
		return CallbackURL{}, err
	}
	method := "POST"
	relPath := ""
	if in, ok := def.Triggers[name].Inputs.(map[string]any); ok {
		if m, ok := in["method"].(string); ok && m != "" {
			method = strings.ToUpper(m)
		}
		if rp, ok := in["relativePath"].(string); ok {
			relPath = strings.Trim(rp, "/")
		}
	}
	key := d.PrimaryKey
	if strings.EqualFold(keyType, "Secondary") {
		key = d.SecondaryKey
	}
	sp := "/triggers/" + name + "/run"
	se := ""
	if !notAfter.IsZero() {
		se = notAfter.UTC().Format(time.RFC3339)
	}
	q := map[string]string{"api-version": callbackAPIVersion, "sp": sp, "sv": sigVersion, "sig": sign(key, sp, sigVersion, se)}
	if se != "" {
		q["se"] = se
	}
	base := s.cfg.CallbackBase + "/workflows/" + h.AccessID + "/triggers/" + name + "/paths/invoke"
	value := base
	if relPath != "" {
		value += "/" + relPath
	}
	return CallbackURL{Value: value + "?" + encodeQuery(q), Method: method, BasePath: base, RelativePath: relPath, Queries: q}, nil
}

// callbackAPIVersion is the api-version of callback URLs (as Azure's).
const callbackAPIVersion = "2016-10-01"

func triggerNamed(h workflowHead, name string) (string, string) {
	for n, t := range h.Triggers {
		if strings.EqualFold(n, name) {
			return n, t
		}
	}
	return "", ""
}
