-- Argo CD health check for privacyoperator.io/DataSource (docs/gitops.md).
-- The status must describe the current spec.
local waiting = unobserved()
if waiting ~= nil then
  return waiting
end

local ready, stalled, suspended = cond.Ready, cond.Stalled, cond.Suspended
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = said(stalled)
  return hs
end
-- spec.suspend: today Ready=False/Suspended; a Suspended condition also counts.
if (suspended ~= nil and suspended.status == "True") or (ready ~= nil and ready.reason == "Suspended") then
  hs.status = "Suspended"
  hs.message = said(suspended or ready)
  return hs
end
if ready == nil or ready.status == "Unknown" then
  -- Initializing: the first probe is under way.
  hs.status = "Progressing"
  hs.message = ready and said(ready) or "Waiting for the first probe of the endpoint."
  return hs
end
if ready.status == "True" then
  -- ProbeSucceeded, or Manual (a source whose jobs people do).
  hs.status = "Healthy"
  hs.message = said(ready)
  local insecure = cond.Insecure
  if insecure ~= nil and insecure.status == "True" then
    hs.message = hs.message .. " Warning: " .. (insecure.message or "plain HTTP endpoint.")
  end
  return hs
end
-- Ready=False: every other reason names a fact a person must fix (the
-- Secret, the namespace, the endpoint, its key, certificate or types);
-- the operator probes again and turns Ready as soon as it is fixed.
hs.status = "Degraded"
hs.message = said(ready)
return hs
