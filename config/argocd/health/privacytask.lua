-- Argo CD health check for privacyoperator.io/PrivacyTask (docs/gitops.md),
-- the job at a manual DataSource that a person completes. A task's status has no
-- observedGeneration: the operator writes no spec of its own to observe.
local done, late = cond.Completed, cond.Late
if done == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to pick the task up."
  return hs
end
if done.status == "True" then
  -- The reason is the outcome: Completed and NotFound succeed, Refused
  -- under an exemption is an answer too (the request completes, naming the
  -- basis); Failed fails the source's job (and so the request), as does a
  -- Refused outcome without an exemption (an operator before v0.4).
  local o = (obj.spec or {}).outcome or {}
  if done.reason == "Failed" or (done.reason == "Refused" and (o.exemption == nil or o.exemption == "")) then
    hs.status = "Degraded"
  else
    hs.status = "Healthy"
  end
  hs.message = said(done)
  return hs
end
-- LegalHold or RequestFinished: the task is moot; nothing more is needed.
if done.reason ~= "TaskOpen" then
  hs.status = "Healthy"
  hs.message = said(done)
  return hs
end
-- Open past its SLA or the request's due date: a person must act.
if late ~= nil and late.status == "True" and (late.reason == "PastSLA" or late.reason == "PastDueDate") then
  hs.status = "Degraded"
  hs.message = said(late)
  return hs
end
-- Open: OnTime or PastHalfSLA.
hs.status = "Progressing"
hs.message = said(done)
if late ~= nil and late.status == "True" then
  hs.message = hs.message .. " " .. said(late)
end
return hs
