-- wrk POST body for /api/plugins/execute naming the plugin in env BENCH_PLUGIN
-- (default echo) with the JSON in env BENCH_DATA as its data (default the reference's echo
-- input, "hello").
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local plugin = os.getenv("BENCH_PLUGIN") or "echo"
local data = os.getenv("BENCH_DATA") or '"hello"'
wrk.body = '{"plugin": "' .. plugin .. '", "data": ' .. data .. '}'
