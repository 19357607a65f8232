-- wrk script: cycles through the request paths listed (one a line) in the file given after `--`.
--   wrk -s bench/cycle_paths.lua http://127.0.0.1:PORT -- bench/.work/routes10k.paths.txt
-- Requests are pre-formatted in init() so the per-request Lua cost is one table index, keeping
-- wrk (which shares CPU 0 with the origin) from becoming the bottleneck.

local requests = {}
local n = 0
local i = 0

function init(args)
  local file = assert(io.open(args[1], "r"), "cannot open paths file " .. tostring(args[1]))
  for line in file:lines() do
    if #line > 0 then
      n = n + 1
      requests[n] = wrk.format("GET", line)
    end
  end
  file:close()
  assert(n > 0, "paths file is empty")
  -- Each wrk thread starts at a different place so the threads don't march in step.
  i = math.random(0, n - 1)
end

function request()
  i = (i % n) + 1
  return requests[i]
end
