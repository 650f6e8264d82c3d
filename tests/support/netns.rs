//! Network namespaces a test makes for itself, to run processes on a network
//! that looks like a particular machine's.

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::process::Command;

/// A network namespace with nothing but a loopback interface, like an
/// offline laptop or a container: no interface that can carry multicast.
/// Removed when dropped.
pub struct LoopbackOnly {
    name: String,
}

impl LoopbackOnly {
    /// Makes the namespace and brings its loopback interface up.
    pub fn create() -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "parlor-lo-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        run(&["netns", "add", &name]);
        run(&["-n", &name, "link", "set", "lo", "up"]);
        Self { name }
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }
}

impl Drop for LoopbackOnly {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn run(args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        status.success(),
        "ip {args:?} failed: {status} (root is needed)"
    );
}
