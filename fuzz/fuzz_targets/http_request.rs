//! Any bytes as what a client sends on an HTTP/1.1 connection: heads, bodies by length and
//! chunked, one after another, read as the MPNS listener reads them.
#![no_main]
libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    listen::read_requests(input);
});
