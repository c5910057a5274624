//! `create_limit`: a Text echo processor backed by a fixed instance budget.
//!
//! DEFECT: a process-wide table allows at most 2 live instances, and a
//! second counter of creates ever made refuses every create after the 50th
//! (destroy gives the live slot back but never the budget). Further creates
//! return NULL: one plugin cannot back 4 nodes at once, and pipeline
//! restarts run out after 50 nodes (ABI.md §4.3, §4.9).

use skabi::fixture::text_echo_meta;
use skabi::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

const KIND: &str = "create_limit";
const MAX_LIVE: usize = 2;
const MAX_CREATES: usize = 50;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static CREATED: AtomicUsize = AtomicUsize::new(0);

struct Echo;

impl Plugin for Echo {
    fn metadata() -> NodeMeta {
        text_echo_meta(KIND)
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        // DEFECT: fixed budgets instead of independent instances.
        if CREATED.fetch_add(1, Ordering::SeqCst) >= MAX_CREATES {
            return Err(format!("{KIND}: instance budget of {MAX_CREATES} creates exhausted"));
        }
        if LIVE.fetch_add(1, Ordering::SeqCst) >= MAX_LIVE {
            LIVE.fetch_sub(1, Ordering::SeqCst);
            return Err(format!("{KIND}: at most {MAX_LIVE} live instances"));
        }
        Ok(Echo)
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        out.send("out", &packet)
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
}

skabi::export_processor!(Echo);
