-- Argo CD health check for privacyoperator.io/AuthorizedAgent (docs/gitops.md).
-- A trust entry the privacy center reads: nothing for a controller to
-- settle, so it is Healthy at once (Suspended while spec.suspend refuses
-- the agent). The status says whether the agent has paired.
if obj.spec ~= nil and obj.spec.suspend then
  hs.status = "Suspended"
  hs.message = "spec.suspend: the agent's calls are refused."
  return hs
end
hs.status = "Healthy"
if st.pairedAt ~= nil then
  hs.message = "Paired at " .. st.pairedAt .. "."
else
  hs.message = "Registered; the agent has not paired yet."
end
return hs
