--[[
  Adds one Security Event Token to the CAEP outbox, due now, unless its jti is already known:
  pending, delivered (its marker has not expired yet) or dead. Called once per SET, pipelined.

    Input:
      KEYS[1] due        sorted set: jti -> when the SET is next due (epoch ms, Redis clock)
      KEYS[2] sets       hash: jti -> the pending SET's record (JSON, opaque here)
      KEYS[3] dead       hash: jti -> a SET given up on (JSON, opaque here)
      KEYS[4] delivered  the jti's delivered marker (a string with a TTL)

      ARGV[1] jti
      ARGV[2] record (JSON)

    Output: 1 when added, 0 when the jti was already known (nothing changed).

  "Now" is the Redis server's clock (TIME), so instances whose clocks disagree still agree on what
  is due and on when a lease ends.
]]
local jti = ARGV[1]
if redis.call('HEXISTS', KEYS[2], jti) == 1
  or redis.call('EXISTS', KEYS[4]) == 1
  or redis.call('HEXISTS', KEYS[3], jti) == 1 then
  return 0
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], jti, ARGV[2])
redis.call('ZADD', KEYS[1], now, jti)
return 1
