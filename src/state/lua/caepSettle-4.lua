--[[
  Settles one claimed SET of the CAEP outbox after a push: delivered, retry later, or dead.

    Input:
      KEYS[1] due        sorted set: jti -> when the SET is next due (epoch ms, Redis clock)
      KEYS[2] sets       hash: jti -> the pending SET's record (JSON, opaque here)
      KEYS[3] dead       hash: jti -> a SET given up on (JSON, opaque here)
      KEYS[4] delivered  the jti's delivered marker

      ARGV[1] outcome   'delivered' | 'retry' | 'dead'
      ARGV[2] jti
      ARGV[3] lease     the leaseUntil caepClaim-2.lua returned for this SET
      ARGV[4] delivered: how long the marker lives (ms; 0: no marker)
              retry: the delay before the SET is due again (ms)
              dead: unused
      ARGV[5] retry: the updated record (attempts, last error); dead: the dead record (JSON)

    Output: 1 when the lease was still this caller's, 0 when it was lost (it ran out and another
    instance claimed the SET again, or the SET is gone). A retry or dead outcome on a lost lease
    changes nothing: the SET belongs to its new claimer. A delivery is recorded either way, because
    the receiver has the SET.
]]
local jti = ARGV[2]
local score = redis.call('ZSCORE', KEYS[1], jti)
local owned = score and tonumber(score) == tonumber(ARGV[3])
local outcome = ARGV[1]

if outcome == 'delivered' then
  redis.call('ZREM', KEYS[1], jti)
  redis.call('HDEL', KEYS[2], jti)
  local ttl = tonumber(ARGV[4])
  if ttl > 0 then
    redis.call('SET', KEYS[4], '1', 'PX', ttl)
  end
elseif not owned then
  return 0
elseif outcome == 'retry' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('HSET', KEYS[2], jti, ARGV[5])
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), jti)
elseif outcome == 'dead' then
  redis.call('ZREM', KEYS[1], jti)
  redis.call('HDEL', KEYS[2], jti)
  redis.call('HSET', KEYS[3], jti, ARGV[5])
else
  return redis.error_reply('caepSettle: unknown outcome ' .. tostring(outcome))
end
if owned then
  return 1
end
return 0
