//! HTTP routes: the room endpoint (WebSocket upgrade or health check), the
//! ICE-servers endpoint with CORS, and metrics.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parlor_protocol::{
    ID_KEY_PARAM, IdKey, PARLOR_PARAM, PARLOR_PARAM_VALUE, PEER_ID_PARAM, PeerId, ROOM_PATH_PREFIX,
    RoomName, TURN_PATH_SUFFIX, TokenError,
};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::admission::client_ip;
use crate::connection::{self, JoinRequest};
use crate::listener::{ClientAddr, ConnectionSlot};
use crate::metrics::{Gauges, Limit};
use crate::server::Shared;
use crate::turn;
use crate::upgrade::{NotUpgrade, Upgrade};

/// Buffer for reading frames; small because signaling frames are small, and
/// idle connections should cost little: tungstenite zero-fills all of it, so
/// every byte is resident for every connection. A larger frame grows it (its
/// header says how much), so an offer still takes two reads, not one per KiB.
const READ_BUFFER_SIZE: usize = 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let router = Router::new()
        .route(&format!("{ROOM_PATH_PREFIX}{{room}}"), get(room))
        .route(
            &format!("{ROOM_PATH_PREFIX}{{room}}{TURN_PATH_SUFFIX}"),
            get(turn).options(turn_preflight),
        );
    let router = if shared.config.metrics_listen.is_none() {
        router.route("/metrics", get(loopback_metrics))
    } else {
        router
    };
    router.with_state(shared)
}

/// The router of the separate metrics address ([`Config::metrics_listen`]).
///
/// [`Config::metrics_listen`]: crate::Config::metrics_listen
pub(crate) fn metrics_router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(shared)
}

/// `GET /parties/main/<room>`: a WebSocket upgrade joins the room; a plain
/// request (or `HEAD`, which axum answers from the `GET` route) is the health
/// check the old library's docs use.
///
/// Upgrades are accepted even when the room name or peer id is invalid: the
/// connection then explains itself with an error frame and a 44xx close code,
/// which browsers expose, unlike an HTTP status. Only the limits that protect
/// the server itself (joins per address, and connections per address behind
/// a trusted proxy) refuse the upgrade, with `429`: accepting it would cost
/// what they are there to save.
async fn room(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(ClientAddr(remote)): ConnectInfo<ClientAddr>,
    Extension(slot): Extension<ConnectionSlot>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    upgrade: Result<Upgrade, NotUpgrade>,
) -> Response {
    let room = parse_room(path);
    let Ok(upgrade) = upgrade else {
        return match room {
            Ok(_) => (StatusCode::OK, "ok\n").into_response(),
            Err(error) => invalid_room(&error),
        };
    };
    let client = client_ip(remote.ip(), shared.proxy_header.as_ref(), &headers);
    if let Some(origin) = refused_origin(&shared.config.allowed_origins, &headers) {
        shared.limit_exceeded(Limit::Origin, client, "page refused");
        let body = format!("pages from {origin} may not use this server\n");
        return (StatusCode::FORBIDDEN, body).into_response();
    }
    let key = shared.address_key(client);
    let address = match (&shared.proxy_header, key) {
        (Some(_), Some(key)) => match shared.admission.admit_address(key) {
            Ok(mut permit) => {
                // With `--redis`, counted across the nodes as well.
                if let Some(cluster) = &shared.cluster {
                    if !cluster.admit_address(&mut permit).await {
                        drop(permit);
                        shared.limit_exceeded(Limit::ConnectionsPerAddress, client, "join refused");
                        return too_many(
                            "too many connections from your address; close some and try again\n",
                        );
                    }
                }
                Some(permit)
            }
            Err(limit) => {
                shared.limit_exceeded(limit, client, "join refused");
                return too_many(
                    "too many connections from your address; close some and try again\n",
                );
            }
        },
        _ => None,
    };
    if let Some(key) = key {
        // In a cluster the bucket is in Redis, so joins spread over the
        // nodes count once; the node's own bucket stands in while Redis
        // cannot answer.
        let per_minute = shared.config.joins_per_minute;
        let clustered = match &shared.cluster {
            Some(cluster) if per_minute != 0 => cluster.take_join(key, per_minute).await,
            _ => None,
        };
        let allowed =
            clustered.unwrap_or_else(|| shared.joins.try_take(key, std::time::Instant::now()));
        if !allowed {
            shared.limit_exceeded(Limit::JoinsPerAddress, client, "join refused");
            return too_many("too many joins from your address; try again in a minute\n");
        }
    }
    let JoinQuery { peer, parlor, key } = parse_query(query.as_deref().unwrap_or_default());
    let request = JoinRequest {
        room,
        peer,
        parlor,
        key,
        remote,
        client,
        slot,
        address,
    };
    let limit = shared.config.hard_frame_limit();
    let config = WebSocketConfig::default()
        .max_message_size(Some(limit))
        .max_frame_size(Some(limit))
        .read_buffer_size(READ_BUFFER_SIZE);
    upgrade.accept(move |socket, early| connection::spawn(socket, early, config, request, shared))
}

