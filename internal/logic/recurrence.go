package logic

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/keyward/keyward/internal/arm/template"
)

// period returns a Recurrence's step as a fixed duration, or 0 for
// calendar steps (Month).
func period(r Recurrence) time.Duration {
	n := time.Duration(r.Interval)
	switch r.Frequency {
	case "Second":
		return n * time.Second
	case "Minute":
		return n * time.Minute
	case "Hour":
		return n * time.Hour
	case "Day":
		return n * 24 * time.Hour
	case "Week":
		return n * 7 * 24 * time.Hour
	}
	return 0
}

func step(r Recurrence, t time.Time) time.Time {
	if p := period(r); p > 0 {
		return t.Add(p)
	}
	return t.AddDate(0, r.Interval, 0)
}

// NextFire returns when a Recurrence trigger fires next after it last fired
// at last (zero: never) at time now. ok is false after the end time.
func NextFire(r Recurrence, last, now time.Time) (time.Time, bool) {
	var next time.Time
	start, err := template.ParseDateTime(r.StartTime)
	hasStart := r.StartTime != "" && err == nil
	switch {
	case hasStart:
		from := now
		if !last.IsZero() && last.After(now) {
			from = last
		}
		if !last.IsZero() {
			// The first occurrence after the last one, but not in the past.
			if l := last.Add(time.Nanosecond); l.After(from) {
				from = l
			}
		}
		if !start.Before(from) {
			next = start
			break
		}
		if p := period(r); p > 0 {
			k := from.Sub(start) / p
			next = start.Add(k * p)
			if next.Before(from) {
				next = next.Add(p)
			}
			break
		}
		next = start
		for i := 0; next.Before(from) && i < 1_000_000; i++ {
			next = step(r, next)
		}
	case last.IsZero():
		next = now
	default:
		next = step(r, last)
		if next.Before(now) {
			next = now
		}
	}
	if r.EndTime != "" {
		if end, err := template.ParseDateTime(r.EndTime); err == nil && next.After(end) {
			return time.Time{}, false
		}
	}
	return next, true
}

// unschedule stops a workflow's recurrence triggers.
func (s *Service) unschedule(id string) {
	s.mu.Lock()
	stop := s.sched[strings.ToLower(id)]
	delete(s.sched, strings.ToLower(id))
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// reschedule (re)starts the recurrence triggers of an enabled workflow.
func (s *Service) reschedule(id string) {
	s.unschedule(id)
	h, ok := s.head(id)
	if !ok || h.State != WorkflowEnabled || len(h.Recurrences) == 0 {
		return
	}
	if s.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithCancel(s.ctx)
	s.mu.Lock()
	s.sched[strings.ToLower(id)] = cancel
	s.mu.Unlock()
	for name, r := range h.Recurrences {
		last := h.TriggerStates[name].LastExecution
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				// A bug must not take the server down: stop this trigger.
				if v := recover(); v != nil {
					s.log.Error("workflow recurrence panicked; the trigger stops", "workflow", h.ID, "trigger", name, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				}
			}()
			s.recur(ctx, h.ID, name, r, last)
		}()
	}
}

func (s *Service) recur(ctx context.Context, id, trigger string, r Recurrence, last time.Time) {
	for {
		next, ok := NextFire(r, last, s.clock.Now())
		if !ok {
			return
		}
		s.noteTrigger(id, trigger, func(ts *TriggerState) { ts.NextExecution = next })
		t := s.clock.NewTimer(next.Sub(s.clock.Now()))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		if ctx.Err() != nil {
			return
		}
		_, _, err := s.StartRun(ctx, id, Invocation{Trigger: trigger, Scheduled: next})
		status := StatusRunning
		if err != nil {
			status = StatusSkipped
			s.log.Info("recurrence trigger did not start a run", "workflow", id, "trigger", trigger, "err", err)
		}
		last = next
		s.noteTrigger(id, trigger, func(ts *TriggerState) {
			ts.LastExecution = next
			if err != nil {
				ts.LastStatus = status
			}
		})
	}
}
