//! The pytest plugin's own tests (`python/pytest-tollgate/tests`), run with the venv's pytest
//! against the wheel `scripts/build-pytest-plugin.sh` built and installed: the plugin as its
//! users get it, with the `tollgate` binary from the wheel. `scripts/test.sh` rebuilds and
//! reinstalls the wheel before the tests run; run that script by hand after changing the
//! server or the plugin when running this test alone.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The venv, when it has pytest-tollgate installed; under CI a venv without it fails the test.
fn venv_with_plugin() -> Option<PathBuf> {
    let venv = support::venv()?;
    let installed = Command::new(venv.join("bin/python"))
        .args(["-c", "import pytest_tollgate; print(pytest_tollgate.bundled_binary())"])
        .output()
        .expect("run the venv's python");
    if installed.status.success() {
        return Some(venv);
    }
    let missing = format!(
        "pytest-tollgate is not installed in {} ({}): run scripts/build-pytest-plugin.sh {0}",
        venv.display(),
        String::from_utf8_lossy(&installed.stderr).trim()
    );
    let required = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1")
        || std::env::var_os("TOLLGATE_REQUIRE_CLIENTS").is_some_and(|v| v == "1");
    assert!(!required, "{missing}");
    eprintln!("note: {missing}");
    None
}

#[test]
fn the_pytest_plugins_own_tests_pass_with_the_binary_from_its_wheel() {
    let Some(venv) = venv_with_plugin() else { return };
    let tests = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../python/pytest-tollgate/tests");
    let basetemp = tempfile::tempdir().unwrap();
    let output = Command::new(venv.join("bin/python"))
        .args(["-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs"])
        .arg(format!("--basetemp={}", basetemp.path().join("pytest").display()))
        .arg(&tests)
        .current_dir(&tests)
        .output()
        .expect("run pytest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "pytest failed:\n{stdout}\n{stderr}");
    // The closing line, e.g. "12 passed in 9.81s": everything ran, nothing was skipped.
    let closing = stdout.lines().last().unwrap_or_default();
    let passed: u32 = closing.split(" passed").next().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    assert!(passed > 0 && !closing.contains("skipped") && !closing.contains("deselected"), "{stdout}");
}
