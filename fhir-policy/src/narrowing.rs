//! [`Narrowing`]: the search constraint a permit puts on a search, for the server to AND
//! into its query, built from the token's scopes (patient compartment, granular parameters)
//! and from the conditions of the rules that permit (`organization=Organization/peds`,
//! `birthdate=gt2008-12-03`, the compartment of assigned patients).
//!
//! Narrowing is an optimisation with a guarantee in one direction: it never excludes a
//! resource the decision permits. Conditions it cannot express are left out, so the server
//! still checks each result.

use std::fmt;

use chrono::{Datelike, Months};
use fhir_compartment::Compartment;

use crate::condition::{Comparison, Condition, Cx, Literal, Operand, Truth, Value};
use crate::decision::Decision;
use crate::request::AttributeValue;
use crate::target::compartment_type;

/// A search constraint: a tree of parameter matches.
///
/// ```
/// use fhir_policy::Narrowing;
///
/// let n = Narrowing::All(vec![
///     Narrowing::Match { parameter: "organization".into(), values: vec!["Organization/peds".into()] },
///     Narrowing::Any(vec![
///         Narrowing::Match { parameter: "subject".into(), values: vec!["Patient/1".into()] },
///         Narrowing::Match { parameter: "performer".into(), values: vec!["Patient/1".into()] },
///     ]),
/// ]);
/// assert_eq!(n.to_string(), "organization=Organization/peds AND (subject=Patient/1 OR performer=Patient/1)");
/// assert_eq!(n.to_query(), None);
/// # let q = Narrowing::Match { parameter: "status".into(), values: vec!["final".into(), "amended".into()] };
/// # assert_eq!(q.to_query().as_deref(), Some("status=final,amended"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Narrowing {
    /// Every constraint holds.
    All(Vec<Narrowing>),
    /// At least one holds.
    Any(Vec<Narrowing>),
    /// The search parameter matches one of the values (a FHIR `name=v1,v2`). `parameter` may
    /// carry a modifier; values carry their prefix (`gt2008-12-03`) and are not escaped.
    Match {
        /// The parameter, as in a query (`subject`, `birthdate`, `code:in`).
        parameter: String,
        /// The alternatives.
        values: Vec<String>,
    },
    /// Nothing can match: the server can answer with an empty result.
    Nothing,
}

impl Narrowing {
    /// The constraint as FHIR query text (`a=b&c=d,e`), when it is a conjunction of
    /// matches that a query can express; values are escaped as FHIR requires.
    pub fn to_query(&self) -> Option<String> {
        let mut parts = Vec::new();
        self.query_parts(&mut parts)?;
        Some(parts.join("&"))
    }

    fn query_parts(&self, parts: &mut Vec<String>) -> Option<()> {
        match self {
            Narrowing::Match { parameter, values } => {
                let values: Vec<String> = values.iter().map(|v| escape(v)).collect();
                parts.push(format!("{parameter}={}", values.join(",")));
                Some(())
            }
            Narrowing::All(items) => items.iter().try_for_each(|i| i.query_parts(parts)),
            Narrowing::Any(items) => match items.as_slice() {
                [one] => one.query_parts(parts),
                _ => None,
            },
            Narrowing::Nothing => None,
        }
    }

    fn all(items: Vec<Narrowing>) -> Narrowing {
        if items.contains(&Narrowing::Nothing) {
            return Narrowing::Nothing;
        }
        let mut flat = Vec::new();
        for item in items {
            match item {
                Narrowing::All(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        match flat.len() {
            1 => flat.pop().unwrap_or(Narrowing::Nothing),
            _ => Narrowing::All(flat),
        }
    }

    fn any(items: Vec<Narrowing>) -> Narrowing {
        let mut flat: Vec<Narrowing> = Vec::new();
        for item in items {
            match item {
                Narrowing::Any(inner) => flat.extend(inner),
                Narrowing::Nothing => {}
                other => {
                    if !flat.contains(&other) {
                        flat.push(other);
                    }
                }
            }
        }
        match flat.len() {
            0 => Narrowing::Nothing,
            1 => flat.pop().unwrap_or(Narrowing::Nothing),
            _ => Narrowing::Any(flat),
        }
    }
}

/// FHIR search escapes `\`, `,`, `$` and `|` in values; `|` stays, as it separates a
/// token's system and code.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | ',' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl fmt::Display for Narrowing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let join = |f: &mut fmt::Formatter<'_>, items: &[Narrowing], sep: &str| -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                match item {
                    Narrowing::All(_) | Narrowing::Any(_) => write!(f, "({item})")?,
                    _ => write!(f, "{item}")?,
                }
            }
            Ok(())
        };
        match self {
            Narrowing::All(items) => join(f, items, " AND "),
            Narrowing::Any(items) => join(f, items, " OR "),
            Narrowing::Match { parameter, values } => {
                write!(f, "{parameter}={}", values.join(","))
            }
            Narrowing::Nothing => f.write_str("nothing"),
        }
    }
}

