//! The contract check: every response code the OpenAPI document lists for an operation was
//! answered by that operation in some test, and no test saw an operation answer a code its
//! documentation leaves out. It reads what the rest of the suite recorded (see
//! `loam_tests::contract`), so it runs after it: `scripts/test` sets `LOAM_CONTRACT_DIR`, runs
//! every test, then this one with `--ignored`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use loam_tests::contract::{CONTRACT_DIR_VAR, Exchange, recorded};
use loam_tests::{Backend, TestApp};

#[tokio::test]
#[ignore = "reads the whole suite's recordings: run after it (scripts/test does)"]
async fn every_documented_response_is_exercised_and_none_is_undocumented() {
    let dir = std::env::var_os(CONTRACT_DIR_VAR)
        .map(PathBuf::from)
        .expect("set LOAM_CONTRACT_DIR and run the whole suite first (scripts/test does both)");
    let seen = recorded(&dir).expect("recordings readable");
    assert!(!seen.is_empty(), "no recordings in {}", dir.display());

    let app = TestApp::spawn(Backend::Sqlite).await;
    let mut documented = BTreeSet::<Exchange>::new();
    for op in app.operations().await {
        for code in op.doc["responses"].as_object().expect("responses").keys() {
            let status = code.parse().expect("numeric response code");
            documented.insert((op.method.clone(), op.path.clone(), status));
        }
    }
    let operations: BTreeSet<(&str, &str)> = documented
        .iter()
        .map(|(m, p, _)| (m.as_str(), p.as_str()))
        .collect();

    let missing: Vec<_> = documented.difference(&seen).collect();
    let undocumented: Vec<_> = seen
        .iter()
        .filter(|(m, p, _)| operations.contains(&(m.as_str(), p.as_str())))
        .filter(|e| !documented.contains(*e))
        .collect();
    let show = |list: &[&Exchange]| {
        list.iter()
            .map(|(m, p, s)| format!("  {m} {p} {s}"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        missing.is_empty() && undocumented.is_empty(),
        "{} documented responses no test exercised:\n{}\n{} answers the spec does not document:\n{}",
        missing.len(),
        show(&missing),
        undocumented.len(),
        show(&undocumented),
    );
}
