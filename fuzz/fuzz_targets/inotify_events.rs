//! inotify event buffers (the directory watcher's decoder): parsing never panics, whatever the
//! bytes, for the current watch descriptor or any.
#![no_main]

use ironlb_net::socket::parse_events;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = parse_events(data, Some(1));
    let _ = parse_events(data, None);
});
