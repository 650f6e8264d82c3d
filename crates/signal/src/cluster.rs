//! Several nodes sharing their rooms through Redis (`--redis URL`).
//!
//! Any member of a room may be connected to any node, so who is in a room
//! cannot be known by one process: Redis decides it, with Lua scripts that
//! run atomically, and each node mirrors the rooms its own clients are in
//! (see [`crate::room`]). Redis is used as it is, not as a home-made cluster
//! protocol: a few keys, scripts and pub/sub channels.
//!
//! # Layout in Redis
//!
//! | key / channel | type | what |
//! |---|---|---|
//! | `parlor:nodes` | sorted set | node id → time of its last heartbeat (Redis's clock, ms) |
//! | `parlor:node:<node>` | set | `"<room> <id>"` of every member connected to that node |
//! | `parlor:seq` | counter | connection numbers, cluster-wide; they are also the join order (a fresh Redis starts it at its clock in µs) |
//! | `parlor:room:<room>:members` | sorted set | peer id → its connection number (join order) |
//! | `parlor:room:<room>:info` | hash | peer id → `"<connection> <node> <parlor 0/1> <key hash>"` |
//! | `parlor:room:<room>:version` | counter | membership changes of the room; snapshots carry it |
//! | `parlor:room:<room>:reserved:<id>` | string, expiring | the key hash a departed member's id is kept for (`--id-reservation`) |
//! | `parlor:joins:<address>` | hash, expiring | the joins-per-minute token bucket of a client address |
//! | `parlor:conns:<address>` | hash | node → connections it holds from that client address (`--max-connections-per-address`) |
//! | `parlor:node:<node>:addresses` | set | the addresses that node counts connections of, so they can be taken back when it dies |
//! | channel `parlor:room:<room>` | pub/sub | membership snapshots (`L…`) and relayed frames (`M…`) |
//!
//! A snapshot is `L<version>` then one line per member in join order,
//! `<id> <connection> <node> <parlor>`; every script that changes a room
//! publishes one, and a node applies only snapshots newer than the last it
//! applied. A relayed frame is `M<node> <connection> <to>\n<frame>` (`to`
//! empty for a broadcast); every node with members in the room delivers it
//! to its own. One connection to Redis carries everything a node sends, in
//! order, so frames from one sender arrive in the order it sent them, and
//! after the snapshot that named it.
//!
//! # Liveness
//!
//! Every node beats every quarter of `--redis-node-timeout`. A beat runs a
//! script that also removes every node whose last beat is older than the
//! timeout, with all its members (their ids reserved for their keys, so a
//! member that reconnects to another node gets its id back), and publishes
//! the rooms' new snapshots. So a node that dies leaves every peer list
//! within the timeout and a quarter of it, plus the peer-list interval.
//!
//! # Redis restarts
//!
//! The connection manager reconnects and subscribes again by itself. A beat
//! that finds its node unknown to Redis (a restart lost everything, or the
//! node was taken for dead), or that follows a failed command, registers
//! every member the node holds again (the same connection numbers, so the
//! same join order) and publishes the rooms' snapshots. Clients are never
//! dropped for it; while Redis is away, members on one node still reach
//! each other, and joins are refused with 1013 ("try again later").

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;

use parlor_protocol::{IdKey, PeerId, RoomName};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Script, Value};
use sha1::{Digest, Sha1};
use tokio::sync::{mpsc, oneshot, watch};
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::admission::{AddressKey, AddressPermit, Connections};
use crate::outbox::Outbox;
use crate::room::{JoinRefusal, Membership, Rooms};

/// Where to find Redis and how soon a silent node counts as dead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://[user:password@]host[:port][/db]`.
    pub url: String,
    /// A node that has not beaten for this long is dead: its members are
    /// removed from every room. Nodes beat every quarter of it.
    pub node_timeout: Duration,
}

impl RedisConfig {
    /// Redis at `url`, nodes dead after five seconds of silence.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            node_timeout: Duration::from_secs(5),
        }
    }
}

/// Why a node could not join the cluster.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The URL is not one the Redis client understands.
    #[error("invalid Redis URL: {0}")]
    Url(redis::RedisError),
    /// Redis could not be reached or refused a command.
    #[error("cannot use Redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// Redis's answer to a join, read from a script's reply.
enum JoinVerdict {
    Joined { connection: u64, snapshot: Snapshot },
    Refused(JoinRefusal),
}

/// A room's members as Redis had them after one change, in join order.
#[derive(Debug, Default)]
pub(crate) struct Snapshot {
    pub(crate) version: u64,
    pub(crate) entries: Vec<SnapshotEntry>,
}

/// One member in a [`Snapshot`].
#[derive(Debug)]
pub(crate) struct SnapshotEntry {
    pub(crate) id: PeerId,
    pub(crate) connection: u64,
    pub(crate) parlor: bool,
}

