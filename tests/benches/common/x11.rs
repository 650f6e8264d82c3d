//! When a process's window is mapped on the X display, from X's own
//! `MapNotify` events (Xlib, called directly: libX11 is on every machine that
//! builds the app, since WebKitGTK needs it).
//!
//! The watcher selects `SubstructureNotify` on the root window, so X tells it
//! of every top-level window mapped, the moment it is; a window is the
//! process's when its `_NET_WM_PID` (which GTK sets on every top-level window
//! before mapping it) names the process. Unlike polling `xdotool search
//! --onlyvisible --pid`, this costs the machine nothing while the app starts
//! (polling every few milliseconds would take a good part of one of its two
//! cores from the app being timed) and its resolution is the event's, not the
//! poll interval's.

use std::ffi::{CString, c_char, c_int, c_long, c_uchar, c_uint, c_ulong, c_void};
use std::time::Instant;

use anyhow::bail;

type Window = c_ulong;
type Atom = c_ulong;

#[repr(C)]
struct Display {
    _opaque: [u8; 0],
}

/// `XMapEvent` (Xlib.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct MapEvent {
    kind: c_int,
    serial: c_ulong,
    send_event: c_int,
    display: *mut Display,
    event: Window,
    window: Window,
    override_redirect: c_int,
}

/// `XEvent` (Xlib.h): a union padded to 24 longs.
#[repr(C)]
union Event {
    kind: c_int,
    map: MapEvent,
    pad: [c_long; 24],
}

const MAP_NOTIFY: c_int = 19;
const SUBSTRUCTURE_NOTIFY_MASK: c_long = 1 << 19;
const XA_CARDINAL: Atom = 6;
const SUCCESS: c_int = 0;

#[link(name = "X11")]
unsafe extern "C" {
    fn XOpenDisplay(name: *const c_char) -> *mut Display;
    fn XCloseDisplay(display: *mut Display) -> c_int;
    fn XDefaultRootWindow(display: *mut Display) -> Window;
    fn XSelectInput(display: *mut Display, window: Window, mask: c_long) -> c_int;
    fn XSync(display: *mut Display, discard: c_int) -> c_int;
    fn XPending(display: *mut Display) -> c_int;
    fn XNextEvent(display: *mut Display, event: *mut Event) -> c_int;
    fn XConnectionNumber(display: *mut Display) -> c_int;
    fn XInternAtom(display: *mut Display, name: *const c_char, only_if_exists: c_int) -> Atom;
    fn XGetWindowProperty(
        display: *mut Display,
        window: Window,
        property: Atom,
        offset: c_long,
        length: c_long,
        delete: c_int,
        wanted_type: Atom,
        actual_type: *mut Atom,
        actual_format: *mut c_int,
        items: *mut c_ulong,
        bytes_after: *mut c_ulong,
        value: *mut *mut c_uchar,
    ) -> c_int;
    fn XQueryTree(
        display: *mut Display,
        window: Window,
        root: *mut Window,
        parent: *mut Window,
        children: *mut *mut Window,
        count: *mut c_uint,
    ) -> c_int;
    fn XFree(data: *mut c_void) -> c_int;
    fn XSetErrorHandler(
        handler: Option<unsafe extern "C" fn(*mut Display, *mut c_void) -> c_int>,
    ) -> Option<unsafe extern "C" fn(*mut Display, *mut c_void) -> c_int>;
}

/// Xlib's default error handler exits the process; a window that is gone
/// by the time its property is read (BadWindow) is no reason to.
unsafe extern "C" fn ignore_errors(_: *mut Display, _: *mut c_void) -> c_int {
    0
}

/// A connection to the X display that hears of every top-level window
/// mapped; closed on drop.
pub struct MapWatcher {
    display: *mut Display,
    net_wm_pid: Atom,
}

