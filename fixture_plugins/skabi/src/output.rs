//! Plugin → host: packet encoding and the callback bundle (ABI.md §4.12–§4.14,
//! §5 encoder side, §6.1 output helpers).
//!
//! `Output` wraps the `CNodeCallbacks *` of one call. It never reads a field
//! that `struct_size` does not cover, treats NULL optional callbacks as
//! absent, and its lifetime is tied to the call, so the bundle cannot be
//! kept by safe code.

use crate::packet::{AudioFrame, BinaryPacket, Metadata, Packet, VideoFrame};
use crate::types::*;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::os::raw::{c_char, c_void};
use std::ptr::{self, NonNull};

/// The callback bundle of the current `process_packet`/`flush`/`tick` call.
pub struct Output<'call> {
    cb: *const CNodeCallbacks,
    _call: PhantomData<&'call CNodeCallbacks>,
}

fn result_to_err(r: CResult) -> Result<(), String> {
    if r.success {
        return Ok(());
    }
    if r.error_message.is_null() {
        return Err("Unknown error".into());
    }
    // Copy immediately: the host's message is borrowed.
    Err(unsafe { CStr::from_ptr(r.error_message) }.to_string_lossy().into_owned())
}

/// Text payload as the SDK encodes it: truncated at the first interior NUL.
fn text_cstring(s: &str) -> CString {
    let cut = s.split('\0').next().unwrap_or("");
    CString::new(cut).expect("cut at the first NUL")
}

/// Custom type id / content type: interior NUL replaced by a space.
fn space_cstring(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).expect("NULs replaced")
}

/// A non-NULL pointer for an empty payload (the host rejects NULL data, C2).
fn nonnull_bytes(v: &[u8]) -> *const u8 {
    if v.is_empty() {
        NonNull::<u8>::dangling().as_ptr()
    } else {
        v.as_ptr()
    }
}

impl<'call> Output<'call> {
    /// # Safety
    /// `cb` must be a valid, non-NULL `CNodeCallbacks *` for the current call,
    /// readable up to its own `struct_size`.
    pub unsafe fn new(cb: *const CNodeCallbacks) -> Self {
        Output { cb, _call: PhantomData }
    }

    /// The raw bundle pointer (only for fixtures that misuse it on purpose).
    pub fn as_ptr(&self) -> *const CNodeCallbacks {
        self.cb
    }

    pub fn struct_size(&self) -> usize {
        unsafe { ptr::addr_of!((*self.cb).struct_size).read() }
    }

    /// The output callback and its user data (needs struct_size ≥ 24).
    pub fn output_fn(&self) -> Option<(COutputCallback, *mut c_void)> {
        if self.struct_size() < 24 {
            return None;
        }
        unsafe {
            let f = ptr::addr_of!((*self.cb).output_callback).read()?;
            Some((f, ptr::addr_of!((*self.cb).output_user_data).read()))
        }
    }

    /// Call the host's output callback with a prepared C packet.
    pub fn send_c(&mut self, pin: &str, packet: &CPacket) -> Result<(), String> {
        let pin = CString::new(pin).map_err(|e| format!("Invalid pin name: {e}"))?;
        let (f, ud) = self.output_fn().ok_or("output callback unavailable")?;
        result_to_err(f(pin.as_ptr(), packet, ud))
    }

