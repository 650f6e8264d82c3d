//! The message store's behaviour, one scenario per test, on real files.

// Test code, helpers included: a failed expectation is a failed test.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use parlor_store::{
    DeliveryState, NewMessage, Owed, RecipientState, SCHEMA_VERSION, Store, StoreError,
};

const ROOM: &str = "parlor://example.org/r/lounge";
const ME: &str = "aa:aa:aa";
const ALICE: &str = "a1:a1:a1";
const BOB: &str = "b0:b0:b0";

/// A fresh directory under the system's temporary directory, removed when
/// dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "parlor-store-test-{}-{name}-{n}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = set_mode(&self.0, 0o755);
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> std::io::Result<()> {
    Ok(())
}

fn ours<'a>(id: &'a str, text: &'a str, at_ms: u64) -> NewMessage<'a> {
    NewMessage {
        room: ROOM,
        id: Some(id),
        sender: ME,
        sender_name: Some("me"),
        text,
        at_ms,
    }
}

fn theirs<'a>(sender: &'a str, id: Option<&'a str>, text: &'a str, at_ms: u64) -> NewMessage<'a> {
    NewMessage {
        room: ROOM,
        id,
        sender,
        sender_name: Some("alice"),
        text,
        at_ms,
    }
}

fn owed(id: &str, text: &str) -> Owed {
    Owed {
        id: id.into(),
        text: text.into(),
    }
}

fn ids(store: &Store, fingerprint: &str) -> Vec<String> {
    store
        .owed_to(ROOM, fingerprint)
        .unwrap()
        .into_iter()
        .map(|owed| owed.id)
        .collect()
}

/// Pseudo-random bytes (xorshift), so the garbage file needs no crate.
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_message_received_twice_is_stored_once_and_survives_reopening() {
    let dir = TempDir::new("dedup");
    let path = dir.file("store.db");
    {
        let store = Store::open(&path).unwrap();
        let message = theirs(ALICE, Some("m1"), "hello", 1_000);
        assert!(store.add_incoming(&message).unwrap());
        assert!(!store.add_incoming(&message).unwrap());
    }
    let store = Store::open(&path).unwrap();
    let again = theirs(ALICE, Some("m1"), "hello", 2_000);
    assert!(!store.add_incoming(&again).unwrap());
    let history = store.history(ROOM, None, 10).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].id.as_deref(), Some("m1"));
    assert_eq!(history[0].text, "hello");
    assert_eq!(history[0].at_ms, 1_000);
    assert!(!history[0].outgoing);
}

#[test]
fn messages_without_an_id_are_always_new() {
    let store = Store::in_memory().unwrap();
    let message = theirs(ALICE, None, "hi from an old client", 1_000);
    assert!(store.add_incoming(&message).unwrap());
    assert!(store.add_incoming(&message).unwrap());
    assert_eq!(store.history(ROOM, None, 10).unwrap().len(), 2);
}

#[test]
fn the_same_id_from_two_senders_is_two_messages() {
    let store = Store::in_memory().unwrap();
    assert!(
        store
            .add_incoming(&theirs(ALICE, Some("m1"), "a", 1))
            .unwrap()
    );
    assert!(
        store
            .add_incoming(&theirs(BOB, Some("m1"), "b", 2))
            .unwrap()
    );
    assert_eq!(store.history(ROOM, None, 10).unwrap().len(), 2);
}

