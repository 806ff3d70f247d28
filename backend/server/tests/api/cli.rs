//! The `crm` binary as an operator uses it.
use std::process::Command;

fn crm(args: &[&str], data: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_crm"))
        .args(args)
        .env("CRM_DATA_DIR", data)
        .env("CRM_LOG_FORMAT", "json")
        .output()
        .expect("crm runs")
}

#[test]
fn help_explains_each_command() {
    let out = crm(&["--help"], std::path::Path::new("."));
    let help = String::from_utf8(out.stdout).unwrap();
    for command in ["serve", "worker", "migrate", "schema", "asterisk-config"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(command)), "{command} missing from:\n{help}");
    }
    assert!(out.status.success());
}

#[test]
fn migrate_twice_is_harmless() {
    let data = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let out = crm(&["migrate"], data.path());
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert!(data.path().join("crm.sqlite").is_file());
}

#[test]
fn a_bad_setting_is_reported_not_panicked() {
    let out =
        Command::new(env!("CARGO_BIN_EXE_crm")).arg("migrate").env("CRM_HTTP_ADDR", "not an address").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("invalid configuration") && stderr.contains("HTTP_ADDR"), "{stderr}");
}

#[test]
fn schema_prints_the_committed_sdl() {
    let out = crm(&["schema"], std::path::Path::new("."));
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../schema.graphql")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), committed);
}
