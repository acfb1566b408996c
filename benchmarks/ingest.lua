-- wrk script for benchmarks/ingest.py. Arguments: threads, mode (posthog-single | posthog-batch |
-- native-single | native-batch), ingestion key, event name, phase number, properties (JSON),
-- ids (random: uuid4 as posthog-python sends | ordered: time-ordered like posthog-js's UUIDv7).
-- Every event gets a unique uuid: a repeated uuid would be a retry, stored once, and would look
-- like a lost event.
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  counter = 0
  mode = args[2]
  key = args[3]
  name = args[4]
  phase = tonumber(args[5])
  props = args[6]
  ordered = args[7] == "ordered"
  math.randomseed(os.time() * 1000 + id * 7919 + phase)
end

local function r16()
  return math.random(0, 65535)
end

local function new_uuid()
  if ordered then
    return string.format("%08x-%04x-7000-8%03x-%012x", os.time(), phase, id, counter)
  end
  return string.format("%04x%04x-%04x-4%03x-%04x-%04x%04x%04x",
    r16(), r16(), r16(), r16() % 4096, 32768 + r16() % 16384, r16(), r16(), r16())
end

local function event(name_field)
  counter = counter + 1
  local u = new_uuid()
  local who = "visitor-" .. (counter % 5000)
  return '{"' .. name_field .. '":"' .. name .. '","distinct_id":"' .. who .. '","uuid":"' .. u
    .. '","properties":' .. props .. '}'
end

function request()
  if mode == "posthog-single" then
    local body = event("event")
    return wrk.format("POST", "/e/", {["Content-Type"] = "application/json"},
      body:sub(1, -2) .. ',"api_key":"' .. key .. '"}')
  elseif mode == "native-single" then
    return wrk.format("POST", "/api/events",
      {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}, event("event_name"))
  end
  local events = {}
  if mode == "posthog-batch" then
    for i = 1, 100 do events[i] = event("event") end
    return wrk.format("POST", "/batch/", {["Content-Type"] = "application/json"},
      '{"api_key":"' .. key .. '","batch":[' .. table.concat(events, ",") .. ']}')
  end
  for i = 1, 100 do events[i] = event("event_name") end
  return wrk.format("POST", "/api/events/batch",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key},
    '{"events":[' .. table.concat(events, ",") .. ']}')
end
