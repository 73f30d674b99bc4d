-- wrk script: Alertmanager webhook notifications (or Alertmanager v2 alerts) with rotating
-- fingerprints (run wrk with one thread). Set via environment: PF_FINGERPRINTS (how many distinct), PF_FORMAT
-- ("webhook" or "alertmanager").
local fingerprints = tonumber(os.getenv("PF_FINGERPRINTS") or "1000")
local format = os.getenv("PF_FORMAT") or "webhook"
local counter = 0

local webhook = [==[{"version":"4","groupKey":"{}:{alertname=\"BenchAlert\"}","truncatedAlerts":0,"status":"firing","receiver":"pf","groupLabels":{"alertname":"BenchAlert"},"commonLabels":{"alertname":"BenchAlert","severity":"critical"},"commonAnnotations":{},"externalURL":"http://alertmanager:9093","alerts":[{"status":"firing","labels":{"alertname":"BenchAlert","severity":"critical","namespace":"bench","pod":"pod-%s"},"annotations":{"summary":"bench alert %s","description":"load test"},"startsAt":"2026-11-25T10:00:00Z","endsAt":"0001-01-01T00:00:00Z","generatorURL":"http://prometheus:9090/graph","fingerprint":"%s"}]}]==]
local v2 = [==[[{"labels":{"alertname":"BenchAlert","severity":"critical","namespace":"bench","pod":"pod-%s"},"annotations":{"summary":"bench alert %s","description":"load test"},"generatorURL":"http://prometheus:9090/graph"}]]==]

function request()
  counter = counter + 1
  local fp = string.format("bench-%d", counter % fingerprints)
  local body
  if format == "alertmanager" then
    body = string.format(v2, fp, fp)
  else
    body = string.format(webhook, fp, fp, fp)
  end
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end

function done(summary, latency, requests)
  local non2xx = summary.errors.status
  io.write(string.format(
    "RESULT {\"requests\":%d,\"duration_us\":%d,\"non2xx\":%d,\"socket_errors\":%d,\"p50_us\":%d,\"p99_us\":%d}\n",
    summary.requests, summary.duration, non2xx,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