/// What a condition contributes to narrowing.
enum Part {
    /// Holds for every resource: no constraint.
    Always,
    /// Holds for none.
    Never,
    /// Holds for the resources matching this.
    Filter(Narrowing),
    /// Cannot be expressed: no constraint (each result is checked instead).
    Opaque,
}

/// The narrowing of a permitted search: the scopes' constraint AND the permitting rules'
/// (OR across rules). `None` when nothing narrows.
pub(crate) fn narrowing(decision: &Decision<'_>) -> Option<Narrowing> {
    let cx = decision.cx();
    let mut parts = Vec::new();
    if let Some(permit) = &decision.scope_permit {
        parts.extend(scope_narrowing(permit, &cx));
    }
    if decision.conditional {
        let mut alternatives = Vec::new();
        let mut open = false;
        for rule in &decision.rules {
            match rule.when.as_ref().map_or(Part::Always, |c| part(c, &cx)) {
                Part::Filter(n) => alternatives.push(n),
                Part::Never => {}
                Part::Always | Part::Opaque => open = true,
            }
        }
        if !open {
            parts.push(Narrowing::any(alternatives));
        }
    }
    (!parts.is_empty()).then(|| Narrowing::all(parts))
}

fn scope_narrowing(permit: &fhir_scopes::Permit<'_>, cx: &Cx<'_>) -> Vec<Narrowing> {
    let mut out = Vec::new();
    for clause in permit.clauses() {
        let mut grants = Vec::new();
        for grant in clause.grants() {
            let mut all = Vec::new();
            if let Some(patient) = grant.patient() {
                all.extend(compartment(
                    fhir_compartment::CompartmentKind::Patient,
                    &[patient],
                    cx,
                ));
            }
            if let Some(query) = grant.scope().query() {
                for parameter in query.parameters() {
                    all.push(Narrowing::Match {
                        parameter: parameter.name().to_owned(),
                        values: parameter.values().map(|v| v.as_str().to_owned()).collect(),
                    });
                }
            }
            grants.push(if all.is_empty() {
                // An unrestricted grant: this clause does not narrow.
                Narrowing::All(Vec::new())
            } else {
                Narrowing::all(all)
            });
        }
        if grants
            .iter()
            .any(|g| matches!(g, Narrowing::All(items) if items.is_empty()))
        {
            continue;
        }
        out.push(Narrowing::any(grants));
    }
    out
}

