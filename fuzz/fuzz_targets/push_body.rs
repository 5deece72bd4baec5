//! A `send_push` body through decoding, MPNS's validation and both providers' request building.
#![no_main]
libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    pushgate_proxy::fuzzing::push_body(body);
});
