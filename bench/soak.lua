-- soak.lua: wrk script for the soak's light load (bench/soak.py):
--   wrk ... -s bench/soak.lua URL -- DELAY_MS PATH [PATH...]
-- Each connection sends GET PATH (cycling through the paths) and waits DELAY_MS between
-- requests, so the load is steady traffic rather than saturation and the latencies say how
-- fast a request is answered while the models work. Reports like wrk_report.lua.
local paths = {}
local pause_ms = 0
local n = 0

init = function(args)
    pause_ms = tonumber(args[1]) or 0
    for i = 2, #args do
        paths[#paths + 1] = args[i]
    end
    if #paths == 0 then
        paths[1] = "/"
    end
    n = math.random(#paths)
end

request = function()
    n = n + 1
    return wrk.format("GET", paths[n % #paths + 1])
end

delay = function()
    return pause_ms
end

dofile("bench/wrk_report.lua")
