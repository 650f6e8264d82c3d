//! Who may connect and join: the server's connection count, connections,
//! joins and `/turn` requests per client address, and where that address
//! comes from.
//!
//! Everything here is bounded by what it counts: a map entry per address
//! that holds a connection, and at most [`TRACKED_ADDRESSES`] buckets
//! per rate.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use axum::http::{HeaderMap, HeaderName};

use crate::cluster::Link;
use crate::limits::TokenBucket;
use crate::metrics::Limit;

/// Addresses whose buckets (of joins, of `/turn` requests) are kept at
/// most. Past it, buckets that have refilled are forgotten (a full bucket is
/// the same as none), then the least recently used.
pub(crate) const TRACKED_ADDRESSES: usize = 65_536;

/// What the per-address limits count by: an IPv4 address, or the /64 an
/// IPv6 address is in (one subscriber's usual allocation, so rotating
/// through its addresses does not escape the limits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct AddressKey(IpAddr);

/// The address (or /64) as text: the name of its bucket in Redis.
impl std::fmt::Display for AddressKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl AddressKey {
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => AddressKey(IpAddr::V4(v4)),
            IpAddr::V6(v6) => {
                let prefix = u128::from(v6) & !u128::from(u64::MAX);
                AddressKey(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
        }
    }
}

/// The client's address as the per-address limits see it: the last entry
/// of the trusted proxy header when the server is told of one and the
/// request carries it, the socket's peer otherwise.
pub(crate) fn client_ip(
    socket: IpAddr,
    trusted: Option<&HeaderName>,
    headers: &HeaderMap,
) -> IpAddr {
    trusted
        .and_then(|name| headers.get_all(name).iter().next_back())
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.rsplit(',').next())
        .and_then(parse_forwarded_ip)
        .unwrap_or(socket)
}

/// One entry of a forwarding header: `203.0.113.7`, `2001:db8::1`,
/// `203.0.113.7:4711`, `[2001:db8::1]:4711`, or `for=…` as in `Forwarded`.
fn parse_forwarded_ip(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim();
    let entry = entry
        .split(';')
        .find_map(|part| part.trim().strip_prefix("for="))
        .unwrap_or(entry)
        .trim_matches('"');
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (host, _port) = entry.rsplit_once(':')?;
    host.parse().ok()
}

/// Open connections, in total and per address.
#[derive(Debug)]
pub(crate) struct Connections {
    max_total: usize,
    max_per_address: usize,
    total: AtomicUsize,
    per_address: Mutex<HashMap<AddressKey, usize>>,
}

/// A connection counted in [`Connections`]; dropping it gives its place
/// back.
#[derive(Debug)]
pub(crate) struct ConnectionPermit {
    connections: Arc<Connections>,
    address: Option<AddressPermit>,
}

/// A connection counted against its address; dropping it gives the place
/// back.
#[derive(Debug)]
pub(crate) struct AddressPermit {
    connections: Arc<Connections>,
    key: AddressKey,
    /// With `--redis`, once the connection is counted cluster-wide: the
    /// link that takes the count back from Redis on drop.
    cluster: Option<Link>,
}

impl AddressPermit {
    /// The address this connection counts against.
    pub(crate) fn key(&self) -> AddressKey {
        self.key
    }

    /// Marks the connection as counted in Redis, so that dropping the
    /// permit also gives the place back there.
    pub(crate) fn counted_in_cluster(&mut self, link: Link) {
        self.cluster = Some(link);
    }
}

impl ConnectionPermit {
    /// The per-address part of the permit, if the connection has one.
    pub(crate) fn address_mut(&mut self) -> Option<&mut AddressPermit> {
        self.address.as_mut()
    }
}

