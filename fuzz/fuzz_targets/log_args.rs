//! `immortallog`'s command line (svlogd, multilog and Go syntaxes) and a
//! log directory's `config` file. Input: NUL-separated arguments, then a
//! 0xff byte, then the config text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (args, config) = match data.iter().position(|&b| b == 0xff) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let args: Vec<String> = args
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let Ok(mut opts) = immortal::cmd::immortallog::parse(&args) else {
        return;
    };
    let _ = immortal::cmd::immortallog::apply_config(&mut opts, &String::from_utf8_lossy(config));
});
