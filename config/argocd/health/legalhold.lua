-- Argo CD health check for privacyoperator.io/LegalHold (docs/gitops.md).
-- The status must describe the current spec.
local waiting = unobserved()
if waiting ~= nil then
  return waiting
end

-- InvalidSpec: a selector does not parse, so the hold selects every DataSource.
local stalled, active = cond.Stalled, cond.Active
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = said(stalled)
  return hs
end
-- HoldActive (in force) and HoldExpired (spec.expiresAt passed) are both
-- what the spec asks for.
if active ~= nil and (active.status == "True" or active.status == "False") then
  hs.status = "Healthy"
  hs.message = said(active)
  return hs
end
hs.status = "Progressing"
hs.message = "Waiting for the operator to evaluate the hold."
return hs
