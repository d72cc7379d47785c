#![no_main]
//! Token, secret, list and error bodies as servers could send them.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kvinit::fuzz::bodies(data);
});
