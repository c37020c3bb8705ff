//! The compiled FHIRPath evaluator: every R4 SearchParameter expression of type number, date,
//! string, token, reference, quantity or uri that uses the supported subset, compiled once at
//! generation time into [`Expression`]s a server can run to extract search values.
//!
//! The subset: member paths, `|` unions, `.where(resolve() is T)` (decided by the reference's
//! type), `.where(field = 'literal')`, `as T` / `.as(T)` / `.ofType(T)` on choice elements
//! (compiled to the JSON key, e.g. `valueQuantity`), `.extension('url')` and `[n]`. Branches of
//! a multi-resource expression that are rooted at another resource type are dropped at
//! compile time; the parameters that do not compile are listed at the end of the generated
//! file with the reason.
//!
//! ```
//! use fhir_compartment::ResourceType;
//! use fhir_compartment::path::search_parameter;
//!
//! let observation = serde_json::json!({
//!     "resourceType": "Observation",
//!     "subject": {"reference": "Patient/1"},
//!     "valueQuantity": {"value": 7.2, "unit": "mmol/L"}
//! });
//! let subject = search_parameter(ResourceType::Observation, "patient").unwrap();
//! assert_eq!(subject.expression().evaluate(&observation), [&observation["subject"]]);
//! let value = search_parameter(ResourceType::Observation, "value-quantity").unwrap();
//! assert_eq!(value.expression().evaluate(&observation), [&observation["valueQuantity"]]);
//! ```

use serde_json::Value;

use crate::ResourceType;
use crate::bundle::BundleIndex;
use crate::generated::tables::{COMMON_PARAMETERS, PARAMETERS};
use crate::reference::Reference;

/// A SearchParameter's type, for the types whose expressions are compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ParameterKind {
    /// `number`
    Number,
    /// `date`
    Date,
    /// `string`
    String,
    /// `token`
    Token,
    /// `reference`
    Reference,
    /// `quantity`
    Quantity,
    /// `uri`
    Uri,
}

/// One compiled step of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A member; arrays are flattened and nulls dropped.
    Field(&'static str),
    /// An unnarrowed choice element: each of these JSON keys (`effectiveDateTime`, ...).
    Choice(&'static [&'static str]),
    /// `.where(resolve() is T)`: keeps `Reference`s whose target type is `T`.
    ReferenceTo(ResourceType),
    /// `.where(field = 'literal')`.
    Equals(&'static str, &'static str),
    /// `.extension('url')`.
    Extension(&'static str),
    /// `[n]` on the collection so far.
    Index(usize),
}

/// A compiled FHIRPath expression: a union of branches, each a list of steps.
#[derive(Debug, Clone, Copy)]
pub struct Expression {
    pub(crate) source: &'static str,
    /// The expression has a `|`: FHIRPath's union removes duplicate values.
    pub(crate) distinct: bool,
    pub(crate) branches: &'static [&'static [Step]],
}

impl Expression {
    /// The FHIRPath text this was compiled from, as the SearchParameter gives it (for a
    /// multi-resource parameter this includes branches for other types).
    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Evaluates the expression on a resource: the values it selects, in order (branch by
    /// branch). `resolve() is T` is decided by the literal reference's type; `urn:` references
    /// are not resolved (use [`Expression::evaluate_in`] inside a Bundle).
    pub fn evaluate<'v>(&self, resource: &'v Value) -> Vec<&'v Value> {
        self.collect(resource, None)
    }

    /// Like [`Expression::evaluate`], resolving `urn:uuid:`/`urn:oid:` and `fullUrl`
    /// references through the Bundle the resource came from.
    pub fn evaluate_in<'v>(&self, resource: &'v Value, bundle: &BundleIndex) -> Vec<&'v Value> {
        self.collect(resource, Some(bundle))
    }

    fn collect<'v>(&self, resource: &'v Value, bundle: Option<&BundleIndex>) -> Vec<&'v Value> {
        let mut out: Vec<&'v Value> = Vec::new();
        let distinct = self.distinct;
        self.for_each(resource, bundle, &mut |v| {
            if !distinct || !out.contains(&v) {
                out.push(v);
            }
        });
        out
    }

    /// Calls `f` with each selected value, in order, without collecting them: unlike
    /// [`Expression::evaluate`] it allocates nothing, and a value two branches of a union
    /// select is visited twice. `bundle` resolves `urn:` references as in
    /// [`Expression::evaluate_in`].
    ///
    /// ```
    /// use fhir_compartment::ResourceType;
    /// use fhir_compartment::path::search_parameter;
    ///
    /// let observation = serde_json::json!({"resourceType": "Observation",
    ///     "subject": {"reference": "Patient/1"}});
    /// let subject = search_parameter(ResourceType::Observation, "subject").unwrap();
    /// let mut seen = Vec::new();
    /// subject.expression().for_each(&observation, None, &mut |v| seen.push(v.clone()));
    /// assert_eq!(seen, [serde_json::json!({"reference": "Patient/1"})]);
    /// ```
    pub fn for_each<'v>(
        &self,
        resource: &'v Value,
        bundle: Option<&BundleIndex>,
        f: &mut dyn FnMut(&'v Value),
    ) {
        let context = Context {
            root: resource,
            bundle,
        };
        for branch in self.branches {
            run(&context, branch, resource, f);
        }
    }
}