#[test]
fn owed_to_lists_queued_and_unacknowledged_sent_in_order_and_drops_delivered() {
    let store = Store::in_memory().unwrap();
    let to = [ALICE.to_string()];
    for (n, id) in ["m1", "m2", "m3", "m4"].into_iter().enumerate() {
        store.add_outgoing(&ours(id, id, n as u64), &to).unwrap();
    }
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Sent, 10)
        .unwrap();
    store
        .set_state(ROOM, "m2", ALICE, DeliveryState::Delivered, 10)
        .unwrap();
    store
        .set_state(ROOM, "m4", ALICE, DeliveryState::Sent, 10)
        .unwrap();
    assert_eq!(
        store.owed_to(ROOM, ALICE).unwrap(),
        vec![owed("m1", "m1"), owed("m3", "m3"), owed("m4", "m4")]
    );
    assert!(store.owed_to(ROOM, BOB).unwrap().is_empty());
    assert!(
        store
            .owed_to("parlor://elsewhere", ALICE)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn recording_our_message_twice_is_a_no_op() {
    let store = Store::in_memory().unwrap();
    store
        .add_outgoing(&ours("m1", "first", 1), &[ALICE.into()])
        .unwrap();
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Delivered, 2)
        .unwrap();
    store
        .add_outgoing(&ours("m1", "again", 3), &[ALICE.into(), BOB.into()])
        .unwrap();
    let history = store.history(ROOM, None, 10).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].text, "first");
    assert_eq!(history[0].recipients.len(), 1);
    assert_eq!(history[0].recipients[0].state, DeliveryState::Delivered);
}

#[test]
fn an_old_client_s_sent_is_final_not_owed_and_not_undelivered() {
    let store = Store::in_memory().unwrap();
    store.add_outgoing(&ours("m1", "hi", 1), &[]).unwrap();
    store
        .add_recipient(ROOM, "m1", BOB, Some("bob"), false, 2)
        .unwrap();
    assert_eq!(ids(&store, BOB), ["m1"]);
    assert_eq!(store.undelivered(Some(ROOM)).unwrap(), 1);
    store
        .set_state(ROOM, "m1", BOB, DeliveryState::Sent, 3)
        .unwrap();
    assert!(store.owed_to(ROOM, BOB).unwrap().is_empty());
    assert_eq!(store.undelivered(Some(ROOM)).unwrap(), 0);
    assert_eq!(store.undelivered(None).unwrap(), 0);
}

#[test]
fn an_acknowledging_client_s_sent_is_still_undelivered() {
    let store = Store::in_memory().unwrap();
    store
        .add_outgoing(&ours("m1", "hi", 1), &[ALICE.into()])
        .unwrap();
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Sent, 2)
        .unwrap();
    assert_eq!(store.undelivered(Some(ROOM)).unwrap(), 1);
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Delivered, 3)
        .unwrap();
    assert_eq!(store.undelivered(Some(ROOM)).unwrap(), 0);
}

#[test]
fn undelivered_counts_a_message_once_and_by_room() {
    let store = Store::in_memory().unwrap();
    store
        .add_outgoing(&ours("m1", "both owed", 1), &[ALICE.into(), BOB.into()])
        .unwrap();
    store.add_outgoing(&ours("m2", "waiting", 2), &[]).unwrap();
    let elsewhere = NewMessage {
        room: "parlor://elsewhere",
        ..ours("m3", "other room", 3)
    };
    store.add_outgoing(&elsewhere, &[ALICE.into()]).unwrap();
    assert_eq!(store.undelivered(Some(ROOM)).unwrap(), 2);
    assert_eq!(store.undelivered(Some("parlor://elsewhere")).unwrap(), 1);
    assert_eq!(store.undelivered(None).unwrap(), 3);
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Delivered, 4)
        .unwrap();
    assert_eq!(
        store.undelivered(Some(ROOM)).unwrap(),
        2,
        "still owed to bob"
    );
    store
        .set_state(ROOM, "m1", BOB, DeliveryState::Failed, 4)
        .unwrap();
    assert_eq!(
        store.undelivered(Some(ROOM)).unwrap(),
        1,
        "failed is not owed"
    );
}

#[test]
fn delivered_never_goes_back_to_sent() {
    let store = Store::in_memory().unwrap();
    store
        .add_outgoing(&ours("m1", "hi", 1), &[ALICE.into()])
        .unwrap();
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Delivered, 5)
        .unwrap();
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Sent, 6)
        .unwrap();
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Queued, 7)
        .unwrap();
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Failed, 8)
        .unwrap();
    let recipients = &store.history(ROOM, None, 1).unwrap()[0].recipients;
    assert_eq!(
        recipients,
        &[RecipientState {
            fingerprint: ALICE.into(),
            name: None,
            state: DeliveryState::Delivered,
            updated_ms: 5,
        }]
    );
}

