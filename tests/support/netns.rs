//! Network namespaces a test makes for itself, to run processes on a network
//! that looks like a particular machine's (or, with [`crate::internet`],
//! like several machines on the internet).

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::process::Command;

/// A network namespace this test made; removed when dropped.
pub struct Namespace {
    name: String,
}

impl Namespace {
    /// Makes a namespace (named after this process and `role`) and brings
    /// its loopback interface up.
    pub fn create(role: &str) -> Self {
        static COUNT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "parlor-{role}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let namespace = Self { name };
        namespace.ip(&["link", "set", "lo", "up"]);
        namespace
    }

    /// A namespace with nothing but a loopback interface, like an offline
    /// laptop or a container: no interface that can carry multicast.
    pub fn loopback_only() -> Self {
        Self::create("lo")
    }

    /// Its name, for `ip -n` and `ip netns exec`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace.
    pub fn command(&self, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name]).arg(program);
        command
    }

    /// Runs `ip ARGS` inside the namespace; panics if it fails (a test that
    /// cannot build its network has nothing to test).
    pub fn ip(&self, args: &[&str]) {
        let mut all = vec!["-n", &self.name];
        all.extend_from_slice(args);
        ip(&all);
    }

    /// Links this namespace to `peer` with a veth pair: `device` here,
    /// `peer_device` there.
    pub fn veth(&self, device: &str, peer: &Namespace, peer_device: &str) {
        self.ip(&[
            "link",
            "add",
            device,
            "type",
            "veth",
            "peer",
            "name",
            peer_device,
            "netns",
            peer.name(),
        ]);
    }

    /// Runs `program ARGS` inside the namespace and waits for it; panics if
    /// it fails.
    pub fn run(&self, program: &str, args: &[&str]) {
        let output = std::process::Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program} {args:?}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

fn ip(args: &[&str]) {
    let output = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run ip {args:?}: {e}"));
    assert!(
        output.status.success(),
        "ip {args:?} failed (root is needed): {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
