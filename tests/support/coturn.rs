//! A real TURN server: Debian's coturn, run with the configuration Parlor
//! ships for users (`deploy/turnserver.conf`), inside a test's namespace.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Child;

use crate::PATIENCE;
use crate::internet::{Internet, SERVER_ADDR, TURN_PORT};

/// The secret the tests share between coturn and `parlor-signal --turn-secret-file`.
pub const SECRET: &str = "parlor-test-secret";

/// A running coturn; killed when dropped.
pub struct Coturn {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
    scratch: PathBuf,
}

impl Coturn {
    /// Starts coturn on the public segment at [`SERVER_ADDR`]:[`TURN_PORT`],
    /// relaying from the same address, and waits until it listens.
    pub async fn start(internet: &Internet) -> Self {
        let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/turnserver.conf");
        static STARTS: AtomicU32 = AtomicU32::new(0);
        let scratch = std::env::temp_dir().join(format!(
            "parlor-coturn-{}-{}",
            std::process::id(),
            STARTS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&scratch).unwrap_or_else(|e| panic!("scratch dir: {e}"));
        let mut child = internet
            .server_command("turnserver".as_ref())
            .arg("-c")
            .arg(&config)
            .arg(format!("--static-auth-secret={SECRET}"))
            .arg(format!("--listening-ip={SERVER_ADDR}"))
            .arg(format!("--relay-ip={SERVER_ADDR}"))
            .arg(format!("--listening-port={TURN_PORT}"))
            .arg("--log-file=stdout")
            .arg(format!(
                "--pidfile={}",
                scratch.join("turnserver.pid").display()
            ))
            .arg(format!("--userdb={}", scratch.join("turndb").display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start turnserver (apt-get install coturn): {e}"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (listening_tx, listening) = tokio::sync::oneshot::channel();
        let lines_log = log.clone();
        tokio::spawn(async move {
            let mut listening_tx = Some(listening_tx);
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if line.contains("Total General servers") {
                    if let Some(tx) = listening_tx.take() {
                        let _ = tx.send(());
                    }
                }
                lines_log
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(line);
            }
        });
        let coturn = Self {
            child,
            log,
            scratch,
        };
        if tokio::time::timeout(PATIENCE, listening).await.is_err() {
            panic!(
                "coturn did not start; its log:\n{}",
                coturn.log().join("\n")
            );
        }
        coturn
    }

    /// Everything coturn logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The user names of the allocations coturn granted so far.
    pub fn allocations(&self) -> Vec<String> {
        self.log()
            .iter()
            .filter(|line| line.contains(": new, realm="))
            .filter_map(|line| {
                let name = line.split("username=<").nth(1)?;
                Some(name.split('>').next()?.to_owned())
            })
            .collect()
    }

    /// Kills coturn, dropping every allocation (as a crash or a restart of
    /// the TURN server does), and starts a fresh one in its place.
    pub async fn restart(&mut self, internet: &Internet) {
        let _ = self.child.kill().await;
        *self = Self::start(internet).await;
    }
}

impl Drop for Coturn {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("coturn's log:\n{}", self.log().join("\n"));
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}
