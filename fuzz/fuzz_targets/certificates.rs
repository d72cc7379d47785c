#![no_main]
//! Certificate secrets: PKCS#12 (DER) and PEM, as `?part=` reads them.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kvinit::fuzz::certificates(data);
});