#[test]
fn a_failed_recipient_can_be_retried() {
    let store = Store::in_memory().unwrap();
    store
        .add_outgoing(&ours("m1", "hi", 1), &[ALICE.into(), BOB.into()])
        .unwrap();
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Failed, 2)
        .unwrap();
    assert_eq!(store.failed_recipients(ROOM, "m1").unwrap(), [ALICE]);
    assert!(store.owed_to(ROOM, ALICE).unwrap().is_empty());
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Queued, 3)
        .unwrap();
    assert!(store.failed_recipients(ROOM, "m1").unwrap().is_empty());
    assert_eq!(ids(&store, ALICE), ["m1"]);
}

#[test]
fn unknown_messages_and_recipients_are_ignored() {
    let store = Store::in_memory().unwrap();
    store
        .set_state(ROOM, "nope", ALICE, DeliveryState::Sent, 1)
        .unwrap();
    store
        .add_recipient(ROOM, "nope", ALICE, None, true, 1)
        .unwrap();
    store
        .add_outgoing(&ours("m1", "hi", 1), &[ALICE.into()])
        .unwrap();
    store
        .set_state(ROOM, "m1", BOB, DeliveryState::Sent, 2)
        .unwrap();
    assert!(store.failed_recipients(ROOM, "nope").unwrap().is_empty());
    assert_eq!(
        store.history(ROOM, None, 10).unwrap()[0].recipients.len(),
        1
    );
}

#[test]
fn waiting_messages_go_to_the_first_identity_that_connects() {
    let store = Store::in_memory().unwrap();
    store.add_outgoing(&ours("m1", "anyone?", 1), &[]).unwrap();
    store.add_outgoing(&ours("m2", "hello?", 2), &[]).unwrap();
    store
        .add_outgoing(&ours("m3", "for alice", 3), &[ALICE.into()])
        .unwrap();
    assert_eq!(store.undelivered(Some(ROOM)).unwrap(), 3);
    assert!(
        store.history(ROOM, None, 10).unwrap()[0]
            .recipients
            .is_empty()
    );

    assert_eq!(
        store.address_waiting(ROOM, BOB, Some("bob"), 10).unwrap(),
        2
    );
    assert_eq!(ids(&store, BOB), ["m1", "m2"]);
    assert_eq!(store.address_waiting(ROOM, ALICE, None, 11).unwrap(), 0);
    assert_eq!(ids(&store, ALICE), ["m3"]);
    let first = &store.history(ROOM, None, 10).unwrap()[0];
    assert_eq!(first.recipients[0].name.as_deref(), Some("bob"));
    assert_eq!(first.recipients[0].state, DeliveryState::Queued);
}

#[test]
fn a_later_recipient_is_added_once_and_ends_waiting() {
    let store = Store::in_memory().unwrap();
    store.add_outgoing(&ours("m1", "anyone?", 1), &[]).unwrap();
    store
        .add_recipient(ROOM, "m1", ALICE, None, true, 2)
        .unwrap();
    store
        .set_state(ROOM, "m1", ALICE, DeliveryState::Delivered, 3)
        .unwrap();
    store
        .add_recipient(ROOM, "m1", ALICE, None, true, 4)
        .unwrap();
    assert_eq!(store.address_waiting(ROOM, BOB, None, 5).unwrap(), 0);
    let recipients = &store.history(ROOM, None, 1).unwrap()[0].recipients;
    assert_eq!(recipients.len(), 1);
    assert_eq!(recipients[0].state, DeliveryState::Delivered);
}

#[test]
fn recipient_names_come_from_known_members() {
    let store = Store::in_memory().unwrap();
    store
        .remember_member(ROOM, ALICE, Some("alice"), 1)
        .unwrap();
    store.remember_member(ROOM, ALICE, None, 2).unwrap();
    store
        .add_outgoing(&ours("m1", "hi", 3), &[ALICE.into()])
        .unwrap();
    let recipients = &store.history(ROOM, None, 1).unwrap()[0].recipients;
    assert_eq!(recipients[0].name.as_deref(), Some("alice"));
}