/// What `resolve()` needs: the resource (for contained targets) and the Bundle, if any.
struct Context<'v, 'b> {
    root: &'v Value,
    bundle: Option<&'b BundleIndex>,
}

impl Context<'_, '_> {
    /// The type of the resource a `Reference` element points to, as far as it is known without
    /// fetching: from the literal reference, a contained resource, or the Bundle.
    fn reference_type(&self, element: &Value) -> Option<ResourceType> {
        let text = element.get("reference")?.as_str()?;
        if let Some(bundle) = self.bundle {
            if let Some((resource_type, _)) = bundle.resolve(text) {
                return Some(resource_type);
            }
        }
        match Reference::parse(text).ok()? {
            Reference::Relative(target) | Reference::Absolute { target, .. } => {
                Some(target.resource_type)
            }
            Reference::Contained(id) => {
                let contained = self.root.get("contained")?.as_array()?;
                let found = contained
                    .iter()
                    .find(|r| r.get("id").and_then(Value::as_str) == Some(id))?;
                ResourceType::from_name(found.get("resourceType")?.as_str()?)
            }
            Reference::Uuid(_) | Reference::Oid(_) => None,
        }
    }
}

/// Calls `f` for each item of a member's value (array items, or the value itself).
fn each<'v>(value: &'v Value, f: &mut dyn FnMut(&'v Value)) {
    match value {
        Value::Array(items) => items.iter().filter(|v| !v.is_null()).for_each(f),
        Value::Null => {}
        other => f(other),
    }
}

fn run<'v>(
    context: &Context<'_, '_>,
    steps: &[Step],
    value: &'v Value,
    f: &mut dyn FnMut(&'v Value),
) {
    let Some((step, rest)) = steps.split_first() else {
        f(value);
        return;
    };
    match *step {
        Step::Field(name) => {
            if let Some(child) = value.get(name) {
                if let Some(Step::Index(_)) = rest.first() {
                    return indexed(context, rest, child, f);
                }
                each(child, &mut |c| run(context, rest, c, f));
            }
        }
        Step::Choice(keys) => {
            for key in keys {
                if let Some(child) = value.get(key) {
                    each(child, &mut |c| run(context, rest, c, f));
                }
            }
        }
        Step::ReferenceTo(t) => {
            if context.reference_type(value) == Some(t) {
                run(context, rest, value, f);
            }
        }
        Step::Equals(field, literal) => {
            if value.get(field).and_then(Value::as_str) == Some(literal) {
                run(context, rest, value, f);
            }
        }
        Step::Extension(url) => {
            if let Some(extensions) = value.get("extension") {
                each(extensions, &mut |e| {
                    if e.get("url").and_then(Value::as_str) == Some(url) {
                        run(context, rest, e, f);
                    }
                });
            }
        }
        // An index not right after a member applies to a single value: `x[0]` is `x`.
        Step::Index(n) => {
            if n == 0 {
                run(context, rest, value, f);
            }
        }
    }
}

/// `member[n]`: the n-th item of the member's collection. The generator only emits `[n]`
/// right after a member, and the paths that use it start at the resource (a single value), so
/// the member's collection is the whole collection.
fn indexed<'v>(
    context: &Context<'_, '_>,
    steps: &[Step],
    child: &'v Value,
    f: &mut dyn FnMut(&'v Value),
) {
    let Some((Step::Index(n), rest)) = steps.split_first() else {
        return;
    };
    let item = match child {
        Value::Array(items) => items.iter().filter(|v| !v.is_null()).nth(*n),
        Value::Null => None,
        other => (*n == 0).then_some(other),
    };
    if let Some(item) = item {
        run(context, rest, item, f);
    }
}

/// A compiled R4 SearchParameter for one base resource type.
#[derive(Debug)]
pub struct SearchParameter {
    pub(crate) base: Option<ResourceType>,
    pub(crate) code: &'static str,
    pub(crate) kind: ParameterKind,
    pub(crate) expression: Expression,
}

impl SearchParameter {
    /// Whether every value the parameter selects is a reference to a `target` (each branch
    /// of its path ends in `.where(resolve() is <target>)`), as `Observation`'s `patient` is.
    ///
    /// ```
    /// use fhir_compartment::ResourceType;
    /// use fhir_compartment::path::search_parameter;
    ///
    /// let patient = search_parameter(ResourceType::Observation, "patient").unwrap();
    /// let subject = search_parameter(ResourceType::Observation, "subject").unwrap();
    /// assert!(patient.references_only(ResourceType::Patient));
    /// assert!(!subject.references_only(ResourceType::Patient));
    /// ```
    pub fn references_only(&self, target: ResourceType) -> bool {
        !self.expression.branches.is_empty()
            && self
                .expression
                .branches
                .iter()
                .all(|branch| branch.last() == Some(&Step::ReferenceTo(target)))
    }