impl Snapshot {
    /// Parses `L<version>\n<id> <connection> <node> <parlor>…`; lines that
    /// do not parse are skipped (Redis is trusted, but a panic on its
    /// answers would take every client down).
    fn parse(payload: &[u8]) -> Option<Snapshot> {
        let text = std::str::from_utf8(payload).ok()?;
        let mut lines = text.split('\n');
        let version = lines.next()?.strip_prefix('L')?.parse().ok()?;
        let entries = lines
            .filter_map(|line| {
                let mut fields = line.split(' ');
                let id = fields.next()?.parse().ok()?;
                let connection = fields.next()?.parse().ok()?;
                let _node = fields.next()?;
                let parlor = fields.next()? == "1";
                Some(SnapshotEntry {
                    id,
                    connection,
                    parlor,
                })
            })
            .collect();
        Some(Snapshot { version, entries })
    }
}

/// What the relay hands to the node's Redis writer, in order.
pub(crate) enum Outgoing {
    /// A frame for members on other nodes.
    Publish { channel: Arc<str>, payload: Vec<u8> },
    /// A member left this node.
    Leave {
        room: RoomName,
        id: PeerId,
        connection: u64,
        key: Option<IdKey>,
    },
    /// Mirror a room: subscribe to its channel (if `first`), then answer.
    Subscribe {
        room: RoomName,
        first: bool,
        done: oneshot::Sender<bool>,
    },
    /// Stop mirroring a room.
    Unsubscribe { room: RoomName },
    /// A connection from `address` counted in Redis has closed.
    ReleaseAddress { address: AddressKey },
}

/// What [`Rooms`] needs of the cluster: the node's name and its writer.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    node: Arc<str>,
    outgoing: mpsc::UnboundedSender<Outgoing>,
    /// Set when Redis may no longer hold what this node holds; the next
    /// beat registers every member again.
    dirty: Arc<AtomicBool>,
    /// Local holders per room, to subscribe on the first and unsubscribe
    /// after the last.
    subscriptions: Arc<Mutex<HashMap<RoomName, usize>>>,
}

impl Link {
    /// Sends `frame` from member `connection` of `room` to its members on
    /// other nodes.
    pub(crate) fn publish(&self, room: &RoomName, connection: u64, to: Option<&str>, frame: &str) {
        let mut payload = Vec::with_capacity(frame.len() + self.node.len() + 48);
        payload.push(b'M');
        payload.extend_from_slice(self.node.as_bytes());
        // Writing to a Vec cannot fail.
        let _ = writeln!(
            VecWriter(&mut payload),
            " {connection} {}",
            to.unwrap_or("")
        );
        payload.extend_from_slice(frame.as_bytes());
        let _ = self.outgoing.send(Outgoing::Publish {
            channel: room_channel(room),
            payload,
        });
    }

    /// Tells Redis that `connection` left `room`, and stops mirroring the
    /// room once nobody here is in it.
    pub(crate) fn leave(&self, room: &RoomName, id: PeerId, connection: u64, key: Option<IdKey>) {
        let _ = self.outgoing.send(Outgoing::Leave {
            room: room.clone(),
            id,
            connection,
            key,
        });
        self.release(room);
    }

    /// Takes a closed connection from `address` off this node's count in
    /// Redis. Queued behind the relay's frames rather than awaited: it is
    /// called from a permit's drop.
    pub(crate) fn release_address(&self, address: AddressKey) {
        let _ = self.outgoing.send(Outgoing::ReleaseAddress { address });
    }

    /// Registers this node's members again at the next beat.
    pub(crate) fn request_resync(&self) {
        self.dirty.store(true, Ordering::Release);
    }

    /// Subscribes to `room`'s channel if nobody here is in it yet; resolves
    /// once the subscription is in place (false if Redis is away).
    async fn hold(&self, room: &RoomName) -> bool {
        let (done, answer) = oneshot::channel();
        {
            let mut subscriptions = self
                .subscriptions
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let count = subscriptions.entry(room.clone()).or_insert(0);
            *count += 1;
            // Queued under the lock, so subscribes and unsubscribes reach
            // Redis in the order the counts changed.
            let _ = self.outgoing.send(Outgoing::Subscribe {
                room: room.clone(),
                first: *count == 1,
                done,
            });
        }
        answer.await.unwrap_or(false)
    }

    /// Undoes [`Link::hold`].
    fn release(&self, room: &RoomName) {
        let mut subscriptions = self
            .subscriptions
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = subscriptions.get_mut(room) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                subscriptions.remove(room);
                let _ = self
                    .outgoing
                    .send(Outgoing::Unsubscribe { room: room.clone() });
            }
        }
    }
}

/// `write!` into a byte vector.
struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn room_channel(room: &RoomName) -> Arc<str> {
    format!("parlor:room:{room}").into()
}