#[test]
fn members_since_lists_those_seen_at_or_after_the_time() {
    let store = Store::in_memory().unwrap();
    store.remember_member(ROOM, BOB, Some("bob"), 100).unwrap();
    store
        .remember_member(ROOM, ALICE, Some("alice"), 50)
        .unwrap();
    store
        .remember_member("parlor://elsewhere", ME, None, 200)
        .unwrap();
    assert_eq!(store.members_since(ROOM, 100).unwrap(), [BOB]);
    assert_eq!(store.members_since(ROOM, 0).unwrap(), [ALICE, BOB]);
    store.remember_member(ROOM, ALICE, None, 150).unwrap();
    assert_eq!(store.members_since(ROOM, 100).unwrap(), [ALICE, BOB]);
}

#[test]
fn history_pages_backwards_oldest_first_within_a_page() {
    let store = Store::in_memory().unwrap();
    for n in 1..=450u64 {
        let id = format!("m{n}");
        store
            .add_incoming(&theirs(ALICE, Some(&id), &id, n))
            .unwrap();
        // Another room's messages in between must not show.
        let other = NewMessage {
            room: "parlor://elsewhere",
            ..theirs(ALICE, Some(&id), &id, n)
        };
        store.add_incoming(&other).unwrap();
    }
    let texts = |page: &[parlor_store::StoredMessage]| -> Vec<u64> {
        page.iter().map(|m| m.text[1..].parse().unwrap()).collect()
    };
    let first = store.history(ROOM, None, 200).unwrap();
    assert_eq!(texts(&first), (251..=450).collect::<Vec<_>>());
    let second = store.history(ROOM, Some(first[0].seq), 200).unwrap();
    assert_eq!(texts(&second), (51..=250).collect::<Vec<_>>());
    let third = store.history(ROOM, Some(second[0].seq), 200).unwrap();
    assert_eq!(texts(&third), (1..=50).collect::<Vec<_>>());
    assert!(
        store
            .history(ROOM, Some(third[0].seq), 200)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn history_attaches_each_message_s_own_recipients() {
    let store = Store::in_memory().unwrap();
    store
        .add_outgoing(&ours("m1", "one", 1), &[ALICE.into(), BOB.into()])
        .unwrap();
    store
        .add_incoming(&theirs(ALICE, Some("t1"), "reply", 2))
        .unwrap();
    let other = NewMessage {
        room: "parlor://elsewhere",
        ..ours("m2", "other", 3)
    };
    store.add_outgoing(&other, &[BOB.into()]).unwrap();
    store
        .add_outgoing(&ours("m3", "three", 4), &[BOB.into()])
        .unwrap();
    store
        .set_state(ROOM, "m1", BOB, DeliveryState::Sent, 5)
        .unwrap();
    let history = store.history(ROOM, None, 10).unwrap();
    let recipients: Vec<Vec<(&str, DeliveryState)>> = history
        .iter()
        .map(|m| {
            m.recipients
                .iter()
                .map(|r| (r.fingerprint.as_str(), r.state))
                .collect()
        })
        .collect();
    assert_eq!(
        recipients,
        vec![
            vec![(ALICE, DeliveryState::Queued), (BOB, DeliveryState::Sent)],
            vec![],
            vec![(BOB, DeliveryState::Queued)],
        ]
    );
    assert!(history[0].outgoing && !history[1].outgoing && history[2].outgoing);
}

#[test]
fn the_last_page_of_a_hundred_thousand_messages_is_right() {
    let dir = TempDir::new("large");
    let store = Store::open(&dir.file("store.db")).unwrap();
    let started = Instant::now();
    for n in 1..=100_000u64 {
        let id = n.to_string();
        if n % 2 == 0 {
            store
                .add_outgoing(&ours(&id, &id, n), &[ALICE.into()])
                .unwrap();
        } else {
            store
                .add_incoming(&theirs(ALICE, Some(&id), &id, n))
                .unwrap();
        }
    }
    eprintln!("100 000 messages written in {:?}", started.elapsed());
    drop(store);
    let started = Instant::now();
    let store = Store::open(&dir.file("store.db")).unwrap();
    eprintln!("reopened in {:?}", started.elapsed());
    let started = Instant::now();
    let page = store.history(ROOM, None, 200).unwrap();
    eprintln!("last page read in {:?}", started.elapsed());
    assert_eq!(page.len(), 200);
    let texts: Vec<u64> = page.iter().map(|m| m.text.parse().unwrap()).collect();
    assert_eq!(texts, (99_801..=100_000).collect::<Vec<_>>());
    assert!(page.iter().all(|m| m.outgoing == (m.recipients.len() == 1)));
    assert_eq!(store.undelivered(None).unwrap(), 50_000);
}

#[test]
fn recent_rooms_are_newest_first() {
    let store = Store::in_memory().unwrap();
    store
        .remember_room("parlor://s/r/a", "wss://s", "a", 100)
        .unwrap();
    store
        .remember_room("parlor://s/r/b", "wss://s", "b", 300)
        .unwrap();
    store
        .remember_room("parlor://s/r/c", "wss://s", "c", 200)
        .unwrap();
    store
        .remember_room("parlor://s/r/a", "wss://t", "a2", 400)
        .unwrap();
    let rooms = store.recent_rooms(10).unwrap();
    let links: Vec<&str> = rooms.iter().map(|r| r.link.as_str()).collect();
    assert_eq!(
        links,
        ["parlor://s/r/a", "parlor://s/r/b", "parlor://s/r/c"]
    );
    assert_eq!(rooms[0].server, "wss://t");
    assert_eq!(rooms[0].name, "a2");
    assert_eq!(rooms[0].last_active_ms, 400);
    assert_eq!(store.recent_rooms(2).unwrap().len(), 2);
}

#[test]
fn a_garbage_file_is_corrupt_and_recovery_moves_it_aside() {
    let dir = TempDir::new("garbage");
    let path = dir.file("store.db");
    let bytes = garbage(64 * 1024);
    fs::write(&path, &bytes).unwrap();
    match Store::open(&path) {
        Err(StoreError::Corrupt { path: named, .. }) => assert_eq!(named, path),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(fs::read(&path).unwrap(), bytes);

    let (store, recovered) = Store::open_or_recover(&path, 1234).unwrap();
    let recovered = recovered.unwrap();
    assert_eq!(recovered.moved_to, dir.file("store.db.damaged-1234"));
    assert!(matches!(recovered.why, StoreError::Corrupt { .. }));
    assert_eq!(fs::read(&recovered.moved_to).unwrap(), bytes);
    assert!(
        store
            .add_incoming(&theirs(ALICE, Some("m1"), "fresh", 1))
            .unwrap()
    );
    assert_eq!(store.history(ROOM, None, 10).unwrap().len(), 1);
}

#[test]
fn another_program_s_database_is_not_taken_for_a_store() {
    let dir = TempDir::new("foreign");
    let path = dir.file("store.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE rooms (x INTEGER);")
            .unwrap();
    }
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::Corrupt { .. })
    ));
}

