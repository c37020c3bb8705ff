//! Search indexing: the values every R4 search parameter of a resource selects, extracted with
//! `fhir-compartment`'s compiled FHIRPath evaluator and turned into rows the search SQL
//! compares (token system and code, normalised strings, `Type/id` references, date ranges,
//! numbers, URIs), plus the compartments the resource is in.

use fhir_compartment::path::{ParameterKind, search_parameters};
use fhir_compartment::{Compartment, Compartments, Reference, ResourceType, ServerBases};
use serde_json::Value;

use super::date::Range;

/// One indexed value of one search parameter. Which columns are set depends on the kind:
/// token `system`+`value`; string `value` (normalised) + `text` (as written); reference `value`
/// (`Type/id` or the absolute URL) + `text` (the id); uri `value`; date `low`/`high`; number
/// `number`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Row {
    pub(crate) param: &'static str,
    pub(crate) system: Option<String>,
    pub(crate) value: Option<String>,
    pub(crate) text: Option<String>,
    pub(crate) low: Option<i64>,
    pub(crate) high: Option<i64>,
    pub(crate) number: Option<f64>,
}

/// Normalises a string for the default (starts-with, case-insensitive) string search.
pub(crate) fn normalise(text: &str) -> String {
    text.to_lowercase()
}

/// The index rows of a resource.
pub(crate) fn rows(resource_type: ResourceType, resource: &Value, bases: &ServerBases) -> Vec<Row> {
    let mut out = Vec::new();
    for parameter in search_parameters(resource_type) {
        let param = parameter.code();
        let kind = parameter.kind();
        for value in parameter.expression().evaluate(resource) {
            match kind {
                ParameterKind::Token => tokens(value, &mut |system, code| {
                    out.push(Row {
                        param,
                        system,
                        value: Some(code),
                        ..Row::default()
                    });
                }),
                ParameterKind::String => strings(value, &mut |s| {
                    out.push(Row {
                        param,
                        value: Some(normalise(s)),
                        text: Some(s.to_owned()),
                        ..Row::default()
                    });
                }),
                ParameterKind::Reference => {
                    if let Some((value, id)) = reference(value, bases) {
                        out.push(Row {
                            param,
                            value: Some(value),
                            text: id,
                            ..Row::default()
                        });
                    }
                }
                ParameterKind::Uri => {
                    if let Some(uri) = value.as_str() {
                        out.push(Row {
                            param,
                            value: Some(uri.to_owned()),
                            ..Row::default()
                        });
                    }
                }
                ParameterKind::Date => {
                    if let Some(range) = date(value) {
                        out.push(Row {
                            param,
                            low: Some(range.low),
                            high: Some(range.high),
                            ..Row::default()
                        });
                    }
                }
                ParameterKind::Number => {
                    if let Some(number) = value.as_f64() {
                        out.push(Row {
                            param,
                            number: Some(number),
                            ..Row::default()
                        });
                    }
                }
                // Quantity search is not offered (see docs/server.md).
                _ => {}
            }
        }
    }
    out
}

/// The compartments a resource is in, its own included (a Patient is in its own compartment).
pub(crate) fn compartments(
    compartments: &Compartments,
    resource_type: ResourceType,
    id: &str,
    resource: &Value,
) -> Vec<Compartment> {
    let mut out: Vec<Compartment> = compartments
        .compartments_of(resource)
        .map(|set| set.into_iter().collect())
        .unwrap_or_default();
    if let Some(kind) = fhir_compartment::CompartmentKind::for_owner(resource_type) {
        if let Ok(own) = Compartment::new(kind, id) {
            if !out.contains(&own) {
                out.push(own);
            }
        }
    }
    out
}

/// Token values: `(system, code)` from a Coding, CodeableConcept, Identifier, ContactPoint,
/// code, string, boolean or id.
fn tokens(value: &Value, f: &mut dyn FnMut(Option<String>, String)) {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match value {
        Value::String(code) => f(None, code.clone()),
        Value::Bool(b) => f(None, b.to_string()),
        Value::Object(map) => {
            if let Some(Value::Array(codings)) = map.get("coding") {
                for coding in codings {
                    if let Some(code) = text(coding.get("code")) {
                        f(text(coding.get("system")), code);
                    }
                }
            } else if let Some(code) = text(map.get("code")).or_else(|| text(map.get("value"))) {
                f(text(map.get("system")), code);
            }
        }
        _ => {}
    }
}