/// What Redis stores of an id key: its SHA-1, so Redis never holds the
/// secret a member proves its id with.
fn key_hash(key: Option<&IdKey>) -> String {
    match key {
        None => String::new(),
        Some(key) => {
            let digest = Sha1::digest(key.as_str().as_bytes());
            digest
                .iter()
                .fold(String::with_capacity(40), |mut hex, byte| {
                    let _ = write!(hex, "{byte:02x}");
                    hex
                })
        }
    }
}

/// Makes the link the rooms use and the queue the Redis writer drains.
pub(crate) fn link() -> (Link, mpsc::UnboundedReceiver<Outgoing>) {
    let (outgoing, receiver) = mpsc::unbounded_channel();
    let node = uuid::Uuid::new_v4().simple().to_string();
    let link = Link {
        node: node.into(),
        outgoing,
        dirty: Arc::new(AtomicBool::new(false)),
        subscriptions: Arc::new(Mutex::new(HashMap::new())),
    };
    (link, receiver)
}

/// Lua shared by the scripts: publish a room's snapshot.
const SNAPSHOT_LUA: &str = r#"
local function snapshot(room)
  local p = 'parlor:room:' .. room
  local version = redis.call('INCR', p .. ':version')
  local ids = redis.call('ZRANGE', p .. ':members', 0, -1)
  local lines = {'L' .. version}
  for _, id in ipairs(ids) do
    local info = redis.call('HGET', p .. ':info', id)
    if info then
      local conn, node, parlor = string.match(info, '^(%S+) (%S+) (%S+)')
      if conn then lines[#lines + 1] = id .. ' ' .. conn .. ' ' .. node .. ' ' .. parlor end
    end
  end
  if #ids == 0 then
    redis.call('PEXPIRE', p .. ':version', 86400000)
  else
    redis.call('PERSIST', p .. ':version')
  end
  local payload = table.concat(lines, '\n')
  redis.call('PUBLISH', p, payload)
  return payload
end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
"#;

/// ARGV: room, id, node, parlor (0/1), key hash (empty: none), max peers
/// (0: no limit). Returns `{'ok', connection, snapshot}` or `{refusal}`.
const JOIN_LUA: &str = r#"
local room, id, node, parlor, key, max = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local p = 'parlor:room:' .. room
local info = redis.call('HGET', p .. ':info', id)
if info then
  local oconn, onode, _, okey = string.match(info, '^(%S+) (%S+) (%S+) ?(%S*)$')
  if key ~= '' and okey == key then
    redis.call('HDEL', p .. ':info', id)
    redis.call('ZREM', p .. ':members', id)
    redis.call('SREM', 'parlor:node:' .. onode, room .. ' ' .. id)
  else
    return {'taken'}
  end
else
  local reserved = redis.call('GET', p .. ':reserved:' .. id)
  if reserved then
    if key ~= '' and reserved == key then
      redis.call('DEL', p .. ':reserved:' .. id)
    else
      return {'reserved'}
    end
  end
end
if max > 0 and redis.call('ZCARD', p .. ':members') >= max then return {'full'} end
if redis.call('EXISTS', 'parlor:seq') == 0 then
  -- A fresh (or restarted) Redis counts on from the clock in microseconds,
  -- above every number handed out before, so connection numbers stay
  -- unique and in join order across restarts.
  local t = redis.call('TIME')
  redis.call('SET', 'parlor:seq', t[1] .. string.format('%06d', tonumber(t[2])))
end
-- Kept as text: Lua would print a number this large in exponent form.
local conn = string.format('%d', redis.call('INCR', 'parlor:seq'))
redis.call('ZADD', p .. ':members', conn, id)
redis.call('HSET', p .. ':info', id, conn .. ' ' .. node .. ' ' .. parlor .. ' ' .. key)
redis.call('SADD', 'parlor:node:' .. node, room .. ' ' .. id)
return {'ok', conn, snapshot(room)}
"#;

/// ARGV: room, id, connection, node, key hash, reservation (ms). Removes
/// the member if that connection still holds the id.
const LEAVE_LUA: &str = r#"
local room, id, conn, node, key, reserve = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
local p = 'parlor:room:' .. room
local info = redis.call('HGET', p .. ':info', id)
if not info or string.match(info, '^(%S+)') ~= conn then return 0 end
redis.call('HDEL', p .. ':info', id)
redis.call('ZREM', p .. ':members', id)
redis.call('SREM', 'parlor:node:' .. node, room .. ' ' .. id)
if key ~= '' and reserve > 0 then
  redis.call('SET', p .. ':reserved:' .. id, key, 'PX', reserve)
end
snapshot(room)
return 1
"#;

/// ARGV: node, timeout (ms), reservation (ms). Records the beat, removes
/// dead nodes and their members; returns 1 if Redis knew this node.
const BEAT_LUA: &str = r#"
local node, timeout, reserve = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local now = now_ms()
local known = redis.call('ZSCORE', 'parlor:nodes', node)
redis.call('ZADD', 'parlor:nodes', now, node)
local dead = redis.call('ZRANGEBYSCORE', 'parlor:nodes', '-inf', now - timeout)
for _, gone in ipairs(dead) do
  local rooms = {}
  for _, entry in ipairs(redis.call('SMEMBERS', 'parlor:node:' .. gone)) do
    local room, id = string.match(entry, '^(%S+) (%S+)$')
    if room then
      local p = 'parlor:room:' .. room
      local info = redis.call('HGET', p .. ':info', id)
      if info then
        local _, onode, _, okey = string.match(info, '^(%S+) (%S+) (%S+) ?(%S*)$')
        if onode == gone then
          redis.call('HDEL', p .. ':info', id)
          redis.call('ZREM', p .. ':members', id)
          if okey and okey ~= '' and reserve > 0 then
            redis.call('SET', p .. ':reserved:' .. id, okey, 'PX', reserve)
          end
          rooms[room] = true
        end
      end
    end
  end
  redis.call('DEL', 'parlor:node:' .. gone)
  forget_addresses(gone)
  redis.call('ZREM', 'parlor:nodes', gone)
  for room in pairs(rooms) do snapshot(room) end
end
if known then return 1 else return 0 end
"#;

/// ARGV: node, then per member: room, room version, id, connection,
/// parlor, key hash. Makes Redis hold exactly these members for the node;
/// returns the connections that lost their id to someone else meanwhile.
const SYNC_LUA: &str = r#"
local node = ARGV[1]
local nodeset = 'parlor:node:' .. node
local want, versions, changed, conflicts = {}, {}, {}, {}
local maxconn = 0
for i = 2, #ARGV - 5, 6 do
  local room, version, id, conn, parlor, key = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5]
  local p = 'parlor:room:' .. room
  versions[room] = math.max(versions[room] or 0, version)
  if tonumber(conn) > maxconn then maxconn = tonumber(conn) end
  local info = redis.call('HGET', p .. ':info', id)
  if info then
    if string.match(info, '^(%S+)') == conn then
      want[room .. ' ' .. id] = true
      redis.call('SADD', nodeset, room .. ' ' .. id)
    else
      conflicts[#conflicts + 1] = conn
    end
  else
    want[room .. ' ' .. id] = true
    redis.call('ZADD', p .. ':members', conn, id)
    redis.call('HSET', p .. ':info', id, conn .. ' ' .. node .. ' ' .. parlor .. ' ' .. key)
    redis.call('SADD', nodeset, room .. ' ' .. id)
    changed[room] = true
  end
end
for _, entry in ipairs(redis.call('SMEMBERS', nodeset)) do
  if not want[entry] then
    redis.call('SREM', nodeset, entry)
    local room, id = string.match(entry, '^(%S+) (%S+)$')
    if room then
      local p = 'parlor:room:' .. room
      local info = redis.call('HGET', p .. ':info', id)
      if info then
        local _, onode = string.match(info, '^(%S+) (%S+)')
        if onode == node then
          redis.call('HDEL', p .. ':info', id)
          redis.call('ZREM', p .. ':members', id)
          changed[room] = true
        end
      end
    end
  end
end
if maxconn > tonumber(redis.call('GET', 'parlor:seq') or '0') then
  redis.call('SET', 'parlor:seq', string.format('%d', maxconn))
end
for room, _ in pairs(changed) do
  local vkey = 'parlor:room:' .. room .. ':version'
  if versions[room] and versions[room] > tonumber(redis.call('GET', vkey) or '0') then
    redis.call('SET', vkey, string.format('%d', versions[room]))
  end
  snapshot(room)
end
return conflicts
"#;

/// ARGV: node. A node shutting down removes itself.
const RETIRE_LUA: &str = r#"
redis.call('DEL', 'parlor:node:' .. ARGV[1])
forget_addresses(ARGV[1])
redis.call('ZREM', 'parlor:nodes', ARGV[1])
return 1
"#;

/// Lua for the scripts that drop a node: take back every connection it
/// counted per client address.
const FORGET_ADDRESSES_LUA: &str = r#"
local function forget_addresses(node)
  local set = 'parlor:node:' .. node .. ':addresses'
  for _, address in ipairs(redis.call('SMEMBERS', set)) do
    local key = 'parlor:conns:' .. address
    redis.call('HDEL', key, node)
  end
  redis.call('DEL', set)
end
"#;

/// ARGV: address, node, the most connections per address. Counts one
/// more connection of the address on the node if the cluster-wide total is
/// below the limit: 1 if it was counted, 0 if the address is at its limit.
const ADMIT_ADDRESS_LUA: &str = r#"
local address, node, max = ARGV[1], ARGV[2], tonumber(ARGV[3])
local key = 'parlor:conns:' .. address
local total = 0
for _, count in ipairs(redis.call('HVALS', key)) do
  total = total + tonumber(count)
end
if total >= max then return 0 end
redis.call('HINCRBY', key, node, 1)
redis.call('SADD', 'parlor:node:' .. node .. ':addresses', address)
return 1
"#;

/// ARGV: address, node. One connection of the address on the node closed.
const RELEASE_ADDRESS_LUA: &str = r#"
local address, node = ARGV[1], ARGV[2]
local key = 'parlor:conns:' .. address
if redis.call('HINCRBY', key, node, -1) <= 0 then
  redis.call('HDEL', key, node)
  redis.call('SREM', 'parlor:node:' .. node .. ':addresses', address)
end
return 1
"#;

/// ARGV: node, then per address: address, connections. Makes Redis count
/// exactly these connections for the node (after Redis lost them, or a
/// command about them failed).
const SYNC_ADDRESSES_LUA: &str = r#"
local node = ARGV[1]
forget_addresses(node)
local set = 'parlor:node:' .. node .. ':addresses'
for i = 2, #ARGV, 2 do
  redis.call('HSET', 'parlor:conns:' .. ARGV[i], node, ARGV[i + 1])
  redis.call('SADD', set, ARGV[i])
end
return 1
"#;

/// ARGV: address, joins per minute. A token bucket: 1 if a join may pass.
const JOIN_RATE_LUA: &str = r#"
local key, rate = 'parlor:joins:' .. ARGV[1], tonumber(ARGV[2])
local now = now_ms()
local bucket = redis.call('HMGET', key, 'tokens', 'at')
local tokens = tonumber(bucket[1]) or rate
local at = tonumber(bucket[2]) or now
tokens = math.min(rate, tokens + (now - at) * rate / 60000)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', key, 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', key, 60000)
return allowed
"#;

