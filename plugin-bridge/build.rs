// The same stamps as the `pushgate` binary (git hash for `GET /version`): one script for both.
include!("../proxy/build.rs");
