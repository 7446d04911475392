-- The start of every kind's health check: hack/argocdhealth puts it before
-- each <kind>.lua. Argo CD runs a check with Lua's base and table libraries
-- only (no string library) and the object as `obj`; it returns
-- {status, message} (docs/gitops.md).
local hs = {}
local st = obj.status or {}
local cond = {}
for _, c in ipairs(st.conditions or {}) do
  cond[c.type] = c
end
local function said(c)
  return (c.reason or "") .. ": " .. (c.message or "")
end
local function isTrue(t)
  return cond[t] ~= nil and cond[t].status == "True"
end
-- unobserved is Progressing while the status describes an older generation
-- than the spec's, or none; nil once it describes the current spec.
local function unobserved()
  local gen, seen = obj.metadata.generation, st.observedGeneration
  if seen == nil or (gen ~= nil and seen < gen) then
    return {status = "Progressing", message = "Waiting for the operator to observe generation " .. tostring(gen) .. "."}
  end
  return nil
end