    /// Encode and send an owned packet. `Packet::Binary` is always sent as a
    /// v9 BinaryWithMeta (`CPacket.len` 48, handle and free_fn NULL).
    pub fn send(&mut self, pin: &str, packet: &Packet) -> Result<(), String> {
        match packet {
            Packet::Text(s) => {
                let c = text_cstring(s);
                let len = c.as_bytes_with_nul().len();
                self.send_c(pin, &CPacket { packet_type: packet_type::TEXT, data: c.as_ptr() as *const c_void, len })
            }
            Packet::Transcription(j) => {
                let text = j.to_compact();
                self.send_c(
                    pin,
                    &CPacket { packet_type: packet_type::TRANSCRIPTION, data: text.as_ptr() as *const c_void, len: text.len() },
                )
            }
            Packet::Custom(c) => {
                let type_id = space_cstring(&c.type_id);
                let data = c.data.to_compact();
                let meta = c.metadata.map(|m| m.to_c());
                let cc = CCustomPacket {
                    type_id: type_id.as_ptr(),
                    encoding: 0,
                    data_json: data.as_ptr(),
                    data_len: data.len(),
                    metadata: meta.as_ref().map_or(ptr::null(), |m| m as *const _),
                };
                self.send_c(
                    pin,
                    &CPacket {
                        packet_type: packet_type::CUSTOM,
                        data: &cc as *const _ as *const c_void,
                        len: std::mem::size_of::<CCustomPacket>(),
                    },
                )
            }
            Packet::Binary(b) => self.send_binary_with_meta(pin, b),
            Packet::RawAudio(a) => self.send_audio_copy(pin, a),
            Packet::RawVideo(v) => self.send_video_copy(pin, v),
        }
    }

    /// Text convenience.
    pub fn send_text(&mut self, pin: &str, text: &str) -> Result<(), String> {
        self.send(pin, &Packet::Text(text.to_string()))
    }

    /// v9 BinaryWithMeta, 48 bytes, no handle.
    pub fn send_binary_with_meta(&mut self, pin: &str, b: &BinaryPacket) -> Result<(), String> {
        let ct = b.content_type.as_deref().map(space_cstring);
        let meta = b.metadata.map(|m| m.to_c());
        let bp = CBinaryPacket {
            data: nonnull_bytes(&b.data),
            data_len: b.data.len(),
            content_type: ct.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            metadata: meta.as_ref().map_or(ptr::null(), |m| m as *const _),
            buffer_handle: ptr::null_mut(),
            free_fn: None,
        };
        self.send_c(
            pin,
            &CPacket {
                packet_type: packet_type::BINARY_WITH_META,
                data: &bp as *const _ as *const c_void,
                len: BINARY_PACKET_V9_SIZE,
            },
        )
    }

    /// v7/v8 BinaryWithMeta, 32 bytes (the host does not read handle fields).
    pub fn send_binary_with_meta_v8(&mut self, pin: &str, b: &BinaryPacket) -> Result<(), String> {
        let ct = b.content_type.as_deref().map(space_cstring);
        let meta = b.metadata.map(|m| m.to_c());
        let bp = CBinaryPacketV8 {
            data: nonnull_bytes(&b.data),
            data_len: b.data.len(),
            content_type: ct.as_ref().map_or(ptr::null(), |c| c.as_ptr()),
            metadata: meta.as_ref().map_or(ptr::null(), |m| m as *const _),
        };
        self.send_c(
            pin,
            &CPacket {
                packet_type: packet_type::BINARY_WITH_META,
                data: &bp as *const _ as *const c_void,
                len: BINARY_PACKET_V8_SIZE,
            },
        )
    }

    /// Plain Binary (5).
    pub fn send_binary(&mut self, pin: &str, data: &[u8]) -> Result<(), String> {
        self.send_c(
            pin,
            &CPacket { packet_type: packet_type::BINARY, data: nonnull_bytes(data) as *const c_void, len: data.len() },
        )
    }

    fn send_audio_copy(&mut self, pin: &str, a: &AudioFrame) -> Result<(), String> {
        let meta = a.metadata.map(|m| m.to_c());
        let samples = if a.samples.is_empty() { NonNull::<f32>::dangling().as_ptr() as *const f32 } else { a.samples.as_ptr() };
        let f = CAudioFrame {
            sample_rate: a.sample_rate,
            channels: a.channels,
            samples,
            sample_count: a.samples.len(),
            buffer_handle: ptr::null_mut(),
            metadata: meta.as_ref().map_or(ptr::null(), |m| m as *const _),
        };
        self.send_c(
            pin,
            &CPacket { packet_type: packet_type::RAW_AUDIO, data: &f as *const _ as *const c_void, len: std::mem::size_of::<CAudioFrame>() },
        )
    }

