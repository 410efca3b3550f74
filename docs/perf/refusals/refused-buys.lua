local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  ok = 0; conflict = 0; other = 0; n = 0
end
wrk.method = "POST"
wrk.body = '{"name":"Tux","quantity":1}'
wrk.headers["Content-Type"] = "application/json"
request = function()
  n = n + 1
  return wrk.format(nil, "/orders", {["Idempotency-Key"] = "k-" .. tostring(math.random(1, 1000000000)) .. "-" .. n})
end
response = function(status, headers, body)
  if status == 200 then ok = ok + 1 elseif status == 409 then conflict = conflict + 1 else other = other + 1 end
end
done = function(summary, latency, requests)
  local o, c, x = 0, 0, 0
  for _, t in ipairs(threads) do o = o + t:get("ok"); c = c + t:get("conflict"); x = x + t:get("other") end
  io.write(string.format("200: %d, 409: %d, other: %d\n", o, c, x))
end
