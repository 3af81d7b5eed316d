//! Honest skips: a test whose prerequisites are missing says so in the skip log that
//! `scripts/test` counts, instead of passing silently; in CI it fails instead.

use std::process::Command;

/// Set in the copy of this test binary that plays the skipping test.
const CHILD: &str = "IRONLB_SKIP_LOG_TEST_CHILD";
const NAME: &str = "missing_prerequisite_outside_ci_is_logged_as_a_skip";

#[test]
fn missing_prerequisite_outside_ci_is_logged_as_a_skip() {
    if std::env::var_os(CHILD).is_some() {
        assert!(!ironlb_lab::require(
            "a test needing\na missing router",
            &["/nonexistent/ironlb-missing-router"]
        ));
        return;
    }
    let log = std::env::temp_dir().join(format!("ironlb-skip-log-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let run = |ci: Option<&str>| {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["--exact", NAME, "--test-threads=1"])
            .env(CHILD, "1")
            .env(ironlb_lab::SKIP_LOG_VARIABLE, &log);
        match ci {
            Some(value) => command.env("CI", value),
            None => command.env_remove("CI"),
        };
        command.output().unwrap()
    };
    let lines = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect::<Vec<_>>()
    };

    let skipped = run(None);
    assert!(skipped.status.success(), "{skipped:?}");
    let logged = lines();
    assert_eq!(logged.len(), 1, "{logged:?}");
    assert!(
        logged[0].starts_with("a test needing a missing router: "),
        "one line, the test's name first: {logged:?}"
    );
    // Appended, not overwritten.
    assert!(run(None).status.success());
    assert_eq!(lines().len(), 2);
    // In CI the missing prerequisite fails the test, and nothing is logged as skipped.
    let failed = run(Some("true"));
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stdout).contains("cannot run in CI"));
    assert_eq!(lines().len(), 2);
    let _ = std::fs::remove_file(&log);
}
