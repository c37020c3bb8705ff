//! External identity providers: tokens of configured trusted issuers accepted by the FHIR
//! endpoint (`issuers`), with their keys found through discovery, refreshed on rotation and
//! their claims mapped to local roles, attributes, user and patient by configuration.

mod issuers;

pub(crate) use issuers::trusted_issuers;
