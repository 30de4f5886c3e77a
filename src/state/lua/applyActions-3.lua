--[[
  Applies one session's events of a batch to its window, in order, atomically, once per eventId.
  Twin of src/state/window.ts (same state JSON, same views); change both together.

    Input:
      KEYS[1] win   window state, a JSON string (see WindowState in window.ts)
      KEYS[2] ev    dedupe ledger hash: eventId -> view JSON returned the first time
      KEYS[3] evq   ledger order: list of eventIds, oldest first

      ARGV[1] idleTtlMs    PEXPIRE set on all three keys after the call; an event more than this
                           after the session's last one (event time) starts a new window
      ARGV[2] dedupeCap    eventIds remembered in the ledger
      ARGV[3] maxDistinct  cap of each distinct-id set
      ARGV[4] maxRing      cap of the recent-event ring
      ARGV[5..] one JSON-encoded ActionInput per event, in order

    Output:
      array of view JSON strings aligned with ARGV[5..]; an eventId already in the ledger gets its
      stored view back with "duplicate": true and changes nothing.

  A logout stores its view and deletes `win` (the ledger stays until its TTL); a later event of
  the session starts a new window.
]]
local rcall = redis.call
local KINDS = { 'fp', 'ua', 'ja4', 'dev', 'asn', 'country' }
local M1, M10, SEQ_LEN = 60000, 600000, 8

local idleTtl = tonumber(ARGV[1])
local dedupeCap = tonumber(ARGV[2])
local maxDistinct = tonumber(ARGV[3])
local maxRing = tonumber(ARGV[4])

-- `has` (id -> true per kind) is a lookup built on load; it is never stored.
local function newState()
  local st = { n = 0, seq = {}, ring = {}, all = 0, sensitive = 0, exports = 0, exported = 0,
    capped = false, has = {} }
  for _, kind in ipairs(KINDS) do
    st[kind] = {}
    st.has[kind] = {}
  end
  return st
end

local function loadState(raw)
  local st = cjson.decode(raw)
  st.has = {}
  for _, kind in ipairs(KINDS) do
    local lookup = {}
    for _, id in ipairs(st[kind]) do lookup[id] = true end
    st.has[kind] = lookup
  end
  return st
end

local function encodeState(st)
  local has = st.has
  st.has = nil
  local json = cjson.encode(st)
  st.has = has
  return json
end

local function counts(all, sensitive, exports, exported)
  return { all = all, sensitive = sensitive, exports = exports, exported = exported }
end

-- Updates st in place (or returns nil after a logout) and returns the view JSON.
local function apply(st, inp)
  local ts = inp.ts
  local s01 = inp.sensitive and 1 or 0
  local e01 = inp.isExport and 1 or 0
  local x = inp.exported

  local capped = st.capped
  local seen, distinct = {}, {}
  for _, kind in ipairs(KINDS) do
    local id = inp.ids[kind]
    local set = st[kind]
    if st.has[kind][id] then
      seen[kind] = true
    else
      seen[kind] = false
      if #set < maxDistinct then
        set[#set + 1] = id
        st.has[kind][id] = true
      else
        capped = true
      end
    end
    distinct[kind] = #set
  end

  local seq = st.seq
  seq[#seq + 1] = inp.ids.fp
  while #seq > SEQ_LEN do table.remove(seq, 1) end

  local newLast = st.last and math.max(st.last, ts) or ts
  local cut = newLast - M10
  local m1, m10 = counts(1, s01, e01, x), counts(1, s01, e01, x)
  local ring = {}
  for _, entry in ipairs(st.ring) do
    local rt = entry[1]
    if rt <= ts and rt > ts - M10 then
      m10.all = m10.all + 1
      m10.sensitive = m10.sensitive + entry[2]
      m10.exports = m10.exports + entry[3]
      m10.exported = m10.exported + entry[4]
      if rt > ts - M1 then
        m1.all = m1.all + 1
        m1.sensitive = m1.sensitive + entry[2]
        m1.exports = m1.exports + entry[3]
        m1.exported = m1.exported + entry[4]
      end
    end
    if rt > cut then ring[#ring + 1] = entry end
  end
  if ts > cut then ring[#ring + 1] = { ts, s01, e01, x } end
  local ringCapped = false
  if #ring > maxRing then
    local kept = {}
    for i = #ring - maxRing + 1, #ring do kept[#kept + 1] = ring[i] end
    ring = kept
    ringCapped = true
  end

  local session = counts(st.all + 1, st.sensitive + s01, st.exports + e01, st.exported + x)
  local view = cjson.encode({
    duplicate = false,
    n = st.n,
    firstTs = st.first or cjson.null,
    lastTs = st.last or cjson.null,
    baseline = st.base or inp.fp,
    prev = st.prev or cjson.null,
    seen = seen,
    distinct = distinct,
    fpSeq = seq,
    counts = { m1 = m1, m10 = m10, session = session },
    -- the ring cap only makes later events' counts lower bounds, so it is not part of this view
    capped = capped,
  })
  if inp.logout then return nil, view end

  -- a late event does not move the last known location
  if st.last == nil or ts >= st.last then st.prev = inp.fp end
  st.n = st.n + 1
  st.first = st.first and math.min(st.first, ts) or ts
  st.last = newLast
  st.base = st.base or inp.fp
  st.ring = ring
  st.all, st.sensitive = session.all, session.sensitive
  st.exports, st.exported = session.exports, session.exported
  st.capped = capped or ringCapped
  return st, view
end

local raw = rcall('GET', KEYS[1])
local st = raw and loadState(raw) or nil
local changed, deleted = false, false
local out = {}
for i = 5, #ARGV do
  local inp = cjson.decode(ARGV[i])
  local stored = rcall('HGET', KEYS[2], inp.eventId)
  if stored then
    local view = cjson.decode(stored)
    view.duplicate = true
    out[#out + 1] = cjson.encode(view)
  else
    local view
    -- Idle expiry in event time, so the window does not depend on when (or how fast) events are
    -- processed: replay of a recorded day and the live engine see the same sessions expire.
    if st and st.n > 0 and inp.ts - st.last > idleTtl then st = nil end
    st, view = apply(st or newState(), inp)
    out[#out + 1] = view
    if st then changed = true else changed, deleted = false, true end
    rcall('HSET', KEYS[2], inp.eventId, view)
    local len = rcall('RPUSH', KEYS[3], inp.eventId)
    while len > dedupeCap do
      rcall('HDEL', KEYS[2], rcall('LPOP', KEYS[3]))
      len = len - 1
    end
  end
end

if st then
  if changed then rcall('SET', KEYS[1], encodeState(st)) end
elseif deleted then
  rcall('DEL', KEYS[1])
end
rcall('PEXPIRE', KEYS[1], idleTtl)
rcall('PEXPIRE', KEYS[2], idleTtl)
rcall('PEXPIRE', KEYS[3], idleTtl)
return out
