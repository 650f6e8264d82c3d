//! Verified contacts: the identities (certificate fingerprints) a person
//! checked by comparing the safety code with the other person, remembered in
//! the profile as `contacts.json` (fingerprint → `{name, verifiedAt}`).
//!
//! A fingerprint is an identity only its owner can use (DTLS proves
//! possession of the key), so once verified it is recognised in every room.
//! A display name is only a claim: anyone can take any name. That is why a
//! peer that claims the name of a verified contact without having that
//! contact's fingerprint is flagged ([`PeerTrust::impersonates`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use parlor_protocol::{fingerprint_hex, sanitize_name};
use serde::{Deserialize, Serialize};

use crate::error::AppError;
use crate::json_file;

/// The contacts file's name inside the profile (config) directory.
pub const FILE_NAME: &str = "contacts.json";

/// How many bytes of a fingerprint its short form shows (`ab:cd:ef:01`).
pub const SHORT_BYTES: usize = 4;

/// Bytes in a SHA-256 fingerprint.
const FINGERPRINT_BYTES: usize = 32;

/// One verified identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Contact {
    /// The name the peer had when it was verified (may be empty).
    pub name: String,
    /// When it was verified, in milliseconds since the Unix epoch.
    pub verified_at: u64,
}

/// Every verified identity, by fingerprint (`ab:cd:…`, lower case).
pub type Contacts = BTreeMap<String, Contact>;

/// What the window shows about a connected peer's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PeerTrust {
    /// The peer's fingerprint, normalised.
    pub fingerprint: String,
    /// Its short form for labels (`ab:cd:ef:01`).
    pub short: String,
    /// The contact it was verified as, if it was.
    pub verified: Option<Contact>,
    /// The name of a verified contact this peer claims to be without having
    /// that contact's identity: someone else using a trusted name.
    pub impersonates: Option<String>,
}

/// A verified contact with its fingerprint, as `mark_verified` returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedContact {
    /// The identity.
    pub fingerprint: String,
    /// Its name and when it was verified.
    #[serde(flatten)]
    pub contact: Contact,
}

/// A fingerprint as the engine writes it (`ab:cd:…`, 32 lower-case byte
/// pairs), from any spelling of one (`sha-256 AB:CD:…`); an error if it is
/// not a SHA-256 fingerprint.
pub fn normalize_fingerprint(fingerprint: &str) -> Result<String, AppError> {
    let hex = fingerprint_hex(fingerprint);
    let pairs: Vec<&str> = hex.split(':').collect();
    let well_formed = pairs.len() == FINGERPRINT_BYTES
        && pairs
            .iter()
            .all(|pair| pair.len() == 2 && pair.bytes().all(|b| b.is_ascii_hexdigit()));
    if well_formed {
        Ok(hex)
    } else {
        Err(AppError::BadFingerprint(
            fingerprint.chars().take(120).collect(),
        ))
    }
}

/// The first [`SHORT_BYTES`] byte pairs of a fingerprint (`ab:cd:ef:01`):
/// enough to tell two peers with the same name apart at a glance.
pub fn short_fingerprint(fingerprint: &str) -> String {
    fingerprint
        .split(':')
        .take(SHORT_BYTES)
        .collect::<Vec<_>>()
        .join(":")
}