/// The compartment as search parameters (`Nothing` for a type outside it); `None` when the
/// search has no single type (a system-level search), where it cannot be expressed.
fn compartment(
    kind: fhir_compartment::CompartmentKind,
    ids: &[&str],
    cx: &Cx<'_>,
) -> Option<Narrowing> {
    let t = cx
        .resource_type
        .or_else(|| cx.request.action.resource_type.and_then(compartment_type))?;
    let mut by_parameter: Vec<(&'static str, Vec<String>)> = Vec::new();
    for id in ids {
        let id = id
            .strip_prefix(kind.owner_type().as_str())
            .and_then(|r| r.strip_prefix('/'))
            .unwrap_or(id);
        let Ok(c) = Compartment::new(kind, id) else {
            continue;
        };
        let Ok(search) = cx.compartments.narrowing(t, &c) else {
            continue;
        };
        for (parameter, value) in search.alternatives() {
            match by_parameter.iter_mut().find(|(p, _)| *p == parameter) {
                Some((_, values)) => values.push(value),
                None => by_parameter.push((parameter, vec![value])),
            }
        }
    }
    Some(Narrowing::any(
        by_parameter
            .into_iter()
            .map(|(parameter, values)| Narrowing::Match {
                parameter: parameter.to_owned(),
                values,
            })
            .collect(),
    ))
}

fn part(condition: &Condition, cx: &Cx<'_>) -> Part {
    match condition.evaluate(cx) {
        Truth::True => return Part::Always,
        Truth::False | Truth::Missing => return Part::Never,
        Truth::Pending => {}
    }
    match condition {
        Condition::All(items) => {
            let mut filters = Vec::new();
            for item in items.iter() {
                match part(item, cx) {
                    Part::Never => return Part::Never,
                    Part::Filter(n) => filters.push(n),
                    Part::Always | Part::Opaque => {}
                }
            }
            if filters.is_empty() {
                Part::Opaque
            } else {
                Part::Filter(Narrowing::all(filters))
            }
        }
        Condition::Any(items) => {
            let mut filters = Vec::new();
            for item in items.iter() {
                match part(item, cx) {
                    Part::Never => {}
                    Part::Filter(n) => filters.push(n),
                    Part::Always | Part::Opaque => return Part::Opaque,
                }
            }
            Part::Filter(Narrowing::any(filters))
        }
        Condition::Compare(Comparison::Equals, a, b) | Condition::In(a, b) => match (a, b) {
            (Operand::Resource(p), other) | (other, Operand::Resource(p))
                if !other.reads_resource() =>
            {
                match values(other, cx) {
                    Some(values) if values.is_empty() => Part::Never,
                    Some(values) => Part::Filter(Narrowing::Match {
                        parameter: p.to_string(),
                        values,
                    }),
                    None => Part::Opaque,
                }
            }
            _ => Part::Opaque,
        },
        Condition::Compare(comparison, a, b) => ordered(*comparison, a, b, cx)
            .or_else(|| ordered(flip(*comparison), b, a, cx))
            .map_or(Part::Opaque, Part::Filter),
        Condition::InCompartment(kind, ids) => match values(ids, cx) {
            Some(ids) => {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                compartment(*kind, &ids, cx).map_or(Part::Opaque, Part::Filter)
            }
            None => Part::Opaque,
        },
        _ => Part::Opaque,
    }
}

fn flip(comparison: Comparison) -> Comparison {
    match comparison {
        Comparison::LessThan => Comparison::GreaterThan,
        Comparison::LessOrEqual => Comparison::GreaterOrEqual,
        Comparison::GreaterThan => Comparison::LessThan,
        Comparison::GreaterOrEqual => Comparison::LessOrEqual,
        other => other,
    }
}

/// `resource OP literal` as a prefixed search value; `ageOf(p) OP n` as a birth-date bound
/// (age < n exactly when born after today minus n years).
fn ordered(
    comparison: Comparison,
    left: &Operand,
    right: &Operand,
    cx: &Cx<'_>,
) -> Option<Narrowing> {
    let prefix = |c: Comparison| match c {
        Comparison::LessThan => Some("lt"),
        Comparison::LessOrEqual => Some("le"),
        Comparison::GreaterThan => Some("gt"),
        Comparison::GreaterOrEqual => Some("ge"),
        _ => None,
    };
    let Operand::Literal(literal) = right else {
        return None;
    };
    match (left, literal) {
        (Operand::Resource(p), Literal::Number(n)) => Some(Narrowing::Match {
            parameter: p.to_string(),
            values: vec![format!("{}{}", prefix(comparison)?, number(*n))],
        }),
        (Operand::Resource(p), Literal::String(s)) => Some(Narrowing::Match {
            parameter: p.to_string(),
            values: vec![format!("{}{s}", prefix(comparison)?)],
        }),
        (Operand::AgeOf(p), Literal::Number(n)) => {
            let today = cx.request.environment.time?.date();
            let years = |k: f64| -> Option<chrono::NaiveDate> {
                let k = u32::try_from(k.ceil() as i64).ok()?;
                today.checked_sub_months(Months::new(k.checked_mul(12)?))
            };
            let whole = n.fract() == 0.0;
            // age < n ⇔ born > today - n years; age >= n ⇔ born <= today - n years.
            let (bound, born_prefix) = match comparison {
                Comparison::LessThan => (years(*n)?, "gt"),
                Comparison::LessOrEqual if whole => (years(n + 1.0)?, "gt"),
                Comparison::GreaterOrEqual => (years(*n)?, "le"),
                Comparison::GreaterThan if whole => (years(n + 1.0)?, "le"),
                _ => return None,
            };
            Some(Narrowing::Match {
                parameter: p.to_string(),
                values: vec![format!(
                    "{born_prefix}{:04}-{:02}-{:02}",
                    bound.year(),
                    bound.month(),
                    bound.day()
                )],
            })
        }
        _ => None,
    }
}

fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// The values of an operand that does not read the resource, as search values.
fn values(operand: &Operand, cx: &Cx<'_>) -> Option<Vec<String>> {
    let text = |v: Value<'_>| match v {
        Value::String(s) => s.to_owned(),
        Value::Number(n) => number(n),
        Value::Boolean(b) => b.to_string(),
        Value::Code(Some(system), code) => format!("{system}|{code}"),
        Value::Code(None, code) => code.to_owned(),
    };
    let subject = cx.request.subject;
    Some(match operand {
        Operand::Literal(l) => vec![text(literal_value(l))],
        Operand::Set(items) => items.iter().map(|l| text(literal_value(l))).collect(),
        Operand::SubjectId => vec![subject.id.clone()],
        Operand::SubjectRoles => subject.roles.clone(),
        Operand::SubjectAttribute(name, _) => match subject.attributes.get(&**name)? {
            AttributeValue::String(s) => vec![s.clone()],
            AttributeValue::Number(n) => vec![number(*n)],
            AttributeValue::Boolean(b) => vec![b.to_string()],
            AttributeValue::StringSet(items) => items.clone(),
        },
        Operand::ClientId => vec![cx.request.client.id.clone()],
        Operand::LaunchPatient => vec![cx.request.patient()?.to_owned()],
        Operand::PurposeOfUse => vec![cx.request.environment.purpose_of_use.clone()?],
        Operand::ValueSet(index) => cx
            .value_sets
            .get(*index)?
            .1
            .codes()
            .map(|(s, c)| format!("{s}|{c}"))
            .collect(),
        _ => return None,
    })
}

fn literal_value(literal: &Literal) -> Value<'_> {
    match literal {
        Literal::String(s) => Value::String(s),
        Literal::Number(n) => Value::Number(*n),
        Literal::Boolean(b) => Value::Boolean(*b),
    }
}
