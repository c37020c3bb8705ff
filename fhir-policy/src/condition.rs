//! Conditions: compiled from their JSON form with every name resolved and every comparison
//! type-checked, then evaluated in four-valued logic.
//!
//! [`Truth::Pending`] means "depends on a resource the request does not carry yet" (a search
//! about to run): a permit becomes search narrowing and each result is checked later.
//! [`Truth::Missing`] means "an input the condition needs is absent" (a subject attribute,
//! the time, the IP address): it fails closed, so a permit does not apply and a deny does.

use std::cmp::Ordering;
use std::net::IpAddr;

use chrono::{Datelike, NaiveDate, Timelike};
use fhir_compartment::path::{ParameterKind, SearchParameter, search_parameter};
use fhir_compartment::{CompartmentKind, Compartments, ResourceType};
use serde_json::Value as Json;

use crate::Error;
use crate::document::AttributeType;
use crate::error::suggestion;
use crate::request::{AttributeValue, Request};
use crate::target::INTERACTIONS;
use crate::value_set::ValueSet;

/// The outcome of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Truth {
    False,
    True,
    /// Needs the resource, which the request does not carry.
    Pending,
    /// Needs an input that is absent: fail closed.
    Missing,
}

impl Truth {
    pub(crate) fn from_bool(b: bool) -> Truth {
        if b { Truth::True } else { Truth::False }
    }

    fn not(self) -> Truth {
        match self {
            Truth::False => Truth::True,
            Truth::True => Truth::False,
            other => other,
        }
    }
}

/// A compiled condition.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Condition {
    All(Box<[Condition]>),
    Any(Box<[Condition]>),
    Not(Box<Condition>),
    Compare(Comparison, Operand, Operand),
    In(Operand, Operand),
    Exists(Operand),
    InCompartment(CompartmentKind, Operand),
    TimeWindow {
        /// Bit `n` set: weekday `n` (Monday = 0) is in the window.
        days: u8,
        /// Minutes after midnight; `from > to` wraps past midnight.
        from: u16,
        to: u16,
    },
    IpIn(Box<[Cidr]>),
}

/// A comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Comparison {
    Equals,
    NotEquals,
    LessThan,
    LessOrEqual,
    GreaterThan,
    GreaterOrEqual,
}

impl Comparison {
    const NAMES: [(&'static str, Comparison); 6] = [
        ("equals", Comparison::Equals),
        ("notEquals", Comparison::NotEquals),
        ("lessThan", Comparison::LessThan),
        ("lessOrEqual", Comparison::LessOrEqual),
        ("greaterThan", Comparison::GreaterThan),
        ("greaterOrEqual", Comparison::GreaterOrEqual),
    ];

    pub(crate) fn name(self) -> &'static str {
        Comparison::NAMES
            .iter()
            .find(|(_, c)| *c == self)
            .map_or("", |(n, _)| n)
    }

    fn holds(self, ordering: Ordering) -> bool {
        match self {
            Comparison::Equals => ordering.is_eq(),
            Comparison::NotEquals => !ordering.is_eq(),
            Comparison::LessThan => ordering.is_lt(),
            Comparison::LessOrEqual => ordering.is_le(),
            Comparison::GreaterThan => ordering.is_gt(),
            Comparison::GreaterOrEqual => ordering.is_ge(),
        }
    }
}

/// A literal value in a policy.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Literal {
    String(Box<str>),
    Number(f64),
    Boolean(bool),
}

/// Something a condition reads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Operand {
    Literal(Literal),
    Set(Box<[Literal]>),
    SubjectId,
    SubjectRoles,
    /// A declared attribute; a value of another type reads as absent (fail closed).
    SubjectAttribute(Box<str>, AttributeType),
    ClientId,
    ClientConfidential,
    Interaction,
    ResourceTypeName,
    RequestId,
    Operation,
    LaunchPatient,
    Parameter(Box<str>),
    /// A search parameter's values on the resource, via the compiled FHIRPath evaluator.
    Resource(Box<str>),
    /// Whole years since the date a search parameter selects (`birthdate`).
    AgeOf(Box<str>),
    PurposeOfUse,
    BreakGlass,
    ValueSet(usize),
}

/// A value seen during evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value<'v> {
    String(&'v str),
    Number(f64),
    Boolean(bool),
    /// A Coding: system (if any) and code.
    Code(Option<&'v str>, &'v str),
}