/// The scripts, compiled once (their SHA-1 is computed here; Redis loads
/// them again by itself after a restart through `invoke_async`).
struct Scripts {
    join: Script,
    leave: String,
    beat: Script,
    sync: Script,
    retire: Script,
    join_rate: Script,
    admit_address: Script,
    release_address: String,
    sync_addresses: Script,
}

impl Scripts {
    fn new() -> Self {
        let with_prelude = |body: &str| format!("{SNAPSHOT_LUA}{FORGET_ADDRESSES_LUA}{body}");
        Self {
            join: Script::new(&with_prelude(JOIN_LUA)),
            leave: with_prelude(LEAVE_LUA),
            beat: Script::new(&with_prelude(BEAT_LUA)),
            sync: Script::new(&with_prelude(SYNC_LUA)),
            retire: Script::new(&with_prelude(RETIRE_LUA)),
            join_rate: Script::new(&with_prelude(JOIN_RATE_LUA)),
            admit_address: Script::new(ADMIT_ADDRESS_LUA),
            release_address: RELEASE_ADDRESS_LUA.to_owned(),
            sync_addresses: Script::new(&with_prelude(SYNC_ADDRESSES_LUA)),
        }
    }
}

/// This node's part in the cluster.
pub(crate) struct Cluster {
    link: Link,
    redis: ConnectionManager,
    scripts: Arc<Scripts>,
    max_peers_per_room: usize,
    /// The node's own connection counts, registered again with its members.
    admission: Arc<Connections>,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.link.node)
            .finish_non_exhaustive()
    }
}

