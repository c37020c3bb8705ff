//! [`Engine`]: a policy compiled once into rules indexed by (resource type, interaction) and
//! by role or subject id, so that deciding touches only the rules that can apply.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use fhir_compartment::{Compartments, ResourceType};
use fhir_scopes::Decision as ScopeDecision;
use smallvec::SmallVec;

use crate::Error;
use crate::condition::{Condition, Cx, Scope, Truth};
use crate::consent::{ConsentVerdict, evaluate_consents};
use crate::decision::{Cause, Decision};
use crate::document::{Effect, Policy, RuleObligations};
use crate::error::suggestion;
use crate::request::Request;
use crate::request::Scopes;
use crate::target::{CompiledTarget, TYPES, compartment_type, interaction_index};
use crate::value_set::ValueSet;

/// Interactions per type row of the index.
const COLUMNS: usize = crate::target::INTERACTIONS.len();
/// Type rows: one per resource type, one for system-level interactions (no type), and one
/// for rules on every type (`*`), which each request also looks up.
const ROWS: usize = TYPES + 2;
/// The row of rules on every type.
const ANY_ROW: usize = TYPES + 1;

/// A compiled policy: immutable, `Send + Sync`, built once and shared.
///
/// ```
/// use fhir_policy::{Action, Client, Engine, Environment, Policy, Request, Scopes, Subject};
/// use fhir_scopes::{Context, Interaction, ResourceType};
///
/// let engine = Engine::new(&Policy::parse(r#"{
///     "fhirPolicy": "1", "id": "clinic",
///     "roles": {"doctor": {"permissions": [{"resourceTypes": ["Condition"], "interactions": ["read"]}]}},
///     "rules": []
/// }"#)?)?;
/// let doctor = Subject::new("Practitioner/1").with_role("doctor");
/// let (client, environment) = (Client::new("app"), Environment::default());
/// let read = Request::new(&doctor, &client, Context::User { patient: None },
///     Action::new(Interaction::Read, ResourceType::Condition), &environment)
///     .with_scopes(Scopes::PolicyOnly);
/// assert!(engine.decide(&read).is_permit());
///
/// let delete = Request { action: Action::new(Interaction::Delete, ResourceType::Condition), ..read };
/// let decision = engine.decide(&delete);
/// assert!(!decision.is_permit());
/// assert_eq!(decision.explanation().to_string(), "no rule permits role doctor to delete Condition");
/// # Ok::<(), fhir_policy::Error>(())
/// ```
#[derive(Debug)]
pub struct Engine {
    pub(crate) id: Box<str>,
    pub(crate) rules: Vec<CompiledRule>,
    /// Sorted by name.
    pub(crate) roles: Vec<CompiledRole>,
    /// Role indexes by name: subjects' role names are looked up once per decision.
    pub(crate) role_names: HashMap<Box<str>, u32>,
    pub(crate) value_sets: Vec<(String, ValueSet)>,
    /// Rules for any subject, per cell.
    pub(crate) open: Vec<Bucket>,
    /// Rules for a role, by (role, cell).
    pub(crate) by_role: HashMap<u64, Bucket, BuildHasherDefault<CellHasher>>,
    /// Rules for a subject id, by id.
    pub(crate) by_id: HashMap<Box<str>, Bucket>,
    pub(crate) compartments: Compartments,
    /// Has any break-glass rule.
    pub(crate) break_glass: bool,
}

/// A rule ready to evaluate.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) id: Box<str>,
    pub(crate) description: Option<Box<str>>,
    pub(crate) effect: Effect,
    pub(crate) target: CompiledTarget,
    pub(crate) roles: Vec<usize>,
    pub(crate) ids: Vec<Box<str>>,
    pub(crate) subject_when: Option<Condition>,
    pub(crate) when: Option<Condition>,
    pub(crate) break_glass: bool,
    pub(crate) overridable: bool,
    pub(crate) obligations: RuleObligations,
}

/// A role with every role it includes (itself first).
#[derive(Debug)]
pub(crate) struct CompiledRole {
    pub(crate) name: Box<str>,
    pub(crate) closure: Vec<usize>,
    pub(crate) codes: Vec<(Box<str>, Box<str>)>,
}

/// The rules of one index entry, denials apart so they are all seen before any permit.
#[derive(Debug, Default)]
pub(crate) struct Bucket {
    pub(crate) deny: Vec<u32>,
    pub(crate) permit: Vec<u32>,
}

impl Bucket {
    fn push(&mut self, rule: u32, effect: Effect) {
        let list = match effect {
            Effect::Deny => &mut self.deny,
            Effect::Permit => &mut self.permit,
        };
        if list.last() != Some(&rule) {
            list.push(rule);
        }
    }
}