/// String values: a string, or the parts of a HumanName or Address.
fn strings<'v>(value: &'v Value, f: &mut dyn FnMut(&'v str)) {
    const PARTS: [&str; 11] = [
        "text",
        "family",
        "given",
        "prefix",
        "suffix",
        "line",
        "city",
        "district",
        "state",
        "postalCode",
        "country",
    ];
    match value {
        Value::String(s) => f(s),
        Value::Object(map) => {
            for part in PARTS {
                match map.get(part) {
                    Some(Value::String(s)) => f(s),
                    Some(Value::Array(items)) => {
                        items.iter().filter_map(Value::as_str).for_each(&mut *f)
                    }
                    _ => {}
                }
            }
        }
        _ => {}
    }
}

/// A reference's index value: `Type/id` (with the id) for a local reference, the URL for a
/// foreign absolute one or a canonical; nothing for contained, `urn:` or unparseable ones.
fn reference(value: &Value, bases: &ServerBases) -> Option<(String, Option<String>)> {
    let text = match value {
        Value::Object(map) => map.get("reference")?.as_str()?,
        // A canonical.
        Value::String(s) => return Some((s.clone(), None)),
        _ => return None,
    };
    let parsed = Reference::parse(text).ok()?;
    if let Some(target) = bases.local(&parsed) {
        return Some((
            format!("{}/{}", target.resource_type, target.id),
            Some(target.id.to_owned()),
        ));
    }
    match parsed {
        Reference::Absolute { .. } => Some((text.to_owned(), None)),
        _ => None,
    }
}

/// The local resource a Reference element points to (`_include`, `$everything`).
pub(crate) fn local_target(value: &Value, bases: &ServerBases) -> Option<(ResourceType, String)> {
    let text = value.get("reference")?.as_str()?;
    let parsed = Reference::parse(text).ok()?;
    let target = bases.local(&parsed)?;
    Some((target.resource_type, target.id.to_owned()))
}

/// A date value's range: a date, dateTime or instant, or a Period (open ends are unbounded).
fn date(value: &Value) -> Option<Range> {
    match value {
        Value::String(s) => Range::parse(s),
        Value::Object(map) => {
            let start = map.get("start").and_then(Value::as_str);
            let end = map.get("end").and_then(Value::as_str);
            if start.is_none() && end.is_none() {
                return None;
            }
            Some(Range {
                low: start.and_then(Range::parse).map_or(i64::MIN, |r| r.low),
                high: end.and_then(Range::parse).map_or(i64::MAX, |r| r.high),
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn of(rows: &[Row], param: &str) -> Vec<Row> {
        rows.iter().filter(|r| r.param == param).cloned().collect()
    }

    #[test]
    fn observation_rows() {
        let obs = json!({
            "resourceType": "Observation", "id": "o1",
            "meta": {"lastUpdated": "2024-01-02T03:04:05.006Z"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}], "text": "Heart rate"},
            "subject": {"reference": "Patient/p1"},
            "effectivePeriod": {"start": "2021-03-26"},
            "valueQuantity": {"value": 72}
        });
        let rows = rows(ResourceType::Observation, &obs, &ServerBases::default());
        assert_eq!(
            of(&rows, "code"),
            [Row {
                param: "code",
                system: Some("http://loinc.org".into()),
                value: Some("8867-4".into()),
                ..Row::default()
            }]
        );
        assert_eq!(
            of(&rows, "patient"),
            [Row {
                param: "patient",
                value: Some("Patient/p1".into()),
                text: Some("p1".into()),
                ..Row::default()
            }]
        );
        let date = of(&rows, "date");
        assert_eq!(date.len(), 1);
        assert_eq!(date[0].high, Some(i64::MAX));
        assert_eq!(date[0].low, Range::parse("2021-03-26").map(|r| r.low));
        assert_eq!(of(&rows, "_id")[0].value.as_deref(), Some("o1"));
        assert_eq!(of(&rows, "_lastUpdated").len(), 1);
    }

    #[test]
    fn names_index_each_part_normalised() {
        let patient = json!({"resourceType": "Patient", "id": "p",
            "name": [{"family": "Hahn", "given": ["Lucien", "J"]}], "birthDate": "2010-05-01"});
        let rows = rows(ResourceType::Patient, &patient, &ServerBases::default());
        let family: Vec<_> = of(&rows, "family")
            .into_iter()
            .map(|r| (r.value, r.text))
            .collect();
        assert_eq!(family, [(Some("hahn".into()), Some("Hahn".into()))]);
        assert_eq!(of(&rows, "name").len(), 3);
        assert_eq!(of(&rows, "birthdate").len(), 1);
    }
}
