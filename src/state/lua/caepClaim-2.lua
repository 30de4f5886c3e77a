--[[
  Claims the CAEP outbox's due SETs for one transmitter: each one's due time moves to the end of a
  lease, so no other instance claims it while this one pushes it. A SET whose claimer crashed is
  due again when the lease ends. Settling (caepSettle-4.lua) checks the lease is still its own.

    Input:
      KEYS[1] due    sorted set: jti -> when the SET is next due (epoch ms, Redis clock)
      KEYS[2] sets   hash: jti -> the pending SET's record (JSON, opaque here)

      ARGV[1] leaseMs  how long the claim holds
      ARGV[2] limit    most SETs claimed in one call, earliest due first

    Output: { leaseUntil, jti1, record1, jti2, record2, ... } where leaseUntil (epoch ms, Redis
    clock) is the lease of every SET this call claimed; the settle calls pass it back.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = now + tonumber(ARGV[1])
local jtis = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = { lease }
for _, jti in ipairs(jtis) do
  local record = redis.call('HGET', KEYS[2], jti)
  if record then
    redis.call('ZADD', KEYS[1], lease, jti)
    out[#out + 1] = jti
    out[#out + 1] = record
  else
    -- a due entry without its record cannot be delivered: drop it
    redis.call('ZREM', KEYS[1], jti)
  end
end
return out
