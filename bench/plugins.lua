-- wrk POST body for /api/plugins/execute naming the plugin in env BENCH_PLUGIN
-- (default echo); the data is the reference's echo input.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local plugin = os.getenv("BENCH_PLUGIN") or "echo"
wrk.body = '{"plugin": "' .. plugin .. '", "data": "hello"}'