/// A CIDR range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn parse(text: &str) -> Option<Cidr> {
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p.parse::<u8>().ok()?)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().ok()?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { network, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.network, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The static type of an operand, for checking at load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Type {
    String,
    Number,
    Boolean,
    StringSet,
    Codes,
    Resource(ParameterKind),
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Number => "a number",
            Type::Boolean => "a boolean",
            Type::StringSet => "a set of strings",
            Type::Codes => "a code list",
            Type::Resource(ParameterKind::Number | ParameterKind::Quantity) => "a resource number",
            Type::Resource(ParameterKind::Date) => "a resource date",
            Type::Resource(_) => "resource values",
        }
    }

    fn is_textual(self) -> bool {
        matches!(
            self,
            Type::String | Type::StringSet | Type::Codes | Type::Resource(_)
        ) && !matches!(
            self,
            Type::Resource(ParameterKind::Number | ParameterKind::Quantity)
        )
    }

    fn is_numeric(self) -> bool {
        matches!(
            self,
            Type::Number | Type::Resource(ParameterKind::Number | ParameterKind::Quantity)
        )
    }

    fn is_set(self) -> bool {
        matches!(self, Type::StringSet | Type::Codes | Type::Resource(_))
    }
}

/// What compiling a condition can see: the declared attributes and value sets, and the
/// rule's resource types (for resolving resource paths).
pub(crate) struct Scope<'p> {
    pub(crate) attributes: &'p std::collections::BTreeMap<String, AttributeType>,
    pub(crate) value_sets: &'p [(String, ValueSet)],
    /// `None`: the rule targets every type.
    pub(crate) types: Option<&'p [ResourceType]>,
}

