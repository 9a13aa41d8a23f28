-- wrk script for graphgate's bench: sends METHOD (default GET) to REQUEST_PATH with BODY and
-- CONTENT_TYPE, and, when COOKIES names a file of Cookie header values (one per line), each
-- request carries the next of them in turn. At the end it prints one JSON line: requests,
-- duration, errors (connection failures and answers other than 2xx/3xx), p50 and p99 in µs.
local method = os.getenv("METHOD") or "GET"
local path = os.getenv("REQUEST_PATH") or "/"
local body = os.getenv("BODY")
local content_type = os.getenv("CONTENT_TYPE") or "application/json"
local cookies = {}
local next_cookie = 0

function init(args)
  local file = os.getenv("COOKIES")
  if file then
    for line in io.lines(file) do
      if line ~= "" then cookies[#cookies + 1] = line end
    end
  end
  -- Threads start at different places in the list.
  next_cookie = math.random(0, math.max(#cookies - 1, 0))
end

function request()
  local headers = { ["X-Graphgate"] = "1" }
  if body then headers["Content-Type"] = content_type end
  if #cookies > 0 then
    next_cookie = next_cookie % #cookies + 1
    headers["Cookie"] = cookies[next_cookie]
  end
  return wrk.format(method, path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout + e.status
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"errors":%d,"status_errors":%d,"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, errors, e.status, latency:percentile(50), latency:percentile(99)))
end
