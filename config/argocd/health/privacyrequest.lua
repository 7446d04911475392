-- Argo CD health check for privacyoperator.io/PrivacyRequest
-- (docs/gitops.md).
-- The status must describe the current spec.
local waiting = unobserved()
if waiting ~= nil then
  return waiting
end

local ready = cond.Ready
-- Failed (a source failed, or the due date passed) or InvalidSpec.
if isTrue("Stalled") then
  hs.status = "Degraded"
  hs.message = said(cond.Stalled)
  return hs
end
-- Completed, CompletedWithHolds or CompletedWithRefusals: the request is answered.
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = said(ready)
  return hs
end
-- Unfinished past its legal due date: a person must look, suspended or not.
if isTrue("Overdue") then
  hs.status = "Degraded"
  hs.message = said(cond.Overdue)
  return hs
end
-- spec.suspend: the request awaits approval (kubectl privacy approve).
if isTrue("Suspended") or (ready ~= nil and ready.reason == "Suspended") then
  hs.status = "Suspended"
  hs.message = "Awaiting approval: " .. ((cond.Suspended or ready).message or "spec.suspend is true.")
  return hs
end
-- Waiting for a person: no DataSource matches, or the subject's Secret
-- may not be read. The operator looks again until the due date.
if ready ~= nil and (ready.reason == "NoMatchingSources" or ready.reason == "SubjectSecretRefused") then
  hs.status = "Degraded"
  hs.message = said(ready)
  return hs
end
-- Pending, InProgress, ExportFailed (retried): work is under way.
hs.status = "Progressing"
if ready ~= nil then
  hs.message = said(ready)
else
  hs.message = "Waiting for the operator to dispatch the request."
end
if isTrue("DueSoon") then
  hs.message = hs.message .. " Warning: " .. (cond.DueSoon.message or "due soon.")
end
return hs
