//! `[[trusted_issuers]]` entries as `smart-token` [`TrustedIssuer`]s: keys from the
//! configured `jwks_uri` or the issuer's discovery document, with the configured refetch
//! limits, and the configured claim mapping.

use std::sync::Arc;

use smart_token::{ClaimMapping, JwksFetcher, KeySource, RemoteKeys, TrustedIssuer};

use crate::server::config::{ClaimsConfig, TrustedIssuerConfig};
use crate::server::security::users;

/// The issuers of the configuration. `base_url` is the default audience and the server's
/// own issuer, which no entry may take over.
pub(crate) fn trusted_issuers(
    configured: &[TrustedIssuerConfig],
    base_url: &str,
    fetcher: &Arc<dyn JwksFetcher>,
) -> anyhow::Result<Vec<TrustedIssuer>> {
    configured
        .iter()
        .map(|config| {
            if config.issuer == base_url {
                anyhow::bail!(
                    "trusted_issuers `{}`: this is the server's own issuer (its base URL)",
                    config.issuer
                );
            }
            Ok(trusted_issuer(config, base_url, Arc::clone(fetcher)))
        })
        .collect()
}

fn trusted_issuer(
    config: &TrustedIssuerConfig,
    base_url: &str,
    fetcher: Arc<dyn JwksFetcher>,
) -> TrustedIssuer {
    let remote = match &config.jwks_uri {
        Some(uri) => RemoteKeys::new(uri.clone(), fetcher),
        None => RemoteKeys::discovered(config.issuer.clone(), fetcher),
    };
    let remote = remote
        .min_refetch_interval(config.jwks_refetch_seconds.unwrap_or(60))
        .max_age(config.jwks_max_age_seconds.unwrap_or(3600));
    let audience = config.audience.as_deref().unwrap_or(base_url);
    TrustedIssuer::new(
        config.issuer.clone(),
        audience,
        KeySource::Remote(Arc::new(remote)),
    )
    .require_at_jwt(config.require_at_jwt)
    .mapping(mapping(&config.claims, config.roles.iter()))
}

/// The claim mapping of one issuer: SMART's names where the configuration says nothing.
fn mapping<'a>(
    claims: &ClaimsConfig,
    roles: impl Iterator<Item = (&'a String, &'a String)>,
) -> ClaimMapping {
    let mut mapping = ClaimMapping::default();
    let names = [
        (
            &claims.scope,
            ClaimMapping::scope as fn(ClaimMapping, String) -> ClaimMapping,
        ),
        (&claims.client_id, ClaimMapping::client_id),
        (&claims.patient, ClaimMapping::patient),
        (&claims.encounter, ClaimMapping::encounter),
        (&claims.fhir_user, ClaimMapping::fhir_user),
        (&claims.roles, ClaimMapping::roles),
    ];
    for (claim, set) in names {
        if let Some(claim) = claim {
            mapping = set(mapping, claim.clone());
        }
    }
    mapping = match &claims.attributes {
        Some(attributes) => attributes
            .iter()
            .fold(mapping, |m, (name, claim)| m.attribute(claim, name)),
        None => users::ATTRIBUTES
            .iter()
            .fold(mapping, |m, name| m.attribute(*name, *name)),
    };
    roles.fold(mapping, |m, (external, local)| m.role(external, local))
}

#[cfg(test)]
mod tests {
    use super::*;
    use smart_token::{Algorithm, SigningKey, Validator};

    /// Serves one JWKS, whatever the URL.
    #[derive(Debug)]
    struct Jwks(String);

    impl JwksFetcher for Jwks {
        fn fetch(&self, _uri: &str) -> Result<String, smart_token::Error> {
            Ok(self.0.clone())
        }
    }

    fn config(toml: &str) -> TrustedIssuerConfig {
        toml::from_str(toml).unwrap()
    }

    #[test]
    fn claims_and_roles_are_mapped_as_configured() {
        let key = SigningKey::from_pkcs8(
            ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
                .unwrap()
                .as_ref(),
            Algorithm::EdDSA,
            "k1",
        )
        .unwrap();
        let jwks = serde_json::json!({"keys": [key.public_jwk()]}).to_string();
        let fetcher: Arc<dyn JwksFetcher> = Arc::new(Jwks(jwks));
        let entry = config(
            r#"
            issuer = "https://idp.example"
            jwks_uri = "https://idp.example/jwks"
            require_at_jwt = true
            [claims]
            patient = "patient_id"
            fhir_user = "fhir_user"
            roles = "groups"
            attributes = { department = "org.dept" }
            [roles]
            clinicians = "doctor"
            "#,
        );
        let issuers = trusted_issuers(&[entry], "https://fhir.example/fhir", &fetcher).unwrap();
        let validator = Validator::new(issuers);
        let now = chrono::Utc::now().timestamp();
        let claims = serde_json::json!({
            "iss": "https://idp.example", "aud": "https://fhir.example/fhir", "exp": now + 60,
            "sub": "u1", "scope": "user/Patient.rs", "patient_id": "p1",
            "fhir_user": "Practitioner/7", "groups": ["clinicians", "golf-club"],
            "org": {"dept": "cardiology"}, "department": "ignored",
        });
        let token = key.sign(Some("at+jwt"), &claims).unwrap();
        let context = validator.validate(&token).unwrap();
        assert_eq!(context.patient(), Some("p1"));
        assert_eq!(context.fhir_user(), Some("Practitioner/7"));
        assert_eq!(context.roles(), ["doctor"]);
        assert_eq!(
            context.attributes(),
            &[("department".to_owned(), serde_json::json!("cardiology"))]
                .into_iter()
                .collect()
        );
        // The RFC 9068 header is required for this issuer.
        let plain = key.sign(None, &claims).unwrap();
        assert_eq!(validator.validate(&plain).unwrap_err().code(), "wrong_type");
    }

    #[test]
    fn the_servers_own_issuer_cannot_be_configured() {
        let fetcher: Arc<dyn JwksFetcher> = Arc::new(Jwks(String::new()));
        let entry = config(r#"issuer = "http://127.0.0.1:8080/fhir""#);
        assert_eq!(
            trusted_issuers(&[entry], "http://127.0.0.1:8080/fhir", &fetcher)
                .unwrap_err()
                .to_string(),
            "trusted_issuers `http://127.0.0.1:8080/fhir`: this is the server's own issuer (its base URL)"
        );
    }
}
