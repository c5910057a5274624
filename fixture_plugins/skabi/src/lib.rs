//! `skabi`: the shared crate of the streamkit-conformance fixture plugins.
//!
//! * [`types`]: `#[repr(C)]` ABI v9 types with compile-time layout checks.
//! * [`plugin`]: an SDK-like layer (traits, panic guards, trampolines, API
//!   tables) so that conforming fixtures read like real SDK plugins and
//!   defective ones are small, visible deviations from them.
//! * [`packet`] / [`output`]: the §5 receiver rules (host → plugin) and the
//!   encoder/emit helpers (plugin → host).
//! * [`json`], [`log`], [`meta`], [`cstr`]: std-only JSON, the kind-targeted
//!   logger, the metadata builder/static, and the per-thread error slot.
//!
//! No dependency outside std: the corpus must build with `--offline`.

pub mod cstr;
pub mod fixture;
pub mod json;
pub mod log;
pub mod meta;
pub mod output;
pub mod packet;
pub mod plugin;
pub mod types;

pub use json::Json;
pub use log::{Level, Logger};
pub use meta::{NodeMeta, PinType};
pub use output::{Output, PooledAudio, PooledVideo};
pub use packet::{AudioFrame, BinaryPacket, CustomPacket, Metadata, Packet, RawPacket, VideoFrame};
pub use plugin::{
    env_mode, param_mode, parse_hint, processor_api, source_api, Guard, Guarded, Hint, Plugin, SourceConfig,
    SourcePlugin, Unguarded,
};

/// Everything a fixture usually needs.
pub mod prelude {
    pub use crate::types::{self, packet_type, CNativePluginAPI, CPacket};
    pub use crate::{
        env_mode, log_debug, log_error, log_info, log_trace, log_warn, param_mode, parse_hint, processor_api,
        source_api, BinaryPacket, Guarded, Hint, Json, Level, Logger, NodeMeta, Output, Packet, PinType, Plugin,
        RawPacket, SourceConfig, SourcePlugin, Unguarded,
    };
}

/// Export `streamkit_native_plugin_api` returning `$table` (a `&'static CNativePluginAPI`
/// expression, evaluated on every call, so it may choose a table at load time).
#[macro_export]
macro_rules! export_api {
    ($table:expr) => {
        #[no_mangle]
        pub extern "C" fn streamkit_native_plugin_api() -> *const $crate::types::CNativePluginAPI {
            let table: &'static $crate::types::CNativePluginAPI = $table;
            table
        }
    };
}

/// Export the optional v9 symbol `streamkit_native_plugin_set_log_enabled_callback`.
#[macro_export]
macro_rules! export_log_setter {
    ($t:ty) => {
        $crate::export_log_setter!($t, $crate::Guarded);
    };
    ($t:ty, $g:ty) => {
        #[no_mangle]
        pub extern "C" fn streamkit_native_plugin_set_log_enabled_callback(
            handle: $crate::types::CPluginHandle,
            cb: ::std::option::Option<$crate::types::CLogEnabledCallback>,
            user_data: *mut ::std::os::raw::c_void,
        ) {
            $crate::plugin::set_log_enabled_callback::<$t, $g>(handle, cb, user_data)
        }
    };
}

/// What the SDK's processor macro does: a static v9 processor table plus both symbols.
#[macro_export]
macro_rules! export_processor {
    ($t:ty) => {
        static __SKABI_API: $crate::types::CNativePluginAPI = $crate::processor_api::<$t, $crate::Guarded>(9);
        $crate::export_api!(&__SKABI_API);
        $crate::export_log_setter!($t);
    };
}

/// What the SDK's source macro does: a static v9 source table plus both symbols.
#[macro_export]
macro_rules! export_source {
    ($t:ty) => {
        static __SKABI_API: $crate::types::CNativePluginAPI = $crate::source_api::<$t, $crate::Guarded>(9);
        $crate::export_api!(&__SKABI_API);
        $crate::export_log_setter!($t);
    };
}