/// What [`Cluster::start`] needs besides Redis's address.
pub(crate) struct ClusterSettings {
    pub(crate) redis: RedisConfig,
    pub(crate) max_peers_per_room: usize,
    pub(crate) id_reservation: Duration,
    pub(crate) admission: Arc<Connections>,
}

impl Cluster {
    /// Connects to Redis, registers the node, and starts its writer and
    /// heartbeat; they stop when `shutdown` turns true.
    pub(crate) async fn start(
        settings: ClusterSettings,
        link: Link,
        outgoing: mpsc::UnboundedReceiver<Outgoing>,
        rooms: &Arc<Rooms>,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Arc<Cluster>, ClusterError> {
        let info = settings
            .redis
            .url
            .as_str()
            .into_connection_info()
            .map_err(ClusterError::Url)?;
        // Pub/sub on the same connection as commands needs RESP3.
        let resp3 = info
            .redis_settings()
            .clone()
            .set_protocol(ProtocolVersion::RESP3);
        let info = info.set_redis_settings(resp3);
        let client = redis::Client::open(info).map_err(ClusterError::Url)?;
        let pushes = Arc::downgrade(rooms);
        let dirty = Arc::clone(&link.dirty);
        let node = Arc::clone(&link.node);
        let config = ConnectionManagerConfig::new()
            .set_automatic_resubscription()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_max_delay(Duration::from_millis(500))
            .set_push_sender(move |push: PushInfo| {
                handle_push(&pushes, &node, &dirty, push);
                Ok::<(), std::convert::Infallible>(())
            });
        let redis = ConnectionManager::new_with_config(client, config).await?;
        let cluster = Arc::new(Cluster {
            link,
            redis,
            scripts: Arc::new(Scripts::new()),
            max_peers_per_room: settings.max_peers_per_room,
            admission: settings.admission,
        });
        let timeout = settings.redis.node_timeout.max(Duration::from_millis(400));
        cluster
            .beat(timeout, settings.id_reservation, rooms)
            .await?;
        tokio::spawn(write(
            cluster.redis.clone(),
            Arc::clone(&cluster.scripts),
            cluster.link.clone(),
            outgoing,
            settings.id_reservation,
        ));
        tokio::spawn(heartbeat(
            Arc::clone(&cluster),
            timeout,
            settings.id_reservation,
            Arc::downgrade(rooms),
            shutdown,
        ));
        tracing::info!(node = %cluster.link.node, "joined the cluster");
        Ok(cluster)
    }

    /// Joins `room` cluster-wide: Redis checks the id (and its key), the
    /// room's size, and hands out the connection number.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn join(
        &self,
        rooms: &Arc<Rooms>,
        room: RoomName,
        id: PeerId,
        parlor: bool,
        key: Option<IdKey>,
        outbox: Outbox,
        first: Option<Utf8Bytes>,
    ) -> Result<Membership, JoinRefusal> {
        if !rooms.hold(&room) {
            return Err(JoinRefusal::TooManyRooms);
        }
        if !self.link.hold(&room).await {
            self.link.release(&room);
            rooms.unhold(&room);
            return Err(JoinRefusal::Unavailable);
        }
        let verdict = self.join_script(&room, &id, parlor, key.as_ref()).await;
        match verdict {
            Ok(JoinVerdict::Joined {
                connection,
                snapshot,
            }) => {
                Ok(rooms.join_cluster(room, id, parlor, key, connection, snapshot, outbox, first))
            }
            Ok(JoinVerdict::Refused(refusal)) => {
                self.link.release(&room);
                rooms.unhold(&room);
                Err(refusal)
            }
            Err(error) => {
                tracing::warn!(%error, "join refused: Redis is unavailable");
                self.link.request_resync();
                self.link.release(&room);
                rooms.unhold(&room);
                Err(JoinRefusal::Unavailable)
            }
        }
    }

