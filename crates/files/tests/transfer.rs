//! A transfer from a `Manifest` into an `Incoming`, message by message, as
//! the engine runs it over a data channel: whole, interrupted and resumed,
//! with a damaged block, from a file that changed, and with hostile offers.

// Test code, helpers included: a failed expectation is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use parlor_files::{FileError, Incoming, Manifest, Received, block_messages, hash_of};
use parlor_protocol::{BLOCK_SIZE, DataMessage, FileOffer, OfferedFile};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("parlor-files-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file of `len` pseudo-random bytes.
fn random_file(path: &Path, len: usize) {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(path, bytes).unwrap();
}

/// Sends every file from what the receiver has, as the engine does;
/// returns what the receiver said.
fn send(manifest: &Manifest, incoming: &mut Incoming) -> Vec<Received> {
    let mut said = Vec::new();
    for (index, start) in incoming.have().into_iter().enumerate() {
        let mut reader = manifest.reader(index).unwrap();
        let mut block = start / BLOCK_SIZE;
        while let Some(read) = reader.block(block).unwrap() {
            for message in block_messages(index as u32, block, &read.bytes, read.hash) {
                said.push(incoming.receive(message).unwrap());
            }
            block += 1;
        }
    }
    said
}

#[test]
fn a_folder_arrives_identical_under_its_names() {
    let (from, to) = (Dir::new("folder-from"), Dir::new("folder-to"));
    let folder = from.0.join("album");
    std::fs::create_dir_all(folder.join("inner")).unwrap();
    random_file(&folder.join("big.bin"), 3 * BLOCK_SIZE as usize + 17);
    random_file(&folder.join("inner/small.txt"), 10);
    std::fs::write(folder.join("empty"), b"").unwrap();
    let manifest = Manifest::build(std::slice::from_ref(&folder)).unwrap();

    let mut incoming = Incoming::open(&to.0, &manifest.offer).unwrap();
    let mut said = incoming.finish_complete().unwrap();
    said.extend(send(&manifest, &mut incoming));
    assert!(incoming.is_complete());
    for name in ["big.bin", "inner/small.txt", "empty"] {
        assert_eq!(
            hash_of(&to.0.join("album").join(name)).unwrap(),
            hash_of(&folder.join(name)).unwrap(),
            "{name}"
        );
    }
    let leftovers: Vec<_> = std::fs::read_dir(&to.0)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with(".parlor-"))
        .collect();
    assert!(leftovers.is_empty(), "no partial or state file left");
}

#[test]
fn an_interrupted_transfer_goes_on_from_the_last_verified_block() {
    let (from, to) = (Dir::new("resume-from"), Dir::new("resume-to"));
    let file = from.0.join("movie.bin");
    random_file(&file, 5 * BLOCK_SIZE as usize + 3);
    let manifest = Manifest::build(std::slice::from_ref(&file)).unwrap();

    // Two whole blocks and half of the third, then the connection drops.
    let mut first = Incoming::open(&to.0, &manifest.offer).unwrap();
    let mut reader = manifest.reader(0).unwrap();
    for block in 0..3 {
        let read = reader.block(block).unwrap().unwrap();
        let messages = block_messages(0, block, &read.bytes, read.hash);
        let take = if block == 2 {
            messages.len() / 2
        } else {
            messages.len()
        };
        for message in messages.into_iter().take(take) {
            first.receive(message).unwrap();
        }
    }
    drop(first);

    // Opened again (the app restarted): it has exactly two blocks.
    let mut again = Incoming::open(&to.0, &manifest.offer).unwrap();
    assert_eq!(again.have(), [2 * BLOCK_SIZE]);
    send(&manifest, &mut again);
    assert!(again.is_complete());
    assert_eq!(
        hash_of(&to.0.join("movie.bin")).unwrap(),
        hash_of(&file).unwrap()
    );
}

#[test]
fn a_damaged_block_is_asked_for_again_and_the_file_still_arrives_identical() {
    let (from, to) = (Dir::new("damaged-from"), Dir::new("damaged-to"));
    let file = from.0.join("data.bin");
    random_file(&file, 2 * BLOCK_SIZE as usize);
    let manifest = Manifest::build(std::slice::from_ref(&file)).unwrap();
    let mut incoming = Incoming::open(&to.0, &manifest.offer).unwrap();

    let mut reader = manifest.reader(0).unwrap();
    let mut read = reader.block(0).unwrap().unwrap();
    read.bytes[100] ^= 0xff;
    let said: Vec<Received> = block_messages(0, 0, &read.bytes, read.hash)
        .into_iter()
        .map(|m| incoming.receive(m).unwrap())
        .collect();
    assert_eq!(said.last(), Some(&Received::Resend { file: 0, offset: 0 }));

    send(&manifest, &mut incoming);
    assert!(incoming.is_complete());
    assert_eq!(
        hash_of(&to.0.join("data.bin")).unwrap(),
        hash_of(&file).unwrap()
    );
}