/// The room named in the path, or why it is not a valid name.
fn parse_room(path: Result<Path<String>, PathRejection>) -> Result<RoomName, String> {
    match path {
        Ok(Path(room)) => room.parse().map_err(|error: TokenError| error.to_string()),
        // Only a path that does not decode to UTF-8 gets here.
        Err(_) => Err("not UTF-8".to_owned()),
    }
}

/// Reads `_pk` and `parlor` from the query, leniently: unknown parameters
/// are ignored, the first of repeated ones wins, and a missing `_pk` gets a
/// random UUID (as `partysocket` would have made one).
fn parse_query(query: &str) -> JoinQuery {
    let mut peer = None;
    let mut parlor = None;
    let mut key = None;
    for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if name == PEER_ID_PARAM && peer.is_none() {
            peer = Some(value.parse());
        } else if name == PARLOR_PARAM && parlor.is_none() {
            parlor = Some(value == PARLOR_PARAM_VALUE);
        } else if name == ID_KEY_PARAM && key.is_none() {
            key = Some(value.parse());
        }
    }
    JoinQuery {
        peer: peer.unwrap_or_else(|| uuid::Uuid::new_v4().to_string().parse()),
        parlor: parlor.unwrap_or(false),
        key: key.transpose(),
    }
}

/// What the query of an upgrade request says about the client.
struct JoinQuery {
    peer: Result<PeerId, TokenError>,
    parlor: bool,
    /// The proof that the id is the client's own, if it sent one.
    key: Result<Option<IdKey>, TokenError>,
}

/// `GET /parties/main/<room>/turn`: the ICE servers, readable from any
/// origin because old clients fetch it from the page's origin. Anyone may
/// ask, so each client address may ask only so often
/// ([`Config::turn_requests_per_minute`]); the answer to one over it is a
/// `429` that a page can read too.
///
/// [`Config::turn_requests_per_minute`]: crate::Config::turn_requests_per_minute
async fn turn(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(ClientAddr(remote)): ConnectInfo<ClientAddr>,
    headers: HeaderMap,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let client = client_ip(remote.ip(), shared.proxy_header.as_ref(), &headers);
    let allowed = shared.address_key(client).is_none_or(|key| {
        shared
            .turn_requests
            .try_take(key, std::time::Instant::now())
    });
    let mut response = if !allowed {
        shared.limit_exceeded(Limit::TurnRequestsPerAddress, client, "/turn refused");
        too_many("too many ICE-server requests from your address; try again in a minute\n")
    } else {
        match parse_room(path) {
            Ok(_) => {
                let body = turn::open_ice_servers(&shared.config.ice, SystemTime::now());
                ([(header::CACHE_CONTROL, "no-store")], axum::Json(body)).into_response()
            }
            Err(error) => invalid_room(&error),
        }
    };
    allow_any_origin(response.headers_mut());
    response
}

/// `OPTIONS /parties/main/<room>/turn`: the CORS preflight a browser sends
/// when the page adds headers to its fetch.
async fn turn_preflight(request_headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    allow_any_origin(headers);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    let allowed = request_headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("*"));
    headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, allowed);
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    response
}

/// `429 Too Many Requests`, with a hint of when to try again.
fn too_many(message: &'static str) -> Response {
    (
        StatusCode::TOO_MANY_REQUESTS,
        [(header::RETRY_AFTER, "60")],
        message,
    )
        .into_response()
}

fn invalid_room(error: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!("invalid room name: {error}\n"),
    )
        .into_response()
}

fn allow_any_origin(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

/// The `Origin` of a browser page that `allowed` does not name, if any.
fn refused_origin(allowed: &[String], headers: &HeaderMap) -> Option<String> {
    if allowed.is_empty() {
        return None;
    }
    let origin = headers.get(header::ORIGIN)?;
    let origin = String::from_utf8_lossy(origin.as_bytes()).into_owned();
    (!allowed.iter().any(|a| a.trim_end_matches('/') == origin)).then_some(origin)
}

/// `GET /metrics` on the main address: for loopback clients only (a
/// monitoring agent on the same machine); others get 404.
async fn loopback_metrics(
    state: State<Arc<Shared>>,
    ConnectInfo(ClientAddr(remote)): ConnectInfo<ClientAddr>,
) -> Response {
    if remote.ip().to_canonical().is_loopback() {
        metrics(state).await
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}

/// `GET /metrics`: Prometheus text exposition.
async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let occupancy = shared.rooms.occupancy();
    let gauges = Gauges {
        open_connections: *shared.connections.borrow(),
        tcp_connections: shared.admission.open(),
        rooms: occupancy.rooms,
        members: occupancy.members,
        outbox_bytes: shared.outbox_budget.queued(),
    };
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        shared.metrics.render(&gauges),
    )
        .into_response()
}
