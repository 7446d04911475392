package jobs

import (
	"testing"

	privacyv1alpha1 "github.com/privacyoperator/privacy-operator/api/v1alpha1"
	"github.com/privacyoperator/privacy-operator/internal/operator/dispatch"
	"github.com/privacyoperator/privacy-operator/pkg/protocol"
)

// A hold that covers a job under way: a task ends Held at once; an accepted
// job is cancelled once, then ends by the source's answer.
func TestHoldUnderWay(t *testing.T) {
	accepted := func() (*Pass, *Entry) {
		p := ledgerAt(t0).Pass(1)
		e := entry(state{phase: pending, attempts: 1})
		p.Apply(e, dispatch.Outcome{Result: dispatch.ResultAccepted}, retry)
		return p, e
	}

	t.Run("an open task ends Held", func(t *testing.T) {
		p := ledgerAt(t0).Pass(1)
		e := entry(state{phase: dispatched, attempts: 1})
		e.Task = "pr-1"
		cancel, c := p.HoldUnderWay(e, "matter-7", "Matter 7.")
		if cancel || !c.Ended || c.Failed || e.Phase != privacyv1alpha1.SourcePhaseHeld || e.Hold != "matter-7" {
			t.Fatalf("cancel %v, change %+v, entry %s hold %q", cancel, c, e.Phase, e.Hold)
		}
	})

	t.Run("an accepted job is cancelled, again at every pass until the source answers", func(t *testing.T) {
		p, e := accepted()
		if cancel, _ := p.HoldUnderWay(e, "matter-7", "Matter 7."); !cancel || !CancelRequested(e) {
			t.Fatal("first pass: no cancel asked for")
		}
		before := e.DeepCopy()
		if cancel, _ := p.HoldUnderWay(e, "matter-7", "Matter 7."); !cancel {
			t.Fatal("second pass: a lost cancel would never be sent again")
		}
		if e.Conditions[0].Message != before.Conditions[0].Message || e.Hold != before.Hold {
			t.Fatal("a repeated cancel changed the entry: a status write for nothing")
		}
		if e.Phase != dispatched {
			t.Fatalf("phase %s: the job waits for the source's answer", e.Phase)
		}
	})

	for _, tc := range []struct {
		name    string
		outcome dispatch.Outcome
		phase   privacyv1alpha1.SourcePhase
		hold    string
	}{
		{"the source cancelled it (Failed)", final(protocol.StatusFailed, 0), privacyv1alpha1.SourcePhaseHeld, "matter-7"},
		{"the source had finished it", final(protocol.StatusCompleted, 3), completed, "matter-7"},
		{"the source holds nothing", final(protocol.StatusNotFound, 0), notFound, "matter-7"},
		{"the source forgot it (404): delivered again, and held there", dispatch.Outcome{Result: dispatch.ResultUnknown}, pending, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, e := accepted()
			p.HoldUnderWay(e, "matter-7", "Matter 7.")
			c := p.Apply(e, tc.outcome, retry)
			if e.Phase != tc.phase || e.Hold != tc.hold {
				t.Fatalf("phase %s hold %q, want %s %q (change %+v)", e.Phase, e.Hold, tc.phase, tc.hold, c)
			}
			if c.Failed {
				t.Fatal("a hold is not a failure")
			}
		})
	}
}
