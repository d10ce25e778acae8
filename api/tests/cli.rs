//! The `loam` binary as an operator meets it: help text, fail-fast configuration errors, and
//! `loam migrate` on a fresh data directory.

use std::process::{Command, Output};

fn loam(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loam"));
    cmd.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("LOAM_") || name == "DATABASE_URL" || name == "REDIS_URL" {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("loam runs")
}

#[test]
fn help_lists_every_variable_with_its_default() {
    let out = loam(&["--help"], &[]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for var in [
        "LOAM_LISTEN",
        "LOAM_DATA_DIR",
        "DATABASE_URL",
        "REDIS_URL",
        "LOAM_JWT_SECRET",
        "LOAM_ENTS_COMPAT",
        "LOAM_LOG_FORMAT",
        "LOAM_CORS_ORIGINS",
        "LOAM_BODY_LIMIT_BYTES",
        "LOAM_REQUEST_TIMEOUT_SECS",
    ] {
        assert!(help.contains(var), "--help does not mention {var}:\n{help}");
    }
    assert!(
        help.contains("127.0.0.1:8000") && help.contains("./loam-data"),
        "{help}"
    );
}

fn assert_one_line_failure(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    assert!(lines[0].contains(needle), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn unknown_database_scheme_fails_fast_in_one_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = loam(
        &[],
        &[
            ("DATABASE_URL", "mysql://u:hunter2@localhost/db"),
            ("LOAM_DATA_DIR", dir.path().to_str().expect("utf-8")),
        ],
    );
    assert_one_line_failure(&out, "DATABASE_URL must start with");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("hunter2"));
}

#[test]
fn postgres_without_a_jwt_secret_says_what_to_set() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = loam(
        &[],
        &[
            ("DATABASE_URL", "postgres://root@127.0.0.1:1/none"),
            ("LOAM_DATA_DIR", dir.path().to_str().expect("utf-8")),
        ],
    );
    assert_one_line_failure(&out, "LOAM_JWT_SECRET is required");
}

#[test]
fn malformed_listen_address_is_a_clear_error() {
    let out = loam(&[], &[("LOAM_LISTEN", "not-an-address")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("LOAM_LISTEN")
            || String::from_utf8_lossy(&out.stderr).contains("--listen")
    );
}

#[test]
fn migrate_creates_the_embedded_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let out = loam(
        &["migrate"],
        &[("LOAM_DATA_DIR", data.to_str().expect("utf-8"))],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(data.join("loam.db").exists());
    // Running it again is a no-op, not an error.
    let again = loam(
        &["migrate"],
        &[("LOAM_DATA_DIR", data.to_str().expect("utf-8"))],
    );
    assert!(again.status.success());
}

#[test]
fn an_unusable_artifacts_folder_fails_at_start_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A folder inside a file can never be made (and root may write anywhere, so no chmod).
    let file = dir.path().join("not-a-folder");
    std::fs::write(&file, b"x").expect("file");
    let artifacts = file.join("artifacts");
    let out = loam(
        &[],
        &[
            (
                "LOAM_DATA_DIR",
                dir.path().join("data").to_str().expect("utf-8"),
            ),
            ("LOAM_ARTIFACTS_DIR", artifacts.to_str().expect("utf-8")),
        ],
    );
    assert_one_line_failure(&out, "artifacts folder (LOAM_ARTIFACTS_DIR)");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(artifacts.to_str().expect("utf-8")),
        "names the path: {out:?}"
    );
}

/// `loam` with `input` on standard input.
fn loam_with_stdin(args: &[&str], env: &[(&str, &str)], input: &str) -> Output {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_loam"));
    cmd.args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("LOAM_") || name == "DATABASE_URL" || name == "REDIS_URL" {
            cmd.env_remove(name);
        }
    }
    cmd.envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("loam runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("loam ends")
}

fn stdout_of(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn user_commands_list_disable_and_keep_the_last_admin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let env = [("LOAM_DATA_DIR", data.to_str().expect("utf-8"))];
    let password = "a-long-enough-password\n";
    for args in [
        &[
            "user",
            "create",
            "--email",
            "root@example.test",
            "--password-stdin",
            "--admin",
        ][..],
        &[
            "user",
            "create",
            "--email",
            "field@example.test",
            "--password-stdin",
        ][..],
    ] {
        stdout_of(&loam_with_stdin(args, &env, password));
    }

    let listed = stdout_of(&loam(&["user", "list"], &env));
    let line = |email: &str| {
        listed
            .lines()
            .find(|l| l.contains(email))
            .unwrap_or_else(|| panic!("{email} is not listed:\n{listed}"))
            .to_owned()
    };
    assert!(line("root@example.test").contains(" yes "), "{listed}");
    assert!(line("field@example.test").contains(" no "), "{listed}");
    assert!(
        line("field@example.test").trim_end().ends_with('-'),
        "{listed}"
    );

    let disabled = stdout_of(&loam(
        &["user", "disable", "--email", "Field@Example.test"],
        &env,
    ));
    assert!(
        disabled.contains("field@example.test is disabled"),
        "{disabled}"
    );
    let searched = stdout_of(&loam(&["user", "list", "--search", "field"], &env));
    assert!(!searched.contains("root@"), "{searched}");
    let field = searched
        .lines()
        .find(|l| l.contains("field@example.test"))
        .expect("listed");
    assert!(!field.trim_end().ends_with('-'), "a disabled time: {field}");

    // The last enabled administrator stays one, from the command line too.
    let refused = loam(
        &["user", "revoke-admin", "--email", "root@example.test"],
        &env,
    );
    assert_one_line_failure(&refused, "last enabled administrator");
    let unknown = loam(&["user", "enable", "--email", "nobody@example.test"], &env);
    assert_one_line_failure(&unknown, "no account has the email");
    stdout_of(&loam(
        &["user", "enable", "--email", "field@example.test"],
        &env,
    ));
    let reset = loam_with_stdin(
        &[
            "user",
            "set-password",
            "--email",
            "field@example.test",
            "--password-stdin",
        ],
        &env,
        "another-long-password\n",
    );
    assert!(stdout_of(&reset).contains("new password set"));
}