    async fn join_script(
        &self,
        room: &RoomName,
        id: &PeerId,
        parlor: bool,
        key: Option<&IdKey>,
    ) -> redis::RedisResult<JoinVerdict> {
        let mut redis = self.redis.clone();
        let reply: Vec<Value> = self
            .scripts
            .join
            .arg(room.as_str())
            .arg(id.as_str())
            .arg(&*self.link.node)
            .arg(if parlor { "1" } else { "0" })
            .arg(key_hash(key))
            .arg(self.max_peers_per_room)
            .invoke_async(&mut redis)
            .await?;
        let verdict = match reply.as_slice() {
            [status, connection, snapshot] if text(status).as_deref() == Some("ok") => {
                let connection = integer(connection);
                let snapshot = bytes(snapshot).and_then(Snapshot::parse);
                match (connection, snapshot) {
                    (Some(connection), Some(snapshot)) => JoinVerdict::Joined {
                        connection,
                        snapshot,
                    },
                    _ => return Err(unexpected("join")),
                }
            }
            [status] => match text(status).as_deref() {
                Some("taken") => JoinVerdict::Refused(JoinRefusal::Taken),
                Some("reserved") => JoinVerdict::Refused(JoinRefusal::Reserved),
                Some("full") => JoinVerdict::Refused(JoinRefusal::Full),
                _ => return Err(unexpected("join")),
            },
            _ => return Err(unexpected("join")),
        };
        Ok(verdict)
    }

    /// Takes a join from `address`'s cluster-wide bucket; `None` when Redis
    /// cannot answer (the node's own bucket decides then).
    pub(crate) async fn take_join(&self, address: AddressKey, per_minute: u32) -> Option<bool> {
        let mut redis = self.redis.clone();
        let allowed: redis::RedisResult<i64> = self
            .scripts
            .join_rate
            .arg(address.to_string())
            .arg(per_minute)
            .invoke_async(&mut redis)
            .await;
        allowed.ok().map(|allowed| allowed == 1)
    }

    /// Counts the connection of `permit` against its address cluster-wide.
    /// False when the address already holds the most connections across
    /// the nodes. When Redis cannot answer, the node's own count (already
    /// taken) decides, and the next beat registers this node's counts
    /// again, this connection included.
    pub(crate) async fn admit_address(&self, permit: &mut AddressPermit) -> bool {
        let max = self.admission.max_per_address();
        if max == 0 {
            return true;
        }
        let mut redis = self.redis.clone();
        let counted: redis::RedisResult<i64> = self
            .scripts
            .admit_address
            .arg(permit.key().to_string())
            .arg(&*self.link.node)
            .arg(max)
            .invoke_async(&mut redis)
            .await;
        match counted {
            Ok(0) => false,
            Ok(_) => {
                permit.counted_in_cluster(self.link.clone());
                true
            }
            Err(error) => {
                tracing::debug!(%error, "connections per address counted on this node only");
                self.link.request_resync();
                permit.counted_in_cluster(self.link.clone());
                true
            }
        }
    }

