package vault

import (
	"strings"
	"time"
)

// Rotation policy limits, as documented for Azure Key Vault automatic key
// rotation: an expiry time of at least 28 days, rotation and notification
// at least 7 days after creation and at least 7 days before expiry.
const (
	minPolicyExpiry   = 28 * 24 * time.Hour
	minPolicyInterval = 7 * 24 * time.Hour
	maxLifetimeAction = 2 // one Rotate and one Notify
)

// defaultRotationPolicy is what a key without a policy reports: notify 30
// days before expiry, as Azure answers.
func defaultRotationPolicy() RotationPolicy {
	return RotationPolicy{LifetimeActions: []LifetimeAction{{Type: ActionNotify, TimeBeforeExpiry: "P30D"}}}
}

// normalizePolicy validates a rotation policy and returns it with canonical
// spellings (action types "Rotate"/"Notify", upper-case durations).
func normalizePolicy(p RotationPolicy) (RotationPolicy, error) {
	out := RotationPolicy{LifetimeActions: []LifetimeAction{}}
	var expiry *isoDuration
	if p.ExpiryTime != "" {
		d, err := parseISODuration(p.ExpiryTime)
		if err != nil {
			return out, errBadParameter("attributes.expiryTime: %v", err)
		}
		if d.approx() < minPolicyExpiry {
			return out, errBadParameter("attributes.expiryTime '%s' is too short: the expiry time must be at least 28 days (P28D).", clip(p.ExpiryTime))
		}
		expiry = &d
		out.ExpiryTime = strings.ToUpper(p.ExpiryTime)
	}
	if len(p.LifetimeActions) > maxLifetimeAction {
		return out, errBadParameter("lifetimeActions has %d entries; a policy has at most one Rotate and one Notify action.", len(p.LifetimeActions))
	}
	seen := map[string]bool{}
	for i, a := range p.LifetimeActions {
		var typ string
		switch {
		case strings.EqualFold(a.Type, ActionRotate):
			typ = ActionRotate
		case strings.EqualFold(a.Type, ActionNotify):
			typ = ActionNotify
		case a.Type == "":
			return out, errBadParameter("lifetimeActions[%d].action.type is missing; use Rotate or Notify.", i)
		default:
			return out, errBadParameter("lifetimeActions[%d].action.type '%s' is unknown; use Rotate or Notify.", i, clip(a.Type))
		}
		if seen[typ] {
			return out, errBadParameter("lifetimeActions has more than one %s action.", typ)
		}
		seen[typ] = true
		if (a.TimeAfterCreate == "") == (a.TimeBeforeExpiry == "") {
			return out, errBadParameter("lifetimeActions[%d].trigger must have exactly one of timeAfterCreate and timeBeforeExpiry.", i)
		}
		na := LifetimeAction{Type: typ}
		if a.TimeAfterCreate != "" {
			if typ == ActionNotify {
				return out, errBadParameter("lifetimeActions[%d]: a Notify action only supports the timeBeforeExpiry trigger.", i)
			}
			d, err := parseISODuration(a.TimeAfterCreate)
			if err != nil {
				return out, errBadParameter("lifetimeActions[%d].trigger.timeAfterCreate: %v", i, err)
			}
			if d.approx() < minPolicyInterval {
				return out, errBadParameter("lifetimeActions[%d].trigger.timeAfterCreate '%s' is too short: rotation must be at least 7 days (P7D) after creation.", i, clip(a.TimeAfterCreate))
			}
			if expiry != nil && expiry.approx()-d.approx() < minPolicyInterval {
				return out, errBadParameter("lifetimeActions[%d].trigger.timeAfterCreate '%s' must be at least 7 days before the expiry time '%s'.", i, clip(a.TimeAfterCreate), out.ExpiryTime)
			}
			na.TimeAfterCreate = strings.ToUpper(a.TimeAfterCreate)
		} else {
			d, err := parseISODuration(a.TimeBeforeExpiry)
			if err != nil {
				return out, errBadParameter("lifetimeActions[%d].trigger.timeBeforeExpiry: %v", i, err)
			}
			if d.approx() < minPolicyInterval {
				return out, errBadParameter("lifetimeActions[%d].trigger.timeBeforeExpiry '%s' is too short: it must be at least 7 days (P7D).", i, clip(a.TimeBeforeExpiry))
			}
			if typ == ActionRotate {
				if expiry == nil {
					return out, errBadParameter("lifetimeActions[%d]: rotating before expiry needs attributes.expiryTime to be set.", i)
				}
				if expiry.approx()-d.approx() < minPolicyInterval {
					return out, errBadParameter("lifetimeActions[%d].trigger.timeBeforeExpiry '%s' must leave at least 7 days after creation within the expiry time '%s'.", i, clip(a.TimeBeforeExpiry), out.ExpiryTime)
				}
			}
			na.TimeBeforeExpiry = strings.ToUpper(a.TimeBeforeExpiry)
		}
		out.LifetimeActions = append(out.LifetimeActions, na)
	}
	return out, nil
}

// policyAction returns the action of type typ in p, if any.
func policyAction(p RotationPolicy, typ string) (LifetimeAction, bool) {
	for _, a := range p.LifetimeActions {
		if a.Type == typ {
			return a, true
		}
	}
	return LifetimeAction{}, false
}

// triggerTime returns when an action's trigger fires for a version created
// at created with expiry exp (nil: none). ok is false when the trigger
// cannot fire (time before expiry of a version without expiry).
func triggerTime(a LifetimeAction, created time.Time, exp *time.Time) (time.Time, bool) {
	if a.TimeAfterCreate != "" {
		d, err := parseISODuration(a.TimeAfterCreate)
		if err != nil {
			return time.Time{}, false
		}
		return d.addTo(created), true
	}
	if a.TimeBeforeExpiry != "" && exp != nil {
		d, err := parseISODuration(a.TimeBeforeExpiry)
		if err != nil {
			return time.Time{}, false
		}
		return d.subFrom(*exp), true
	}
	return time.Time{}, false
}
