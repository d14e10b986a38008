//! A panic in the model (or a host failure) is a verdict, `crashed`, not a
//! harness crash. Panics inside a run are caught and their message kept;
//! the default hook's backtrace is silenced for them so a sweep's output
//! stays readable.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static CATCHING: Cell<bool> = const { Cell::new(false) };
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static HOOK: Once = Once::new();

fn install_hook() {
    HOOK.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if CATCHING.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!(" at {}:{}", l.file(), l.line()))
                    .unwrap_or_default();
                let msg = payload_text(info.payload());
                // Keep the first panic: later ones (tokio shutting the host
                // down because of it) only echo it.
                LAST.with(|l| {
                    l.borrow_mut()
                        .get_or_insert_with(|| format!("{msg}{location}"));
                });
            } else {
                default(info);
            }
        }));
    });
}

fn payload_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-text payload".into()
    }
}

/// Runs `f`, returning the first panic's message instead of unwinding.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let was = CATCHING.with(|c| c.replace(true));
    LAST.with(|l| *l.borrow_mut() = None);
    let result = panic::catch_unwind(AssertUnwindSafe(f));
    CATCHING.with(|c| c.set(was));
    result.map_err(|p| {
        LAST.with(|l| l.borrow_mut().take())
            .unwrap_or_else(|| payload_text(&*p))
    })
}

/// turmoil's own limits, by the words of its panics: a listening socket's
/// queue of connections not yet accepted (`tcp_capacity`), and a host's
/// ephemeral ports.
const TURMOIL_LIMITS: [&str; 2] = ["server socket buffer full", "ports exhausted"];

/// When a caught panic is one of turmoil's limits rather than the model's
/// failure, what to report instead of `crashed`: the run asked more of the
/// simulated network at once than the harness holds (thousands of requests
/// in flight), which says nothing about omicron.
pub fn harness_limit(message: &str) -> Option<String> {
    TURMOIL_LIMITS.iter().any(|l| message.contains(l)).then(|| {
        format!("turmoil's network ran out of room ({message}): the run asks more of it at once than the harness supports (such as thousands of requests in flight); this is not a model crash")
    })
}
