//! The sequencer decides with the log's rule book (`taglog_proofs::rules::Ledger`), not with
//! what the HTTP layer found when the submission arrived: a key removed from the logged
//! allowlist since then is refused, and a signature check made ahead is trusted only if it
//! was run with the candidates the logged allowlist yields at decision time. Every refusal
//! leaves the store unchanged.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod inproc;

use std::sync::Arc;

use inproc::*;
use taglog_proofs::binding::{sign_binding, Binding, DigestValue, SignedBinding};
use taglog_proofs::rules::{NotAdmittedReason, SignatureCheck, Violation};
use taglog_server::log::allowlist::Allowlist;
use taglog_server::log::sequencer::{Outcome, Submission};
use taglog_server::store::{LogStore, MemoryStore};
use taglog_testkit::keys::colliding;

fn refused(o: Outcome) -> Violation {
    match o {
        Outcome::Refused(v) => *v,
        other => panic!("not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_removed_before_sequencing_is_refused() {
    let store = Arc::new(MemoryStore::new());
    let running = start(&store).await;
    let log = running.log();
    // Checked ahead while the key was admitted, as the HTTP layer does.
    let s = submission("app:1", 1, 1);
    assert!(s.signature.verified().is_some());
    log.apply_allowlist(Allowlist::default()).await.unwrap();
    let before = store.state();
    let v = refused(log.submit(s).await.unwrap());
    assert!(
        matches!(
            v,
            Violation::NotAdmitted {
                reason: NotAdmittedReason::UnknownKey,
                ..
            }
        ),
        "{v:?}"
    );
    assert_eq!(store.state(), before);
    running.stop().await.unwrap();
    check_log(store.as_ref() as &dyn LogStore);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signature_check_run_with_other_candidates_is_not_trusted() {
    let store = Arc::new(MemoryStore::new());
    let running = start(&store).await;
    let log = running.log();
    let (tenant, grinder) = colliding();
    let list = format!(
        "publisher {PREFIX} {}\npublisher {PREFIX}/tenant {}\n",
        publisher().verifier(),
        tenant.verifier()
    );
    log.apply_allowlist(Allowlist::parse(&list, ORIGIN).unwrap())
        .await
        .unwrap();

    // The grinder's key shares the tenant's name and key ID but is not admitted. A check run
    // ahead against the grinder's own key verifies, yet the candidates now are the tenant's.
    let b = Binding {
        log: ORIGIN.into(),
        reference: format!("{PREFIX}/tenant/app:1").parse().unwrap(),
        digest: DigestValue::Sha256([9; 32]),
        version: 1,
        time: 1_764_000_000,
    };
    let forged = SignedBinding::parse(&sign_binding(&b, &grinder).unwrap()).unwrap();
    let ahead = SignatureCheck::run(&forged, &[grinder.verifier()]);
    assert!(ahead.verified().is_some());
    let before = store.state();
    let v = refused(
        log.submit(Submission {
            binding: forged,
            signature: ahead,
        })
        .await
        .unwrap(),
    );
    assert!(
        matches!(&v, Violation::BadSignature { keys, .. } if *keys == [tenant.verifier()]),
        "{v:?}"
    );
    assert_eq!(store.state(), before);

    // A good binding whose check ahead found nothing (run with no candidates) is checked
    // again, and admitted.
    let mine = submission("app:1", 1, 1);
    let fresh = Submission {
        signature: SignatureCheck::run(&mine.binding, &[]),
        binding: mine.binding,
    };
    assert!(matches!(
        log.submit(fresh).await.unwrap(),
        Outcome::Added { .. }
    ));
    running.stop().await.unwrap();
    check_log(store.as_ref() as &dyn LogStore);
}