/// A multiplicative hasher for the `(role, cell)` keys: they are small integers the policy
/// chose, not attacker input.
#[derive(Debug, Default)]
pub(crate) struct CellHasher(u64);

impl Hasher for CellHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 =
                (self.0.rotate_left(5) ^ u64::from(*b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (n ^ (n >> 29)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

fn cell(t: Option<ResourceType>, interaction: usize) -> usize {
    t.map_or(TYPES, |t| t as usize) * COLUMNS + interaction
}

fn role_key(role: usize, cell: usize) -> u64 {
    ((role as u64) << 32) | cell as u64
}

impl Engine {
    /// Compiles and type-checks a policy: every resource type, interaction, role, attribute,
    /// value set and resource path is resolved, every comparison checked.
    pub fn new(policy: &Policy) -> Result<Engine, Error> {
        if policy.fhir_policy != "1" {
            return Err(Error::Version {
                found: policy.fhir_policy.clone(),
            });
        }
        let value_sets = policy
            .value_sets
            .iter()
            .map(|(name, codes)| {
                Ok((
                    name.clone(),
                    ValueSet::new(codes, &format!("valueSets.{name}"))?,
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let roles = compile_roles(policy)?;
        let role_index = |name: &str, at: &str| -> Result<usize, Error> {
            roles
                .binary_search_by(|r| (*r.name).cmp(name))
                .map_err(|_| {
                    Error::invalid(
                        at,
                        format!(
                            "unknown role `{name}`{}",
                            suggestion(name, roles.iter().map(|r| &*r.name))
                        ),
                    )
                })
        };
        let mut rules = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (name, role) in &policy.roles {
            let index = role_index(name, "roles")?;
            for (i, permission) in role.permissions.iter().enumerate() {
                let at = format!("role `{name}`: permissions[{i}]");
                rules.push(CompiledRule {
                    id: format!("role:{name}").into(),
                    description: role.description.as_deref().map(Into::into),
                    effect: Effect::Permit,
                    target: CompiledTarget::compile(permission, &at)?,
                    roles: vec![index],
                    ids: Vec::new(),
                    subject_when: None,
                    when: None,
                    break_glass: false,
                    overridable: false,
                    obligations: RuleObligations::default(),
                });
            }
        }
        for (i, rule) in policy.rules.iter().enumerate() {
            let at = format!("rule `{}`", rule.id);
            if rule.id.is_empty() || rule.id.starts_with("role:") {
                return Err(Error::invalid(
                    format!("rules[{i}].id"),
                    "a rule id is non-empty and does not start with `role:`",
                ));
            }
            if !seen.insert(rule.id.as_str()) {
                return Err(Error::invalid(at, "duplicate rule id"));
            }
            if rule.break_glass && rule.effect == Effect::Deny {
                return Err(Error::invalid(at, "`breakGlass` is for permit rules"));
            }
            if rule.break_glass_overridable && rule.effect == Effect::Permit {
                return Err(Error::invalid(
                    at,
                    "`breakGlassOverridable` is for deny rules",
                ));
            }
            let target = CompiledTarget::compile(&rule.target, &at)?;
            let scope = Scope {
                attributes: &policy.attributes,
                value_sets: &value_sets,
                types: target.types.as_deref(),
            };
            let subject = rule.subject.clone().unwrap_or_default();
            let role_ids = subject
                .roles
                .iter()
                .map(|r| role_index(r, &format!("{at}: subject.roles")))
                .collect::<Result<Vec<_>, _>>()?;
            let subject_when = subject
                .when
                .as_ref()
                .map(|c| Condition::compile(c, &scope, &format!("{at}: subject.when")))
                .transpose()?;
            if subject_when.as_ref().is_some_and(Condition::reads_resource) {
                return Err(Error::invalid(
                    format!("{at}: subject.when"),
                    "a subject condition may not read the resource; use `when`",
                ));
            }
            let when = rule
                .when
                .as_ref()
                .map(|c| Condition::compile(c, &scope, &format!("{at}: when")))
                .transpose()?;
            check_obligations(&rule.obligations, &at)?;
            rules.push(CompiledRule {
                id: rule.id.as_str().into(),
                description: rule.description.as_deref().map(Into::into),
                effect: rule.effect,
                target,
                roles: role_ids,
                ids: subject.ids.iter().map(|s| s.as_str().into()).collect(),
                subject_when,
                when,
                break_glass: rule.break_glass,
                overridable: rule.break_glass_overridable,
                obligations: rule.obligations.clone(),
            });
        }
        let mut engine = Engine {
            id: policy.id.as_str().into(),
            break_glass: rules.iter().any(|r| r.break_glass),
            rules,
            roles,
            value_sets,
            open: (0..ROWS * COLUMNS).map(|_| Bucket::default()).collect(),
            by_role: HashMap::default(),
            by_id: HashMap::new(),
            role_names: HashMap::new(),
            compartments: Compartments::r4(),
        };
        engine.role_names = engine
            .roles
            .iter()
            .enumerate()
            .map(|(i, r)| (r.name.clone(), u32::try_from(i).unwrap_or(u32::MAX)))
            .collect();
        engine.index();
        Ok(engine)
    }

    fn index(&mut self) {
        for (number, rule) in self.rules.iter().enumerate() {
            let number = u32::try_from(number).unwrap_or(u32::MAX);
            let mut cells = Vec::new();
            for &interaction in &rule.target.interactions {
                match &rule.target.types {
                    // A rule on every type is indexed once per interaction.
                    None => cells.push(ANY_ROW * COLUMNS + interaction),
                    Some(types) => {
                        // System-level interactions have no type: only `*` rules cover them.
                        if interaction != 4 && interaction != 6 {
                            cells.extend(types.iter().map(|t| cell(Some(*t), interaction)));
                        }
                    }
                }
            }
            for c in cells {
                if rule.roles.is_empty() && rule.ids.is_empty() {
                    if let Some(bucket) = self.open.get_mut(c) {
                        bucket.push(number, rule.effect);
                    }
                }
                for role in &rule.roles {
                    self.by_role
                        .entry(role_key(*role, c))
                        .or_default()
                        .push(number, rule.effect);
                }
            }
            for id in &rule.ids {
                self.by_id
                    .entry(id.clone())
                    .or_default()
                    .push(number, rule.effect);
            }
        }
    }

    /// Uses `compartments` for compartment membership and narrowing, instead of the
    /// published R4 definitions with their defaults (for a server that resolves absolute
    /// references to its own base URL, or counts `Patient.link`).
    ///
    /// ```
    /// use fhir_compartment::{Config, ServerBases};
    /// use fhir_policy::{Engine, Policy};
    ///
    /// let policy = Policy::parse(r#"{"fhirPolicy": "1", "id": "p", "rules": []}"#)?;
    /// let bases = ServerBases::new(["https://fhir.example.org/r4"]).unwrap();
    /// let engine = Engine::new(&policy)?
    ///     .with_compartments(Config::new().server_bases(bases).build().unwrap());
    /// assert_eq!(engine.id(), "p");
    /// # Ok::<(), fhir_policy::Error>(())
    /// ```
    pub fn with_compartments(mut self, compartments: Compartments) -> Engine {
        self.compartments = compartments;
        self
    }

    /// The policy's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The number of rules, role permissions included.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Decides a request: the intersection of the token's scopes, the policy and the
    /// patient's Consent. Default deny; a deny rule overrides any permit; break-glass rules
    /// override Consent denials and deny rules marked `breakGlassOverridable`, never the
    /// scopes. Deciding parses nothing and allocates nothing unless the resource is read.
    pub fn decide<'a>(&'a self, request: &Request<'a>) -> Decision<'a> {
        let mut decision = Decision::new(self, *request);
        let Some(interaction) = interaction_index(request.action.interaction) else {
            decision.cause = Cause::UnknownInteraction;
            return decision;
        };
        // 1. The token's scopes: an upper bound nothing overrides.
        if let Scopes::Missing = request.scopes {
            decision.cause = Cause::NoScopes;
            return decision;
        }
        if let Scopes::Token(scopes) = request.scopes {
            let mut asked = fhir_scopes::Request::new(
                request.context,
                request.action.interaction,
                request.action.resource_type,
            );
            if let Some(query) = request.action.query {
                asked = asked.with_query(query);
            }
            match scopes.decide(&asked) {
                ScopeDecision::Deny(denial) => {
                    decision.cause = Cause::Scopes(denial);
                    return decision;
                }
                ScopeDecision::Permit(permit) => {
                    if let Some(resource) = request.resource {
                        if !permit.is_unrestricted() && !self.scope_admits(&permit, resource) {
                            decision.cause = Cause::ScopeContent;
                            return decision;
                        }
                    }
                    decision.scope_permit = Some(permit);
                }
            }
        }
        // 2. The policy.
        let resource_type = self.resource_type(request);
        let cx = Cx {
            request,
            resource_type,
            value_sets: &self.value_sets,
            compartments: &self.compartments,
        };
        let c = cell(resource_type, interaction);
        let break_glass = self.break_glass && request.environment.break_glass_reason().is_some();
        let mut overridden: Option<&CompiledRule> = None;
        let mut break_glass_rules: SmallVec<[&CompiledRule; 1]> = SmallVec::new();
        let mut conditional = false;
        let mut done = false;
        let held = self.held_roles(request);
        self.candidates(request, &held, c, Effect::Deny, &mut |rule| {
            match self.applies(rule, &cx, interaction) {
                Truth::True | Truth::Missing => {
                    if rule.overridable && break_glass {
                        overridden.get_or_insert(rule);
                    } else {
                        decision.cause = Cause::DenyRule(rule);
                        done = true;
                    }
                }
                Truth::Pending => decision.pending_denies.push(rule),
                Truth::False => {}
            }
            done
        });
        if done {
            return decision;
        }
        self.candidates(request, &held, c, Effect::Permit, &mut |rule| {
            if rule.break_glass && !break_glass {
                return false;
            }
            let truth = self.applies(rule, &cx, interaction);
            if rule.break_glass {
                if truth == Truth::True {
                    push_unique(&mut break_glass_rules, rule);
                }
                return false;
            }
            match truth {
                Truth::True => {
                    if conditional {
                        // A definite permit replaces the conditional ones.
                        decision.rules.clear();
                        conditional = false;
                    }
                    push_unique(&mut decision.rules, rule);
                }
                Truth::Pending if conditional || decision.rules.is_empty() => {
                    conditional = true;
                    push_unique(&mut decision.rules, rule);
                }
                _ => {}
            }
            false
        });
        decision.conditional = conditional;
        // 3. The patient's Consent.
        let consent = evaluate_consents(request.consents, self, &cx);
        let consent_denies = matches!(consent, Some(ConsentVerdict::Deny { .. }));
        decision.consent = consent;
        let blocked = overridden.is_some() || consent_denies || decision.rules.is_empty();
        if blocked {
            if let Some(first) = break_glass_rules.first() {
                decision.rules.clear();
                decision.rules.extend(break_glass_rules.iter().copied());
                decision.conditional = false;
                decision.cause = Cause::BreakGlass { rule: first };
                return decision;
            }
            decision.cause = match (overridden, consent_denies) {
                (Some(rule), _) => Cause::DenyRule(rule),
                (None, true) => Cause::Consent,
                (None, false) => Cause::NoRule,
            };
            return decision;
        }
        decision.cause = Cause::Permit;
        decision
    }

    /// Whether a rule applies: operation name, subject condition, condition.
    pub(crate) fn applies(&self, rule: &CompiledRule, cx: &Cx<'_>, interaction: usize) -> Truth {
        if interaction == crate::target::OPERATION
            && !rule.target.covers_operation(cx.request.action.operation)
        {
            return Truth::False;
        }
        let subject = rule
            .subject_when
            .as_ref()
            .map_or(Truth::True, |c| c.evaluate(cx));
        match subject {
            Truth::True => rule.when.as_ref().map_or(Truth::True, |c| c.evaluate(cx)),
            other => other,
        }
    }

    /// Every role the subject holds, inherited ones included (unknown names hold nothing).
    pub(crate) fn held_roles(&self, request: &Request<'_>) -> SmallVec<[u32; 8]> {
        let mut held = SmallVec::new();
        for name in &request.subject.roles {
            let Some(index) = self.role_names.get(name.as_str()) else {
                continue;
            };
            let closure = self
                .roles
                .get(*index as usize)
                .map_or(&[][..], |r| r.closure.as_slice());
            for role in closure {
                let role = u32::try_from(*role).unwrap_or(u32::MAX);
                if !held.contains(&role) {
                    held.push(role);
                }
            }
        }
        held
    }

    /// Calls `f` with each rule of `effect` that the index finds for the request (`held`:
    /// the subject's roles), until it returns `true`.
    pub(crate) fn candidates<'a>(
        &'a self,
        request: &Request<'_>,
        held: &[u32],
        c: usize,
        effect: Effect,
        f: &mut dyn FnMut(&'a CompiledRule) -> bool,
    ) {
        let pick = |bucket: &'a Bucket| match effect {
            Effect::Deny => bucket.deny.as_slice(),
            Effect::Permit => bucket.permit.as_slice(),
        };
        let mut visit = |numbers: &[u32], check_cell: bool| -> bool {
            for number in numbers {
                if let Some(rule) = self.rules.get(*number as usize) {
                    if check_cell && !self.covers_cell(rule, c) {
                        continue;
                    }
                    if f(rule) {
                        return true;
                    }
                }
            }
            false
        };
        let any = ANY_ROW * COLUMNS + c % COLUMNS;
        for cell in [c, any] {
            if let Some(bucket) = self.open.get(cell) {
                if visit(pick(bucket), false) {
                    return;
                }
            }
        }
        for role in held {
            for cell in [c, any] {
                if let Some(bucket) = self.by_role.get(&role_key(*role as usize, cell)) {
                    if visit(pick(bucket), false) {
                        return;
                    }
                }
            }
        }
        if !self.by_id.is_empty() {
            if let Some(bucket) = self.by_id.get(request.subject.id.as_str()) {
                visit(pick(bucket), true);
            }
        }
    }

    fn covers_cell(&self, rule: &CompiledRule, c: usize) -> bool {
        let (row, interaction) = (c / COLUMNS, c % COLUMNS);
        let t = ResourceType::all().get(row).copied();
        rule.target.covers(t, interaction)
    }

    /// The type the policy sees: the request's, or for a system-level search's result, the
    /// resource's own.
    pub(crate) fn resource_type(&self, request: &Request<'_>) -> Option<ResourceType> {
        request
            .action
            .resource_type
            .and_then(compartment_type)
            .or_else(|| {
                request
                    .resource
                    .and_then(|r| r.get("resourceType"))
                    .and_then(|t| t.as_str())
                    .and_then(ResourceType::from_name)
            })
    }

    fn scope_admits(&self, permit: &fhir_scopes::Permit<'_>, resource: &serde_json::Value) -> bool {
        permit.admits(resource, |patient| {
            fhir_compartment::Compartment::new(fhir_compartment::CompartmentKind::Patient, patient)
                .ok()
                .is_some_and(|c| {
                    let own = resource.get("resourceType").and_then(|t| t.as_str())
                        == Some("Patient")
                        && resource.get("id").and_then(|i| i.as_str()) == Some(patient);
                    own || self.compartments.is_member(resource, &c).unwrap_or(false)
                })
        })
    }

    /// The role named `name`, if the policy has it.
    pub(crate) fn role(&self, name: &str) -> Option<&CompiledRole> {
        self.role_names
            .get(name)
            .and_then(|i| self.roles.get(*i as usize))
    }
}

fn push_unique<'a, const N: usize>(
    list: &mut SmallVec<[&'a CompiledRule; N]>,
    rule: &'a CompiledRule,
) {
    if !list.iter().any(|r| std::ptr::eq(*r, rule)) {
        list.push(rule);
    }
}

fn compile_roles(policy: &Policy) -> Result<Vec<CompiledRole>, Error> {
    let names: Vec<&str> = policy.roles.keys().map(String::as_str).collect();
    let mut roles = Vec::with_capacity(names.len());
    for (name, role) in &policy.roles {
        // The closure: this role and everything it inherits, transitively.
        let mut closure = Vec::new();
        let mut stack = vec![name.as_str()];
        while let Some(current) = stack.pop() {
            let index = names.binary_search(&current).map_err(|_| {
                Error::invalid(
                    format!("role `{name}`: inherits"),
                    format!(
                        "unknown role `{current}`{}",
                        suggestion(current, names.iter().copied())
                    ),
                )
            })?;
            if closure.contains(&index) {
                continue;
            }
            closure.push(index);
            if let Some(parent) = policy.roles.get(current) {
                stack.extend(parent.inherits.iter().map(String::as_str));
            }
        }
        let codes = role
            .codes
            .iter()
            .map(|code| match code.split_once('|') {
                Some((s, c)) if !s.is_empty() && !c.is_empty() => Ok((s.into(), c.into())),
                _ => Err(Error::invalid(
                    format!("role `{name}`: codes"),
                    format!("`{code}` is not `system|code`"),
                )),
            })
            .collect::<Result<Vec<_>, Error>>()?;
        roles.push(CompiledRole {
            name: name.as_str().into(),
            closure,
            codes,
        });
    }
    Ok(roles)
}

/// Hidden and read-only elements must be top-level element names.
fn check_obligations(obligations: &RuleObligations, at: &str) -> Result<(), Error> {
    for (field, list) in [
        ("hide", &obligations.hide),
        ("readOnly", &obligations.read_only),
    ] {
        for name in list {
            let valid = !name.is_empty()
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                && name != "resourceType"
                && name != "id";
            if !valid {
                return Err(Error::invalid(
                    format!("{at}: obligations.{field}"),
                    format!(
                        "`{name}` is not a top-level element name (and `id`, `resourceType` cannot be hidden)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The index cell of a request.
pub(crate) fn cell_of(engine: &Engine, request: &Request<'_>, interaction: usize) -> usize {
    cell(engine.resource_type(request), interaction)
}