impl Condition {
    /// Compiles a condition; `at` names where it is, for errors.
    pub(crate) fn compile(json: &Json, scope: &Scope<'_>, at: &str) -> Result<Condition, Error> {
        let Json::Object(map) = json else {
            return Err(Error::invalid(at, "a condition is an object with one key"));
        };
        let mut entries = map.iter();
        let (Some((key, body)), None) = (entries.next(), entries.next()) else {
            return Err(Error::invalid(
                at,
                format!("a condition has exactly one key, found {}", map.len()),
            ));
        };
        let at = format!("{at}.{key}");
        match key.as_str() {
            "all" | "any" => {
                let Json::Array(items) = body else {
                    return Err(Error::invalid(&at, "expected an array of conditions"));
                };
                let items = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| Condition::compile(item, scope, &format!("{at}[{i}]")))
                    .collect::<Result<Box<[_]>, _>>()?;
                Ok(if key == "all" {
                    Condition::All(items)
                } else {
                    Condition::Any(items)
                })
            }
            "not" => Ok(Condition::Not(Box::new(Condition::compile(
                body, scope, &at,
            )?))),
            "in" => {
                let (left, right) = pair(body, scope, &at)?;
                let (lt, rt) = (left.1, right.1);
                if !rt.is_set() && !matches!(right.0, Operand::Set(_)) {
                    return Err(Error::invalid(
                        &at,
                        format!("the right side must be a set, found {}", rt.name()),
                    ));
                }
                if !compatible(lt, rt) {
                    return Err(mismatch(&at, lt, rt));
                }
                Ok(Condition::In(left.0, right.0))
            }
            "exists" => Ok(Condition::Exists(operand(body, scope, &at)?.0)),
            "inCompartment" => compile_compartment(body, scope, &at),
            "timeWindow" => compile_window(body, &at),
            "clientIpIn" => {
                let Json::Array(items) = body else {
                    return Err(Error::invalid(&at, "expected an array of CIDR ranges"));
                };
                let ranges = items
                    .iter()
                    .map(|item| {
                        item.as_str().and_then(Cidr::parse).ok_or_else(|| {
                            Error::invalid(
                                &at,
                                format!("`{item}` is not a CIDR range (`10.0.0.0/8`, `fd00::/8`)"),
                            )
                        })
                    })
                    .collect::<Result<Box<[_]>, _>>()?;
                Ok(Condition::IpIn(ranges))
            }
            name => {
                let Some((_, comparison)) = Comparison::NAMES.iter().find(|(n, _)| *n == name)
                else {
                    let known = Comparison::NAMES.iter().map(|(n, _)| *n).chain([
                        "all",
                        "any",
                        "not",
                        "in",
                        "exists",
                        "inCompartment",
                        "timeWindow",
                        "clientIpIn",
                    ]);
                    return Err(Error::invalid(
                        at,
                        format!("unknown condition `{name}`{}", suggestion(name, known)),
                    ));
                };
                let (left, right) = pair(body, scope, &at)?;
                let (lt, rt) = (left.1, right.1);
                let ordered = !matches!(comparison, Comparison::Equals | Comparison::NotEquals);
                let ok = if ordered {
                    (lt.is_numeric() && rt.is_numeric())
                        || (is_date(lt, &left.0)
                            && is_date(rt, &right.0)
                            && (lt == Type::Resource(ParameterKind::Date)
                                || rt == Type::Resource(ParameterKind::Date)))
                } else {
                    compatible(lt, rt)
                };
                if !ok {
                    return Err(mismatch(&at, lt, rt));
                }
                Ok(Condition::Compare(*comparison, left.0, right.0))
            }
        }
    }

    /// Whether the condition reads the resource (so that it can be pending).
    pub(crate) fn reads_resource(&self) -> bool {
        match self {
            Condition::All(items) | Condition::Any(items) => {
                items.iter().any(Condition::reads_resource)
            }
            Condition::Not(inner) => inner.reads_resource(),
            Condition::Compare(_, a, b) | Condition::In(a, b) => {
                a.reads_resource() || b.reads_resource()
            }
            Condition::Exists(a) => a.reads_resource(),
            Condition::InCompartment(..) => true,
            Condition::TimeWindow { .. } | Condition::IpIn(_) => false,
        }
    }

    /// Evaluates the condition.
    pub(crate) fn evaluate(&self, cx: &Cx<'_>) -> Truth {
        match self {
            Condition::All(items) => {
                let mut result = Truth::True;
                for item in items.iter() {
                    match item.evaluate(cx) {
                        Truth::False => return Truth::False,
                        Truth::Missing => result = Truth::Missing,
                        Truth::Pending if result == Truth::True => result = Truth::Pending,
                        _ => {}
                    }
                }
                result
            }
            Condition::Any(items) => {
                let mut result = Truth::False;
                for item in items.iter() {
                    match item.evaluate(cx) {
                        Truth::True => return Truth::True,
                        Truth::Missing => result = Truth::Missing,
                        Truth::Pending if result == Truth::False => result = Truth::Pending,
                        _ => {}
                    }
                }
                result
            }
            Condition::Not(inner) => inner.evaluate(cx).not(),
            Condition::Compare(comparison, left, right) => compare(*comparison, left, right, cx),
            Condition::In(left, right) => membership(left, right, cx),
            Condition::Exists(operand) => {
                let mut found = false;
                match operand.each(cx, &mut |_| {
                    found = true;
                    true
                }) {
                    Availability::Present => Truth::from_bool(found),
                    Availability::Absent => Truth::False,
                    Availability::Pending => Truth::Pending,
                }
            }
            Condition::InCompartment(kind, ids) => in_compartment(*kind, ids, cx),
            Condition::TimeWindow { days, from, to } => {
                let Some(time) = cx.request.environment.time else {
                    return Truth::Missing;
                };
                let day = time.weekday().num_days_from_monday();
                let minute = u16::try_from(time.hour() * 60 + time.minute()).unwrap_or(0);
                let in_days = |d: u32| days & (1u8 << d) != 0;
                Truth::from_bool(if from <= to {
                    in_days(day) && (*from..*to).contains(&minute)
                } else if minute >= *from {
                    in_days(day)
                } else {
                    // Past midnight: the window opened the day before.
                    minute < *to && in_days((day + 6) % 7)
                })
            }
            Condition::IpIn(ranges) => match cx.request.environment.ip {
                None => Truth::Missing,
                Some(ip) => Truth::from_bool(ranges.iter().any(|r| r.contains(ip))),
            },
        }
    }

    /// The path (from `at`) of the first atom that keeps the condition from holding, with
    /// what it found: for explanations only, so clarity beats speed.
    pub(crate) fn why_not(&self, cx: &Cx<'_>, at: &str) -> Option<String> {
        let truth = self.evaluate(cx);
        if truth == Truth::True {
            return None;
        }
        let describe = |name: &str| -> String {
            match truth {
                Truth::Missing => format!("{at}.{name} needs an input the request does not carry"),
                Truth::Pending => format!("{at}.{name} depends on the resource"),
                _ => format!("{at}.{name} is false"),
            }
        };
        match self {
            Condition::All(items) => items
                .iter()
                .enumerate()
                .find_map(|(i, item)| item.why_not(cx, &format!("{at}.all[{i}]"))),
            Condition::Any(_) => Some(describe("any")),
            Condition::Not(_) => Some(describe("not")),
            Condition::Compare(comparison, ..) => Some(describe(comparison.name())),
            Condition::In(..) => Some(describe("in")),
            Condition::Exists(_) => Some(describe("exists")),
            Condition::InCompartment(..) => Some(describe("inCompartment")),
            Condition::TimeWindow { .. } => Some(describe("timeWindow")),
            Condition::IpIn(_) => Some(describe("clientIpIn")),
        }
    }
}

/// What evaluation sees.
pub(crate) struct Cx<'a> {
    pub(crate) request: &'a Request<'a>,
    /// The request's type (or the resource's, for a system-level search's results).
    pub(crate) resource_type: Option<ResourceType>,
    pub(crate) value_sets: &'a [(String, ValueSet)],
    pub(crate) compartments: &'a Compartments,
}

/// Whether an operand had values to offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Availability {
    Present,
    /// An input it reads is absent (fail closed).
    Absent,
    /// It reads the resource, which the request does not carry.
    Pending,
}

impl Operand {
    pub(crate) fn reads_resource(&self) -> bool {
        matches!(self, Operand::Resource(_) | Operand::AgeOf(_))
    }

