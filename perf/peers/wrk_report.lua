-- wrk script of nodenet-perf's `protocols` bench.
--
--   wrk -t1 -c50 -d3s -s wrk_report.lua http://127.0.0.1:PORT/          # one request per write
--   wrk -t1 -c50 -d3s -s wrk_report.lua http://127.0.0.1:PORT/ -- 16    # 16 requests per write
--
-- With a depth argument above 1, every write carries that many `GET /`
-- requests (pipelining; wrk counts each response as a request). Without
-- it no `request` function is defined, so wrk keeps its static request (a
-- Lua call per request would cost the load generator).
--
-- At the end it prints one machine-readable line after wrk's own report:
--   RESULT requests=N duration_us=N bytes=N connect_errors=N read_errors=N
--          write_errors=N status_errors=N timeouts=N p50_us=N p99_us=N

init = function(args)
  local depth = tonumber(args[1]) or 1
  if depth > 1 then
    local batch = {}
    for i = 1, depth do
      batch[i] = wrk.format(nil, "/")
    end
    local pipelined = table.concat(batch)
    request = function()
      return pipelined
    end
  end
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d bytes=%d connect_errors=%d read_errors=%d " ..
    "write_errors=%d status_errors=%d timeouts=%d p50_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
