//! Hands a launch (`parlor LINK` while Parlor runs) to the running instance
//! before anything of this process's own window starts.
//!
//! The single-instance plugin does the same from inside Tauri's setup, then
//! calls `exit(0)` with GTK and WebKit already started; in CI that second
//! process was seen to die of SIGSEGV on its way out. Asking first, with
//! nothing started, lets this process end by returning from `main`. The
//! plugin stays: it is what answers in the running instance, and it still
//! covers two launches racing for the name.
//!
//! Linux only: the crash was seen there, and elsewhere the plugin uses
//! other mechanisms.

/// Tells the instance running under `identifier` about this launch (its
/// arguments and working directory), as the single-instance plugin's own
/// second instances do. True when it was told: this process should end.
#[cfg(target_os = "linux")]
pub fn to_running_instance(identifier: &str) -> bool {
    use zbus::blocking::Connection;

    // The name and object the plugin (2.x) serves in the running instance.
    let name = format!("{identifier}.SingleInstance");
    let path = format!("/{}", name.replace('.', "/").replace('-', "_"));
    let Ok(bus) = Connection::session() else {
        return false;
    };
    let running = bus
        .call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "NameHasOwner",
            &(name.as_str(),),
        )
        .and_then(|reply| reply.body().deserialize::<bool>())
        .unwrap_or(false);
    if !running {
        return false;
    }
    let argv: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir()
        .ok()
        .and_then(|dir| dir.to_str().map(str::to_owned))
        .unwrap_or_default();
    match bus.call_method(
        Some(name.as_str()),
        path.as_str(),
        Some("org.SingleInstance.DBus"),
        "ExecuteCallback",
        &(argv, cwd),
    ) {
        Ok(_) => true,
        Err(error) => {
            // The plugin gets its turn during start-up.
            tracing::warn!(%error, "could not hand the launch to the running Parlor");
            false
        }
    }
}

/// Elsewhere the single-instance plugin does it all.
#[cfg(not(target_os = "linux"))]
pub fn to_running_instance(_identifier: &str) -> bool {
    false
}
