//! The API's request parser: any bytes a client sends.
#![no_main]
use immortal::api::{parse, Parsed, Route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        // Partial only while under the request size limit.
        Parsed::Partial => assert!(data.len() < immortal::api::MAX_REQUEST),
        Parsed::Request(Route::Signal(name)) => assert!(!name.is_empty() && !name.contains('/')),
        // Too large only past the limit.
        Parsed::TooLarge => assert!(data.len() >= immortal::api::MAX_REQUEST),
        Parsed::Request(_) | Parsed::Bad => {}
    }
});
