-- Gateway latency histogram per region, as clients see it (HAProxy 2.6's exporter has no histograms).
-- Served at /gateway-metrics in Prometheus text format. One shared Lua state (lua-load), so the
-- counters are global across threads.
local bounds = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 30 }
local hist = {}
-- per server: responses and their summed time, for the supervisor's slow-replica ejection
local servers = {}

local function series(region)
  local h = hist[region]
  if h == nil then
    h = { counts = {}, sum = 0, count = 0 }
    for i = 1, #bounds do h.counts[i] = 0 end
    hist[region] = h
  end
  return h
end

core.register_action("fl_start", { "http-req" }, function(txn)
  txn:set_priv(core.now())
end)

core.register_action("fl_observe", { "http-res" }, function(txn)
  local t0 = txn:get_priv()
  if t0 == nil then return end
  local now = core.now()
  local dt = (now.sec - t0.sec) + (now.usec - t0.usec) / 1e6
  local srv = txn.f:srv_name() or ""
  local region = string.match(srv, "^(.+)-%d+$") or "none"
  local h = series(region)
  for i = 1, #bounds do
    if dt <= bounds[i] then h.counts[i] = h.counts[i] + 1; break end
  end
  h.sum = h.sum + dt
  h.count = h.count + 1
  if srv ~= "" then
    local s = servers[srv]
    if s == nil then s = { sum = 0, count = 0 }; servers[srv] = s end
    s.sum = s.sum + dt
    s.count = s.count + 1
  end
end)

-- `fl servers` on the stats socket: "<server> <responses> <seconds summed>" per line, monotonic counters
core.register_cli({ "fl", "servers" }, "per-server responses and their summed time", function(applet)
  local out = {}
  for name, s in pairs(servers) do
    out[#out + 1] = string.format("%s %d %.6f\n", name, s.count, s.sum)
  end
  applet:send(table.concat(out))
end)

core.register_service("fl_metrics", "http", function(applet)
  local out = {
    "# HELP gateway_request_duration_seconds Time from request received to response headers, per serving region.\n",
    "# TYPE gateway_request_duration_seconds histogram\n",
  }
  for region, h in pairs(hist) do
    local cum = 0
    for i = 1, #bounds do
      cum = cum + h.counts[i]
      out[#out + 1] = string.format('gateway_request_duration_seconds_bucket{region="%s",le="%g"} %d\n', region, bounds[i], cum)
    end
    out[#out + 1] = string.format('gateway_request_duration_seconds_bucket{region="%s",le="+Inf"} %d\n', region, h.count)
    out[#out + 1] = string.format('gateway_request_duration_seconds_sum{region="%s"} %.6f\n', region, h.sum)
    out[#out + 1] = string.format('gateway_request_duration_seconds_count{region="%s"} %d\n', region, h.count)
  end
  local body = table.concat(out)
  applet:set_status(200)
  applet:add_header("content-type", "text/plain; version=0.0.4")
  applet:add_header("content-length", string.len(body))
  applet:start_response()
  applet:send(body)
end)
