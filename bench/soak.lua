-- wrk script of bench/soak.sh: a mix of every kind of work, spread over 32 sessions, new ones
-- in every 10 s slice (SOAK_SLICE): conversations end in real use, and the audit answers a
-- session's every message (`full`), so one session growing without end would make its reads
-- slower by the API's contract, which is not the drift a soak looks for.
-- Of every ten requests: two native calls (calculator), two Wasm (word_count), one Python
-- (soak_py), two chat `/run`s (echo), one audit read, one plugin-log read, one execution-log
-- read.
local counter = 0
local slice = os.getenv("SOAK_SLICE") or "0"
local json = { ["Content-Type"] = "application/json" }

local function execute(plugin, data, session)
  return wrk.format("POST", "/api/plugins/execute", json,
    '{"plugin": "' .. plugin .. '", "data": ' .. data .. ', "session_id": "' .. session .. '"}')
end

request = function()
  counter = counter + 1
  local session = "soak-" .. slice .. "-" .. (counter % 32)
  local kind = counter % 10
  if kind <= 1 then
    return execute("calculator", '"2*(3+4)-1"', session)
  elseif kind <= 3 then
    return execute("word_count", '"the quick brown fox jumps over the lazy dog"', session)
  elseif kind == 4 then
    return execute("soak_py", '{"n": 100}', session)
  elseif kind <= 6 then
    return wrk.format("POST", "/chat", json,
      '{"message": "/run echo {\\"text\\": \\"hello\\"}", "session_id": "' .. session .. '"}')
  elseif kind == 7 then
    return wrk.format("GET", "/memory/audit/" .. session .. "?limit=20")
  elseif kind == 8 then
    return wrk.format("GET", "/plugin-logs/" .. session .. "?limit=20")
  else
    return wrk.format("GET", "/api/executions?limit=20")
  end
end
