//! The errors commands return to the UI.
//!
//! Each serializes as `{"kind": "...", "message": "..."}`: `kind` lets the UI
//! pick how to show it (a malformed link under the link field, an unreachable
//! server as a banner), `message` is written for the person reading it.

use parlor_engine::{FileError, JoinError, LinkError, SendError, StoreError};
use serde::ser::SerializeStruct;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The pasted or clicked link is not a room link.
    #[error("“{link}” cannot be opened: {reason}.")]
    BadLink {
        /// The link as the person gave it (cut short if long).
        link: String,
        /// What is wrong with it.
        reason: LinkError,
    },
    /// Joining one more room would pass the bound on open rooms.
    #[error("You are in {0} rooms already: leave one to join another.")]
    TooManyRooms(usize),
    /// The signaling server did not answer, or dropped us before we joined.
    #[error("Cannot reach the signaling server at {server}: {reason}.")]
    ServerUnreachable {
        /// The server's address.
        server: String,
        /// What happened, from the engine.
        reason: String,
    },
    /// The server refused the join: the room is full.
    #[error("The room is full: {reason}.")]
    RoomFull {
        /// The server's reason.
        reason: String,
    },
    /// Someone in the room already uses our peer id.
    #[error("Someone in the room already uses your peer id: {reason}.")]
    DuplicateId {
        /// The server's reason.
        reason: String,
    },
    /// The server refused the join for another reason (invalid room name...).
    #[error("The signaling server refused to let you in: {reason}.")]
    JoinRefused {
        /// The server's reason.
        reason: String,
    },
    /// The built-in signaling server could not start.
    #[error("Could not start the built-in signaling server: {0}.")]
    Embedded(#[from] parlor_signal::StartError),
    /// The profile's identity could not be read or made.
    #[error("Your identity could not be used: {0}.")]
    Identity(String),
    /// A command that needs a room was called outside one.
    #[error("You are not in a room.")]
    NotInRoom,
    /// An empty message was sent.
    #[error("Type a message first.")]
    EmptyMessage,
    /// The message store could not be used.
    #[error("Your messages could not be kept: {0}.")]
    Store(String),
    /// A peer has not acknowledged what was already sent to it.
    #[error("{0} Your message is still in the box.")]
    Backlogged(String),
    /// The settings file could not be read or written.
    #[error("Could not use the settings file {path}: {reason}.")]
    Settings {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// A setting has a value that cannot work.
    #[error("Invalid setting: {0}.")]
    InvalidSettings(String),
    /// The verified contacts could not be read or written.
    #[error("Could not use your verified contacts file {path}: {reason}.")]
    ContactsFile {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// The verified contacts file is damaged (or not a contacts file). It is
    /// left as it is: replacing it would forget who was verified.
    #[error(
        "Your verified contacts file {path} is damaged ({reason}). Parlor leaves it as it is: move it aside to start a new list."
    )]
    ContactsCorrupt {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The window could not be closed or changed.
    #[error("The window could not be closed: {0}.")]
    Window(String),
    /// Something that should be a certificate fingerprint is not one.
    #[error("{0:?} is not an identity fingerprint (32 byte pairs such as ab:cd:…).")]
    BadFingerprint(String),
    /// Files could not be offered or received (unreadable, too many, no
    /// folder to receive into).
    #[error("{0}.")]
    Files(String),
    /// A transfer command named a peer id that is not one.
    #[error("{0:?} is not a peer in this room.")]
    BadPeer(String),
    /// `open_file` or `show_in_folder` was asked for a path no received
    /// file has: only files that arrived here are opened.
    #[error("{0} is not a file received in this session, so Parlor does not open it.")]
    NotReceived(String),
    /// The desktop could not open the file or show its folder.
    #[error("The desktop could not open it: {0}.")]
    Open(String),
}

impl AppError {
    /// A stable, kebab-case name for the UI.
    pub fn kind(&self) -> &'static str {
        match self {
            AppError::BadLink { .. } => "bad-link",
            AppError::TooManyRooms(_) => "too-many-rooms",
            AppError::ServerUnreachable { .. } => "server-unreachable",
            AppError::RoomFull { .. } => "room-full",
            AppError::DuplicateId { .. } => "duplicate-id",
            AppError::JoinRefused { .. } => "join-refused",
            AppError::Embedded(_) => "embedded-server",
            AppError::Identity(_) => "identity",
            AppError::NotInRoom => "not-in-room",
            AppError::EmptyMessage => "empty-message",
            AppError::Store(_) => "store",
            AppError::Backlogged(_) => "backlogged",
            AppError::Settings { .. } => "settings-file",
            AppError::InvalidSettings(_) => "invalid-settings",
            AppError::ContactsFile { .. } => "contacts-file",
            AppError::ContactsCorrupt { .. } => "contacts-corrupt",
            AppError::BadFingerprint(_) => "bad-fingerprint",
            AppError::Window(_) => "window",
            AppError::Files(_) => "files",
            AppError::BadPeer(_) => "bad-peer",
            AppError::NotReceived(_) => "not-received",
            AppError::Open(_) => "open",
        }
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("AppError", 2)?;
        s.serialize_field("kind", self.kind())?;
        s.serialize_field("message", &self.to_string())?;
        s.end()
    }
}

impl From<JoinError> for AppError {
    fn from(error: JoinError) -> Self {
        match error {
            JoinError::RoomFull { reason } => AppError::RoomFull { reason },
            JoinError::DuplicateId { reason } => AppError::DuplicateId { reason },
            JoinError::InvalidLink { reason } => AppError::JoinRefused { reason },
            JoinError::Identity(reason) => AppError::Identity(reason),
            JoinError::Store(reason) => AppError::Store(reason),
            JoinError::ServerUnreachable { server, reason } => {
                AppError::ServerUnreachable { server, reason }
            }
        }
    }
}

impl From<SendError> for AppError {
    fn from(error: SendError) -> Self {
        match error {
            SendError::Left => AppError::NotInRoom,
            error @ SendError::Backlogged { .. } => AppError::Backlogged(format!("{error}.")),
        }
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> Self {
        AppError::Store(error.to_string())
    }
}

impl From<FileError> for AppError {
    fn from(error: FileError) -> Self {
        let text = error.to_string();
        // The engine's messages start in lower case, mid-sentence.
        let mut chars = text.chars();
        let text = match chars.next() {
            Some(first) => first.to_uppercase().chain(chars).collect(),
            None => text,
        };
        AppError::Files(text)
    }
}