    /// Calls `f` with each value until it returns `true`.
    fn each<'v>(&'v self, cx: &Cx<'v>, f: &mut dyn FnMut(Value<'v>) -> bool) -> Availability {
        let request = cx.request;
        let one = |f: &mut dyn FnMut(Value<'v>) -> bool, v: Value<'v>| {
            f(v);
            Availability::Present
        };
        match self {
            Operand::Literal(literal) => one(f, literal.value()),
            Operand::Set(items) => {
                for item in items.iter() {
                    if f(item.value()) {
                        break;
                    }
                }
                Availability::Present
            }
            Operand::SubjectId => one(f, Value::String(&request.subject.id)),
            Operand::SubjectRoles => {
                for role in &request.subject.roles {
                    if f(Value::String(role)) {
                        break;
                    }
                }
                Availability::Present
            }
            Operand::SubjectAttribute(name, declared) => {
                match (request.subject.attributes.get(&**name), declared) {
                    (Some(AttributeValue::String(s)), AttributeType::String) => {
                        one(f, Value::String(s))
                    }
                    (Some(AttributeValue::Number(n)), AttributeType::Number) => {
                        one(f, Value::Number(*n))
                    }
                    (Some(AttributeValue::Boolean(b)), AttributeType::Boolean) => {
                        one(f, Value::Boolean(*b))
                    }
                    (Some(AttributeValue::StringSet(items)), AttributeType::StringSet) => {
                        for item in items {
                            if f(Value::String(item)) {
                                break;
                            }
                        }
                        Availability::Present
                    }
                    _ => Availability::Absent,
                }
            }
            Operand::ClientId => one(f, Value::String(&request.client.id)),
            Operand::ClientConfidential => one(f, Value::Boolean(request.client.confidential)),
            Operand::Interaction => {
                let name = crate::target::interaction_index(request.action.interaction)
                    .and_then(|i| INTERACTIONS.get(i))
                    .copied()
                    .unwrap_or("");
                one(f, Value::String(name))
            }
            Operand::ResourceTypeName => match cx.resource_type {
                Some(t) => one(f, Value::String(t.as_str())),
                None => Availability::Absent,
            },
            Operand::RequestId => match request.action.id {
                Some(id) => one(f, Value::String(id)),
                None => Availability::Absent,
            },
            Operand::Operation => match request.action.operation {
                Some(op) => one(f, Value::String(op)),
                None => Availability::Absent,
            },
            Operand::LaunchPatient => match request.patient() {
                Some(p) => one(f, Value::String(p)),
                None => Availability::Absent,
            },
            Operand::Parameter(name) => {
                if let Some(query) = request.action.query {
                    for parameter in query.parameters().filter(|p| p.name() == &**name) {
                        for value in parameter.values() {
                            if f(Value::String(value.as_str())) {
                                return Availability::Present;
                            }
                        }
                    }
                }
                Availability::Present
            }
            Operand::Resource(code) => {
                let Some(resource) = request.resource else {
                    return Availability::Pending;
                };
                let Some(parameter) = cx.resource_type.and_then(|t| search_parameter(t, code))
                else {
                    return Availability::Present;
                };
                let mut done = false;
                parameter
                    .expression()
                    .for_each(resource, None, &mut |element| {
                        done = done || json_values(element, f);
                    });
                Availability::Present
            }
            Operand::AgeOf(code) => {
                let Some(resource) = request.resource else {
                    return Availability::Pending;
                };
                let Some(today) = request.environment.time.map(|t| t.date()) else {
                    return Availability::Absent;
                };
                let born = cx
                    .resource_type
                    .and_then(|t| search_parameter(t, code))
                    .and_then(|p| {
                        let mut first = None;
                        p.expression().for_each(resource, None, &mut |v| {
                            first = first.or(Some(v));
                        });
                        first.and_then(Json::as_str).and_then(parse_date)
                    });
                match born.and_then(|born| age(born, today)) {
                    Some(years) => one(f, Value::Number(f64::from(years))),
                    None => Availability::Absent,
                }
            }
            Operand::PurposeOfUse => match &request.environment.purpose_of_use {
                Some(p) => one(f, Value::String(p)),
                None => Availability::Absent,
            },
            Operand::BreakGlass => one(
                f,
                Value::Boolean(request.environment.break_glass_reason().is_some()),
            ),
            Operand::ValueSet(index) => {
                if let Some((_, set)) = cx.value_sets.get(*index) {
                    for (system, code) in set.codes() {
                        if f(Value::Code(Some(system), code)) {
                            break;
                        }
                    }
                }
                Availability::Present
            }
        }
    }
}

impl Literal {
    fn value(&self) -> Value<'_> {
        match self {
            Literal::String(s) => Value::String(s),
            Literal::Number(n) => Value::Number(*n),
            Literal::Boolean(b) => Value::Boolean(*b),
        }
    }
}