#[test]
fn a_newer_store_is_refused_untouched_and_recovery_moves_it_aside() {
    let dir = TempDir::new("newer");
    let path = dir.file("store.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
    }
    let bytes = fs::read(&path).unwrap();
    match Store::open(&path) {
        Err(StoreError::NewerVersion {
            found, supported, ..
        }) => {
            assert_eq!(found, SCHEMA_VERSION + 1);
            assert_eq!(supported, SCHEMA_VERSION);
        }
        other => panic!("expected NewerVersion, got {other:?}"),
    }
    assert_eq!(fs::read(&path).unwrap(), bytes);

    let (store, recovered) = Store::open_or_recover(&path, 99).unwrap();
    let recovered = recovered.unwrap();
    assert_eq!(recovered.moved_to, dir.file("store.db.newer-99"));
    assert!(matches!(recovered.why, StoreError::NewerVersion { .. }));
    assert_eq!(fs::read(&recovered.moved_to).unwrap(), bytes);
    assert!(store.history(ROOM, None, 10).unwrap().is_empty());
}

#[test]
fn recovery_moves_the_log_files_with_the_store_and_never_overwrites() {
    let dir = TempDir::new("companions");
    let path = dir.file("store.db");
    fs::write(&path, garbage(8192)).unwrap();
    fs::write(dir.file("store.db-wal"), b"log").unwrap();
    fs::write(dir.file("store.db-shm"), b"shm").unwrap();
    fs::write(dir.file("store.db.damaged-7"), b"an earlier one").unwrap();
    let (store, recovered) = Store::open_or_recover(&path, 7).unwrap();
    drop(store);
    let moved_to = recovered.unwrap().moved_to;
    assert_eq!(moved_to, dir.file("store.db.damaged-7-2"));
    assert!(!dir.file("store.db-wal").exists());
    assert_eq!(
        fs::read(dir.file("store.db.damaged-7-2-wal")).unwrap(),
        b"log"
    );
    assert_eq!(
        fs::read(dir.file("store.db.damaged-7-2-shm")).unwrap(),
        b"shm"
    );
    assert_eq!(
        fs::read(dir.file("store.db.damaged-7")).unwrap(),
        b"an earlier one"
    );
}