    /// Removes this node from Redis (its members have left by now).
    pub(crate) async fn retire(&self) {
        let mut redis = self.redis.clone();
        let retired: redis::RedisResult<i64> = self
            .scripts
            .retire
            .arg(&*self.link.node)
            .invoke_async(&mut redis)
            .await;
        if let Err(error) = retired {
            tracing::debug!(%error, "could not remove this node from Redis");
        }
    }

    /// One heartbeat; registers every member again when Redis did not know
    /// the node (or something failed since the last beat).
    async fn beat(
        &self,
        timeout: Duration,
        reservation: Duration,
        rooms: &Rooms,
    ) -> redis::RedisResult<()> {
        let mut redis = self.redis.clone();
        let known: i64 = self
            .scripts
            .beat
            .arg(&*self.link.node)
            .arg(millis(timeout))
            .arg(millis(reservation))
            .invoke_async(&mut redis)
            .await?;
        let dirty = self.link.dirty.swap(false, Ordering::AcqRel);
        if known == 0 || dirty {
            if let Err(error) = self.sync(rooms).await {
                self.link.request_resync();
                return Err(error);
            }
        }
        Ok(())
    }

    /// Makes Redis hold exactly this node's members.
    async fn sync(&self, rooms: &Rooms) -> redis::RedisResult<()> {
        let members = rooms.local_members();
        let mut invocation = self.scripts.sync.prepare_invoke();
        invocation.arg(&*self.link.node);
        for member in &members {
            invocation
                .arg(member.room.as_str())
                .arg(member.version)
                .arg(member.id.as_str())
                .arg(member.connection)
                .arg(if member.parlor { "1" } else { "0" })
                .arg(key_hash(member.key.as_ref()));
        }
        let mut redis = self.redis.clone();
        let conflicts: Vec<u64> = invocation.invoke_async(&mut redis).await?;
        tracing::info!(
            members = members.len(),
            lost = conflicts.len(),
            "registered this node's members in Redis"
        );
        rooms.evict(&conflicts);
        if self.admission.max_per_address() != 0 {
            let mut invocation = self.scripts.sync_addresses.prepare_invoke();
            invocation.arg(&*self.link.node);
            for (address, count) in self.admission.per_address_counts() {
                invocation.arg(address.to_string()).arg(count);
            }
            let _: i64 = invocation.invoke_async(&mut redis).await?;
        }
        Ok(())
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn unexpected(what: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::UnexpectedReturnType,
        "unexpected reply",
        what.to_owned(),
    ))
}

fn bytes(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        Value::SimpleString(text) => Some(text.as_bytes()),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    bytes(value).and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
}

fn integer(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other)?.parse().ok(),
    }
}

/// Beats until shutdown; the first failure after a success is logged, and
/// the first success after failures.
async fn heartbeat(
    cluster: Arc<Cluster>,
    timeout: Duration,
    reservation: Duration,
    rooms: Weak<Rooms>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(timeout / 4);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            () = crate::server::stopping(&mut shutdown) => return,
        }
        let Some(rooms) = rooms.upgrade() else {
            return;
        };
        match cluster.beat(timeout, reservation, &rooms).await {
            Ok(()) if failing => {
                failing = false;
                tracing::info!("Redis is back");
            }
            Ok(()) => {}
            Err(error) => {
                cluster.link.request_resync();
                if !failing {
                    failing = true;
                    tracing::warn!(%error, "Redis is unavailable; members here still reach each other");
                }
            }
        }
    }
}

/// Frames published per pipeline at most.
const BATCH: usize = 256;

/// Drains the relay's queue into Redis, in order: publishes (and leaves)
/// that are ready together go in one pipeline, one write.
async fn write(
    mut redis: ConnectionManager,
    scripts: Arc<Scripts>,
    link: Link,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    reservation: Duration,
) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(item) => item,
            None => match outgoing.recv().await {
                Some(item) => item,
                None => return,
            },
        };
        let (room, first, done) = match first {
            Outgoing::Subscribe { room, first, done } => (room, first, done),
            Outgoing::Unsubscribe { room } => {
                if let Err(error) = redis.unsubscribe(&*room_channel(&room)).await {
                    tracing::debug!(%error, "unsubscribe failed");
                }
                continue;
            }
            item => {
                let mut pipe = redis::pipe();
                let mut count = 0;
                let mut item = Some(item);
                while let Some(current) = item.take() {
                    match current {
                        Outgoing::Publish { channel, payload } => {
                            pipe.cmd("PUBLISH").arg(&*channel).arg(payload).ignore();
                        }
                        Outgoing::ReleaseAddress { address } => {
                            pipe.cmd("EVAL")
                                .arg(&scripts.release_address)
                                .arg(0)
                                .arg(address.to_string())
                                .arg(&*link.node)
                                .ignore();
                        }
                        Outgoing::Leave {
                            room,
                            id,
                            connection,
                            key,
                        } => {
                            pipe.cmd("EVAL")
                                .arg(&scripts.leave)
                                .arg(0)
                                .arg(room.as_str())
                                .arg(id.as_str())
                                .arg(connection)
                                .arg(&*link.node)
                                .arg(key_hash(key.as_ref()))
                                .arg(millis(reservation))
                                .ignore();
                        }
                        other => {
                            next = Some(other);
                            break;
                        }
                    }
                    count += 1;
                    if count < BATCH {
                        item = outgoing.try_recv().ok();
                    }
                }
                if let Err(error) = pipe.exec_async(&mut redis).await {
                    tracing::debug!(%error, frames = count, "publishing to Redis failed");
                    link.request_resync();
                }
                continue;
            }
        };
        let subscribed = if first {
            match redis.subscribe(&*room_channel(&room)).await {
                Ok(()) => true,
                Err(error) => {
                    tracing::debug!(%error, "subscribe failed");
                    false
                }
            }
        } else {
            true
        };
        let _ = done.send(subscribed);
    }
}