#[test]
fn a_file_that_changed_after_it_was_offered_is_not_sent() {
    let from = Dir::new("changed");
    let file = from.0.join("notes.txt");
    random_file(&file, 1000);
    let manifest = Manifest::build(std::slice::from_ref(&file)).unwrap();
    std::fs::write(&file, b"rewritten meanwhile").unwrap();
    let mut reader = manifest.reader(0).unwrap();
    assert!(matches!(reader.block(0), Err(FileError::Changed(_))));
}

#[test]
fn the_same_files_offered_again_are_the_same_transfer() {
    let from = Dir::new("same-id");
    let file = from.0.join("a.bin");
    random_file(&file, 5000);
    let first = Manifest::build(std::slice::from_ref(&file)).unwrap();
    let again = Manifest::build(&[file]).unwrap();
    assert_eq!(first.transfer(), again.transfer());
}

#[test]
fn a_received_file_never_replaces_one_already_there() {
    let (from, to) = (Dir::new("taken-from"), Dir::new("taken-to"));
    let file = from.0.join("report.pdf");
    random_file(&file, 2000);
    std::fs::write(to.0.join("report.pdf"), b"mine").unwrap();
    let manifest = Manifest::build(std::slice::from_ref(&file)).unwrap();
    let mut incoming = Incoming::open(&to.0, &manifest.offer).unwrap();
    let said = send(&manifest, &mut incoming);
    assert_eq!(
        said.last(),
        Some(&Received::FileDone {
            file: 0,
            path: to.0.join("report (2).pdf")
        })
    );
    assert_eq!(std::fs::read(to.0.join("report.pdf")).unwrap(), b"mine");
}

fn offer(names: &[&str]) -> FileOffer {
    FileOffer {
        transfer: "ab".repeat(16),
        files: names
            .iter()
            .map(|name| OfferedFile {
                name: (*name).to_owned(),
                size: 1,
                hash: "0".repeat(64),
            })
            .collect(),
    }
}

#[test]
fn offers_that_would_write_outside_the_folder_or_overwhelm_it_are_refused() {
    let to = Dir::new("hostile");
    for name in ["../escape", "/etc/passwd", "a\0b", "..\\..\\x"] {
        assert!(
            Incoming::open(&to.0, &offer(&[name])).is_err(),
            "{name:?} accepted"
        );
    }
    let many: Vec<String> = (0..10_000).map(|n| format!("f{n}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(matches!(
        Incoming::open(&to.0, &offer(&many)),
        Err(FileError::TooManyFiles(10_000))
    ));
    assert_eq!(
        std::fs::read_dir(&to.0).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn more_bytes_than_the_offer_declared_are_refused() {
    let to = Dir::new("oversize");
    let mut incoming = Incoming::open(&to.0, &offer(&["tiny"])).unwrap();
    let too_much = DataMessage::Chunk {
        file: 0,
        offset: 0,
        bytes: vec![0; 100],
    };
    assert!(matches!(
        incoming.receive(too_much),
        Err(FileError::BadData(_))
    ));
}

#[test]
fn an_offer_bigger_than_the_free_disk_space_is_declined_before_anything_is_written() {
    let to = Dir::new("no-space");
    let mut huge = offer(&["enormous.bin"]);
    huge.files[0].size = 1 << 62;
    assert!(matches!(
        Incoming::open(&to.0, &huge),
        Err(FileError::NoSpace { .. })
    ));
    assert_eq!(
        std::fs::read_dir(&to.0).unwrap().count(),
        0,
        "nothing written"
    );
}

#[test]
fn more_files_than_one_offer_takes_are_not_offered() {
    let from = Dir::new("too-many-to-send");
    let folder = from.0.join("many");
    std::fs::create_dir_all(&folder).unwrap();
    for n in 0..=parlor_protocol::MAX_FILES_PER_OFFER {
        std::fs::write(folder.join(format!("f{n}")), b"x").unwrap();
    }
    assert!(matches!(
        Manifest::build(std::slice::from_ref(&folder)),
        Err(FileError::TooManyFiles(_))
    ));
}