    fn send_video_copy(&mut self, pin: &str, v: &VideoFrame) -> Result<(), String> {
        let meta = v.metadata.map(|m| m.to_c());
        let f = CVideoFrame {
            width: v.width,
            height: v.height,
            pixel_format: v.pixel_format,
            data: nonnull_bytes(&v.data),
            data_len: v.data.len(),
            buffer_handle: ptr::null_mut(),
            metadata: meta.as_ref().map_or(ptr::null(), |m| m as *const _),
        };
        self.send_c(
            pin,
            &CPacket { packet_type: packet_type::RAW_VIDEO, data: &f as *const _ as *const c_void, len: std::mem::size_of::<CVideoFrame>() },
        )
    }

    /// Emit a telemetry event. A no-op success when the bundle has no
    /// telemetry field (struct_size < 32) or the pointer is NULL.
    pub fn telemetry(&mut self, event_type: &str, data_json: &str, metadata: Option<&Metadata>) -> Result<(), String> {
        if self.struct_size() < CALLBACKS_TELEMETRY_END {
            return Ok(());
        }
        let (f, ud) = unsafe {
            match ptr::addr_of!((*self.cb).telemetry_callback).read() {
                Some(f) => (f, ptr::addr_of!((*self.cb).telemetry_user_data).read()),
                None => return Ok(()),
            }
        };
        let ev = CString::new(event_type).map_err(|e| format!("Invalid telemetry event type: {e}"))?;
        let meta = metadata.map(|m| m.to_c());
        result_to_err(f(
            ev.as_ptr(),
            data_json.as_ptr(),
            data_json.len(),
            meta.as_ref().map_or(ptr::null(), |m| m as *const _),
            ud,
        ))
    }

    fn alloc_user_data(&self) -> *mut c_void {
        // The SDK reads alloc_user_data whenever an alloc field is covered
        // (ABI.md Appendix A.7); with a full 64-byte bundle this is in bounds.
        unsafe { ptr::addr_of!((*self.cb).alloc_user_data).read() }
    }

    /// The raw `alloc_audio` function, if `struct_size` covers it (≥ 56) and it is non-NULL.
    pub fn alloc_audio_fn(&self) -> Option<(CAllocAudioFn, *mut c_void)> {
        if self.struct_size() < CALLBACKS_ALLOC_AUDIO_END {
            return None;
        }
        let f = unsafe { ptr::addr_of!((*self.cb).alloc_audio).read() }?;
        Some((f, self.alloc_user_data()))
    }

    /// The raw `alloc_video` function, if `struct_size` covers it (≥ 48) and it is non-NULL.
    pub fn alloc_video_fn(&self) -> Option<(CAllocVideoFn, *mut c_void)> {
        if self.struct_size() < CALLBACKS_ALLOC_VIDEO_END {
            return None;
        }
        let f = unsafe { ptr::addr_of!((*self.cb).alloc_video).read() }?;
        Some((f, self.alloc_user_data()))
    }

    /// Raw pool allocation: the host's result, or None when unavailable or
    /// when the result has NULL data or NULL free_fn (SDK rule).
    pub fn alloc_audio_raw(&mut self, samples: usize) -> Option<CAllocAudioResult> {
        let (f, ud) = self.alloc_audio_fn()?;
        let r = f(samples, ud);
        (!r.data.is_null() && r.free_fn.is_some()).then_some(r)
    }

    pub fn alloc_video_raw(&mut self, bytes: usize) -> Option<CAllocVideoResult> {
        let (f, ud) = self.alloc_video_fn()?;
        let r = f(bytes, ud);
        (!r.data.is_null() && r.free_fn.is_some()).then_some(r)
    }

