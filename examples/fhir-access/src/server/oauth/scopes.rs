//! Scopes in plain words, for the consent page: what a person approves must be readable
//! without knowing SMART's grammar.

use fhir_scopes::{Identity, Level, Permissions, Scope};

/// One sentence for `scope`.
pub(crate) fn describe(scope: &Scope) -> String {
    match scope {
        Scope::Resource(resource) => {
            let verbs: Vec<&str> = [
                (Permissions::READ, "read"),
                (Permissions::SEARCH, "search"),
                (Permissions::CREATE, "create"),
                (Permissions::UPDATE, "change"),
                (Permissions::DELETE, "delete"),
            ]
            .into_iter()
            .filter(|(permission, _)| resource.permissions().contains(*permission))
            .map(|(_, verb)| verb)
            .collect();
            let what = match resource.resource_type() {
                Some(resource_type) => format!("{} records", resource_type.as_str()),
                None => "all kinds of records".to_owned(),
            };
            let whose = match resource.level() {
                Level::Patient => "of the patient in context",
                Level::User => "that you may see",
                Level::System => "on the whole server",
            };
            let only = resource
                .query()
                .map(|query| format!(", only where {query}"))
                .unwrap_or_default();
            format!("{} {what} {whose}{only}", capitalised(&join(&verbs)))
        }
        Scope::Launch(launch) => match launch.resource_type() {
            None => "Use the patient and encounter your health record system opened the app with"
                .to_owned(),
            Some(resource_type) if resource_type.as_str() == "Patient" => {
                "Know which patient is selected (you choose, or it is you)".to_owned()
            }
            Some(resource_type) => format!("Know which {} is selected", resource_type.as_str()),
        },
        Scope::Identity(identity, _) => match identity {
            Identity::OpenId => "Know who you are (your login identity)",
            Identity::FhirUser | Identity::Profile => "Know your own record on this server",
            Identity::OfflineAccess => "Keep access after you log out, until you revoke it",
            Identity::OnlineAccess => "Keep access while you are logged in",
        }
        .to_owned(),
        Scope::Extension(text) | Scope::Other(text) => {
            format!("`{text}` (no access to health records)")
        }
        _ => scope.to_string(),
    }
}

fn join(verbs: &[&str]) -> String {
    match verbs {
        [] => "use".to_owned(),
        [one] => (*one).to_owned(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> String {
        describe(&Scope::parse(text).unwrap())
    }

    #[test]
    fn plain_words() {
        assert_eq!(
            words("patient/Observation.rs"),
            "Read and search Observation records of the patient in context"
        );
        assert_eq!(
            words("user/*.cruds"),
            "Read, search, create, change and delete all kinds of records that you may see"
        );
        assert_eq!(
            words(
                "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
            ),
            "Read and search Observation records of the patient in context, only where category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
        );
        assert_eq!(
            words("patient/*.read"),
            "Read and search all kinds of records of the patient in context"
        );
        assert_eq!(
            words("system/Patient.r"),
            "Read Patient records on the whole server"
        );
        assert_eq!(
            words("launch/patient"),
            "Know which patient is selected (you choose, or it is you)"
        );
        assert_eq!(
            words("launch"),
            "Use the patient and encounter your health record system opened the app with"
        );
        assert_eq!(
            words("offline_access"),
            "Keep access after you log out, until you revoke it"
        );
        assert_eq!(words("openid"), "Know who you are (your login identity)");
    }
}
