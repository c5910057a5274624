//! `no_entry_symbol`: a valid shared library that does not export
//! `streamkit_native_plugin_api` (upstream's `empty-plugin`).
//!
//! DEFECT: the host must fail the load with "Plugin does not export
//! 'streamkit_native_plugin_api' symbol: …". The only export is an unrelated
//! marker, so the library itself is loadable.

/// An unrelated exported symbol.
#[no_mangle]
pub extern "C" fn streamkit_fixture_unrelated_symbol() -> u32 {
    42
}
