//! `lying_send_tls`: a Text processor that claims `Send + Sync` but keeps its
//! per-instance state (the `label`) in a thread-local of the creating thread.
//!
//! Emits `<label>:<text>` (label from params, default "echo"). On the thread
//! that created the instance it works; on any other thread (the host runs
//! calls on a worker thread, HOST.md §1.4) the state is missing and
//! process_packet fails with `lying_send_tls: instance state missing on this
//! thread`. DEFECT: thread-affine state behind `unsafe impl Send`.

use skabi::fixture::{expect_text, text_transform_meta};
use skabi::prelude::*;
use std::cell::RefCell;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

const KIND: &str = "lying_send_tls";

thread_local! {
    /// instance id → label, only on the thread that ran `new`.
    static LABELS: RefCell<HashMap<u64, String>> = RefCell::new(HashMap::new());
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

struct TlsEcho {
    id: u64,
    /// A raw-pointer marker: the type is honestly !Send ...
    _thread_bound: PhantomData<*const ()>,
}

// DEFECT: ... and this claims otherwise.
unsafe impl Send for TlsEcho {}
unsafe impl Sync for TlsEcho {}

impl Plugin for TlsEcho {
    fn metadata() -> NodeMeta {
        text_transform_meta(KIND).param_schema(r#"{"type":"object","properties":{"label":{"type":"string","default":"echo"}}}"#)
    }

    fn new(params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        let label = match params.as_ref().and_then(|p| p.get("label")) {
            None => "echo".to_string(),
            Some(v) => v.as_str().ok_or("Invalid params: `label` must be a string")?.to_string(),
        };
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        LABELS.with(|l| l.borrow_mut().insert(id, label));
        Ok(TlsEcho { id, _thread_bound: PhantomData })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        let text = expect_text(KIND, packet)?;
        let label = LABELS
            .with(|l| l.borrow().get(&self.id).cloned())
            .ok_or("lying_send_tls: instance state missing on this thread")?;
        out.send_text("out", &format!("{label}:{text}"))
    }

    fn cleanup(&mut self) {
        // Only removes the entry when destroyed on the creating thread.
        LABELS.with(|l| l.borrow_mut().remove(&self.id));
    }
}

skabi::export_processor!(TlsEcho);
