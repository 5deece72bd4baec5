//! Any bytes through the Go-compatible JSON decoder, read as every field type.
#![no_main]
libfuzzer_sys::fuzz_target!(|body: &[u8]| {
    if let Ok(o) = gojson::decode_object(body, "fuzz.Value") {
        for key in ["a", "badge", "Message", "list"] {
            let _ = o.string(key);
            let _ = o.boolean(key);
            let _ = o.int64(key, "int");
            let _ = o.int32(key);
            let _ = o.has(key);
            if let Ok(items) = o.objects(key, "fuzz.Item") {
                for item in items {
                    let _ = item.string(key);
                }
            }
        }
    }
});
