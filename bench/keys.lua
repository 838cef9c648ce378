-- wrk POST body for /api/plugins/execute (BENCH_BODY=echo|calc, as the reference's
-- post.lua), with `Authorization: Bearer $BENCH_KEY` when BENCH_KEY is set.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local key = os.getenv("BENCH_KEY") or ""
if key ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. key
end
if (os.getenv("BENCH_BODY") or "echo") == "calc" then
  wrk.body = '{"plugin": "calculator", "data": "2*(3+4)"}'
else
  wrk.body = '{"plugin": "echo", "data": "hello"}'
end
