-- Argo CD health check for privacyoperator.io/Restore
-- (docs/gitops.md, docs/backups.md).
-- The status must describe the current spec.
local waiting = unobserved()
if waiting ~= nil then
  return waiting
end

local ready = cond.Ready
-- Refused (no backups declared, a backup time outside the window, records
-- erased), or failed at the source: a person must look.
if isTrue("Stalled") then
  hs.status = "Degraded"
  hs.message = said(cond.Stalled)
  return hs
end
-- Restored: every job since the backup was sent again (or held).
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = said(ready)
  return hs
end
-- Replaying or purging: work is under way.
hs.status = "Progressing"
if ready ~= nil then
  hs.message = said(ready)
else
  hs.message = "Waiting for the operator to start the replay."
end
return hs
