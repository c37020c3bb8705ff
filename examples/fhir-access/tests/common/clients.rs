//! The third-party clients of the real-client tests (`tests/clients`): their directory, and
//! their pinned npm packages, installed once per test binary when missing.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Once;

/// `tests/clients`: the client scripts and their pinned packages.
pub(crate) fn clients_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// `npm ci --legacy-peer-deps` (the JS fhirclient's peer dependencies need it) once per test
/// binary, when any pinned package the tests run is missing.
pub(crate) fn node_modules() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let dir = clients_dir();
        let installed = ["oidc-provider", "fhirclient", "playwright-core"]
            .iter()
            .all(|package| {
                dir.join("node_modules")
                    .join(package)
                    .join("package.json")
                    .exists()
            });
        if installed {
            return;
        }
        let status = Command::new("npm")
            .args([
                "ci",
                "--legacy-peer-deps",
                "--no-audit",
                "--no-fund",
                "--ignore-scripts",
            ])
            .current_dir(&dir)
            .status()
            .unwrap_or_else(|e| {
                panic!("npm ci: cannot run it ({e}); these tests need node and npm")
            });
        assert!(status.success(), "npm ci failed in {}", dir.display());
    });
}
