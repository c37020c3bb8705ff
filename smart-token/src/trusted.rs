//! A trusted issuer: whose tokens are accepted, for which audience, with which keys and
//! algorithms, and where its claims put roles, the user and the launch context.

use crate::{Algorithm, Algorithms, Error, KeySet, KeySource, VerifyingKey};

/// One issuer whose tokens the validator accepts, with everything checked for it.
///
/// ```
/// use smart_token::{ClaimMapping, KeySet, KeySource, TrustedIssuer};
///
/// let keys = KeySet::from_jwks(r#"{"keys": []}"#)?;
/// let enterprise = TrustedIssuer::new("https://idp.example.org/realms/staff", "https://fhir.example.org", KeySource::fixed(keys))
///     .leeway(30)
///     .require_claims(["sub", "fhirUser"])
///     .mapping(ClaimMapping::default().roles("realm_access.roles").client_id("azp"));
/// assert_eq!(enterprise.issuer(), "https://idp.example.org/realms/staff");
/// # Ok::<(), smart_token::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct TrustedIssuer {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) keys: KeySource,
    pub(crate) algorithms: Algorithms,
    pub(crate) leeway: i64,
    pub(crate) required_claims: Vec<String>,
    pub(crate) mapping: ClaimMapping,
    pub(crate) require_at_jwt: bool,
}

impl TrustedIssuer {
    /// An issuer (`iss`, compared exactly) whose tokens must name `audience` in `aud`, signed
    /// by `keys` with a public-key algorithm.
    ///
    /// Defaults: every public-key algorithm the key allows (RS*, PS*, ES256, ES384, EdDSA;
    /// never HS*), 60 s leeway, no required claim beyond `iss`, `aud` and `exp`, the SMART
    /// claim names, `typ` not required.
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        keys: KeySource,
    ) -> TrustedIssuer {
        TrustedIssuer {
            issuer: issuer.into(),
            audiences: vec![audience.into()],
            keys,
            algorithms: Algorithms::ASYMMETRIC,
            leeway: 60,
            required_claims: Vec::new(),
            mapping: ClaimMapping::default(),
            require_at_jwt: false,
        }
    }

    /// An issuer that signs with a shared secret: the one way HS256/384/512 is accepted.
    /// Only `algorithm` is accepted for it.
    pub fn shared_secret(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        secret: &[u8],
        algorithm: Algorithm,
    ) -> Result<TrustedIssuer, Error> {
        let key = VerifyingKey::shared_secret(secret, algorithm)?;
        let mut trusted =
            TrustedIssuer::new(issuer, audience, KeySource::fixed(KeySet::new([key])));
        trusted.algorithms = Algorithms::only(algorithm);
        Ok(trusted)
    }

    /// Accepts a further audience (a server known by several URLs).
    pub fn audience(mut self, audience: impl Into<String>) -> TrustedIssuer {
        self.audiences.push(audience.into());
        self
    }

    /// Restricts the accepted algorithms (each key still accepts only its own kind).
    /// Symmetric algorithms are dropped unless the issuer was made with
    /// [`TrustedIssuer::shared_secret`].
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> TrustedIssuer {
        let allowed = if self.algorithms.iter().any(Algorithm::is_symmetric) {
            self.algorithms
        } else {
            Algorithms::ASYMMETRIC
        };
        self.algorithms = Algorithms::from_slice(algorithms).intersect(allowed);
        self
    }

    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds. Defaults to 60.
    pub fn leeway(mut self, seconds: u32) -> TrustedIssuer {
        self.leeway = i64::from(seconds);
        self
    }

    /// Claims that must be present (dotted paths for nested ones), such as `sub`, `jti`
    /// or `fhirUser`. Defaults to none beyond `iss`, `aud` and `exp`, which are always required.
    pub fn require_claims<S: Into<String>>(
        mut self,
        claims: impl IntoIterator<Item = S>,
    ) -> TrustedIssuer {
        self.required_claims
            .extend(claims.into_iter().map(Into::into));
        self
    }

    /// Where this issuer's claims hold scopes, client, launch context, user and roles.
    /// Defaults to [`ClaimMapping::default`].
    pub fn mapping(mut self, mapping: ClaimMapping) -> TrustedIssuer {
        self.mapping = mapping;
        self
    }

    /// Requires the RFC 9068 header `typ: at+jwt`, which keeps ID tokens and other JWTs
    /// of the same issuer from being used as access tokens. Defaults to false.
    pub fn require_at_jwt(mut self, required: bool) -> TrustedIssuer {
        self.require_at_jwt = required;
        self
    }

    /// The `iss` value.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The accepted audiences.
    pub fn audiences(&self) -> &[String] {
        &self.audiences
    }
}

