-- Argo CD health check for privacyoperator.io/RetentionPolicy
-- (docs/gitops.md).
-- The status must describe the current spec.
local waiting = unobserved()
if waiting ~= nil then
  return waiting
end

local ready = cond.Ready
-- InvalidSchedule, InvalidSpec or RetainForBelowMinimum: the policy never runs.
if isTrue("Stalled") then
  hs.status = "Degraded"
  hs.message = said(cond.Stalled)
  return hs
end
-- spec.suspend: no purge is scheduled (a run under way finishes).
if isTrue("Suspended") or (ready ~= nil and ready.reason == "Suspended") then
  hs.status = "Suspended"
  hs.message = said(ready or cond.Suspended)
  return hs
end
-- Scheduled: enforced. A nightly run (Reconciling=True, Purging) does not
-- make an enforced policy Progressing: a run at manual sources takes days.
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = said(ready)
  if isTrue("Reconciling") then
    hs.message = hs.message .. " " .. said(cond.Reconciling)
  end
  if isTrue("Overlapping") then
    hs.message = hs.message .. " Warning: " .. (cond.Overlapping.message or "overlapping policies.")
  end
  return hs
end
-- A run under way after a failed one may yet succeed.
if isTrue("Reconciling") then
  hs.status = "Progressing"
  hs.message = said(cond.Reconciling)
  return hs
end
-- NoMatchingSources (usually a typo in a selector or category) or
-- RunFailed (see status.history).
if ready ~= nil and ready.status == "False" then
  hs.status = "Degraded"
  hs.message = said(ready)
  return hs
end
hs.status = "Progressing"
hs.message = ready and said(ready) or "Waiting for the operator to schedule the policy."
return hs
