-- wrk script of bench/ingest.py: rotate presigned deliveries, count accepted answers.
-- args: prefix suffix entries signed(0|1) offset limit(0: none) marker
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  local f = io.open(args[1], "rb"); prefix = f:read("*a"); f:close()
  f = io.open(args[2], "rb"); suffix = f:read("*a"); f:close()
  keys, ids, sigs = {}, {}, {}
  for line in io.lines(args[3]) do
    local k, d, s = line:match("^(%S+) (%S+) (%S+)$")
    keys[#keys + 1] = k; ids[#ids + 1] = d; sigs[#sigs + 1] = s
  end
  signed = args[4] == "1"; offset = tonumber(args[5]); limit = tonumber(args[6]); marker = args[7]
  sent, accepted, other = 0, 0, 0
end
function request()
  local j = ((offset + sent) % #keys) + 1
  sent = sent + 1
  local headers = {["Content-Type"] = "application/json", ["X-Atlassian-Webhook-Identifier"] = ids[j]}
  if signed then headers["X-Hub-Signature"] = sigs[j] end
  return wrk.format("POST", "/webhooks/jira", headers, prefix .. keys[j] .. suffix)
end
function response(status, headers, body)
  if status == 202 and body:find('"accepted"') then accepted = accepted + 1 else other = other + 1 end
  if limit > 0 and accepted >= limit then
    local m = io.open(marker, "w"); m:write("done"); m:close(); wrk.thread:stop()
  end
end
function done(summary, latency, requests)
  local a, o = 0, 0
  for _, t in ipairs(threads) do a = a + t:get("accepted"); o = o + t:get("other") end
  io.write(string.format('WRKJSON {"requests": %d, "us": %d, "errors": %d, "accepted": %d, "other": %d}\n',
    summary.requests, summary.duration, summary.errors.connect + summary.errors.read + summary.errors.write +
    summary.errors.timeout, a, o))
end
