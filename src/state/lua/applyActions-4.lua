--[[
  Applies one session's events of a batch to its window, in order, atomically, once per eventId.
  Twin of src/state/window.ts (same state, same views); change both together. The parity test in
  test/integration/state checks they agree. Built to cost little per event inside Redis: inputs
  arrive as plain ARGV fields, the state is one struct-packed string, views go back as integers,
  and the fingerprints are opaque strings Lua only stores and hands back.

    Input:
      KEYS[1] win   window state, packed (STATE below; decodeState in window.ts reads it)
      KEYS[2] ev    dedupe ledger hash: eventId -> the view returned the first time (LEDGER below)
      KEYS[3] evq   ledger order: list of eventIds, oldest first
      KEYS[4] arr   the session's count of events across windows, for `arrival`

      ARGV[1] idleTtlMs    PEXPIRE set on win and arr after the call; an event more than this
                           after the session's last one (event time) starts a new window
      ARGV[2] dedupeTtlMs  PEXPIRE set on ev and evq: the ledger is forgotten sooner than the window
      ARGV[3] dedupeCap    eventIds remembered in the ledger
      ARGV[4] maxDistinct  cap of each distinct-id set
      ARGV[5] maxRing      cap of the recent-event ring
      ARGV[6..] per event, in order, IN_FIELDS fields:
        eventId, ts, flags (1 sensitive + 2 export + 4 logout), records exported,
        fingerprint (an opaque string: the caller's encoding of the snapshot),
        then the ids fp, ua, ja4, dev, asn, country, each wrapped in commas (',id,'; an id
        never contains ','), so a set lookup needs no string building

    Output: one flat array.
      [1] the stored baseline fingerprint when the call started ('' if none)
      [2] the stored previous fingerprint when the call started ('' if none)
      then OUT_FIELDS values per event, aligned with the input events:
        duplicate (0|1), n, firstTs, lastTs (both 0 when n = 0),
        baseline: 0 = [1], j > 0 = the fingerprint of this call's event j, or the string itself,
        prev: -1 = none, 0 = [2], j > 0 = event j's fingerprint, or the string itself,
        seen (bit k-1 set when id kind k was seen before), distinct count of the 6 kinds,
        fpSeq (ids joined by ','), counts m1, m10, session (all, sensitive, exports, exported each),
        capped (0|1), arrival (events of the session before this one; unlike n it does not start
        over with a new window)
      A duplicate's baseline and prev are always strings (from the ledger).

  A logout stores its view and deletes `win` (the ledger and the count stay until their TTLs); a
  later event of the session starts a new window.

  The ring holds the events of the last 10 minutes sorted by ts (a late event is inserted in
  place, after events with the same ts), as RING_ENTRY-byte entries: ts and the session's running
  totals of sensitive actions, exports and exported records up to and including that entry. A
  window's sums are then two binary searches and a subtraction; ring_base holds the totals just
  before the first entry.
]]
local rcall = redis.call
local spack, sunpack = struct.pack, struct.unpack
local find, sub, floor = string.find, string.sub, math.floor

local M1, M10, SEQ_LEN = 60000, 600000, 8
local KINDS = 6
local BIT = { 1, 2, 4, 8, 16, 32 }
local IN_FIELDS = 11
-- n first last all sensitive exports exported capped count[6] seqN ringBase[3] | base prev set[6] seq ring
-- (struct's 'i4c0': pack takes the length and then the string, unpack returns only the string)
local STATE = '<' .. string.rep('d', 18) .. string.rep('i4c0', 10)
local RING_ENTRY = 32
local ENTRY = '<dddd'
-- n first last seen distinct[6] counts[12] capped arrival | fpSeq baseline prev
local LEDGER = '<' .. string.rep('d', 24) .. 'i4c0i4c0i4c0'

local ARGS = 5
local idleTtl = tonumber(ARGV[1])
local dedupeTtl = tonumber(ARGV[2])
local dedupeCap = tonumber(ARGV[3])
local maxDistinct = tonumber(ARGV[4])
local maxRing = tonumber(ARGV[5])

local function newState()
  return { n = 0, first = 0, last = 0, all = 0, sensitive = 0, exports = 0, exported = 0, capped = 0,
    count = { 0, 0, 0, 0, 0, 0 }, seqN = 0, rs = 0, re = 0, rx = 0,
    base = '', prev = '', set = { ',', ',', ',', ',', ',', ',' }, seq = '', ring = '',
    baseRef = 0, prevRef = 0 }
end

local function loadState(raw)
  local st = newState()
  local c, s = st.count, st.set
  st.n, st.first, st.last, st.all, st.sensitive, st.exports, st.exported, st.capped,
  c[1], c[2], c[3], c[4], c[5], c[6], st.seqN, st.rs, st.re, st.rx,
  st.base, st.prev, s[1], s[2], s[3], s[4], s[5], s[6], st.seq, st.ring = sunpack(STATE, raw)
  return st
end

local function encodeState(st)
  local c, s = st.count, st.set
  return spack(STATE, st.n, st.first, st.last, st.all, st.sensitive, st.exports, st.exported,
    st.capped, c[1], c[2], c[3], c[4], c[5], c[6], st.seqN, st.rs, st.re, st.rx,
    #st.base, st.base, #st.prev, st.prev, #s[1], s[1], #s[2], s[2], #s[3], s[3], #s[4], s[4],
    #s[5], s[5], #s[6], s[6], #st.seq, st.seq, #st.ring, st.ring)
end

-- Number of the first `len` ring entries with ts <= t (entries are sorted by ts).
local function upto(ring, len, t)
  local lo, hi = 0, len
  while lo < hi do
    local mid = floor((lo + hi + 1) / 2)
    if sunpack('<d', ring, (mid - 1) * RING_ENTRY + 1) <= t then lo = mid else hi = mid - 1 end
  end
  return lo
end

-- Running totals after the first k ring entries.
local function totals(st, k)
  if k == 0 then return st.rs, st.re, st.rx end
  local _, s, e, x = sunpack(ENTRY, st.ring, (k - 1) * RING_ENTRY + 1)
  return s, e, x
end

-- Drops the first k ring entries, keeping the totals before the new first one.
local function dropFront(st, k)
  if k == 0 then return end
  st.rs, st.re, st.rx = totals(st, k)
  st.ring = sub(st.ring, k * RING_ENTRY + 1)
end

-- Inserts an entry after the first k (later entries' totals grow by the event's own values).
local function insert(st, len, k, ts, s01, e01, x)
  local s, e, r = totals(st, k)
  local entry = spack(ENTRY, ts, s + s01, e + e01, r + x)
  if k == len then
    st.ring = st.ring .. entry
    return
  end
  local parts = { sub(st.ring, 1, k * RING_ENTRY), entry }
  for i = k + 1, len do
    local t, a, b, c = sunpack(ENTRY, st.ring, (i - 1) * RING_ENTRY + 1)
    parts[#parts + 1] = spack(ENTRY, t, a + s01, b + e01, c + x)
  end
  st.ring = table.concat(parts)
end

-- Applies the event whose fields start at ARGV[o] (it is event j of this call, the session's
-- arrival-th) to st in place. Returns the state (nil after a logout) and the view: OUT_FIELDS
-- values for the reply, and the ledger entry.
local function apply(st, o, j, arrival)
  local ts = tonumber(ARGV[o + 1])
  local flags = tonumber(ARGV[o + 2])
  local s01, e01, logout = flags % 2, floor(flags / 2) % 2, flags >= 4
  local x = tonumber(ARGV[o + 3])
  local fp = ARGV[o + 4]

  local capped = st.capped
  local seen = 0
  local distinct = {}
  for k = 1, KINDS do
    local id = ARGV[o + 4 + k]
    local set = st.set[k]
    if find(set, id, 1, true) then
      seen = seen + BIT[k]
    elseif st.count[k] < maxDistinct then
      st.set[k] = set .. sub(id, 2)
      st.count[k] = st.count[k] + 1
    else
      capped = 1
    end
    distinct[k] = st.count[k]
  end

  local fpId = sub(ARGV[o + 5], 2, -2)
  local seq = st.seqN == 0 and fpId or st.seq .. ',' .. fpId
  local seqN = st.seqN + 1
  if seqN > SEQ_LEN then
    seq = sub(seq, find(seq, ',', 1, true) + 1)
    seqN = SEQ_LEN
  end

  local len = #st.ring / RING_ENTRY
  local hi = len
  if len > 0 and sunpack('<d', st.ring, (len - 1) * RING_ENTRY + 1) > ts then hi = upto(st.ring, len, ts) end
  local lo1 = upto(st.ring, hi, ts - M1)
  local lo10 = upto(st.ring, lo1, ts - M10)
  local hs, he, hx = totals(st, hi)
  local s1, e1, x1 = totals(st, lo1)
  local s10, e10, x10 = totals(st, lo10)

  local first, last = st.n > 0 and st.first or 0, st.n > 0 and st.last or 0
  local baseRef, baseBlob = st.baseRef, st.base
  if st.n == 0 then baseRef, baseBlob = j, fp end
  local prevRef = st.n == 0 and -1 or st.prevRef
  local all, sensitive, exports, exported =
    st.all + 1, st.sensitive + s01, st.exports + e01, st.exported + x
  local out = {
    0, st.n, first, last, baseRef, prevRef, seen,
    distinct[1], distinct[2], distinct[3], distinct[4], distinct[5], distinct[6], seq,
    1 + hi - lo1, s01 + hs - s1, e01 + he - e1, x + hx - x1,
    1 + hi - lo10, s01 + hs - s10, e01 + he - e10, x + hx - x10,
    all, sensitive, exports, exported, capped, arrival,
  }
  local prevBlob = st.n == 0 and '' or st.prev
  local ledger = spack(LEDGER, st.n, first, last, seen,
    distinct[1], distinct[2], distinct[3], distinct[4], distinct[5], distinct[6],
    out[15], out[16], out[17], out[18], out[19], out[20], out[21], out[22],
    all, sensitive, exports, exported, capped, arrival, #seq, seq, #baseBlob, baseBlob, #prevBlob, prevBlob)
  if logout then return nil, out, ledger end

  local newLast = st.n > 0 and math.max(st.last, ts) or ts
  local cut = newLast - M10
  if ts > cut then
    insert(st, len, hi, ts, s01, e01, x)
    len = len + 1
  end
  local old = upto(st.ring, len, cut)
  dropFront(st, old)
  len = len - old
  local ringCapped = 0
  if len > maxRing then
    dropFront(st, len - maxRing)
    ringCapped = 1
  end

  -- a late event does not move the last known location
  if st.n == 0 or ts >= st.last then st.prev, st.prevRef = fp, j end
  if st.n == 0 then st.base, st.baseRef, st.first = fp, j, ts else st.first = math.min(st.first, ts) end
  st.n = st.n + 1
  st.last = newLast
  st.seq, st.seqN = seq, seqN
  st.all, st.sensitive, st.exports, st.exported = all, sensitive, exports, exported
  st.capped = (capped == 1 or ringCapped == 1) and 1 or 0
  return st, out, ledger
end

-- The reply values of a duplicate, from its ledger entry.
local function replayed(entry)
  local v = { sunpack(LEDGER, entry) }
  local prev = v[27] == '' and -1 or v[27]
  return {
    1, v[1], v[2], v[3], v[26], prev, v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[25],
    v[11], v[12], v[13], v[14], v[15], v[16], v[17], v[18], v[19], v[20], v[21], v[22], v[23], v[24],
  }
end

-- redis.call with a long argument list, in slices (Lua's unpack has a stack limit).
local function callSliced(cmd, key, args, step)
  for i = 1, #args, step do
    rcall(cmd, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

local events = (#ARGV - ARGS) / IN_FIELDS
local ids = {}
for j = 1, events do ids[j] = ARGV[ARGS + 1 + (j - 1) * IN_FIELDS] end
local stored = {}
for i = 1, events, 1000 do
  local part = rcall('HMGET', KEYS[2], unpack(ids, i, math.min(i + 999, events)))
  for k = 1, #part do stored[#stored + 1] = part[k] end
end

local arrivals = tonumber(rcall('GET', KEYS[4])) or 0
local raw = rcall('GET', KEYS[1])
local st = raw and loadState(raw) or nil
local reply = { st and st.base or '', st and st.prev or '' }
local fresh, written, queued = {}, {}, {}
local changed, deleted = false, false
for j = 1, events do
  local id = ids[j]
  local entry = fresh[id] or stored[j]
  local out
  if entry then
    out = replayed(entry)
  else
    -- Idle expiry in event time, so the window does not depend on when (or how fast) events are
    -- processed: replay of a recorded day and the live engine see the same sessions expire.
    local o = ARGS + 1 + (j - 1) * IN_FIELDS
    if st and st.n > 0 and tonumber(ARGV[o + 1]) - st.last > idleTtl then st = nil end
    local ledger
    st, out, ledger = apply(st or newState(), o, j, arrivals)
    arrivals = arrivals + 1
    if st then changed = true else changed, deleted = false, true end
    fresh[id] = ledger
    written[#written + 1] = id
    written[#written + 1] = ledger
    queued[#queued + 1] = id
  end
  for k = 1, #out do reply[#reply + 1] = out[k] end
end

if #queued > 0 then
  rcall('SET', KEYS[4], arrivals, 'PX', idleTtl)
  callSliced('HSET', KEYS[2], written, 2000)
  local len = 0
  for i = 1, #queued, 1000 do
    len = rcall('RPUSH', KEYS[3], unpack(queued, i, math.min(i + 999, #queued)))
  end
  if len > dedupeCap then callSliced('HDEL', KEYS[2], rcall('LPOP', KEYS[3], len - dedupeCap), 1000) end
end
if st then
  if changed then rcall('SET', KEYS[1], encodeState(st), 'PX', idleTtl) else rcall('PEXPIRE', KEYS[1], idleTtl) end
elseif deleted then
  rcall('DEL', KEYS[1])
end
rcall('PEXPIRE', KEYS[2], dedupeTtl)
rcall('PEXPIRE', KEYS[3], dedupeTtl)
if #queued == 0 then rcall('PEXPIRE', KEYS[4], idleTtl) end
return reply
