"""The ingest stream's Lua scripts: each step that must not be split by another client's command.

Every entry carries `n`, the readings it counted in the backlog when it was added; the scripts read
it from the stream itself, never from the caller, so the backlog counter moves by exactly what the
entry added. An `n` that is not a number (an entry put there by hand) counts as 0 readings.
Written for Redis 6.2 and later (the embedded server of `make run` is 6.2): no script flags.
"""

# Size of an entry from its field list.
_SIZE = """
local function size(fields)
  for j = 1, #fields, 2 do
    if fields[j] == 'n' then return tonumber(fields[j + 1]) or 0 end
  end
  return 0
end
"""

# The group's last-delivered id (nil: no such stream or group).
_LAST_DELIVERED = """
local function last_delivered(key, group)
  if redis.call('EXISTS', key) == 0 then return nil end
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
    local name, last
    for j = 1, #g, 2 do
      if g[j] == 'name' then name = g[j + 1] end
      if g[j] == 'last-delivered-id' then last = g[j + 1] end
    end
    if name == group then return last end
  end
  return nil
end
"""

# KEYS: stream, backlog. ARGV: bound, the payloads' format, then per entry: its readings, its
# payload. A request becomes several entries of bounded size, added together or not at all.
# Refused once the buffer already holds `bound` readings: a request overshoots the bound by at
# most its size.
ADD = """
local backlog = tonumber(redis.call('GET', KEYS[2]) or '0')
if backlog >= tonumber(ARGV[1]) then return false end
local first, readings = nil, 0
for i = 3, #ARGV, 2 do
  local id = redis.call('XADD', KEYS[1], '*', 'n', ARGV[i], 'r', ARGV[i + 1], 'v', ARGV[2])
  first, readings = first or id, readings + tonumber(ARGV[i])
end
redis.call('INCRBY', KEYS[2], readings)
return first
"""

# KEYS: stream. ARGV: group, consumer, budget (readings), most entries to look at.
# New entries, as many as fit in the budget (always at least one): the entries after the group's
# last-delivered id are measured first, then exactly that many are delivered.
READ_NEW = (
    _SIZE
    + _LAST_DELIVERED
    + """
local last = last_delivered(KEYS[1], ARGV[1])
if not last then return redis.error_reply('NOGROUP no such key or consumer group') end
local budget, take, sum = tonumber(ARGV[3]), 0, 0
for _, e in ipairs(redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', ARGV[4])) do
  local n = size(e[2])
  if take > 0 and sum + n > budget then break end
  take, sum = take + 1, sum + n
end
if take == 0 then return {} end
return redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', take, 'STREAMS', KEYS[1], '>')
"""
)

# KEYS: stream. ARGV: group, consumer, min idle ms, budget, most entries, owner ('' for anyone).
# Pending entries idle at least that long (of `owner` only, when given) become this consumer's,
# as many as fit in the budget. Returns id, times delivered (this one included), fields.
# A pending id the stream no longer holds is acknowledged: there is nothing left to deliver.
TAKE_PENDING = (
    _SIZE
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
-- IDLE 0 filters nothing in Redis; fakeredis reads it as "idle more than 0 ms", so it is left out.
local args = {'XPENDING', KEYS[1], ARGV[1], '-', '+', ARGV[5]}
if tonumber(ARGV[3]) > 0 then table.insert(args, 4, 'IDLE'); table.insert(args, 5, ARGV[3]) end
if ARGV[6] ~= '' then args[#args + 1] = ARGV[6] end
local ok, pending = pcall(redis.call, unpack(args))
if not ok then return redis.error_reply('NOGROUP no such key or consumer group') end
local budget, sum, out = tonumber(ARGV[4]), 0, {}
for _, p in ipairs(pending) do
  local id, deliveries = p[1], p[4] + 1
  local found = redis.call('XRANGE', KEYS[1], id, id)
  if #found == 0 then
    redis.call('XACK', KEYS[1], ARGV[1], id)
  else
    local n = size(found[1][2])
    if #out > 0 and sum + n > budget then break end
    sum = sum + n
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, id, 'RETRYCOUNT', deliveries, 'JUSTID')
    out[#out + 1] = {id, deliveries, found[1][2]}
  end
end
return out
"""
)

# KEYS: stream, backlog. ARGV: group, then entry ids. Only an entry this call acknowledged is
# deleted and taken off the backlog: one acknowledged before (by a consumer that claimed it) is
# already gone, and one that is no longer pending at all is left for rescue_orphans, never lost.
ACK = (
    _SIZE
    + """
local acked, freed = 0, 0
for i = 2, #ARGV do
  if redis.call('XACK', KEYS[1], ARGV[1], ARGV[i]) == 1 then
    local found = redis.call('XRANGE', KEYS[1], ARGV[i], ARGV[i])
    if #found > 0 then freed = freed + size(found[1][2]) end
    redis.call('XDEL', KEYS[1], ARGV[i])
    acked = acked + 1
  end
end
if freed > 0 then redis.call('DECRBY', KEYS[2], freed) end
return {acked, freed}
"""
)

# KEYS: stream. ARGV: group, idle ms. Consumers idle that long and holding nothing leave the
# group, checked and removed in one step: a consumer that reads in between cannot lose entries.
PRUNE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return {} end
local removed = {}
for _, c in ipairs(consumers) do
  local name, pending, idle
  for j = 1, #c, 2 do
    if c[j] == 'name' then name = c[j + 1]
    elseif c[j] == 'pending' then pending = c[j + 1]
    elseif c[j] == 'idle' then idle = c[j + 1] end
  end
  if pending == 0 and idle >= tonumber(ARGV[2]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    removed[#removed + 1] = name
  end
end
return removed
"""

# KEYS: stream. ARGV: group, start id (exclusive), most entries. An entry already delivered that
# no consumer holds (its consumer was deleted by hand, say) would never be read again: it is
# added anew at the stream's end with the same fields (the backlog already counts it). Returns
# the number rescued and where to continue ('' when done).
RESCUE_ORPHANS = (
    _LAST_DELIVERED
    + """
local last = last_delivered(KEYS[1], ARGV[1])
if not last then return {0, ''} end
local rescued, next_start = 0, ''
local delivered = redis.call('XRANGE', KEYS[1], '(' .. ARGV[2], last, 'COUNT', ARGV[3])
for _, e in ipairs(delivered) do
  if #redis.call('XPENDING', KEYS[1], ARGV[1], e[1], e[1], 1) == 0 then
    redis.call('XADD', KEYS[1], '*', unpack(e[2]))
    redis.call('XDEL', KEYS[1], e[1])
    rescued = rescued + 1
  end
  next_start = e[1]
end
if #delivered < tonumber(ARGV[3]) then next_start = '' end
return {rescued, next_start}
"""
)
