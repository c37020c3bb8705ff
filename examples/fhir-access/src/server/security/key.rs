//! The server's own signing keys, created on first start in the data directory with
//! owner-only permissions and reused afterwards: the Ed25519 key of its access tokens
//! (`server-key.p8`, PKCS#8 DER), so tokens minted by `fhir-access token mint --data-dir` stay
//! valid across restarts, and the RSA key of its OpenID Connect id_tokens
//! (`id-token-key.pem`, PKCS#8 PEM), RS256 being OpenID Connect's default algorithm.

use std::path::Path;

use anyhow::Context as _;
use smart_token::{Algorithm, SigningKey};

/// The file name of the key in the data directory.
pub(crate) const KEY_FILE: &str = "server-key.p8";
/// The key id in tokens and the JWKS.
pub(crate) const KEY_ID: &str = "fhir-access-1";

/// Loads the key of `data_dir`, creating it first when `create` is set and it is missing.
pub(crate) fn load(data_dir: &Path, create: bool) -> anyhow::Result<SigningKey> {
    let path = data_dir.join(KEY_FILE);
    if !path.exists() {
        if !create {
            anyhow::bail!(
                "no server key at `{}`: start `fhir-access serve --data-dir {}` once first",
                path.display(),
                data_dir.display()
            );
        }
        std::fs::create_dir_all(data_dir)
            .with_context(|| format!("creating `{}`", data_dir.display()))?;
        let rng = ring::rand::SystemRandom::new();
        let der = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| anyhow::anyhow!("generating the server key"))?;
        write_private(&path, der.as_ref())?;
    }
    let der = std::fs::read(&path).with_context(|| format!("reading `{}`", path.display()))?;
    SigningKey::from_pkcs8(&der, Algorithm::EdDSA, KEY_ID)
        .with_context(|| format!("loading `{}`", path.display()))
}

/// The id_token key's file name in the data directory.
pub(crate) const ID_TOKEN_KEY_FILE: &str = "id-token-key.pem";
/// Its key id.
const ID_TOKEN_KEY_ID: &str = "fhir-access-id-1";

/// Loads the RS256 id_token key of `data_dir`, creating a 2048-bit one first when missing.
pub(crate) fn load_id_token_key(data_dir: &Path) -> anyhow::Result<SigningKey> {
    use rsa::pkcs8::{EncodePrivateKey as _, LineEnding};
    let path = data_dir.join(ID_TOKEN_KEY_FILE);
    if !path.exists() {
        let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, 2048)
            .context("generating the id_token key")?;
        let pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .context("encoding the id_token key")?;
        write_private(&path, pem.as_bytes())?;
    }
    let pem =
        std::fs::read_to_string(&path).with_context(|| format!("reading `{}`", path.display()))?;
    SigningKey::from_pem(&pem, Algorithm::RS256, ID_TOKEN_KEY_ID)
        .with_context(|| format!("`{}`: an RSA private key (PKCS#8 PEM)", path.display()))
}

/// Writes a new file readable by its owner only (created exclusively: never overwrites).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("creating `{}`", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(dir.path(), false).is_err());
        let first = load(dir.path(), true).unwrap();
        let again = load(dir.path(), false).unwrap();
        assert_eq!(first.public_jwk(), again.public_jwk());
        assert_eq!(again.kid(), KEY_ID);
    }
}