impl Connections {
    /// Zero for either limit turns it off.
    pub(crate) fn new(max_total: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_address,
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<AddressKey, usize>> {
        self.per_address
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The most connections one address may hold (0: no limit).
    pub(crate) fn max_per_address(&self) -> usize {
        self.max_per_address
    }

    /// This node's connections per address, for registering them again in
    /// Redis after it lost them.
    pub(crate) fn per_address_counts(&self) -> Vec<(AddressKey, usize)> {
        self.lock()
            .iter()
            .map(|(&key, &count)| (key, count))
            .collect()
    }

    /// Connections held now.
    pub(crate) fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Counts a new connection, and against `address` if given.
    pub(crate) fn admit(
        self: &Arc<Self>,
        address: Option<AddressKey>,
    ) -> Result<ConnectionPermit, Limit> {
        let max = if self.max_total == 0 {
            usize::MAX
        } else {
            self.max_total
        };
        self.total
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < max).then_some(open + 1)
            })
            .map_err(|_| Limit::Connections)?;
        let mut permit = ConnectionPermit {
            connections: Arc::clone(self),
            address: None,
        };
        if let Some(key) = address {
            // On refusal, dropping `permit` gives the total place back.
            permit.address = Some(self.admit_address(key)?);
        }
        Ok(permit)
    }

    /// Counts a connection against `key` alone.
    pub(crate) fn admit_address(self: &Arc<Self>, key: AddressKey) -> Result<AddressPermit, Limit> {
        let mut per_address = self.lock();
        let count = per_address.entry(key).or_insert(0);
        if self.max_per_address != 0 && *count >= self.max_per_address {
            return Err(Limit::ConnectionsPerAddress);
        }
        *count += 1;
        Ok(AddressPermit {
            connections: Arc::clone(self),
            key,
            cluster: None,
        })
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        self.connections.total.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for AddressPermit {
    fn drop(&mut self) {
        if let Some(link) = &self.cluster {
            link.release_address(self.key);
        }
        let mut per_address = self.connections.lock();
        if let Some(count) = per_address.get_mut(&self.key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                per_address.remove(&self.key);
            }
        }
    }
}

/// A token bucket per address of one kind of request (joins, `/turn`
/// requests), in a map of bounded size.
#[derive(Debug)]
pub(crate) struct AddressRateLimiter {
    per_minute: u32,
    capacity: usize,
    buckets: Mutex<HashMap<AddressKey, TokenBucket>>,
}