    /// A pool audio buffer of at least `samples` samples (freed on drop unless sent).
    pub fn alloc_audio(&mut self, samples: usize) -> Option<PooledAudio> {
        let r = self.alloc_audio_raw(samples)?;
        let buf = PooledAudio { r };
        // A short allocation would be a host bug; give it back and copy instead.
        (r.sample_count >= samples).then_some(buf)
    }

    /// A pool video buffer of at least `bytes` bytes (freed on drop unless sent).
    pub fn alloc_video(&mut self, bytes: usize) -> Option<PooledVideo> {
        let r = self.alloc_video_raw(bytes)?;
        let buf = PooledVideo { r };
        (r.len >= bytes).then_some(buf)
    }

    /// Send a pool buffer as RawAudio: `buffer_handle` = handle, `samples` =
    /// the allocation, `sample_count` = the allocation length. Ownership moves
    /// to the host whatever the callback answers.
    pub fn send_pooled_audio(
        &mut self,
        pin: &str,
        buf: PooledAudio,
        sample_rate: u32,
        channels: u16,
        metadata: Option<&Metadata>,
    ) -> Result<(), String> {
        let r = buf.into_raw();
        let meta = metadata.map(|m| m.to_c());
        let f = CAudioFrame {
            sample_rate,
            channels,
            samples: r.data,
            sample_count: r.sample_count,
            buffer_handle: r.handle,
            metadata: meta.as_ref().map_or(ptr::null(), |m| m as *const _),
        };
        self.send_c(
            pin,
            &CPacket { packet_type: packet_type::RAW_AUDIO, data: &f as *const _ as *const c_void, len: std::mem::size_of::<CAudioFrame>() },
        )
    }

    /// Send a pool buffer as RawVideo (`data_len` = allocation length).
    pub fn send_pooled_video(
        &mut self,
        pin: &str,
        buf: PooledVideo,
        width: u32,
        height: u32,
        pixel_format: u32,
        metadata: Option<&Metadata>,
    ) -> Result<(), String> {
        let r = buf.into_raw();
        let meta = metadata.map(|m| m.to_c());
        let f = CVideoFrame {
            width,
            height,
            pixel_format,
            data: r.data,
            data_len: r.len,
            buffer_handle: r.handle,
            metadata: meta.as_ref().map_or(ptr::null(), |m| m as *const _),
        };
        self.send_c(
            pin,
            &CPacket { packet_type: packet_type::RAW_VIDEO, data: &f as *const _ as *const c_void, len: std::mem::size_of::<CVideoFrame>() },
        )
    }
}

/// An owned pool audio buffer; `free_fn(handle)` runs on drop unless sent.
pub struct PooledAudio {
    r: CAllocAudioResult,
}

impl PooledAudio {
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        unsafe { std::slice::from_raw_parts_mut(self.r.data, self.r.sample_count) }
    }

    /// Give up ownership without freeing (the caller must send or free it).
    pub fn into_raw(self) -> CAllocAudioResult {
        let r = self.r;
        std::mem::forget(self);
        r
    }
}

impl Drop for PooledAudio {
    fn drop(&mut self) {
        if let Some(free) = self.r.free_fn {
            free(self.r.handle);
        }
    }
}

/// An owned pool video buffer; `free_fn(handle)` runs on drop unless sent.
pub struct PooledVideo {
    r: CAllocVideoResult,
}

impl PooledVideo {
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        unsafe { std::slice::from_raw_parts_mut(self.r.data, self.r.len) }
    }

    pub fn into_raw(self) -> CAllocVideoResult {
        let r = self.r;
        std::mem::forget(self);
        r
    }
}

impl Drop for PooledVideo {
    fn drop(&mut self) {
        if let Some(free) = self.r.free_fn {
            free(self.r.handle);
        }
    }
}

/// Read a C string argument for messages (lossy).
///
/// # Safety
/// `p` must be NULL or a valid C string.
pub unsafe fn lossy(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}