#[test]
fn a_sound_store_opens_without_recovery() {
    let dir = TempDir::new("sound");
    let path = dir.file("store.db");
    drop(Store::open(&path).unwrap());
    let (_store, recovered) = Store::open_or_recover(&path, 1).unwrap();
    assert!(recovered.is_none());
}

#[test]
fn a_missing_directory_is_not_writable() {
    let dir = TempDir::new("missing");
    let path = dir.file("no-such-dir").join("store.db");
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::NotWritable { .. })
    ));
    assert!(matches!(
        Store::open_or_recover(&path, 1),
        Err(StoreError::NotWritable { .. })
    ));
    assert!(!dir.file("no-such-dir").exists());
}

#[cfg(unix)]
#[test]
fn a_read_only_directory_is_not_writable() {
    let dir = TempDir::new("read-only");
    set_mode(&dir.0, 0o555).unwrap();
    if permissions_are_ignored(&dir.file("probe")) {
        let _ = fs::remove_file(dir.file("probe"));
        return;
    }
    let result = Store::open(&dir.file("store.db"));
    assert!(
        matches!(result, Err(StoreError::NotWritable { .. })),
        "{result:?}"
    );
}

#[test]
fn debug_names_the_file_or_memory() {
    let dir = TempDir::new("debug");
    let path = dir.file("store.db");
    let store = Store::open(&path).unwrap();
    assert!(format!("{store:?}").contains(&path.display().to_string()));
    assert!(format!("{:?}", Store::in_memory().unwrap()).contains("in memory"));
}

#[test]
fn clones_share_one_store() {
    let store = Store::in_memory().unwrap();
    let clone = store.clone();
    store
        .add_incoming(&theirs(ALICE, Some("m1"), "hi", 1))
        .unwrap();
    assert_eq!(clone.history(ROOM, None, 10).unwrap().len(), 1);
}

/// Tells [`crash_child_writes_until_killed`] which file to write to.
const CRASH_CHILD_ENV: &str = "PARLOR_STORE_CRASH_CHILD";
/// The line the child prints once it is writing.
const CRASH_CHILD_READY: &str = "crash-child: writing";

