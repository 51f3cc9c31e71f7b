//! `taglog-containerd-verifier`: containerd 2.x's image-verifier program for taglog. containerd
//! runs it before each pull as `-name <ref> -digest <digest> -stdin-media-type <type>` with the
//! OCI descriptor on stdin; it prints one line of reason and exits 0 only if the digest is the
//! verified current binding of the name (see `taglog_client::service::containerd`).

use std::io::Write as _;
use std::process::ExitCode;

fn main() -> ExitCode {
    let j = taglog_client::service::containerd::run(std::env::args_os().skip(1));
    let mut out = std::io::stdout().lock();
    // containerd reads the reason from stdout; a failed write cannot be reported anywhere else.
    let _ = writeln!(out, "{}", j.reason).and_then(|()| out.flush());
    ExitCode::from(j.exit_code)
}
