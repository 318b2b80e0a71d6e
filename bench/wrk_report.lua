-- wrk_report.lua: after a wrk run, prints one line "WRK_RESULT key=value ..." that
-- scripts/bench.sh parses: requests, requests/s, latency percentiles (ms), error counts.
-- non2xx is wrk's count of responses with status >= 400 (its "Non-2xx or 3xx" line);
-- bench.sh checks separately with curl that each endpoint answers 200.
-- No request()/response() hooks, so wrk keeps its native speed.

done = function(summary, latency, requests)
    local e = summary.errors
    local secs = summary.duration / 1e6
    local rps = 0
    if secs > 0 then
        rps = summary.requests / secs
    end
    io.write(string.format(
        "WRK_RESULT requests=%d duration_s=%.3f rps=%.1f p50_ms=%.3f p90_ms=%.3f " ..
        "p99_ms=%.3f max_ms=%.3f non2xx=%d connect=%d read=%d write=%d timeout=%d bytes=%d\n",
        summary.requests, secs, rps,
        latency:percentile(50) / 1000, latency:percentile(90) / 1000,
        latency:percentile(99) / 1000, latency.max / 1000,
        e.status, e.connect, e.read, e.write, e.timeout, summary.bytes))
end
