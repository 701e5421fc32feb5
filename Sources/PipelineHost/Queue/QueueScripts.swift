/// The Lua scripts of the queue: one atomic script per state change, on
/// BullMQ v6's data model (docs/queue.md describes it). Every script gets the
/// queue's key prefix (`bull:<queue>:`) as its first argument and builds job
/// keys from it, as BullMQ does; the queue's shared keys come in `KEYS`, and
/// all of them carry the same `{hash tag}` when the prefix has one.
enum QueueScripts {
    /// Helpers every script starts with.
    static let prelude = #"""
        local prefix = ARGV[1]

        local function maxEvents(metaKey)
          local n = tonumber(redis.call("HGET", metaKey, "opts.maxLenEvents"))
          if not n then
            n = 10000
            redis.call("HSET", metaKey, "opts.maxLenEvents", n)
          end
          return n
        end

        local function emit(eventsKey, limit, ...)
          redis.call("XADD", eventsKey, "MAXLEN", "~", limit, "*", "event", ...)
        end

        -- Whether new ready jobs should wake workers: not while paused, nor at
        -- the global concurrency limit.
        local function canSignal(metaKey, activeKey)
          local state = redis.call("HMGET", metaKey, "paused", "concurrency")
          if state[1] then return false end
          if state[2] and redis.call("LLEN", activeKey) >= tonumber(state[2]) then return false end
          return true
        end

        -- delayed score = due ms * 4096 + a sequence that keeps FIFO within one ms.
        local function addDelayed(delayedKey, id, due)
          local low = due * 4096
          local last = redis.call("ZREVRANGEBYSCORE", delayedKey, low + 4095, low, "WITHSCORES", "LIMIT", 0, 1)
          local seq = 0
          if #last > 0 then seq = math.min(tonumber(last[2]) - low + 1, 4095) end
          redis.call("ZADD", delayedKey, low + seq, id)
        end

        local function nextDue(delayedKey)
          local first = redis.call("ZRANGE", delayedKey, 0, 0, "WITHSCORES")
          if #first == 0 then return 0 end
          return math.floor(tonumber(first[2]) / 4096)
        end

        local function markDelayed(delayedKey, markerKey)
          local due = nextDue(delayedKey)
          if due > 0 then redis.call("ZADD", markerKey, due, "1") end
        end

        -- Puts a ready job in wait (FIFO: left; front: right, taken next) or,
        -- with a priority, in prioritized (priority * 2^32 + a counter).
        local function makeReady(waitKey, prioritizedKey, pcKey, id, priority, front)
          if priority > 0 then
            local counter = redis.call("INCR", pcKey) % 4294967296
            redis.call("ZADD", prioritizedKey, priority * 4294967296 + counter, id)
          elseif front then
            redis.call("RPUSH", waitKey, id)
          else
            redis.call("LPUSH", waitKey, id)
          end
        end

        local function priorityOf(id)
          return tonumber(redis.call("HGET", prefix .. id, "priority")) or 0
        end

        -- Moves due delayed jobs to wait/prioritized (at most 1000 a call).
        local function promoteDelayed(delayedKey, waitKey, prioritizedKey, pcKey, metaKey, activeKey, markerKey, eventsKey, limit, now)
          local ids = redis.call("ZRANGEBYSCORE", delayedKey, 0, (now + 1) * 4096 - 1, "LIMIT", 0, 1000)
          if #ids == 0 then return end
          redis.call("ZREM", delayedKey, unpack(ids))
          for _, id in ipairs(ids) do
            makeReady(waitKey, prioritizedKey, pcKey, id, priorityOf(id), false)
            redis.call("HSET", prefix .. id, "delay", 0)
            emit(eventsKey, limit, "waiting", "jobId", id, "prev", "delayed")
          end
          if canSignal(metaKey, activeKey) then redis.call("ZADD", markerKey, 0, "0") end
        end