/// Not a test on its own: run by
/// [`a_store_killed_mid_write_keeps_every_committed_message`] in a child
/// process, it writes messages 1, 2, 3… until it is killed. Without the
/// variable it does nothing.
#[test]
fn crash_child_writes_until_killed() {
    let Some(path) = std::env::var_os(CRASH_CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&path)).unwrap();
    println!("{CRASH_CHILD_READY}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0u64;
    // Stops by itself should the parent never kill it.
    while Instant::now() < deadline {
        n += 1;
        let id = n.to_string();
        let text = format!("message {n} {}", "x".repeat((n % 200) as usize));
        if n % 2 == 0 {
            store
                .add_outgoing(&ours(&id, &text, n), &[ALICE.into(), BOB.into()])
                .unwrap();
            store
                .set_state(ROOM, &id, ALICE, DeliveryState::Sent, n)
                .unwrap();
        } else {
            store
                .add_incoming(&theirs(ALICE, Some(&id), &text, n))
                .unwrap();
        }
    }
}

#[test]
fn a_store_killed_mid_write_keeps_every_committed_message() {
    let dir = TempDir::new("killed");
    let path = dir.file("store.db");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_child_writes_until_killed",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let ready = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains(CRASH_CHILD_READY));
    assert!(ready, "the child never started writing");
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no checkpoint.
    child.wait().unwrap();

    let store = Store::open(&path).unwrap();
    let history = store.history(ROOM, None, usize::MAX).unwrap();
    let n = history.len();
    assert!(n > 0, "the child wrote nothing in 200 ms");
    for (expected, message) in (1..).zip(&history) {
        assert_eq!(
            message.id,
            Some(expected.to_string()),
            "gap before {expected}"
        );
        assert_eq!(message.at_ms, expected);
        if message.outgoing {
            // Message and recipients were one transaction: both or neither.
            assert_eq!(message.recipients.len(), 2, "message {expected}");
        }
    }
    eprintln!("{n} messages survived the kill");
}

#[test]
fn a_database_damaged_past_its_header_is_corrupt() {
    let dir = TempDir::new("damaged");
    let path = dir.file("store.db");
    {
        let store = Store::open(&path).unwrap();
        for n in 1..=2_000u64 {
            let id = n.to_string();
            let text = format!("{n} {}", "x".repeat(100));
            store
                .add_incoming(&theirs(ALICE, Some(&id), &text, n))
                .unwrap();
        }
    }
    let mut bytes = fs::read(&path).unwrap();
    assert!(bytes.len() > 64 * 1024, "{}", bytes.len());
    // Keep page 1 (the header and the schema), ruin the pages after it.
    let ruin = garbage(bytes.len() - 8192);
    bytes[8192..].copy_from_slice(&ruin);
    fs::write(&path, &bytes).unwrap();
    let result = Store::open(&path);
    assert!(
        matches!(result, Err(StoreError::Corrupt { .. })),
        "{result:?}"
    );
    let (_store, recovered) = Store::open_or_recover(&path, 5).unwrap();
    assert_eq!(fs::read(recovered.unwrap().moved_to).unwrap(), bytes);
}

/// Whether this user can write `file` despite its permissions (root can):
/// then a permissions test has nothing to check.
#[cfg(unix)]
fn permissions_are_ignored(file: &Path) -> bool {
    let writable = fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(file)
        .is_ok();
    if writable {
        eprintln!("note: this user (root?) writes despite permissions; nothing to check");
    }
    writable
}

#[cfg(unix)]
#[test]
fn a_read_only_store_file_is_not_writable() {
    let dir = TempDir::new("read-only-file");
    let path = dir.file("store.db");
    drop(Store::open(&path).unwrap());
    set_mode(&path, 0o444).unwrap();
    if permissions_are_ignored(&path) {
        return;
    }
    let result = Store::open(&path);
    assert!(
        matches!(result, Err(StoreError::NotWritable { .. })),
        "{result:?}"
    );
}

#[cfg(unix)]
#[test]
fn a_store_in_a_directory_made_read_only_is_not_writable() {
    let dir = TempDir::new("read-only-later");
    let path = dir.file("store.db");
    drop(Store::open(&path).unwrap());
    set_mode(&dir.0, 0o555).unwrap();
    if permissions_are_ignored(&dir.file("probe")) {
        let _ = fs::remove_file(dir.file("probe"));
        return;
    }
    let result = Store::open(&path);
    assert!(
        matches!(result, Err(StoreError::NotWritable { .. })),
        "{result:?}"
    );
}

