//! containerd's verifier call: the input is the arguments (separated by NUL) and, after the
//! first 0xFF byte, stdin. `parse_args`, `check_call` and `check_input` never panic; an accepted
//! call names a digest that the descriptor and any digest in `-name` agree with, and
//! `Descriptor::parse` accepts the same stdin alone.
#![no_main]

use libfuzzer_sys::fuzz_target;
use taglog_client::service::containerd::{check_call, check_input, parse_args, Descriptor};

fuzz_target!(|data: &[u8]| {
    let (args, stdin) = match data.iter().position(|b| *b == 0xFF) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let _ = Descriptor::parse(stdin);
    let Ok(args) = std::str::from_utf8(args) else {
        return;
    };
    let args = args.split('\0').map(std::ffi::OsString::from);
    let Ok(call) = parse_args(args) else {
        return;
    };
    let Ok(digest) = check_call(&call) else {
        return;
    };
    if let Ok(ask) = check_input(&call, digest, stdin) {
        let d = Descriptor::parse(stdin).expect("an accepted call has a valid descriptor");
        assert_eq!(d.digest, digest);
        if let Some(named) = ask.image().digest() {
            assert_eq!(*named, digest);
        }
    }
});
