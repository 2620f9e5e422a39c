-- Gateway latency histogram per region, as clients see it (HAProxy 2.6's exporter has no histograms).
-- Served at /gateway-metrics in Prometheus text format. One shared Lua state (lua-load), so the
-- counters are global across threads.
local bounds = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 2.5, 5, 10, 30 }
local hist = {}
-- per server: responses and their summed time, for the supervisor's slow-replica ejection
local servers = {}
-- the gateway's own record, per 100 ms of accept time: requests accepted, answered below 400, answered
-- per region, and every answer's time by the bounds above (the last slot: beyond them). Read once a
-- run is over (`fl buckets <since ms>`) to time a failover from this side of the wire as well.
local BUCKET_MS = 100
local KEEP = 12000 -- buckets: 20 minutes
local buckets = {}
local oldest = nil

local function bucket_of(t)
  return math.floor((t.sec * 1000 + t.usec / 1000) / BUCKET_MS)
end

local function bucket(i)
  local b = buckets[i]
  if b == nil then
    b = { n = 0, ok = 0, r = {}, lat = {} }
    buckets[i] = b
    if oldest == nil or oldest < i - 2 * KEEP then
      -- first, or after a long idle: walk what is kept rather than every bucket since
      for k in pairs(buckets) do
        if k < i - KEEP then buckets[k] = nil end
      end
      oldest = i - KEEP
    end
    while oldest < i - KEEP do
      buckets[oldest] = nil
      oldest = oldest + 1
    end
  end
  return b
end

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
  local now = core.now()
  txn:set_priv(now)
  local b = bucket(bucket_of(now))
  b.n = b.n + 1
end)

core.register_action("fl_observe", { "http-res" }, function(txn)
  local t0 = txn:get_priv()
  if t0 == nil then return end
  local now = core.now()
  local dt = (now.sec - t0.sec) + (now.usec - t0.usec) / 1e6
  local srv = txn.f:srv_name() or ""
  local region = string.match(srv, "^(.+)-%d+$") or "none"
  local h = series(region)
  local slot = #bounds + 1
  for i = 1, #bounds do
    if dt <= bounds[i] then slot = i; break end
  end
  if slot <= #bounds then h.counts[slot] = h.counts[slot] + 1 end
  h.sum = h.sum + dt
  h.count = h.count + 1
  local b = buckets[bucket_of(t0)]
  if b ~= nil then
    b.lat[slot] = (b.lat[slot] or 0) + 1
    local status = tonumber(txn.f:status()) or 0
    if status >= 200 and status < 400 then
      b.ok = b.ok + 1
      b.r[region] = (b.r[region] or 0) + 1
    end
  end
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

-- `fl buckets <since ms>`: "<start ms> <accepted> <ok> <region>=<ok>,... <slot>:<answers>,..." per
-- bucket, oldest first (slot i: at most bounds[i] seconds; slot #bounds+1: beyond them). The bucket's
-- length and the bounds come first, on lines of their own: "bucket <ms>", "bounds <s>,<s>,...".
core.register_cli({ "fl", "buckets" }, "the gateway's own record per 100 ms of accept time", function(applet, _, _, since)
  local from = math.floor((tonumber(since) or 0) / BUCKET_MS)
  if oldest ~= nil and from < oldest then from = oldest end
  local last = bucket_of(core.now())
  local out = { "bucket " .. BUCKET_MS .. "\n", "bounds " .. table.concat(bounds, ",") .. "\n" }
  for i = from, last do
    local b = buckets[i]
    if b ~= nil then
      local r, lat = {}, {}
      for k, v in pairs(b.r) do r[#r + 1] = k .. "=" .. v end
      for k, v in pairs(b.lat) do lat[#lat + 1] = k .. ":" .. v end
      out[#out + 1] = string.format("%d %d %d %s %s\n", i * BUCKET_MS, b.n, b.ok, #r > 0 and table.concat(r, ",") or "-", #lat > 0 and table.concat(lat, ",") or "-")
    end
    if #out >= 512 then
      applet:send(table.concat(out))
      out = {}
    end
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