impl AddressRateLimiter {
    /// `per_minute` of zero turns the limit off.
    pub(crate) fn new(per_minute: u32, capacity: usize) -> Self {
        Self {
            per_minute,
            capacity: capacity.max(4),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a request from `key`'s bucket; false if it is empty.
    pub(crate) fn try_take(&self, key: AddressKey, now: Instant) -> bool {
        if self.per_minute == 0 {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= self.capacity {
            self.make_room(&mut buckets, now);
        }
        let per_minute = f64::from(self.per_minute);
        buckets
            .entry(key)
            .or_insert_with(|| TokenBucket::with(per_minute / 60.0, per_minute, now))
            .try_take(now)
    }

    /// Forgets buckets that have refilled; if that frees less than a
    /// quarter of the map, also the least recently used quarter, so the
    /// (linear) sweep runs once per many new addresses at most.
    fn make_room(&self, buckets: &mut HashMap<AddressKey, TokenBucket>, now: Instant) {
        buckets.retain(|_, bucket| !bucket.is_full_at(now));
        let target = self.capacity - self.capacity / 4;
        if buckets.len() > target {
            let mut by_age: Vec<_> = buckets
                .iter()
                .map(|(key, bucket)| (bucket.last_used(), *key))
                .collect();
            by_age.sort_unstable_by_key(|(last, _)| *last);
            let excess = buckets.len() - target;
            for (_, key) in by_age.into_iter().take(excess) {
                buckets.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.buckets
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The frame and byte buckets a client's connection ended with, per
/// address, so that a client that floods, is disconnected and reconnects
/// does not get a whole burst again. Bounded like [`AddressRateLimiter`]: a
/// bucket that has refilled is the same as none and is not kept, and past
/// `capacity` addresses nothing more is remembered until some refill.
pub(crate) struct RateMemory {
    capacity: usize,
    buckets: Mutex<HashMap<AddressKey, (TokenBucket, TokenBucket)>>,
}

impl RateMemory {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(4),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// The buckets `key`'s last connection left, if they have not refilled
    /// yet: (frames, bytes).
    pub(crate) fn recall(&self, key: AddressKey) -> Option<(TokenBucket, TokenBucket)> {
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        buckets.remove(&key)
    }

    /// Keeps the buckets a connection from `key` ended with.
    pub(crate) fn remember(
        &self,
        key: AddressKey,
        frames: TokenBucket,
        bytes: TokenBucket,
        now: Instant,
    ) {
        let full = |(frames, bytes): &(TokenBucket, TokenBucket)| {
            frames.is_full_at(now) && bytes.is_full_at(now)
        };
        let entry = (frames, bytes);
        if full(&entry) {
            return;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
        if !buckets.contains_key(&key) && buckets.len() >= self.capacity {
            buckets.retain(|_, kept| !full(kept));
            if buckets.len() >= self.capacity {
                return;
            }
        }
        buckets.insert(key, entry);
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::time::Duration;

    use super::*;

    fn key(text: &str) -> AddressKey {
        AddressKey::of(text.parse().unwrap())
    }

    #[test]
    fn ipv6addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }

    #[test]
    fn client_ip_comes_from_the_last_entry_of_the_trusted_header_only() {
        let socket = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let name = HeaderName::from_static("x-forwarded-for");
        let mut headers = HeaderMap::new();
        headers.insert(&name, "198.51.100.1, 203.0.113.7".parse().unwrap());
        assert_eq!(
            client_ip(socket, Some(&name), &headers),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        assert_eq!(client_ip(socket, None, &headers), socket, "not trusted");
        let other = HeaderName::from_static("x-real-ip");
        assert_eq!(client_ip(socket, Some(&other), &headers), socket, "absent");
        headers.insert(&name, "garbage".parse().unwrap());
        assert_eq!(client_ip(socket, Some(&name), &headers), socket);
    }

    #[test]
    fn forwarded_entries_with_ports_and_brackets_parse() {
        let parse = |text| parse_forwarded_ip(text).map(|ip| ip.to_string());
        assert_eq!(parse(" 203.0.113.7:4711").as_deref(), Some("203.0.113.7"));
        assert_eq!(parse("[2001:db8::1]:4711").as_deref(), Some("2001:db8::1"));
        assert_eq!(parse("2001:db8::1").as_deref(), Some("2001:db8::1"));
        assert_eq!(
            parse("for=\"[2001:db8::1]\";proto=https").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(parse("unknown"), None);
    }

    #[test]
    fn connections_are_limited_in_total_and_per_address_and_given_back() {
        let connections = Connections::new(3, 2);
        let a = key("192.0.2.1");
        let first = connections.admit(Some(a)).unwrap();
        let second = connections.admit(Some(a)).unwrap();
        assert_eq!(
            connections.admit(Some(a)).unwrap_err(),
            Limit::ConnectionsPerAddress
        );
        assert_eq!(connections.open(), 2, "a refused connection is not counted");
        let third = connections.admit(None).unwrap();
        assert_eq!(
            connections.admit(Some(key("192.0.2.2"))).unwrap_err(),
            Limit::Connections
        );
        drop(first);
        let again = connections.admit(Some(a)).unwrap();
        assert_eq!(connections.open(), 3);
        drop((second, third, again));
        assert_eq!(connections.open(), 0);
        assert!(
            connections.lock().is_empty(),
            "no entry outlives its connections"
        );
    }

    #[test]
    fn joins_are_limited_per_address_and_refill() {
        let limiter = AddressRateLimiter::new(2, 100);
        let start = Instant::now();
        let a = key("192.0.2.1");
        assert!(limiter.try_take(a, start));
        assert!(limiter.try_take(a, start));
        assert!(!limiter.try_take(a, start));
        assert!(limiter.try_take(key("192.0.2.2"), start), "another address");
        assert!(limiter.try_take(a, start + Duration::from_secs(30)));
    }

    #[test]
    fn join_buckets_stay_bounded_and_keep_the_busiestaddresses() {
        let limiter = AddressRateLimiter::new(2, 8);
        let start = Instant::now();
        let busy = key("192.0.2.1");
        assert!(limiter.try_take(busy, start));
        assert!(limiter.try_take(busy, start));
        for n in 0..1000u32 {
            let at = start + Duration::from_millis(u64::from(n));
            limiter.try_take(
                AddressKey::of(IpAddr::V4(Ipv4Addr::from(n + 1_000_000))),
                at,
            );
            assert!(limiter.tracked() <= 8);
            if n % 3 == 0 {
                // Used recently, so not the least recently used.
                assert!(!limiter.try_take(busy, at), "still empty at {n}");
            }
        }
    }
}