/// The values of one JSON element: a primitive, each Coding of a CodeableConcept, a
/// Coding, a Reference's text, a Quantity's value, an Identifier's value. Returns `true`
/// when `f` asked to stop.
fn json_values<'v>(element: &'v Json, f: &mut dyn FnMut(Value<'v>) -> bool) -> bool {
    match element {
        Json::String(s) => f(Value::String(s)),
        Json::Number(n) => n.as_f64().is_some_and(|n| f(Value::Number(n))),
        Json::Bool(b) => f(Value::Boolean(*b)),
        Json::Array(items) => items.iter().any(|item| json_values(item, f)),
        Json::Object(map) => {
            if let Some(codings) = map.get("coding").and_then(Json::as_array) {
                return codings.iter().any(|coding| json_values(coding, f));
            }
            if let Some(code) = map.get("code").and_then(Json::as_str) {
                let system = map.get("system").and_then(Json::as_str);
                if map.contains_key("value") {
                    // A Quantity: its number is the value compared.
                    return map
                        .get("value")
                        .and_then(Json::as_f64)
                        .is_some_and(|v| f(Value::Number(v)));
                }
                return f(Value::Code(system, code));
            }
            if let Some(reference) = map.get("reference").and_then(Json::as_str) {
                return f(Value::String(reference));
            }
            match map.get("value") {
                Some(Json::Number(n)) => n.as_f64().is_some_and(|n| f(Value::Number(n))),
                Some(Json::String(s)) => f(Value::String(s)),
                _ => false,
            }
        }
        Json::Null => false,
    }
}

/// Whether two values are equal; a `system|code` or bare `code` string against a Coding
/// compares as a FHIR token search does.
pub(crate) fn equal(a: Value<'_>, b: Value<'_>) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::Boolean(x), Value::Boolean(y)) => x == y,
        (Value::String(token), Value::Code(system, code))
        | (Value::Code(system, code), Value::String(token)) => match token.split_once('|') {
            Some(("", c)) => system.is_none() && c == code,
            Some((s, c)) => system == Some(s) && c == code,
            None => token == code,
        },
        (Value::Code(s1, c1), Value::Code(s2, c2)) => {
            c1 == c2 && (s1 == s2 || s1.is_none() || s2.is_none())
        }
        (Value::Boolean(b), Value::String(s)) | (Value::String(s), Value::Boolean(b)) => {
            s == if b { "true" } else { "false" }
        }
        _ => false,
    }
}