    /// The resource type it is defined on; `None` for the `Resource` and `DomainResource`
    /// parameters (`_id`, `_lastUpdated`, `_tag`, ...), which apply to every type.
    pub fn base(&self) -> Option<ResourceType> {
        self.base
    }

    /// The parameter's code, as used in a search URL (`subject`, `value-quantity`).
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The parameter's type.
    pub fn kind(&self) -> ParameterKind {
        self.kind
    }

    /// The compiled expression.
    pub fn expression(&self) -> &Expression {
        &self.expression
    }
}

/// The compiled parameter `code` of `resource_type` (its own, or a `Resource` /
/// `DomainResource` one such as `_id`). `None` when R4 defines no such parameter or its
/// expression is outside the compiled subset.
pub fn search_parameter(
    resource_type: ResourceType,
    code: &str,
) -> Option<&'static SearchParameter> {
    let own = PARAMETERS
        .get(resource_type as usize)
        .copied()
        .unwrap_or_default();
    own.binary_search_by(|p| p.code.cmp(code))
        .ok()
        .and_then(|i| own.get(i))
        .or_else(|| {
            COMMON_PARAMETERS
                .binary_search_by(|p| p.code.cmp(code))
                .ok()
                .and_then(|i| COMMON_PARAMETERS.get(i))
        })
        .copied()
}

/// Every compiled parameter of `resource_type`: its own (sorted by code), then the common
/// `Resource` / `DomainResource` ones.
pub fn search_parameters(
    resource_type: ResourceType,
) -> impl Iterator<Item = &'static SearchParameter> {
    let own = PARAMETERS
        .get(resource_type as usize)
        .copied()
        .unwrap_or_default();
    own.iter().chain(COMMON_PARAMETERS.iter()).copied()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(t: ResourceType, code: &str, resource: &Value) -> Vec<Value> {
        search_parameter(t, code)
            .unwrap()
            .expression()
            .evaluate(resource)
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn resolve_is_decides_by_reference_type() {
        let obs = json!({"resourceType": "Observation", "subject": {"reference": "Group/1"}});
        assert!(eval(ResourceType::Observation, "patient", &obs).is_empty());
        assert_eq!(
            eval(ResourceType::Observation, "subject", &obs),
            [json!({"reference": "Group/1"})]
        );
        let obs =
            json!({"resourceType": "Observation", "subject": {"reference": "https://x/Patient/1"}});
        assert_eq!(eval(ResourceType::Observation, "patient", &obs).len(), 1);
    }

    #[test]
    fn resolve_is_follows_contained_resources() {
        let obs = json!({
            "resourceType": "Observation",
            "contained": [{"resourceType": "Patient", "id": "p"}],
            "subject": {"reference": "#p"}
        });
        assert_eq!(eval(ResourceType::Observation, "patient", &obs).len(), 1);
    }

    #[test]
    fn choice_types_and_unnarrowed_choices() {
        let obs = json!({"resourceType": "Observation", "effectivePeriod": {"start": "2020"}, "valueString": "x"});
        assert_eq!(
            eval(ResourceType::Observation, "date", &obs),
            [json!({"start": "2020"})]
        );
        assert!(eval(ResourceType::Observation, "value-quantity", &obs).is_empty());
        assert_eq!(
            eval(ResourceType::Observation, "value-string", &obs),
            [json!("x")]
        );
    }

    #[test]
    fn where_equals_and_extension_and_index() {
        let p = json!({"resourceType": "Patient", "telecom": [
            {"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"}]});
        assert_eq!(
            eval(ResourceType::Patient, "email", &p),
            [json!({"system": "email", "value": "a@b"})]
        );
        let b = json!({"resourceType": "Bundle", "entry": [{"resource": {"id": "a"}}, {"resource": {"id": "b"}}]});
        assert_eq!(
            eval(ResourceType::Bundle, "composition", &b),
            [json!({"id": "a"})]
        );
        let url =
            "http://hl7.org/fhir/StructureDefinition/patient-extensions-Patient-mothersMaidenName";
        let p = json!({"resourceType": "Patient", "extension": [
            {"url": "http://other", "valueString": "N"}, {"url": url, "valueString": "M"}]});
        assert_eq!(
            eval(ResourceType::Patient, "mothersMaidenName", &p),
            [json!({"url": url, "valueString": "M"})]
        );
    }

    #[test]
    fn common_parameters_apply_to_every_type() {
        let r = json!({"resourceType": "Basic", "id": "1", "meta": {"tag": [{"code": "t"}, null]}});
        assert_eq!(eval(ResourceType::Basic, "_id", &r), [json!("1")]);
        assert_eq!(
            eval(ResourceType::Basic, "_tag", &r),
            [json!({"code": "t"})]
        );
        assert!(search_parameter(ResourceType::Basic, "nope").is_none());
    }

    #[test]
    fn other_types_branches_are_dropped() {
        let p = search_parameter(ResourceType::Observation, "patient").unwrap();
        assert_eq!(p.expression.branches.len(), 1);
        assert!(p.expression.source().contains("AllergyIntolerance.patient"));
    }
}
