//! Two tenants whose publisher keys share name and key ID (issue 12, finding 4): a tenant
//! who grinds a colliding key ID must not deny the other any submission. The server tries
//! every allowlisted key with the signature line's (name, key ID) that covers the ref, in
//! the handler and in the sequencer's re-check, whatever the order of the allowlist.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use taglog_proofs::note::SignerKey;
use taglog_testkit::bindings::binding;
use taglog_testkit::http::client;
use taglog_testkit::keys::colliding;
use taglog_testkit::log_server::{add_binding, checkpoint, LogServer};
use taglog_testkit::tempdir;

const MALLORY: &str = "registry.example/mallory";
const VICTIM: &str = "registry.example/victim";

fn size_of(note: &[u8]) -> u64 {
    std::str::from_utf8(note)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

/// Starts a server admitting `first` then `second` (prefix, key), submits for both tenants
/// and checks that each is admitted for its own prefix only, across a restart.
async fn both_tenants_admitted(first: (&str, &SignerKey), second: (&str, &SignerKey)) {
    let dir = tempdir();
    let publishers = vec![
        (first.0.to_owned(), first.1.verifier().to_string()),
        (second.0.to_owned(), second.1.verifier().to_string()),
    ];
    let server = LogServer::in_dir(dir.path())
        .publishers(&publishers)
        .commit_timeout("5s")
        .args(&["--witness-refresh", "1h"])
        .start();
    let c = client();
    for (version, (prefix, key)) in [first, second].into_iter().enumerate() {
        let r = format!("{prefix}/app:1");
        let (s, body) = add_binding(&c, &server.url, binding(key, &r, 1, version as u8)).await;
        assert_eq!(s, 200, "{} binding {r}: {body}", key.verifier());
    }

    // Each tenant is refused the other's prefix, and a refusal logs nothing.
    let before = checkpoint(&c, &server.url).await;
    for ((prefix, _), (_, key)) in [(first, second), (second, first)] {
        let r = format!("{prefix}/other:1");
        let (s, body) = add_binding(&c, &server.url, binding(key, &r, 1, 9)).await;
        assert_eq!(s, 403, "{} may not bind {r}: {body}", key.verifier());
    }
    assert_eq!(checkpoint(&c, &server.url).await, before);

    // After a restart (the logged allowlist is rebuilt from the store) both still publish.
    drop(server);
    let server = LogServer::in_dir(dir.path())
        .commit_timeout("5s")
        .args(&["--witness-refresh", "1h"])
        .start();
    for (prefix, key) in [first, second] {
        let r = format!("{prefix}/app:2");
        let (s, body) = add_binding(&c, &server.url, binding(key, &r, 1, 7)).await;
        assert_eq!(
            s,
            200,
            "after restart, {} binding {r}: {body}",
            key.verifier()
        );
    }
    assert!(size_of(&checkpoint(&c, &server.url).await) > size_of(&before));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_colliding_key_listed_first_does_not_deny_the_other_tenant() {
    let (mallory, victim) = colliding();
    both_tenants_admitted((MALLORY, &mallory), (VICTIM, &victim)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_colliding_key_listed_last_does_not_deny_the_other_tenant() {
    let (mallory, victim) = colliding();
    both_tenants_admitted((VICTIM, &victim), (MALLORY, &mallory)).await;
}
