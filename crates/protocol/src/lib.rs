//! Wire types of Parlor's signaling protocol.
//!
//! Parlor's signaling is a superset of the protocol of the JS library
//! `substrate-system/webrtc` (PartyKit server, `partysocket` client), and must
//! stay compatible with it both ways: old browser clients join Parlor servers,
//! and Parlor peers can use an old server. This crate holds what both the
//! server (`parlor-signal`) and the peer engine must agree on, and nothing
//! that needs a runtime, so either side can depend on it cheaply:
//!
//! - [`RoomName`] and [`PeerId`]: validated tokens (ASCII letters, digits,
//!   `-`, `_`; 1 to 64 long), so they never need escaping in URLs or logs;
//! - the URL layout `/parties/main/<room>?_pk=<peer-id>` (plus `parlor=1` for
//!   Parlor clients) and [`ServerUrl`] to build it from a server address;
//! - the frames the server writes ([`ServerMessage`]: `info:peerlist`,
//!   `error` and a member's `ice-servers`) with the stable [`ErrorCode`]
//!   strings;
//! - the close codes of join rejections ([`close_code`], [`JoinRejection`]);
//! - the body of the `/turn` endpoint ([`IceServers`]) and the one
//!   [`IceServer`] type every layer uses;
//! - the addressing of relayed messages ([`Envelope`]): the server only
//!   adds [`FROM_FIELD`] and reads [`TO_FIELD`], and Parlor clients write
//!   their own id and recipient so that old servers, which do neither, work
//!   too;
//! - what peers relay to each other: negotiation messages ([`SignalMessage`],
//!   protocol.md §4) and a goodbye ([`bye`]);
//! - what peers say on the `chat` data channel ([`Frame`], [`Info`], §5),
//!   and how files travel between them ([`FileOffer`], [`DataMessage`], §5c);
//! - the safety code two people compare to verify a connection
//!   ([`safety_code`], versioned, with test vectors).
//!
//! Relayed messages are otherwise any JSON object: the server relays unknown
//! types unchanged.

mod bye;
mod chat;
pub mod close_code;
mod envelope;
mod files;
mod ice;
mod negotiation;
mod safety_code;
mod server_message;
mod server_url;
mod token;

pub use bye::{BYE_TYPE, bye, is_bye};
pub use chat::{CHANNEL_LABEL, Frame, Info, MAX_NAME_CHARS, MessageId, sanitize_name};
pub use close_code::JoinRejection;
pub use envelope::{APP_FIELD, APP_PARLOR, Envelope, SENDER_FIELD};
pub use files::{
    BLOCK_SIZE, CAP_FILES, CHUNK_SIZE, DataMessage, DataMessageError, FILE_CHANNEL_PREFIX,
    FileOffer, MAX_FILES_PER_OFFER, OfferedFile, file_channel_label, transfer_of_label,
};
pub use ice::{IceServer, IceServers};
pub use negotiation::{DecodeError, IceCandidate, SdpType, SessionDescription, SignalMessage};
pub use safety_code::{EMOJI, SAFETY_CODE_VERSION, SafetyCode, fingerprint_hex, safety_code};
pub use server_message::{
    ErrorCode, ErrorFrame, FROM_FIELD, IceServersFrame, PeerList, ServerMessage, TO_FIELD,
};
pub use server_url::{
    ID_KEY_PARAM, PARLOR_PARAM, PARLOR_PARAM_VALUE, PEER_ID_PARAM, ROOM_PATH_PREFIX, ServerUrl,
    ServerUrlError, TURN_PATH_SUFFIX, room_path, turn_path,
};
pub use token::{IdKey, MAX_TOKEN_LEN, PeerId, RoomName, TokenError};
