//! `late_output`: calls the output callback after process_packet returned.
//!
//! Each process_packet echoes the text on `out` synchronously (correct), then
//! keeps the output callback and its user data and spawns a thread that,
//! ~20 ms after the call returned, emits `late:<text>` through them.
//! DEFECT: the bundle is valid only during the call (ABI.md §4.1); in the real
//! host this is a use-after-free of the per-call context.
//!
//! The instance itself is kept sound: cleanup joins the helper threads, so
//! destroy never returns while one of them still runs.

use skabi::fixture::{expect_text, text_transform_meta};
use skabi::prelude::*;
use std::ffi::CString;
use std::os::raw::c_void;
use std::thread::JoinHandle;
use std::time::Duration;

const KIND: &str = "late_output";

struct Late {
    helpers: Vec<JoinHandle<()>>,
}

impl Plugin for Late {
    fn metadata() -> NodeMeta {
        text_transform_meta(KIND)
    }

    fn new(_params: Option<Json>, _logger: Logger) -> Result<Self, String> {
        Ok(Late { helpers: Vec::new() })
    }

    fn process(&mut self, _pin: &str, packet: Packet, out: &mut Output<'_>) -> Result<(), String> {
        let text = expect_text(KIND, packet)?;
        out.send_text("out", &text)?;

        // DEFECT: stash the callback + user data beyond the call.
        let (callback, user_data) = out.output_fn().ok_or("late_output: no output callback")?;
        let user_data = user_data as usize;
        self.helpers.push(std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let pin = CString::new("out").expect("no NUL");
            let late = CString::new(format!("late:{text}").replace('\0', " ")).expect("no NUL");
            let packet = CPacket {
                packet_type: packet_type::TEXT,
                data: late.as_ptr() as *const c_void,
                len: late.as_bytes_with_nul().len(),
            };
            callback(pin.as_ptr(), &packet, user_data as *mut c_void);
        }));
        Ok(())
    }

    fn cleanup(&mut self) {
        for h in self.helpers.drain(..) {
            let _ = h.join();
        }
    }
}

skabi::export_processor!(Late);
