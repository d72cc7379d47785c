#![no_main]
//! Secret references, options, App Service references and templates from
//! untrusted text.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        kvinit::fuzz::reference(text);
    }
});