/// A message from Redis: a room's snapshot or a frame from another node.
fn handle_push(rooms: &Weak<Rooms>, node: &str, dirty: &AtomicBool, push: PushInfo) {
    tracing::trace!(kind = ?push.kind, "push from Redis");
    match push.kind {
        PushKind::Message => {}
        PushKind::Disconnection => {
            dirty.store(true, Ordering::Release);
            return;
        }
        _ => return,
    }
    let Some(rooms) = rooms.upgrade() else {
        return;
    };
    let [channel, payload] = push.data.as_slice() else {
        return;
    };
    let (Some(channel), Some(payload)) = (bytes(channel), bytes(payload)) else {
        return;
    };
    let Some(room) = std::str::from_utf8(channel)
        .ok()
        .and_then(|channel| channel.strip_prefix("parlor:room:"))
        .and_then(|room| room.parse::<RoomName>().ok())
    else {
        return;
    };
    match payload.first() {
        Some(b'L') => match Snapshot::parse(payload) {
            Some(snapshot) => rooms.apply_snapshot(&room, snapshot),
            None => tracing::debug!("unreadable snapshot from Redis"),
        },
        Some(b'M') => {
            let Some(frame) = RemoteFrame::parse(&payload[1..]) else {
                tracing::debug!("unreadable frame from Redis");
                return;
            };
            if frame.node != node {
                rooms.deliver_remote(&room, frame.connection, frame.to, frame.text);
            }
        }
        _ => {}
    }
}

/// A relayed frame from another node.
struct RemoteFrame<'a> {
    node: &'a str,
    connection: u64,
    to: Option<&'a str>,
    text: Utf8Bytes,
}

impl<'a> RemoteFrame<'a> {
    /// Parses `<node> <connection> <to>\n<frame>`.
    fn parse(payload: &'a [u8]) -> Option<Self> {
        let newline = payload.iter().position(|&byte| byte == b'\n')?;
        let head = std::str::from_utf8(&payload[..newline]).ok()?;
        let mut fields = head.split(' ');
        let node = fields.next()?;
        let connection = fields.next()?.parse().ok()?;
        let to = fields.next().filter(|to| !to.is_empty());
        let text = String::from_utf8(payload[newline + 1..].to_vec()).ok()?;
        Some(Self {
            node,
            connection,
            to,
            text: text.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_lists_members_in_order_and_skips_lines_it_cannot_read() {
        let snapshot = Snapshot::parse(b"L7\nalice 3 n1 1\nbad line\nbob 9 n2 0").unwrap();
        assert_eq!(snapshot.version, 7);
        let ids: Vec<_> = snapshot.entries.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["alice", "bob"]);
        assert!(snapshot.entries[0].parlor);
        assert_eq!(snapshot.entries[1].connection, 9);
        assert!(Snapshot::parse(b"Lx").is_none());
    }

    #[test]
    fn a_remote_frame_keeps_its_bytes_and_its_addressee() {
        let frame = RemoteFrame::parse(b"n1 42 bob\n{\"a\":1}").unwrap();
        assert_eq!(
            (frame.node, frame.connection, frame.to),
            ("n1", 42, Some("bob"))
        );
        assert_eq!(frame.text.as_str(), "{\"a\":1}");
        let broadcast = RemoteFrame::parse(b"n1 42 \n{}").unwrap();
        assert_eq!(broadcast.to, None);
        assert!(RemoteFrame::parse(b"no newline").is_none());
    }

    #[test]
    fn redis_never_sees_the_id_key_itself() {
        let key: IdKey = "secret-key".parse().unwrap();
        let hash = key_hash(Some(&key));
        assert_eq!(hash.len(), 40);
        assert!(!hash.contains("secret"));
        assert_eq!(key_hash(None), "");
    }
}