/// A display name reduced to what a person sees when reading it: invisible
/// characters (zero-width spaces and joiners, soft hyphens, bidi controls)
/// gone, runs of white space as one space, lower case. Two names with the
/// same key read the same.
fn name_key(name: &str) -> String {
    let invisible = |c: char| {
        c.is_control()
            || matches!(c, '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}'
                | '\u{17B4}' | '\u{17B5}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}')
    };
    let visible: String = name.chars().filter(|c| !invisible(*c)).collect();
    visible
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// What `contacts` say about a peer with `fingerprint` (normalised) that
/// calls itself `name`.
pub fn trust(contacts: &Contacts, fingerprint: &str, name: Option<&str>) -> PeerTrust {
    let verified = contacts.get(fingerprint).cloned();
    let key = name.map(name_key).filter(|key| !key.is_empty());
    let impersonates = key.and_then(|key| {
        // A verified peer using the name it was verified under is itself.
        if verified.as_ref().is_some_and(|c| name_key(&c.name) == key) {
            return None;
        }
        contacts
            .iter()
            .find(|(other, contact)| *other != fingerprint && name_key(&contact.name) == key)
            .map(|(_, contact)| contact.name.clone())
    });
    PeerTrust {
        fingerprint: fingerprint.to_owned(),
        short: short_fingerprint(fingerprint),
        verified,
        impersonates,
    }
}

/// Where contacts live and how they are read and written. Changes are
/// read-modify-write under one lock, so two at once cannot lose either.
#[derive(Debug)]
pub struct ContactsStore {
    path: PathBuf,
    writing: Mutex<()>,
}

impl ContactsStore {
    /// Contacts kept in `dir`.
    pub fn new(dir: &Path) -> Self {
        Self {
            path: dir.join(FILE_NAME),
            writing: Mutex::new(()),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every verified contact; none when there is no file yet. A file that
    /// cannot be read or is not a contacts list is an error, and is left as
    /// it is: replacing it would silently forget who was verified.
    pub fn load(&self) -> Result<Contacts, AppError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Contacts::new()),
            Err(e) => return Err(self.file_error(&e)),
        };
        let contacts: Contacts =
            serde_json::from_slice(&bytes).map_err(|e| AppError::ContactsCorrupt {
                path: self.path.display().to_string(),
                reason: e.to_string(),
            })?;
        for fingerprint in contacts.keys() {
            if normalize_fingerprint(fingerprint).ok().as_ref() != Some(fingerprint) {
                return Err(AppError::ContactsCorrupt {
                    path: self.path.display().to_string(),
                    reason: format!("{fingerprint:?} is not a fingerprint"),
                });
            }
        }
        Ok(contacts)
    }

    /// Remembers `fingerprint` as verified, under `name` (the peer's display
    /// name, cleaned as the engine cleans names); verifying again updates
    /// the name and time.
    pub fn mark_verified(
        &self,
        fingerprint: &str,
        name: &str,
    ) -> Result<VerifiedContact, AppError> {
        let fingerprint = normalize_fingerprint(fingerprint)?;
        let contact = Contact {
            name: sanitize_name(name).unwrap_or_default(),
            verified_at: now_ms(),
        };
        self.change(|contacts| {
            contacts.insert(fingerprint.clone(), contact.clone());
        })?;
        Ok(VerifiedContact {
            fingerprint,
            contact,
        })
    }

    /// Forgets that `fingerprint` was verified; whether it was.
    pub fn unverify(&self, fingerprint: &str) -> Result<bool, AppError> {
        let fingerprint = normalize_fingerprint(fingerprint)?;
        let mut removed = false;
        self.change(|contacts| removed = contacts.remove(&fingerprint).is_some())?;
        Ok(removed)
    }

    /// What the contacts say about a peer (see [`trust`]).
    pub fn check(&self, fingerprint: &str, name: Option<&str>) -> Result<PeerTrust, AppError> {
        let fingerprint = normalize_fingerprint(fingerprint)?;
        Ok(trust(&self.load()?, &fingerprint, name))
    }

    fn change(&self, edit: impl FnOnce(&mut Contacts)) -> Result<(), AppError> {
        let _writing = self.writing.lock().map_err(|_| AppError::ContactsFile {
            path: self.path.display().to_string(),
            reason: "an earlier change failed half-way".into(),
        })?;
        let mut contacts = self.load()?;
        edit(&mut contacts);
        self.save(&contacts)
    }

    /// Writes `contacts` atomically, so a crash never leaves half a file.
    fn save(&self, contacts: &Contacts) -> Result<(), AppError> {
        json_file::write(&self.path, contacts).map_err(|reason| self.file_error(&reason))
    }

    fn file_error(&self, error: &dyn std::fmt::Display) -> AppError {
        AppError::ContactsFile {
            path: self.path.display().to_string(),
            reason: error.to_string(),
        }
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fingerprint(byte: u8) -> String {
        vec![format!("{byte:02x}"); FINGERPRINT_BYTES].join(":")
    }

    fn contacts(entries: &[(u8, &str)]) -> Contacts {
        entries
            .iter()
            .map(|(byte, name)| {
                (
                    fingerprint(*byte),
                    Contact {
                        name: (*name).to_owned(),
                        verified_at: 1,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn fingerprints_are_normalised_or_refused() {
        let upper = format!("sha-256 {}", fingerprint(0xab).to_uppercase());
        assert_eq!(normalize_fingerprint(&upper).ok(), Some(fingerprint(0xab)));
        assert_eq!(short_fingerprint(&fingerprint(0xab)), "ab:ab:ab:ab");
        for bad in [
            "",
            "ab:cd",
            "zz:zz",
            &fingerprint(1)[3..],
            &format!("{}:", fingerprint(1)),
        ] {
            assert!(
                matches!(normalize_fingerprint(bad), Err(AppError::BadFingerprint(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_verified_identity_is_recognised_whatever_name_it_uses() {
        let known = contacts(&[(1, "Bob")]);
        let bob = trust(&known, &fingerprint(1), Some("Bob"));
        assert_eq!(bob.verified.map(|c| c.name).as_deref(), Some("Bob"));
        assert_eq!(bob.impersonates, None);
        let renamed = trust(&known, &fingerprint(1), Some("Robert"));
        assert!(renamed.verified.is_some());
        assert_eq!(renamed.impersonates, None);
        let stranger = trust(&known, &fingerprint(2), Some("Carol"));
        assert_eq!(stranger.verified, None);
        assert_eq!(stranger.impersonates, None);
        let nameless = trust(&known, &fingerprint(2), None);
        assert_eq!(nameless.impersonates, None);
    }

    #[test]
    fn another_identity_under_a_verified_name_is_flagged() {
        let known = contacts(&[(1, "Bob")]);
        for claimed in ["Bob", "bob", " BOB ", "B\u{200B}ob", "Bob\u{FE0F}"] {
            let impostor = trust(&known, &fingerprint(2), Some(claimed));
            assert_eq!(impostor.verified, None, "{claimed:?}");
            assert_eq!(impostor.impersonates.as_deref(), Some("Bob"), "{claimed:?}");
        }
        // A verified identity borrowing another contact's name is flagged too...
        let two = contacts(&[(1, "Bob"), (2, "Carol")]);
        let carol_as_bob = trust(&two, &fingerprint(2), Some("Bob"));
        assert!(carol_as_bob.verified.is_some());
        assert_eq!(carol_as_bob.impersonates.as_deref(), Some("Bob"));
        // ...but two verified people who share a name are each themselves.
        let namesakes = contacts(&[(1, "Sam"), (2, "Sam")]);
        assert_eq!(
            trust(&namesakes, &fingerprint(2), Some("Sam")).impersonates,
            None
        );
        // A contact verified without a name lends no name to anyone.
        let unnamed = contacts(&[(1, "")]);
        assert_eq!(
            trust(&unnamed, &fingerprint(2), Some("")).impersonates,
            None
        );
    }

    #[test]
    fn contacts_round_trip_and_a_corrupt_file_is_kept() {
        let dir = std::env::temp_dir().join(format!("parlor-contacts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = ContactsStore::new(&dir);
        assert_eq!(store.load().ok(), Some(Contacts::new()));
        let saved = store
            .mark_verified(&fingerprint(1).to_uppercase(), " Bob\u{202E} ")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(saved.fingerprint, fingerprint(1));
        assert_eq!(saved.contact.name, "Bob");
        let loaded = store.load().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.get(&fingerprint(1)), Some(&saved.contact));
        assert!(!dir.join("contacts.json.tmp").exists());
        assert_eq!(store.unverify(&fingerprint(1)).ok(), Some(true));
        assert_eq!(store.unverify(&fingerprint(1)).ok(), Some(false));

        std::fs::write(store.path(), "{ not json").unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            store.load(),
            Err(AppError::ContactsCorrupt { .. })
        ));
        assert!(matches!(
            store.mark_verified(&fingerprint(1), "Bob"),
            Err(AppError::ContactsCorrupt { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(store.path()).ok().as_deref(),
            Some("{ not json")
        );
        std::fs::write(store.path(), r#"{"nope": {"name": "x", "verifiedAt": 1}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            store.load(),
            Err(AppError::ContactsCorrupt { .. })
        ));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