fn order(a: Value<'_>, b: Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.partial_cmp(&y),
        // ISO 8601 dates and date-times of the same precision order as text.
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn compare(comparison: Comparison, left: &Operand, right: &Operand, cx: &Cx<'_>) -> Truth {
    let mut found = false;
    let mut any_left = false;
    let mut right_state = Availability::Present;
    let left_state = left.each(cx, &mut |a| {
        any_left = true;
        right_state = right.each(cx, &mut |b| {
            let holds = match comparison {
                Comparison::Equals => equal(a, b),
                Comparison::NotEquals => !equal(a, b),
                ordered => order(a, b).is_some_and(|o| ordered.holds(o)),
            };
            found |= holds;
            holds
        });
        found || right_state != Availability::Present
    });
    if !any_left {
        // The right side may still be pending or absent.
        right_state = right.each(cx, &mut |_| true);
    }
    combine(left_state, right_state, found, !any_left, comparison)
}

fn combine(
    left: Availability,
    right: Availability,
    found: bool,
    empty: bool,
    comparison: Comparison,
) -> Truth {
    match (left, right) {
        (Availability::Absent, _) | (_, Availability::Absent) => Truth::Missing,
        (Availability::Pending, _) | (_, Availability::Pending) => Truth::Pending,
        _ if found => Truth::True,
        // An ordering on a value that is not there cannot be decided: fail closed.
        _ if empty && !matches!(comparison, Comparison::Equals | Comparison::NotEquals) => {
            Truth::Missing
        }
        _ => Truth::False,
    }
}

fn membership(left: &Operand, right: &Operand, cx: &Cx<'_>) -> Truth {
    if let Operand::ValueSet(index) = right {
        let Some((_, set)) = cx.value_sets.get(*index) else {
            return Truth::False;
        };
        let mut found = false;
        let state = left.each(cx, &mut |v| {
            found |= set.contains(v);
            found
        });
        return combine(
            state,
            Availability::Present,
            found,
            false,
            Comparison::Equals,
        );
    }
    compare(Comparison::Equals, left, right, cx)
}

fn in_compartment(kind: CompartmentKind, ids: &Operand, cx: &Cx<'_>) -> Truth {
    let Some(resource) = cx.request.resource else {
        return Truth::Pending;
    };
    let own_id = resource.get("id").and_then(Json::as_str);
    let own_type = cx.resource_type;
    let mut found = false;
    let state = ids.each(cx, &mut |v| {
        let Value::String(id) = v else { return false };
        let id = id
            .strip_prefix(kind.owner_type().as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .unwrap_or(id);
        // The owner is in its own compartment.
        found = (own_type == Some(kind.owner_type()) && own_id == Some(id))
            || cx
                .compartments
                .is_member_of(resource, kind, id)
                .unwrap_or(false);
        found
    });
    combine(
        state,
        Availability::Present,
        found,
        false,
        Comparison::Equals,
    )
}

/// `YYYY-MM-DD`, or the date of a date-time; partial dates (`YYYY`, `YYYY-MM`) are too
/// coarse for an age and read as absent.
pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d").ok()
}

/// Whole years from `born` to `today`; `None` for a birth in the future.
pub(crate) fn age(born: NaiveDate, today: NaiveDate) -> Option<u32> {
    let mut years = today.year().checked_sub(born.year())?;
    if (today.month(), today.day()) < (born.month(), born.day()) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

fn compatible(a: Type, b: Type) -> bool {
    (a.is_textual() && b.is_textual())
        || (a.is_numeric() && b.is_numeric())
        || (a == Type::Boolean && (b == Type::Boolean || matches!(b, Type::Resource(_))))
        || (b == Type::Boolean && matches!(a, Type::Resource(_)))
}

fn is_date(t: Type, operand: &Operand) -> bool {
    match t {
        Type::Resource(ParameterKind::Date) => true,
        Type::String => {
            matches!(operand, Operand::Literal(Literal::String(s)) if parse_date(s).is_some() || s.len() == 4 || s.len() == 7)
        }
        _ => false,
    }
}

fn mismatch(at: &str, a: Type, b: Type) -> Error {
    Error::invalid(at, format!("cannot compare {} with {}", a.name(), b.name()))
}

/// An operand with its static type.
type Typed = (Operand, Type);

fn pair(json: &Json, scope: &Scope<'_>, at: &str) -> Result<(Typed, Typed), Error> {
    match json.as_array().map(Vec::as_slice) {
        Some([a, b]) => Ok((
            operand(a, scope, &format!("{at}[0]"))?,
            operand(b, scope, &format!("{at}[1]"))?,
        )),
        _ => Err(Error::invalid(at, "expected an array of two operands")),
    }
}

fn literal(json: &Json, at: &str) -> Result<(Literal, Type), Error> {
    match json {
        Json::String(s) => Ok((Literal::String(s.as_str().into()), Type::String)),
        Json::Bool(b) => Ok((Literal::Boolean(*b), Type::Boolean)),
        Json::Number(n) => n
            .as_f64()
            .map(|n| (Literal::Number(n), Type::Number))
            .ok_or_else(|| Error::invalid(at, "number out of range")),
        _ => Err(Error::invalid(at, "expected a string, number or boolean")),
    }
}

/// Compiles an operand: a literal, a literal set, or an object with one key naming what to
/// read.
fn operand(json: &Json, scope: &Scope<'_>, at: &str) -> Result<(Operand, Type), Error> {
    match json {
        Json::Array(items) => {
            let mut literals = Vec::with_capacity(items.len());
            let mut kind = None;
            for (i, item) in items.iter().enumerate() {
                let (l, t) = literal(item, &format!("{at}[{i}]"))?;
                if kind.is_some_and(|k| k != t) {
                    return Err(Error::invalid(at, "a set mixes types"));
                }
                kind = Some(t);
                literals.push(l);
            }
            let t = match kind {
                Some(Type::Number) => Type::Number,
                Some(Type::Boolean) => Type::Boolean,
                _ => Type::StringSet,
            };
            Ok((Operand::Set(literals.into()), t))
        }
        Json::Object(map) => {
            let mut entries = map.iter();
            let (Some((key, Json::String(name))), None) = (entries.next(), entries.next()) else {
                return Err(Error::invalid(
                    at,
                    "an operand object has one key (`subject`, `client`, `request`, `param`, `resource`, `ageOf`, `environment`, `valueSet`) with a string",
                ));
            };
            let at = format!("{at}.{key}");
            let unknown = |known: &[&str]| {
                Error::invalid(
                    &at,
                    format!(
                        "unknown `{key}` field `{name}`{}",
                        suggestion(name, known.iter().copied())
                    ),
                )
            };
            match key.as_str() {
                "subject" => match name.as_str() {
                    "id" => Ok((Operand::SubjectId, Type::String)),
                    "roles" => Ok((Operand::SubjectRoles, Type::StringSet)),
                    attribute => {
                        let Some(t) = scope.attributes.get(attribute) else {
                            let known: Vec<&str> = ["id", "roles"]
                                .into_iter()
                                .chain(scope.attributes.keys().map(String::as_str))
                                .collect();
                            return Err(Error::invalid(
                                &at,
                                format!(
                                    "undeclared subject attribute `{attribute}` (declare it in `attributes`){}",
                                    suggestion(attribute, known)
                                ),
                            ));
                        };
                        let declared = *t;
                        let t = match declared {
                            AttributeType::String => Type::String,
                            AttributeType::Number => Type::Number,
                            AttributeType::Boolean => Type::Boolean,
                            AttributeType::StringSet => Type::StringSet,
                        };
                        Ok((Operand::SubjectAttribute(attribute.into(), declared), t))
                    }
                },
                "client" => match name.as_str() {
                    "id" => Ok((Operand::ClientId, Type::String)),
                    "confidential" => Ok((Operand::ClientConfidential, Type::Boolean)),
                    _ => Err(unknown(&["id", "confidential"])),
                },
                "request" => match name.as_str() {
                    "interaction" => Ok((Operand::Interaction, Type::String)),
                    "resourceType" => Ok((Operand::ResourceTypeName, Type::String)),
                    "id" => Ok((Operand::RequestId, Type::String)),
                    "operation" => Ok((Operand::Operation, Type::String)),
                    "patient" => Ok((Operand::LaunchPatient, Type::String)),
                    _ => Err(unknown(&[
                        "interaction",
                        "resourceType",
                        "id",
                        "operation",
                        "patient",
                    ])),
                },
                "param" => Ok((Operand::Parameter(name.as_str().into()), Type::StringSet)),
                "resource" => {
                    let kind = resolve_parameter(name, scope, &at)?.kind();
                    Ok((
                        Operand::Resource(name.as_str().into()),
                        Type::Resource(kind),
                    ))
                }
                "ageOf" => {
                    let parameter = resolve_parameter(name, scope, &at)?;
                    if parameter.kind() != ParameterKind::Date {
                        return Err(Error::invalid(
                            &at,
                            format!("`{name}` is not a date search parameter"),
                        ));
                    }
                    Ok((Operand::AgeOf(name.as_str().into()), Type::Number))
                }
                "environment" => match name.as_str() {
                    "purposeOfUse" => Ok((Operand::PurposeOfUse, Type::String)),
                    "breakGlass" => Ok((Operand::BreakGlass, Type::Boolean)),
                    _ => Err(unknown(&["purposeOfUse", "breakGlass"])),
                },
                "valueSet" => scope
                    .value_sets
                    .iter()
                    .position(|(n, _)| n == name)
                    .map(|i| (Operand::ValueSet(i), Type::Codes))
                    .ok_or_else(|| {
                        Error::invalid(
                            &at,
                            format!(
                                "unknown value set `{name}`{}",
                                suggestion(name, scope.value_sets.iter().map(|(n, _)| n.as_str()))
                            ),
                        )
                    }),
                other => Err(Error::invalid(
                    at,
                    format!(
                        "unknown operand `{other}`{}",
                        suggestion(
                            other,
                            [
                                "subject",
                                "client",
                                "request",
                                "param",
                                "resource",
                                "ageOf",
                                "environment",
                                "valueSet"
                            ]
                        )
                    ),
                )),
            }
        }
        other => {
            let (l, t) = literal(other, at)?;
            Ok((Operand::Literal(l), t))
        }
    }
}

/// The search parameter `code` on every type the rule targets; all must agree on its kind.
fn resolve_parameter(
    code: &str,
    scope: &Scope<'_>,
    at: &str,
) -> Result<&'static SearchParameter, Error> {
    let types: &[ResourceType] = match scope.types {
        Some(types) => types,
        None => &[ResourceType::Patient],
    };
    let mut found: Option<&'static SearchParameter> = None;
    for t in types {
        let parameter = search_parameter(*t, code).ok_or_else(|| {
            let known = fhir_compartment::path::search_parameters(*t).map(|p| p.code());
            Error::invalid(
                at,
                format!(
                    "`{t}` has no search parameter `{code}`{}",
                    suggestion(code, known)
                ),
            )
        })?;
        if scope.types.is_none() && parameter.base().is_some() {
            return Err(Error::invalid(
                at,
                format!(
                    "a rule on every type may use only common parameters (`_id`, `_tag`, `_security`, ...), not `{code}`"
                ),
            ));
        }
        if found.is_some_and(|f| f.kind() != parameter.kind()) {
            return Err(Error::invalid(
                at,
                format!("`{code}` has different types on the rule's resource types"),
            ));
        }
        found = Some(parameter);
    }
    found.ok_or_else(|| Error::invalid(at, "the rule targets no resource types"))
}

fn compile_compartment(body: &Json, scope: &Scope<'_>, at: &str) -> Result<Condition, Error> {
    let Json::Object(map) = body else {
        return Err(Error::invalid(
            at,
            "expected `{\"compartment\": \"Patient\", \"id\": ...}`",
        ));
    };
    if let Some(extra) = map.keys().find(|k| *k != "compartment" && *k != "id") {
        return Err(Error::invalid(at, format!("unknown field `{extra}`")));
    }
    let kind = map
        .get("compartment")
        .and_then(Json::as_str)
        .and_then(ResourceType::from_name)
        .and_then(CompartmentKind::for_owner)
        .ok_or_else(|| {
            Error::invalid(
                format!("{at}.compartment"),
                "expected Patient, Encounter, RelatedPerson, Practitioner or Device",
            )
        })?;
    let id = map
        .get("id")
        .ok_or_else(|| Error::invalid(at, "missing `id`"))?;
    let (id, t) = operand(id, scope, &format!("{at}.id"))?;
    if !matches!(t, Type::String | Type::StringSet) {
        return Err(Error::invalid(
            format!("{at}.id"),
            format!("expected a string or set of strings, found {}", t.name()),
        ));
    }
    Ok(Condition::InCompartment(kind, id))
}

fn compile_window(body: &Json, at: &str) -> Result<Condition, Error> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let Json::Object(map) = body else {
        return Err(Error::invalid(
            at,
            "expected `{\"days\": [...], \"from\": \"08:00\", \"to\": \"18:00\"}`",
        ));
    };
    if let Some(extra) = map
        .keys()
        .find(|k| !["days", "from", "to"].contains(&k.as_str()))
    {
        return Err(Error::invalid(at, format!("unknown field `{extra}`")));
    }
    let mut days = 0u8;
    match map.get("days") {
        None => days = 0x7f,
        Some(Json::Array(items)) => {
            for item in items {
                let index = item
                    .as_str()
                    .and_then(|d| DAYS.iter().position(|n| *n == d))
                    .ok_or_else(|| {
                        Error::invalid(
                            format!("{at}.days"),
                            format!("`{item}` is not one of mon, tue, wed, thu, fri, sat, sun"),
                        )
                    })?;
                days |= 1 << index;
            }
        }
        Some(_) => return Err(Error::invalid(format!("{at}.days"), "expected an array")),
    }
    let minutes = |key: &str| -> Result<u16, Error> {
        let text = map
            .get(key)
            .and_then(Json::as_str)
            .unwrap_or(if key == "from" { "00:00" } else { "24:00" });
        let parsed = text.split_once(':').and_then(|(h, m)| {
            let (h, m) = (h.parse::<u16>().ok()?, m.parse::<u16>().ok()?);
            (text.len() == 5 && m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        });
        parsed.ok_or_else(|| {
            Error::invalid(
                format!("{at}.{key}"),
                format!("`{text}` is not a time `HH:MM`"),
            )
        })
    };
    Ok(Condition::TimeWindow {
        days,
        from: minutes("from")?,
        to: minutes("to")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(text: &str) -> NaiveDate {
        parse_date(text).unwrap()
    }

    #[test]
    fn ages_count_whole_years_and_leap_days() {
        assert_eq!(age(date("2008-12-03"), date("2026-12-03")), Some(18));
        assert_eq!(age(date("2008-12-04"), date("2026-12-03")), Some(17));
        assert_eq!(age(date("2008-02-29"), date("2026-02-28")), Some(17));
        assert_eq!(age(date("2008-02-29"), date("2026-03-01")), Some(18));
        assert_eq!(age(date("2030-01-01"), date("2026-03-01")), None);
        assert_eq!(parse_date("2010-05-01T10:00:00Z"), Some(date("2010-05-01")));
        assert_eq!(parse_date("2010-05"), None);
    }

    #[test]
    fn cidr_ranges() {
        let range = |text: &str| Cidr::parse(text).unwrap();
        let ip = |text: &str| text.parse::<IpAddr>().unwrap();
        assert!(range("10.0.0.0/8").contains(ip("10.255.0.1")));
        assert!(!range("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(range("0.0.0.0/0").contains(ip("203.0.113.1")));
        assert!(range("192.168.1.7").contains(ip("192.168.1.7")));
        assert!(!range("192.168.1.7").contains(ip("192.168.1.8")));
        assert!(range("10.0.0.0/8").contains(ip("::ffff:10.1.1.1")));
        assert!(range("fd00::/8").contains(ip("fd12:3456::1")));
        assert!(!range("fd00::/8").contains(ip("10.1.1.1")));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("fd00::/129"), None);
        assert_eq!(Cidr::parse("not-an-ip/8"), None);
    }

    #[test]
    fn tokens_compare_as_fhir_search_does() {
        let coding = Value::Code(Some("http://loinc.org"), "8867-4");
        assert!(equal(Value::String("http://loinc.org|8867-4"), coding));
        assert!(equal(Value::String("8867-4"), coding));
        assert!(!equal(Value::String("|8867-4"), coding));
        assert!(equal(Value::String("|x"), Value::Code(None, "x")));
        assert!(!equal(Value::String("http://other|8867-4"), coding));
        assert!(equal(Value::Boolean(true), Value::String("true")));
        assert!(!equal(Value::Number(1.0), Value::String("1")));
    }
}