/// Which claims hold what, for one issuer. Paths may be dotted for nested claims
/// (`realm_access.roles`).
///
/// Defaults: SMART's names: `scope` (a space-separated string, or an array of strings as
/// some identity providers send in `scp`), `client_id`, `patient`, `encounter`,
/// `fhirContext`, `fhirUser`, `roles`; no further attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimMapping {
    pub(crate) scope: String,
    pub(crate) client_id: String,
    pub(crate) patient: String,
    pub(crate) encounter: String,
    pub(crate) fhir_context: String,
    pub(crate) fhir_user: String,
    pub(crate) roles: String,
    pub(crate) attributes: Vec<(String, String)>,
    /// External role value -> local role; empty: roles are taken as they are.
    pub(crate) role_values: Vec<(String, String)>,
}

impl Default for ClaimMapping {
    fn default() -> ClaimMapping {
        ClaimMapping {
            scope: "scope".into(),
            client_id: "client_id".into(),
            patient: "patient".into(),
            encounter: "encounter".into(),
            fhir_context: "fhirContext".into(),
            fhir_user: "fhirUser".into(),
            roles: "roles".into(),
            attributes: Vec::new(),
            role_values: Vec::new(),
        }
    }
}

macro_rules! mapping_setter {
    ($name:ident, $what:literal) => {
        #[doc = concat!("The claim that holds ", $what, ".")]
        pub fn $name(mut self, claim: impl Into<String>) -> ClaimMapping {
            self.$name = claim.into();
            self
        }
    };
}

impl ClaimMapping {
    mapping_setter!(scope, "the scopes");
    mapping_setter!(client_id, "the client id");
    mapping_setter!(patient, "the patient in context");
    mapping_setter!(encounter, "the encounter in context");
    mapping_setter!(fhir_context, "the SMART `fhirContext`");
    mapping_setter!(fhir_user, "the user's FHIR resource URL");
    mapping_setter!(roles, "the user's roles");

    /// Translates the role value `external` (a group of the identity provider) into the local
    /// role `local`. Once any translation is set, role values without one are dropped, so an
    /// identity provider's other groups never become local roles; an external value may give
    /// several local roles. Defaults to none: role values are taken as they are.
    ///
    /// ```
    /// use smart_token::ClaimMapping;
    ///
    /// let mapping = ClaimMapping::default()
    ///     .roles("groups")
    ///     .role("clinicians", "doctor")
    ///     .role("patients", "patient");
    /// # let _ = mapping;
    /// ```
    pub fn role(mut self, external: impl Into<String>, local: impl Into<String>) -> ClaimMapping {
        self.role_values.push((external.into(), local.into()));
        self
    }

    /// The local roles for the role values of a token.
    pub(crate) fn local_roles(&self, values: Vec<String>) -> Vec<String> {
        if self.role_values.is_empty() {
            return values;
        }
        let mut roles: Vec<String> = Vec::new();
        for (external, local) in &self.role_values {
            if values.contains(external) && !roles.contains(local) {
                roles.push(local.clone());
            }
        }
        roles
    }

    /// Copies claim `claim` into the context's attributes as `name`.
    pub fn attribute(mut self, claim: impl Into<String>, name: impl Into<String>) -> ClaimMapping {
        self.attributes.push((claim.into(), name.into()));
        self
    }
}