#[test]
fn a_store_open_elsewhere_is_in_use_and_left_as_it_is() {
    let dir = TempDir::new("in-use");
    let path = dir.file("store.db");
    let first = Store::open(&path).unwrap();
    first
        .add_incoming(&theirs(ALICE, Some("m1"), "mine", 1_000))
        .unwrap();

    let second = Store::open_or_recover(&path, 2_000);
    assert!(
        matches!(second, Err(StoreError::InUse { .. })),
        "{second:?}"
    );
    let names: Vec<String> = fs::read_dir(&dir.0)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names.iter().any(|name| name.contains(".damaged-")),
        "not moved aside: {names:?}"
    );
    assert_eq!(first.history(ROOM, None, 10).unwrap().len(), 1);
}

#[test]
fn an_unfinished_transfer_is_offered_again_until_its_recipient_has_it() {
    let dir = TempDir::new("transfers");
    let path = dir.file("store.db");
    let paths = vec![
        "/home/me/a file.txt".to_owned(),
        "/home/me/album".to_owned(),
    ];
    {
        let store = Store::open(&path).unwrap();
        store.add_transfer(ROOM, "t1", &paths, 1_000).unwrap();
        store.transfer_offered_to(ROOM, "t1", BOB).unwrap();
        store.transfer_offered_to(ROOM, "t1", ALICE).unwrap();
        store.transfer_finished(ROOM, "t1", ALICE).unwrap();
    }
    let store = Store::open(&path).unwrap();
    let owed = store.unfinished_transfers(ROOM, BOB).unwrap();
    assert_eq!(owed.len(), 1);
    assert_eq!(owed[0].transfer, "t1");
    assert_eq!(owed[0].paths, paths);
    assert!(store.unfinished_transfers(ROOM, ALICE).unwrap().is_empty());
    store.transfer_finished(ROOM, "t1", BOB).unwrap();
    assert!(store.unfinished_transfers(ROOM, BOB).unwrap().is_empty());
}

#[test]
fn a_version_1_store_is_migrated_and_keeps_its_messages() {
    let dir = TempDir::new("migrate-v1");
    let path = dir.file("store.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE rooms (link TEXT PRIMARY KEY NOT NULL, server TEXT NOT NULL, name TEXT NOT NULL, last_active_ms INTEGER NOT NULL);
             CREATE TABLE members (room TEXT NOT NULL, fingerprint TEXT NOT NULL, name TEXT, last_seen_ms INTEGER NOT NULL, PRIMARY KEY (room, fingerprint)) WITHOUT ROWID;
             CREATE TABLE messages (seq INTEGER PRIMARY KEY, room TEXT NOT NULL, id TEXT, outgoing INTEGER NOT NULL, sender TEXT NOT NULL, sender_name TEXT, text TEXT NOT NULL, at_ms INTEGER NOT NULL, waiting INTEGER NOT NULL DEFAULT 0, UNIQUE (room, id, sender));
             CREATE INDEX messages_by_room ON messages (room, seq);
             CREATE INDEX messages_waiting ON messages (room) WHERE waiting = 1;
             CREATE TABLE recipients (seq INTEGER NOT NULL REFERENCES messages (seq) ON DELETE CASCADE, fingerprint TEXT NOT NULL, name TEXT, can_ack INTEGER NOT NULL, state TEXT NOT NULL, updated_ms INTEGER NOT NULL, PRIMARY KEY (seq, fingerprint));
             CREATE INDEX recipients_owed ON recipients (fingerprint, seq) WHERE state = 'queued' OR (state = 'sent' AND can_ack = 1);
             INSERT INTO messages (room, id, outgoing, sender, text, at_ms) VALUES ('parlor://example.org/r/lounge', 'm1', 0, 'a1:a1:a1', 'from before', 5);
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    let history = store.history(ROOM, None, 10).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].text, "from before");
    store
        .add_transfer(ROOM, "t1", &["/x".to_owned()], 1)
        .unwrap();
}
