//! Manifest reading: any bytes give documents or an error, never a panic or a hang.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Ok(documents) = ironlb_api::manifest::parse(data, "fuzz") {
        for document in documents {
            let _ = document.result.map(|object| format!("{object:?}"));
        }
    }
});
