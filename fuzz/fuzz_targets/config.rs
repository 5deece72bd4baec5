//! A config file through the MPNS config parser.
#![no_main]
libfuzzer_sys::fuzz_target!(|file: &[u8]| {
    let _ = pushgate_proxy::config::Config::parse(file);
});
