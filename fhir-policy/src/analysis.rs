//! Policy analysis: what a policy that loads may still get wrong. [`Engine::new`] already
//! rejects unknown resource types, interactions, roles, attributes, value sets and type
//! errors; [`analyze`] reports rules that can never apply (shadowed by a broader deny, or
//! with contradictory conditions), roles that grant nothing, and break-glass settings
//! that cannot take effect.

use std::fmt;

use crate::condition::{Comparison, Condition, Literal, Operand};
use crate::document::{AttributeType, Effect};
use crate::engine::{CompiledRule, Engine};

/// One finding, with the rule and the path it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The rule's id (`role:NAME` for a role), if the finding is about one.
    pub rule: Option<String>,
    /// Where in the rule: `when.all[1]`, `target`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The kinds of finding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FindingKind {
    /// A permit rule that an unconditional deny always overrides.
    Shadowed,
    /// A condition that can never hold.
    Contradiction,
    /// A role that grants nothing and no rule names.
    UnusedRole,
    /// A break-glass setting that cannot take effect.
    BreakGlass,
}

impl FindingKind {
    /// A short, stable, snake_case name.
    pub fn code(self) -> &'static str {
        match self {
            FindingKind::Shadowed => "shadowed",
            FindingKind::Contradiction => "contradiction",
            FindingKind::UnusedRole => "unused_role",
            FindingKind::BreakGlass => "break_glass",
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.rule {
            Some(rule) => write!(f, "rule `{rule}`: {}: {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Analyzes a compiled policy.
///
/// ```
/// use fhir_policy::analysis::{FindingKind, analyze};
/// use fhir_policy::{Engine, Policy};
///
/// let engine = Engine::new(&Policy::parse(r#"{"fhirPolicy": "1", "id": "p", "roles": {"nurse": {}},
///   "rules": [
///     {"id": "no-deletes", "effect": "deny", "target": {"resourceTypes": ["*"], "interactions": ["delete"]}},
///     {"id": "nurse-deletes", "effect": "permit", "subject": {"roles": ["nurse"]},
///      "target": {"resourceTypes": ["Observation"], "interactions": ["delete"]}}
///   ]}"#)?)?;
/// let findings = analyze(&engine);
/// assert_eq!(findings.len(), 1);
/// assert_eq!(findings[0].kind, FindingKind::Shadowed);
/// assert_eq!(findings[0].to_string(),
///     "rule `nurse-deletes`: target: can never apply: rule `no-deletes` denies everything it permits, unconditionally");
/// # Ok::<(), fhir_policy::Error>(())
/// ```
pub fn analyze(engine: &Engine) -> Vec<Finding> {
    let mut findings = Vec::new();
    for rule in &engine.rules {
        if rule.effect == Effect::Permit {
            if let Some(deny) = engine.rules.iter().find(|d| shadows(d, rule, engine)) {
                findings.push(Finding {
                    kind: FindingKind::Shadowed,
                    rule: Some(rule.id.to_string()),
                    path: "target".to_owned(),
                    message: format!(
                        "can never apply: rule `{}` denies everything it permits, unconditionally",
                        deny.id
                    ),
                });
            }
        }
        for (name, condition) in [("subject.when", &rule.subject_when), ("when", &rule.when)] {
            if let Some(condition) = condition {
                contradictions(condition, name, rule, &mut findings);
            }
        }
        if rule.overridable
            && !engine.rules.iter().any(|bg| {
                bg.break_glass
                    && bg
                        .target
                        .interactions
                        .iter()
                        .any(|i| rule.target.interactions.contains(i))
            })
        {
            findings.push(Finding {
                kind: FindingKind::BreakGlass,
                rule: Some(rule.id.to_string()),
                path: "breakGlassOverridable".to_owned(),
                message:
                    "no break-glass rule covers any of its interactions, so nothing overrides it"
                        .to_owned(),
            });
        }
    }
    for (index, role) in engine.roles.iter().enumerate() {
        let named = engine.rules.iter().any(|r| r.roles.contains(&index));
        let inherited = engine
            .roles
            .iter()
            .any(|other| other.closure.iter().skip(1).any(|i| *i == index));
        if !named && !inherited {
            findings.push(Finding {
                kind: FindingKind::UnusedRole,
                rule: None,
                path: format!("roles.{}", role.name),
                message: "grants nothing: no permissions, no rule names it, no role inherits it"
                    .to_owned(),
            });
        }
    }
    findings
}

/// Whether `deny` applies, unconditionally, to everything `permit` covers.
fn shadows(deny: &CompiledRule, permit: &CompiledRule, engine: &Engine) -> bool {
    if deny.effect != Effect::Deny || deny.when.is_some() || deny.subject_when.is_some() {
        return false;
    }
    if deny.overridable && permit.break_glass {
        return false;
    }
    // The deny's subjects must include the permit's: everyone, or every role of the permit
    // (held directly or inherited) with no ids.
    let subjects = if deny.roles.is_empty() && deny.ids.is_empty() {
        true
    } else {
        !permit.roles.is_empty()
            && permit.ids.is_empty()
            && permit.roles.iter().all(|r| {
                engine
                    .roles
                    .get(*r)
                    .is_some_and(|role| role.closure.iter().any(|c| deny.roles.contains(c)))
            })
    };
    let types = match (&deny.target.types, &permit.target.types) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(d), Some(p)) => p.iter().all(|t| d.contains(t)),
    };
    let operations = deny.target.operations.is_empty()
        || (!permit.target.operations.is_empty()
            && permit
                .target
                .operations
                .iter()
                .all(|o| deny.target.operations.contains(o)));
    subjects
        && types
        && operations
        && permit
            .target
            .interactions
            .iter()
            .all(|i| deny.target.interactions.contains(i))
}

/// Contradictions inside an `all`: `x = a` and `x = b` for a single-valued `x`, numeric
/// bounds that exclude each other, and a condition beside its negation.
fn contradictions(condition: &Condition, at: &str, rule: &CompiledRule, out: &mut Vec<Finding>) {
    match condition {
        Condition::All(items) => {
            for (i, a) in items.iter().enumerate() {
                for (j, b) in items.iter().enumerate().skip(i + 1) {
                    if let Some(why) = excludes(a, b) {
                        out.push(Finding {
                            kind: FindingKind::Contradiction,
                            rule: Some(rule.id.to_string()),
                            path: format!("{at}.all[{i}], {at}.all[{j}]"),
                            message: format!("can never hold: {why}"),
                        });
                    }
                }
                contradictions(a, &format!("{at}.all[{i}]"), rule, out);
            }
        }
        Condition::Any(items) => {
            for (i, item) in items.iter().enumerate() {
                contradictions(item, &format!("{at}.any[{i}]"), rule, out);
            }
        }
        Condition::Not(inner) => contradictions(inner, &format!("{at}.not"), rule, out),
        _ => {}
    }
}

/// Operands that have at most one value.
fn single_valued(operand: &Operand) -> bool {
    if let Operand::SubjectAttribute(_, declared) = operand {
        return *declared != AttributeType::StringSet;
    }
    matches!(
        operand,
        Operand::SubjectId
            | Operand::ClientId
            | Operand::ClientConfidential
            | Operand::Interaction
            | Operand::ResourceTypeName
            | Operand::RequestId
            | Operand::Operation
            | Operand::LaunchPatient
            | Operand::AgeOf(_)
            | Operand::PurposeOfUse
            | Operand::BreakGlass
    )
}

/// `(operand, comparison, literal)` with the operand on the left.
fn bound(condition: &Condition) -> Option<(&Operand, Comparison, &Literal)> {
    match condition {
        Condition::Compare(c, Operand::Literal(l), o) => Some((o, flip(*c), l)),
        Condition::Compare(c, o, Operand::Literal(l)) => Some((o, *c, l)),
        _ => None,
    }
}

fn flip(c: Comparison) -> Comparison {
    match c {
        Comparison::LessThan => Comparison::GreaterThan,
        Comparison::LessOrEqual => Comparison::GreaterOrEqual,
        Comparison::GreaterThan => Comparison::LessThan,
        Comparison::GreaterOrEqual => Comparison::LessOrEqual,
        other => other,
    }
}

fn excludes(a: &Condition, b: &Condition) -> Option<String> {
    if let Condition::Not(inner) = a {
        if **inner == *b {
            return Some("a condition and its negation".to_owned());
        }
    }
    if let Condition::Not(inner) = b {
        if **inner == *a {
            return Some("a condition and its negation".to_owned());
        }
    }
    let ((x, c1, l1), (y, c2, l2)) = (bound(a)?, bound(b)?);
    if x != y || !single_valued(x) {
        return None;
    }
    use Comparison as C;
    match (c1, c2, l1, l2) {
        (C::Equals, C::Equals, l1, l2) if l1 != l2 => {
            Some("it equals two different values".to_owned())
        }
        (C::Equals, C::NotEquals, l1, l2) | (C::NotEquals, C::Equals, l1, l2) if l1 == l2 => {
            Some("it equals and differs from the same value".to_owned())
        }
        (_, _, Literal::Number(n1), Literal::Number(n2)) => {
            let (low1, high1) = range(c1, *n1);
            let (low2, high2) = range(c2, *n2);
            let low = if low1.0 > low2.0 || (low1.0 == low2.0 && !low1.1) {
                low1
            } else {
                low2
            };
            let high = if high1.0 < high2.0 || (high1.0 == high2.0 && !high1.1) {
                high1
            } else {
                high2
            };
            let empty = low.0 > high.0 || (low.0 == high.0 && !(low.1 && high.1));
            empty.then(|| "its numeric bounds exclude each other".to_owned())
        }
        _ => None,
    }
}

/// The interval `op n` allows: ((low, inclusive), (high, inclusive)).
fn range(c: Comparison, n: f64) -> ((f64, bool), (f64, bool)) {
    let any = ((f64::NEG_INFINITY, false), (f64::INFINITY, false));
    match c {
        Comparison::LessThan => ((any.0), (n, false)),
        Comparison::LessOrEqual => ((any.0), (n, true)),
        Comparison::GreaterThan => ((n, false), any.1),
        Comparison::GreaterOrEqual => ((n, true), any.1),
        Comparison::Equals => ((n, true), (n, true)),
        Comparison::NotEquals => any,
    }
}