impl MapWatcher {
    /// Connects to `$DISPLAY` and starts listening.
    pub fn open() -> anyhow::Result<Self> {
        // SAFETY: plain Xlib calls on a display this watcher owns; a null
        // name means $DISPLAY, and the atom name is a valid C string.
        unsafe {
            XSetErrorHandler(Some(ignore_errors));
            let display = XOpenDisplay(std::ptr::null());
            if display.is_null() {
                bail!("cannot open the X display (run the bench under xvfb-run -a)");
            }
            let name = CString::new("_NET_WM_PID")?;
            let net_wm_pid = XInternAtom(display, name.as_ptr(), 0);
            XSelectInput(
                display,
                XDefaultRootWindow(display),
                SUBSTRUCTURE_NOTIFY_MASK,
            );
            XSync(display, 0);
            Ok(Self {
                display,
                net_wm_pid,
            })
        }
    }

    /// Forgets the windows mapped so far (another launch's).
    pub fn drain(&mut self) {
        // SAFETY: the display is open; `event` is a full XEvent.
        unsafe {
            XSync(self.display, 0);
            let mut event: Event = std::mem::zeroed();
            while XPending(self.display) > 0 {
                XNextEvent(self.display, &mut event);
            }
        }
    }

    /// Waits until a top-level window of process `pid` is mapped and returns
    /// when X told us; `None` if none is by `deadline`.
    pub fn wait_mapped(&mut self, pid: u32, deadline: Instant) -> Option<Instant> {
        loop {
            // SAFETY: the display is open; `event` is a full XEvent, and the
            // map member is read only for MapNotify events.
            unsafe {
                while XPending(self.display) > 0 {
                    let mut event: Event = std::mem::zeroed();
                    XNextEvent(self.display, &mut event);
                    if event.kind != MAP_NOTIFY {
                        continue;
                    }
                    let seen = Instant::now();
                    let map = event.map;
                    if map.override_redirect == 0 && self.belongs_to(map.window, pid) {
                        return Some(seen);
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let wait_ms = (deadline - now).as_millis().clamp(1, 50);
            let mut poll = libc::pollfd {
                // SAFETY: the display is open.
                fd: unsafe { XConnectionNumber(self.display) },
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut poll, 1, c_int::try_from(wait_ms).unwrap_or(50)) };
        }
    }

    /// Whether `window`, or (under a window manager, which maps its own
    /// frame around it) one of its children, is `pid`'s.
    fn belongs_to(&self, window: Window, pid: u32) -> bool {
        if self.pid_of(window) == Some(pid) {
            return true;
        }
        // SAFETY: XQueryTree fills the out-pointers; the list is freed once.
        unsafe {
            let (mut root, mut parent) = (0, 0);
            let mut children: *mut Window = std::ptr::null_mut();
            let mut count: c_uint = 0;
            if XQueryTree(
                self.display,
                window,
                &mut root,
                &mut parent,
                &mut children,
                &mut count,
            ) == 0
                || children.is_null()
            {
                return false;
            }
            let list = std::slice::from_raw_parts(children, count as usize);
            let found = list.iter().any(|child| self.pid_of(*child) == Some(pid));
            XFree(children.cast());
            found
        }
    }

    /// The `_NET_WM_PID` of `window`, if it has one.
    fn pid_of(&self, window: Window) -> Option<u32> {
        // SAFETY: XGetWindowProperty fills the out-pointers; a CARDINAL of
        // format 32 comes back as one C long; the value is freed once.
        unsafe {
            let mut actual_type: Atom = 0;
            let mut format: c_int = 0;
            let mut items: c_ulong = 0;
            let mut after: c_ulong = 0;
            let mut value: *mut c_uchar = std::ptr::null_mut();
            let status = XGetWindowProperty(
                self.display,
                window,
                self.net_wm_pid,
                0,
                1,
                0,
                XA_CARDINAL,
                &mut actual_type,
                &mut format,
                &mut items,
                &mut after,
                &mut value,
            );
            if status != SUCCESS || value.is_null() {
                return None;
            }
            let pid = (format == 32 && items == 1)
                .then(|| *value.cast::<c_long>())
                .and_then(|pid| u32::try_from(pid).ok());
            XFree(value.cast());
            pid
        }
    }
}

impl Drop for MapWatcher {
    fn drop(&mut self) {
        // SAFETY: opened in `open`, closed once.
        unsafe {
            XCloseDisplay(self.display);
        }
    }
}
