--[[
  Stores a session's policy (friction-control) state unless a newer one is already stored.

    KEYS[1] pol   the state: "<asOf>|<json>" (asOf: the arrival number of the event that made it)
    ARGV[1] asOf  this state's arrival number
    ARGV[2] json  the state (src/policy/friction.ts FrictionState), opaque here
    ARGV[3] ttlMs PEXPIRE, the session store's idle TTL

    Returns 1 when stored, 0 when the stored state is newer (asOf greater or equal).
]]
local stored = redis.call('GET', KEYS[1])
if stored then
  local asOf = tonumber(string.match(stored, '^(%-?%d+)|'))
  if asOf and asOf >= tonumber(ARGV[1]) then
    redis.call('PEXPIRE', KEYS[1], ARGV[3])
    return 0
  end
end
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. ARGV[2], 'PX', ARGV[3])
return 1
