-- wrk script for bench/serving.py: one request shape, an optional pause, one JSON result line.
--   wrk -s bench/request.lua URL -- METHOD BODY_FILE DELAY_MS
local method, body, pause = "GET", nil, 0

function init(args)
  method = args[1] or "GET"
  if args[2] and args[2] ~= "-" then
    local f = assert(io.open(args[2], "rb"))
    body = f:read("*a")
    f:close()
  end
  pause = tonumber(args[3] or "0")
  wrk.method = method
  wrk.body = body
  if body then wrk.headers["Content-Type"] = "application/json" end
end

function delay()
  return pause
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "errors": %d, "non2xx": %d, "p50_ms": %.3f, "p99_ms": %.3f, "max_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency.max / 1000))
end