        -- Takes up to `count` ready jobs into active, each locked with its own
        -- token; returns a flat list id, fields, id, fields...
        local function takeJobs(waitKey, activeKey, prioritizedKey, pcKey, metaKey, markerKey, eventsKey, limit, tokenBase, lockMs, now, count)
          local taken = {}
          if count <= 0 then return taken end
          local state = redis.call("HMGET", metaKey, "paused", "concurrency")
          if state[1] then return taken end
          local cap = tonumber(state[2])
          for i = 1, count do
            if cap and redis.call("LLEN", activeKey) >= cap then break end
            local id = redis.call("RPOPLPUSH", waitKey, activeKey)
            if id and string.sub(id, 1, 2) == "0:" then
              redis.call("LREM", activeKey, 1, id)
              id = redis.call("RPOPLPUSH", waitKey, activeKey)
            end
            if not id then
              local popped = redis.call("ZPOPMIN", prioritizedKey)
              if #popped == 0 then
                redis.call("DEL", pcKey)
                break
              end
              id = popped[1]
              redis.call("LPUSH", activeKey, id)
            end
            local jobKey = prefix .. id
            redis.call("SET", jobKey .. ":lock", tokenBase .. ":" .. i, "PX", lockMs)
            emit(eventsKey, limit, "active", "jobId", id, "prev", "waiting")
            redis.call("HSET", jobKey, "processedOn", now)
            redis.call("HINCRBY", jobKey, "ats", 1)
            taken[#taken + 1] = id
            taken[#taken + 1] = redis.call("HGETALL", jobKey)
          end
          if #taken > 0 and (redis.call("LLEN", waitKey) > 0 or redis.call("ZCARD", prioritizedKey) > 0) then
            redis.call("ZADD", markerKey, 0, "0")
          end
          return taken
        end

        local function deleteJob(id)
          local jobKey = prefix .. id
          redis.call("DEL", jobKey, jobKey .. ":logs", jobKey .. ":lock")
        end

        -- Keeps the newest `count` (-1: all) and none older than `age` s (-1: any).
        local function trimFinished(setKey, now, count, age)
          if age >= 0 then
            local old = redis.call("ZRANGEBYSCORE", setKey, "-inf", now - age * 1000, "LIMIT", 0, 1000)
            if #old > 0 then
              for _, id in ipairs(old) do deleteJob(id) end
              redis.call("ZREM", setKey, unpack(old))
            end
          end
          if count >= 0 then
            local excess = redis.call("ZCARD", setKey) - count
            if excess > 0 then
              local ids = redis.call("ZRANGE", setKey, 0, excess - 1)
              for _, id in ipairs(ids) do deleteJob(id) end
              redis.call("ZREMRANGEBYRANK", setKey, 0, excess - 1)
            end
          end
        end

        -- Releases the job from active if this token may: 0 done; -6 another
        -- worker holds its lock; -3 it is no longer active (the stalled check
        -- moved it). A lock that merely expired does not stop a job still in
        -- active, since nobody else can have it.
        local function release(activeKey, stalledKey, id, token)
          local lockKey = prefix .. id .. ":lock"
          local holder = redis.call("GET", lockKey)
          if holder and holder ~= token then return -6 end
          if redis.call("LREM", activeKey, -1, id) == 0 then
            if holder then redis.call("DEL", lockKey) end
            return -3
          end
          if holder then redis.call("DEL", lockKey) end
          redis.call("SREM", stalledKey, id)
          return 0
        end

        local function appendStacktrace(jobKey, message)
          local list = {}
          local stored = redis.call("HGET", jobKey, "stacktrace")
          if stored then
            local ok, decoded = pcall(cjson.decode, stored)
            if ok and type(decoded) == "table" then list = decoded end
          end
          list[#list + 1] = message
          while #list > 10 do table.remove(list, 1) end
          redis.call("HSET", jobKey, "stacktrace", cjson.encode(list))
        end

        """#

    /// Adds one job. KEYS: wait meta id delayed prioritized pc events marker
    /// active. ARGV: prefix customId name data opts timestamp delay priority lifo.
    /// Returns the job id (an existing one for a custom id already present).
    ///
    /// A custom id that would land on one of the queue's own keys (see
    /// ``JobLimits/reservedJobIDs``), that holds ':' or is all digits is
    /// refused with an error reply, whoever calls the script.
    static let add = RedisScript(
        name: "add",
        source: prelude + #"""
            local waitKey, metaKey, idKey, delayedKey, prioritizedKey, pcKey, eventsKey, markerKey, activeKey =
              KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
            local id = ARGV[2]
            if id ~= "" then
              local reserved = {\#(reservedIDTable)}
              if reserved[id] or string.find(id, ":", 1, true) or string.match(id, "^%d+$") then
                return redis.error_reply("ERR job id '" .. id .. "' cannot be used: it is all digits, holds ':' or names one of the queue's own keys")
              end
            end
            local limit = maxEvents(metaKey)
            local counter = redis.call("INCR", idKey)
            if id == "" then id = tostring(counter) end
            local jobKey = prefix .. id
            if redis.call("EXISTS", jobKey) == 1 then
              emit(eventsKey, limit, "duplicated", "jobId", id)
              return id
            end
            local timestamp, delay, priority = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
            redis.call("HSET", jobKey, "name", ARGV[3], "data", ARGV[4], "opts", ARGV[5], "timestamp", ARGV[6],
              "delay", delay, "priority", priority)
            emit(eventsKey, limit, "added", "jobId", id, "name", ARGV[3])
            if delay > 0 then
              local due = timestamp + delay
              addDelayed(delayedKey, id, due)
              emit(eventsKey, limit, "delayed", "jobId", id, "delay", due)
              markDelayed(delayedKey, markerKey)
            else
              makeReady(waitKey, prioritizedKey, pcKey, id, priority, ARGV[9] == "1")
              if canSignal(metaKey, activeKey) then redis.call("ZADD", markerKey, 0, "0") end
              emit(eventsKey, limit, "waiting", "jobId", id)
            end
            return id
            """#)

    /// ``JobLimits/reservedJobIDs`` as the members of a Lua table.
    private static var reservedIDTable: String {
        JobLimits.reservedJobIDs.sorted().map { "[\"\($0)\"]=true" }.joined(separator: ",")
    }

    /// The keys `take` and `finish` share, in order.
    static let workKeyNames = ["wait", "active", "prioritized", "delayed", "meta", "pc", "marker", "events", "stalled", "completed", "failed"]

    /// Finishes a batch of jobs, then takes up to `takeCount` more, in one
    /// call ("finish and fetch next"). KEYS: ``workKeyNames``. ARGV: prefix now
    /// lockMs takeCount tokenBase entryCount, then per entry nine values: id
    /// token kind value keepCount keepAge delayMs newData attempts, where kind
    /// is completed, failed, retry, reschedule or handback.
    /// Returns {nextDueMs, {code per entry}, id, fields, id, fields...}.
    static let finishAndTake = RedisScript(
        name: "finishAndTake",
        source: prelude + #"""
            local waitKey, activeKey, prioritizedKey, delayedKey, metaKey, pcKey, markerKey, eventsKey, stalledKey, completedKey, failedKey =
              KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9], KEYS[10], KEYS[11]
            local now, lockMs, takeCount, tokenBase, entries = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], tonumber(ARGV[6])
            local limit = maxEvents(metaKey)
            local codes = {}
            local finished = false
            for e = 0, entries - 1 do
              local base = 7 + e * 9
              local id, token, kind, value = ARGV[base], ARGV[base + 1], ARGV[base + 2], ARGV[base + 3]
              local keepCount, keepAge, delay, newData, attempts =
                tonumber(ARGV[base + 4]), tonumber(ARGV[base + 5]), tonumber(ARGV[base + 6]), ARGV[base + 7], tonumber(ARGV[base + 8])
              local jobKey = prefix .. id
              local code = 0
              if redis.call("EXISTS", jobKey) == 0 then
                code = -1
              else
                code = release(activeKey, stalledKey, id, token)
              end
              if code == 0 then
                if kind == "completed" or kind == "failed" then
                  finished = true
                  local made = redis.call("HINCRBY", jobKey, "atm", 1)
                  local target = completedKey
                  if kind == "failed" then target = failedKey end
                  if keepCount == 0 then
                    deleteJob(id)
                  else
                    redis.call("ZADD", target, now, id)
                    if kind == "completed" then
                      redis.call("HSET", jobKey, "returnvalue", value, "finishedOn", now)
                    else
                      redis.call("HSET", jobKey, "failedReason", value, "finishedOn", now)
                      redis.call("HDEL", jobKey, "defa")
                      appendStacktrace(jobKey, value)
                    end
                    trimFinished(target, now, keepCount, keepAge)
                  end
                  if kind == "completed" then
                    emit(eventsKey, limit, "completed", "jobId", id, "returnvalue", value, "prev", "active")
                  else
                    emit(eventsKey, limit, "failed", "jobId", id, "failedReason", value, "prev", "active")
                    if made >= attempts then
                      emit(eventsKey, limit, "retries-exhausted", "jobId", id, "attemptsMade", made)
                    end
                  end
                elseif kind == "retry" then
                  redis.call("HSET", jobKey, "failedReason", value)
                  appendStacktrace(jobKey, value)
                  redis.call("HINCRBY", jobKey, "atm", 1)
                  if delay > 0 then
                    redis.call("HSET", jobKey, "delay", delay)
                    addDelayed(delayedKey, id, now + delay)
                    emit(eventsKey, limit, "delayed", "jobId", id, "delay", now + delay)
                    markDelayed(delayedKey, markerKey)
                  else
                    makeReady(waitKey, prioritizedKey, pcKey, id, priorityOf(id), false)
                    if canSignal(metaKey, activeKey) then redis.call("ZADD", markerKey, 0, "0") end
                    emit(eventsKey, limit, "waiting", "jobId", id, "prev", "active")
                  end
                elseif kind == "reschedule" then
                  if newData ~= "" then redis.call("HSET", jobKey, "data", newData) end
                  redis.call("HSET", jobKey, "delay", delay)
                  addDelayed(delayedKey, id, now + delay)
                  emit(eventsKey, limit, "delayed", "jobId", id, "delay", now + delay)
                  markDelayed(delayedKey, markerKey)
                elseif kind == "handback" then
                  makeReady(waitKey, prioritizedKey, pcKey, id, priorityOf(id), true)
                  if canSignal(metaKey, activeKey) then redis.call("ZADD", markerKey, 0, "0") end
                  emit(eventsKey, limit, "waiting", "jobId", id, "prev", "active")
                end
              end
              codes[#codes + 1] = code
            end
            promoteDelayed(delayedKey, waitKey, prioritizedKey, pcKey, metaKey, activeKey, markerKey, eventsKey, limit, now)
            local result = {0, codes}
            local taken = takeJobs(waitKey, activeKey, prioritizedKey, pcKey, metaKey, markerKey, eventsKey, limit, tokenBase, lockMs, now, takeCount)
            for _, item in ipairs(taken) do result[#result + 1] = item end
            result[1] = nextDue(delayedKey)
            if finished and redis.call("LLEN", waitKey) == 0 and redis.call("LLEN", activeKey) == 0
                and redis.call("ZCARD", prioritizedKey) == 0 then
              emit(eventsKey, limit, "drained")
            end
            return result
            """#)

    /// Renews the locks of a host's active jobs (taking again a lock that
    /// merely expired while the job is still active). KEYS: stalled active. ARGV: prefix
    /// lockMs, then id token pairs. Returns the ids whose lock is not theirs.
    static let extendLocks = RedisScript(
        name: "extendLocks",
        source: prelude + #"""
            local lockMs = tonumber(ARGV[2])
            local lost = {}
            for i = 3, #ARGV, 2 do
              local id, token = ARGV[i], ARGV[i + 1]
              local lockKey = prefix .. id .. ":lock"
              local holder = redis.call("GET", lockKey)
              -- A lock that merely expired, on a job still in active, is still ours.
              if holder == token or (not holder and redis.call("LPOS", KEYS[2], id)) then
                redis.call("SET", lockKey, token, "PX", lockMs)
                redis.call("SREM", KEYS[1], id)
              else
                lost[#lost + 1] = id
              end
            end
            return lost
            """#)

    /// Replaces a running job's data while its lock is the caller's (so a
    /// job whose lock was lost, or that is gone, is never recreated).
    /// KEYS: job hash, its lock. ARGV: data, token. Returns 1 when written.
    static let replaceData = RedisScript(
        name: "replaceData",
        source: #"""
            if redis.call("GET", KEYS[2]) == ARGV[2] and redis.call("EXISTS", KEYS[1]) == 1 then
              redis.call("HSET", KEYS[1], "data", ARGV[1])
              return 1
            end
            return 0
            """#)

    /// The stalled check, at most once per interval across every host.
    /// KEYS: stalled wait active stalled-check meta marker events.
    /// ARGV: prefix now intervalMs maxStalledCount. Returns the recovered ids.
    static let recoverStalled = RedisScript(
        name: "recoverStalled",
        source: prelude + #"""
            local stalledKey, waitKey, activeKey, checkKey, metaKey, markerKey, eventsKey =
              KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7]
            local now, interval, maxStalled = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
            if redis.call("EXISTS", checkKey) == 1 then return {} end
            redis.call("SET", checkKey, now, "PX", interval)
            local limit = maxEvents(metaKey)
            redis.call("XTRIM", eventsKey, "MAXLEN", "~", limit)
            local recovered = {}
            local suspects = redis.call("SMEMBERS", stalledKey)
            redis.call("DEL", stalledKey)
            for _, id in ipairs(suspects) do
              local jobKey = prefix .. id
              if redis.call("EXISTS", jobKey .. ":lock") == 0 and redis.call("LREM", activeKey, 1, id) > 0 then
                local count = redis.call("HINCRBY", jobKey, "stc", 1)
                if count > maxStalled then
                  redis.call("HSET", jobKey, "defa", "job stalled more than allowable limit")
                end
                redis.call("RPUSH", waitKey, id)
                emit(eventsKey, limit, "waiting", "jobId", id, "prev", "active")
                emit(eventsKey, limit, "stalled", "jobId", id)
                recovered[#recovered + 1] = id
              end
            end
            if #recovered > 0 and canSignal(metaKey, activeKey) then redis.call("ZADD", markerKey, 0, "0") end
            local active = redis.call("LRANGE", activeKey, 0, -1)
            for i = 1, #active, 5000 do
              redis.call("SADD", stalledKey, unpack(active, i, math.min(i + 4999, #active)))
            end
            return recovered
            """#)

    /// Records a job's progress. KEYS: meta events. ARGV: prefix id json.
    static let progress = RedisScript(
        name: "progress",
        source: prelude + #"""
            local jobKey = prefix .. ARGV[2]
            if redis.call("EXISTS", jobKey) == 0 then return 0 end
            redis.call("HSET", jobKey, "progress", ARGV[3])
            emit(KEYS[2], maxEvents(KEYS[1]), "progress", "jobId", ARGV[2], "data", ARGV[3])
            return 1
            """#)

    /// Removes a job that is waiting, prioritized or delayed (never a running
    /// one). KEYS: wait prioritized delayed meta events. ARGV: prefix id.
    /// Returns 1 if removed.
    static let removeQueued = RedisScript(
        name: "removeQueued",
        source: prelude + #"""
            local id = ARGV[2]
            local removed = redis.call("LREM", KEYS[1], 0, id) + redis.call("ZREM", KEYS[2], id) + redis.call("ZREM", KEYS[3], id)
            if removed == 0 then return 0 end
            deleteJob(id)
            emit(KEYS[5], maxEvents(KEYS[4]), "removed", "jobId", id, "prev", "waiting")
            return 1
            """#)
}
