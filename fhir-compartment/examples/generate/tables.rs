//! The table generator: reads the official `hl7.fhir.r4.core` package (StructureDefinitions,
//! SearchParameters, CompartmentDefinitions), compiles each SearchParameter's FHIRPath
//! expression against the element types of its base resource, and renders
//! `src/generated/tables.rs`. Shared by the `generate` example and the drift test.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::Path;

use serde_json::Value;

/// The package, relative to the crate directory.
pub(crate) const PACKAGE_PATH: &str = "data/hl7.fhir.r4.core-4.0.1.tgz";
/// The generated file, relative to the crate directory.
pub(crate) const OUTPUT_PATH: &str = "src/generated/tables.rs";

/// The compartments, in the order of the crate's `CompartmentKind` enum.
const COMPARTMENTS: [(&str, &str); 5] = [
    ("patient", "Patient"),
    ("encounter", "Encounter"),
    ("relatedPerson", "RelatedPerson"),
    ("practitioner", "Practitioner"),
    ("device", "Device"),
];

/// Search parameter types whose expressions are compiled (composite and special ones are not
/// value-extracting paths).
const COMPILED_TYPES: [&str; 7] = [
    "number",
    "date",
    "string",
    "token",
    "reference",
    "quantity",
    "uri",
];

/// The files of the package this generator reads.
struct Package {
    structure_definitions: Vec<Value>,
    search_parameters: Vec<Value>,
    compartments: BTreeMap<String, Value>,
    version: String,
}

fn read_package(path: &Path) -> Result<Package, String> {
    let file =
        std::fs::File::open(path).map_err(|e| format!("opening `{}`: {e}", path.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut package = Package {
        structure_definitions: Vec::new(),
        search_parameters: Vec::new(),
        compartments: BTreeMap::new(),
        version: String::new(),
    };
    let entries = archive
        .entries()
        .map_err(|e| format!("reading the package: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("reading the package: {e}"))?;
        let name = entry
            .path()
            .map_err(|e| format!("reading the package: {e}"))?
            .to_string_lossy()
            .into_owned();
        let wanted = name == "package/package.json"
            || name.starts_with("package/StructureDefinition-")
            || name.starts_with("package/SearchParameter-")
            || name.starts_with("package/CompartmentDefinition-");
        if !wanted {
            continue;
        }
        let mut text = String::new();
        entry
            .read_to_string(&mut text)
            .map_err(|e| format!("reading `{name}`: {e}"))?;
        let json: Value =
            serde_json::from_str(&text).map_err(|e| format!("parsing `{name}`: {e}"))?;
        if name == "package/package.json" {
            package.version = str_field(&json, "version")?.to_owned();
        } else if name.starts_with("package/StructureDefinition-") {
            package.structure_definitions.push(json);
        } else if name.starts_with("package/SearchParameter-") {
            // The spec's example SearchParameters collide with real ones (PROVENANCE.md).
            if !str_field(&json, "id")?.starts_with("example") {
                package.search_parameters.push(json);
            }
        } else {
            let id = str_field(&json, "id")?.to_owned();
            package.compartments.insert(id, json);
        }
    }
    Ok(package)
}

fn str_field<'a>(value: &'a Value, key: &str) -> Result<&'a str, String> {
    value
        .get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("missing string `{key}`"))
}

/// One element of a StructureDefinition snapshot.
struct Element {
    types: Vec<String>,
    /// `max` is not `1`: JSON holds an array.
    many: bool,
    content_reference: Option<String>,
}

/// Element definitions of every specialization (resources, data types, abstract bases).
struct Model {
    elements: HashMap<String, Element>,
    resource_types: BTreeSet<String>,
}

fn build_model(package: &Package) -> Result<Model, String> {
    let mut elements = HashMap::new();
    let mut resource_types = BTreeSet::new();
    for sd in &package.structure_definitions {
        // Profiles (constraints) add no elements; `Resource` and `Element` have no derivation.
        if sd.get("derivation").and_then(Value::as_str) == Some("constraint") {
            continue;
        }
        let kind = str_field(sd, "kind")?;
        let name = str_field(sd, "type")?;
        if kind == "resource" && sd.get("abstract") == Some(&Value::Bool(false)) {
            resource_types.insert(name.to_owned());
        }
        let snapshot = sd
            .get("snapshot")
            .and_then(|s| s.get("element"))
            .and_then(Value::as_array)
            .ok_or_else(|| format!("StructureDefinition `{name}` has no snapshot"))?;
        for element in snapshot {
            let path = str_field(element, "path")?;
            let types = element
                .get("type")
                .and_then(Value::as_array)
                .map(|types| {
                    types
                        .iter()
                        .filter_map(|t| t.get("code").and_then(Value::as_str))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            let content_reference = element
                .get("contentReference")
                .and_then(Value::as_str)
                .map(|r| r.trim_start_matches('#').to_owned());
            let many = element
                .get("max")
                .and_then(Value::as_str)
                .is_some_and(|m| m != "1" && m != "0");
            elements.insert(
                path.to_owned(),
                Element {
                    types,
                    many,
                    content_reference,
                },
            );
        }
    }
    Ok(Model {
        elements,
        resource_types,
    })
}

// ---------------------------------------------------------------------------------------------
// FHIRPath subset: parser

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    Str(String),
    Int(usize),
    Dot,
    Pipe,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Equals,
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                chars.next();
            }
            '.' => {
                chars.next();
                tokens.push(Token::Dot);
            }
            '|' => {
                chars.next();
                tokens.push(Token::Pipe);
            }
            '(' => {
                chars.next();
                tokens.push(Token::LParen);
            }
            ')' => {
                chars.next();
                tokens.push(Token::RParen);
            }
            '[' => {
                chars.next();
                tokens.push(Token::LBracket);
            }
            ']' => {
                chars.next();
                tokens.push(Token::RBracket);
            }
            '=' => {
                chars.next();
                tokens.push(Token::Equals);
            }
            '\'' => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some('\\') => return Err("escapes in string literals".to_owned()),
                        Some(c) => s.push(c),
                        None => return Err("unterminated string literal".to_owned()),
                    }
                }
                tokens.push(Token::Str(s));
            }
            c if c.is_ascii_digit() => {
                let mut n = String::new();
                while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    n.push(d);
                    chars.next();
                }
                tokens.push(Token::Int(
                    n.parse().map_err(|e| format!("number `{n}`: {e}"))?,
                ));
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut s = String::new();
                while let Some(&d) = chars
                    .peek()
                    .filter(|d| d.is_ascii_alphanumeric() || **d == '_')
                {
                    s.push(d);
                    chars.next();
                }
                tokens.push(Token::Ident(s));
            }
            other => return Err(format!("unsupported character `{other}`")),
        }
    }
    Ok(tokens)
}

#[derive(Debug)]
enum Ast {
    Union(Vec<Ast>),
    Path {
        start: Box<Start>,
        steps: Vec<AstStep>,
    },
    As(Box<Ast>, String),
}

#[derive(Debug)]
enum Start {
    Name(String),
    Paren(Ast),
}

#[derive(Debug)]
enum AstStep {
    Field(String),
    ResolveIs(String),
    Equals(String, String),
    As(String),
    Extension(String),
    Index(usize),
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn expect(&mut self, want: &Token) -> Result<(), String> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            other => Err(format!("expected {want:?}, found {other:?}")),
        }
    }

    fn ident(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Ident(s)) => Ok(s),
            other => Err(format!("expected a name, found {other:?}")),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        match self.next() {
            Some(Token::Str(s)) => Ok(s),
            other => Err(format!("expected a string, found {other:?}")),
        }
    }

    /// union := typed ('|' typed)*
    fn union(&mut self) -> Result<Ast, String> {
        let mut parts = vec![self.typed()?];
        while self.peek() == Some(&Token::Pipe) {
            self.next();
            parts.push(self.typed()?);
        }
        Ok(if parts.len() == 1 {
            parts.remove(0)
        } else {
            Ast::Union(parts)
        })
    }

    /// typed := path ('as' Type)?
    fn typed(&mut self) -> Result<Ast, String> {
        let path = self.path()?;
        if self.peek() == Some(&Token::Ident("as".to_owned())) {
            self.next();
            let t = self.ident()?;
            return Ok(Ast::As(Box::new(path), t));
        }
        Ok(path)
    }

    /// path := (Name | '(' union ')') ('.' step | '[' Int ']')*
    fn path(&mut self) -> Result<Ast, String> {
        let start = match self.next() {
            Some(Token::Ident(name)) => Start::Name(name),
            Some(Token::LParen) => {
                let inner = self.union()?;
                self.expect(&Token::RParen)?;
                Start::Paren(inner)
            }
            other => return Err(format!("expected a path, found {other:?}")),
        };
        let mut steps = Vec::new();
        loop {
            match self.peek() {
                Some(Token::Dot) => {
                    self.next();
                    steps.push(self.step()?);
                }
                Some(Token::LBracket) => {
                    self.next();
                    match self.next() {
                        Some(Token::Int(n)) => steps.push(AstStep::Index(n)),
                        other => return Err(format!("expected an index, found {other:?}")),
                    }
                    self.expect(&Token::RBracket)?;
                }
                _ => break,
            }
        }
        Ok(Ast::Path {
            start: Box::new(start),
            steps,
        })
    }

    fn step(&mut self) -> Result<AstStep, String> {
        let name = self.ident()?;
        if self.peek() != Some(&Token::LParen) {
            return Ok(AstStep::Field(name));
        }
        self.next();
        let step = match name.as_str() {
            "as" | "ofType" => AstStep::As(self.ident()?),
            "extension" => AstStep::Extension(self.string()?),
            "where" => {
                let first = self.ident()?;
                if first == "resolve" {
                    self.expect(&Token::LParen)?;
                    self.expect(&Token::RParen)?;
                    if self.ident()? != "is" {
                        return Err("expected `is` after `resolve()`".to_owned());
                    }
                    AstStep::ResolveIs(self.ident()?)
                } else {
                    self.expect(&Token::Equals)?;
                    AstStep::Equals(first, self.string()?)
                }
            }
            other => return Err(format!("unsupported function `{other}()`")),
        };
        self.expect(&Token::RParen)?;
        Ok(step)
    }
}

fn parse(text: &str) -> Result<Ast, String> {
    let mut parser = Parser {
        tokens: tokenize(text)?,
        at: 0,
    };
    let ast = parser.union()?;
    if let Some(t) = parser.peek() {
        return Err(format!("unsupported syntax at {t:?}"));
    }
    Ok(ast)
}

// ---------------------------------------------------------------------------------------------
// FHIRPath subset: compilation against element types

/// A compiled step, rendered as the crate's `Step` enum.
#[derive(Debug, Clone)]
enum Step {
    /// A member, and whether it repeats (only used to build test resources).
    Field(String, bool),
    Choice(Vec<String>),
    ReferenceTo(String),
    Equals(String, String),
    Extension(String),
    Index(usize),
}

/// What is known about the values a branch produces so far.
#[derive(Debug, Clone)]
enum State {
    /// Values of the element at this path (a type name or a path inside one).
    Typed(String),
    /// A choice element not yet narrowed: `prefix` plus one of `types` is the JSON key.
    Choice { prefix: String, types: Vec<String> },
    /// A resource of any type (`contained`, `Bundle.entry.resource`): no further steps.
    AnyResource,
    /// The union of several types (an unnarrowed choice): no further steps.
    Mixed,
}

type Branch = (Vec<Step>, State);

struct Compiler<'a> {
    model: &'a Model,
    base: &'a str,
}

fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

impl Compiler<'_> {
    fn compile(&self, ast: &Ast) -> Result<Vec<Branch>, String> {
        match ast {
            Ast::Union(parts) => {
                let mut out = Vec::new();
                for part in parts {
                    out.extend(self.compile(part)?);
                }
                Ok(out)
            }
            Ast::As(inner, t) => {
                let mut out = Vec::new();
                for (steps, state) in self.compile(inner)? {
                    if let Some(branch) = self.narrow(steps, state, t)? {
                        out.push(branch);
                    }
                }
                Ok(out)
            }
            Ast::Path { start, steps } => {
                let starts = match start.as_ref() {
                    Start::Name(name) if name == self.base => {
                        vec![(Vec::new(), State::Typed(self.base.to_owned()))]
                    }
                    Start::Name(name) if name == "Resource" || name == "DomainResource" => {
                        vec![(Vec::new(), State::Typed(self.base.to_owned()))]
                    }
                    // A branch rooted at another resource type never applies to this base.
                    Start::Name(name) if self.model.resource_types.contains(name) => Vec::new(),
                    Start::Name(name) => return Err(format!("unsupported path start `{name}`")),
                    Start::Paren(inner) => self.compile(inner)?,
                };
                let mut out = Vec::new();
                for (mut compiled, mut state) in starts {
                    let mut alive = true;
                    for step in steps {
                        match self.step(compiled, state, step)? {
                            Some((c, s)) => {
                                compiled = c;
                                state = s;
                            }
                            None => {
                                alive = false;
                                compiled = Vec::new();
                                state = State::Mixed;
                                break;
                            }
                        }
                    }
                    if alive {
                        out.push((compiled, state));
                    }
                }
                Ok(out)
            }
        }
    }

    /// Settles a pending choice before a step that is not a type narrowing.
    fn settle(steps: &mut Vec<Step>, state: State) -> State {
        match state {
            State::Choice { prefix, types } => {
                steps.push(Step::Choice(
                    types
                        .iter()
                        .map(|t| format!("{prefix}{}", capitalise(t)))
                        .collect(),
                ));
                State::Mixed
            }
            other => other,
        }
    }

    /// The state after member `name`, and whether the member repeats.
    fn child(&self, path: &str, name: &str) -> Result<(State, bool), String> {
        let full = format!("{path}.{name}");
        if let Some(element) = self.model.elements.get(&full) {
            if let Some(target) = &element.content_reference {
                return Ok((State::Typed(target.clone()), element.many));
            }
            let state = match element.types.as_slice() {
                [t] if t == "BackboneElement" || t == "Element" => State::Typed(full),
                [t] if t == "Resource" => State::AnyResource,
                [t] => State::Typed(t.clone()),
                _ => {
                    return Err(format!(
                        "element `{full}` has {} types",
                        element.types.len()
                    ));
                }
            };
            return Ok((state, element.many));
        }
        if let Some(element) = self.model.elements.get(&format!("{full}[x]")) {
            let types = element.types.clone();
            return Ok((
                State::Choice {
                    prefix: name.to_owned(),
                    types,
                },
                false,
            ));
        }
        Err(format!("no element `{full}`"))
    }

    /// `as T` / `ofType(T)`: `None` when the branch can never produce a `T`.
    fn narrow(
        &self,
        mut steps: Vec<Step>,
        state: State,
        t: &str,
    ) -> Result<Option<Branch>, String> {
        match state {
            State::Choice { prefix, types } => {
                if types.iter().any(|x| x == t) {
                    steps.push(Step::Field(format!("{prefix}{}", capitalise(t)), false));
                    Ok(Some((steps, State::Typed(t.to_owned()))))
                } else {
                    Ok(None)
                }
            }
            State::Typed(path) => {
                // A path inside a type: its declared type is the element's, not the path.
                let declared = if path.contains('.') {
                    return Err(format!("`as {t}` on backbone element `{path}`"));
                } else {
                    path
                };
                Ok((declared == t).then_some((steps, State::Typed(declared))))
            }
            State::AnyResource | State::Mixed => {
                Err(format!("`as {t}` on a value of unknown type"))
            }
        }
    }

    fn step(
        &self,
        mut steps: Vec<Step>,
        state: State,
        step: &AstStep,
    ) -> Result<Option<Branch>, String> {
        if let AstStep::As(t) = step {
            return self.narrow(steps, state, t);
        }
        let state = Self::settle(&mut steps, state);
        let path = match state {
            State::Typed(path) => path,
            State::AnyResource | State::Mixed | State::Choice { .. } => {
                return Err(format!("step {step:?} after a value of unknown type"));
            }
        };
        let next = match step {
            AstStep::Field(name) => {
                let (next, many) = self.child(&path, name)?;
                steps.push(Step::Field(name.clone(), many));
                // A choice's JSON key is only known once narrowed or settled.
                if let State::Choice { .. } = next {
                    steps.pop();
                }
                next
            }
            AstStep::ResolveIs(t) => {
                if path != "Reference" {
                    return Err(format!("`resolve() is {t}` on `{path}`"));
                }
                if !self.model.resource_types.contains(t) {
                    return Err(format!("unknown resource type `{t}`"));
                }
                steps.push(Step::ReferenceTo(t.clone()));
                State::Typed(path)
            }
            AstStep::Equals(field, literal) => {
                self.child(&path, field)?;
                steps.push(Step::Equals(field.clone(), literal.clone()));
                State::Typed(path)
            }
            AstStep::Extension(url) => {
                self.child(&path, "extension")?;
                steps.push(Step::Extension(url.clone()));
                State::Typed("Extension".to_owned())
            }
            AstStep::Index(n) => {
                steps.push(Step::Index(*n));
                State::Typed(path)
            }
            AstStep::As(_) => return Err("unreachable".to_owned()),
        };
        Ok(Some((steps, next)))
    }
}

/// Whether the expression has a `|` anywhere: FHIRPath's union removes duplicates, so the
/// evaluator must too.
fn has_union(ast: &Ast) -> bool {
    match ast {
        Ast::Union(_) => true,
        Ast::As(inner, _) => has_union(inner),
        Ast::Path { start, .. } => match start.as_ref() {
            Start::Paren(inner) => has_union(inner),
            Start::Name(_) => false,
        },
    }
}

fn compile(model: &Model, base: &str, expression: &str) -> Result<Vec<Vec<Step>>, String> {
    let ast = parse(expression)?;
    let compiler = Compiler { model, base };
    let mut out = Vec::new();
    for (mut steps, state) in compiler.compile(&ast)? {
        Compiler::settle(&mut steps, state);
        out.push(steps);
    }
    if out.is_empty() {
        return Err(format!("no branch of the expression applies to `{base}`"));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn rust_str(s: &str) -> String {
    format!("{s:?}")
}

fn variant(t: &str) -> String {
    format!("ResourceType::{t}")
}

fn render_step(step: &Step) -> String {
    match step {
        Step::Field(name, _) => format!("Step::Field({})", rust_str(name)),
        Step::Choice(keys) => format!(
            "Step::Choice(&[{}])",
            keys.iter()
                .map(|k| rust_str(k))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Step::ReferenceTo(t) => format!("Step::ReferenceTo({})", variant(t)),
        Step::Equals(field, literal) => {
            format!("Step::Equals({}, {})", rust_str(field), rust_str(literal))
        }
        Step::Extension(url) => format!("Step::Extension({})", rust_str(url)),
        Step::Index(n) => format!("Step::Index({n})"),
    }
}

fn param_kind(kind: &str) -> Result<&'static str, String> {
    Ok(match kind {
        "number" => "ParameterKind::Number",
        "date" => "ParameterKind::Date",
        "string" => "ParameterKind::String",
        "token" => "ParameterKind::Token",
        "reference" => "ParameterKind::Reference",
        "quantity" => "ParameterKind::Quantity",
        "uri" => "ParameterKind::Uri",
        other => return Err(format!("unexpected search parameter type `{other}`")),
    })
}

/// One compiled (base, code) search parameter.
struct Compiled {
    /// `None` for `Resource` / `DomainResource` parameters, which apply to every type.
    base: Option<String>,
    code: String,
    kind: String,
    source: String,
    distinct: bool,
    branches: Vec<Vec<Step>>,
}

/// Renders the generated Rust file from the package at `package_path`.
pub(crate) fn render(package_path: &Path) -> Result<String, String> {
    let package = read_package(package_path)?;
    let model = build_model(&package)?;

    let mut compiled: BTreeMap<(Option<String>, String), Compiled> = BTreeMap::new();
    let mut skipped: Vec<(String, String, String)> = Vec::new();
    for sp in &package.search_parameters {
        let code = str_field(sp, "code")?;
        let kind = str_field(sp, "type")?;
        let id = str_field(sp, "id")?;
        let Some(bases) = sp.get("base").and_then(Value::as_array) else {
            skipped.push((
                "-".to_owned(),
                code.to_owned(),
                format!("SearchParameter `{id}` has no base"),
            ));
            continue;
        };
        for base in bases {
            let base = base
                .as_str()
                .ok_or_else(|| format!("SearchParameter `{id}`: base is not a string"))?;
            if !COMPILED_TYPES.contains(&kind) {
                skipped.push((
                    base.to_owned(),
                    code.to_owned(),
                    format!("type `{kind}` is not compiled"),
                ));
                continue;
            }
            let Some(expression) = sp.get("expression").and_then(Value::as_str) else {
                skipped.push((base.to_owned(), code.to_owned(), "no expression".to_owned()));
                continue;
            };
            let common = base == "Resource" || base == "DomainResource";
            match compile(&model, base, expression) {
                Ok(branches) => {
                    let key = (
                        if common { None } else { Some(base.to_owned()) },
                        code.to_owned(),
                    );
                    compiled.insert(
                        key,
                        Compiled {
                            base: if common { None } else { Some(base.to_owned()) },
                            code: code.to_owned(),
                            kind: kind.to_owned(),
                            source: expression.to_owned(),
                            distinct: parse(expression).is_ok_and(|ast| has_union(&ast)),
                            branches,
                        },
                    );
                }
                Err(reason) => skipped.push((base.to_owned(), code.to_owned(), reason)),
            }
        }
    }
    skipped.sort();

    // Compartments: (resource type) -> [(compartment index, code)]
    let mut links: BTreeMap<String, Vec<(usize, String)>> = BTreeMap::new();
    let mut pair_count = 0usize;
    for (index, (id, owner)) in COMPARTMENTS.iter().enumerate() {
        let definition = package
            .compartments
            .get(*id)
            .ok_or_else(|| format!("missing CompartmentDefinition `{id}`"))?;
        if str_field(definition, "code")? != *owner {
            return Err(format!("CompartmentDefinition `{id}` is not for `{owner}`"));
        }
        let resources = definition
            .get("resource")
            .and_then(Value::as_array)
            .ok_or_else(|| format!("CompartmentDefinition `{id}` has no resources"))?;
        for resource in resources {
            let code = str_field(resource, "code")?;
            if !model.resource_types.contains(code) {
                return Err(format!(
                    "CompartmentDefinition `{id}`: unknown resource type `{code}`"
                ));
            }
            let params = resource
                .get("param")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for param in params {
                let param = param
                    .as_str()
                    .ok_or_else(|| format!("CompartmentDefinition `{id}`: param"))?;
                // `{def}`: the owner itself, which the crate handles by id for every owner type.
                if param == "{def}" {
                    continue;
                }
                let key = (Some(code.to_owned()), param.to_owned());
                let sp = compiled.get(&key).ok_or_else(|| {
                    let reason = skipped
                        .iter()
                        .find(|(b, c, _)| b == code && c == param)
                        .map_or("no such SearchParameter", |(_, _, r)| r.as_str());
                    format!("compartment `{id}`: `{code}.{param}` does not compile: {reason}")
                })?;
                if sp.kind != "reference" {
                    return Err(format!(
                        "compartment `{id}`: `{code}.{param}` is not a reference parameter"
                    ));
                }
                links
                    .entry(code.to_owned())
                    .or_default()
                    .push((index, param.to_owned()));
                pair_count += 1;
            }
        }
    }

    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "// @generated by `cargo run -p fhir-compartment --example generate`: do not edit."
    );
    let _ = writeln!(
        w,
        "// Source: `{PACKAGE_PATH}` (HL7 FHIR `hl7.fhir.r4.core` {}, CC0): StructureDefinitions, SearchParameters and the five CompartmentDefinitions.",
        package.version
    );
    let _ = writeln!(
        w,
        "//! Tables generated from the official FHIR R4 definitions: resource types, compiled"
    );
    let _ = writeln!(
        w,
        "//! SearchParameter FHIRPath expressions, and the five compartment definitions."
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "use crate::path::{{Expression, ParameterKind, SearchParameter, Step}};"
    );
    let _ = writeln!(w, "use crate::compartment::CompartmentKind;");
    let _ = writeln!(w);
    let _ = writeln!(w, "/// The FHIR version these tables were generated from.");
    let _ = writeln!(
        w,
        "pub(crate) const FHIR_VERSION: &str = {};",
        rust_str(&package.version)
    );
    let _ = writeln!(w);

    // Resource types.
    let types: Vec<&String> = model.resource_types.iter().collect();
    let _ = writeln!(w, "/// Number of FHIR R4 resource types.");
    let _ = writeln!(
        w,
        "pub(crate) const RESOURCE_TYPE_COUNT: usize = {};",
        types.len()
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "/// A FHIR R4 resource type (every non-abstract resource StructureDefinition), in"
    );
    let _ = writeln!(
        w,
        "/// alphabetical order. Parse with `str::parse`: names are case-sensitive."
    );
    let _ = writeln!(
        w,
        "#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]"
    );
    let _ = writeln!(w, "#[non_exhaustive]");
    let _ = writeln!(w, "pub enum ResourceType {{");
    for t in &types {
        let _ = writeln!(w, "    /// `{t}`");
        let _ = writeln!(w, "    {t},");
    }
    let _ = writeln!(w, "}}");
    let _ = writeln!(w);
    let _ = writeln!(w, "/// Every resource type, in the enum's order.");
    let _ = writeln!(
        w,
        "pub(crate) static RESOURCE_TYPES: [ResourceType; RESOURCE_TYPE_COUNT] = ["
    );
    for t in &types {
        let _ = writeln!(w, "    {},", variant(t));
    }
    let _ = writeln!(w, "];");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "/// The name of each resource type, in the enum's order."
    );
    let _ = writeln!(
        w,
        "pub(crate) static RESOURCE_TYPE_NAMES: [&str; RESOURCE_TYPE_COUNT] = ["
    );
    for t in &types {
        let _ = writeln!(w, "    {},", rust_str(t));
    }
    let _ = writeln!(w, "];");
    let _ = writeln!(w);

    // Search parameters.
    let mut names: BTreeMap<(Option<String>, String), String> = BTreeMap::new();
    for (i, ((base, code), sp)) in compiled.iter().enumerate() {
        let name = format!("SP_{i}");
        names.insert((base.clone(), code.clone()), name.clone());
        let base_text = sp
            .base
            .as_deref()
            .map_or_else(|| "None".to_owned(), |b| format!("Some({})", variant(b)));
        let _ = writeln!(w, "static {name}: SearchParameter = SearchParameter {{");
        let _ = writeln!(w, "    base: {base_text},");
        let _ = writeln!(w, "    code: {},", rust_str(&sp.code));
        let _ = writeln!(w, "    kind: {},", param_kind(&sp.kind)?);
        let _ = writeln!(w, "    expression: Expression {{");
        let _ = writeln!(w, "        source: {},", rust_str(&sp.source));
        let _ = writeln!(w, "        distinct: {},", sp.distinct);
        let _ = writeln!(w, "        branches: &[");
        for branch in &sp.branches {
            let steps: Vec<String> = branch.iter().map(render_step).collect();
            let _ = writeln!(w, "            &[{}],", steps.join(", "));
        }
        let _ = writeln!(w, "        ],");
        let _ = writeln!(w, "    }},");
        let _ = writeln!(w, "}};");
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "/// Parameters of `Resource` and `DomainResource`, which apply to every resource type,"
    );
    let _ = writeln!(w, "/// sorted by code.");
    let _ = writeln!(
        w,
        "pub(crate) static COMMON_PARAMETERS: &[&SearchParameter] = &["
    );
    for ((base, _), name) in &names {
        if base.is_none() {
            let _ = writeln!(w, "    &{name},");
        }
    }
    let _ = writeln!(w, "];");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "/// The parameters of each resource type (in the enum's order), sorted by code."
    );
    let _ = writeln!(
        w,
        "pub(crate) static PARAMETERS: [&[&SearchParameter]; RESOURCE_TYPE_COUNT] = ["
    );
    for t in &types {
        let these: Vec<String> = names
            .iter()
            .filter(|((base, _), _)| base.as_deref() == Some(t.as_str()))
            .map(|(_, name)| format!("&{name}"))
            .collect();
        let _ = writeln!(w, "    /* {t} */ &[{}],", these.join(", "));
    }
    let _ = writeln!(w, "];");
    let _ = writeln!(w);

    // Compartments.
    let kinds = [
        "Patient",
        "Encounter",
        "RelatedPerson",
        "Practitioner",
        "Device",
    ];
    let _ = writeln!(
        w,
        "/// Number of (resource type, parameter) pairs in the five compartment definitions."
    );
    let _ = writeln!(w, "#[cfg(test)]");
    let _ = writeln!(
        w,
        "pub(crate) const COMPARTMENT_PAIR_COUNT: usize = {pair_count};"
    );
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "/// For each resource type (in the enum's order), the compartment parameters that link it"
    );
    let _ = writeln!(
        w,
        "/// to a compartment owner, in compartment order then definition order. `{{def}}` entries"
    );
    let _ = writeln!(
        w,
        "/// (the owner itself) are not listed: the crate treats every owner as a member of its own"
    );
    let _ = writeln!(w, "/// compartment by id.");
    let _ = writeln!(
        w,
        "pub(crate) static COMPARTMENT_LINKS: [&[(CompartmentKind, &SearchParameter)]; RESOURCE_TYPE_COUNT] = ["
    );
    for t in &types {
        let entries: Vec<String> = links
            .get(*t)
            .map(|v| {
                v.iter()
                    .filter_map(|(k, code)| {
                        let kind = kinds.get(*k)?;
                        let name = names.get(&(Some((*t).clone()), code.clone()))?;
                        Some(format!("(CompartmentKind::{kind}, &{name})"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let _ = writeln!(w, "    /* {t} */ &[{}],", entries.join(", "));
    }
    let _ = writeln!(w, "];");
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "// SearchParameters not compiled, with the reason ((base, code): reason):"
    );
    for (base, code, reason) in &skipped {
        let _ = writeln!(w, "// ({base}, {code}): {reason}");
    }
    Ok(out)
}

/// A minimal resource that is in a compartment through one parameter: `resource` holds the
/// string `"__REFERENCE__"` where the `Reference` goes. Used by the pair tests.
#[cfg_attr(not(test), expect(dead_code, reason = "used by the pair tests only"))]
pub(crate) struct PairTemplate {
    pub(crate) compartment: &'static str,
    pub(crate) resource_type: String,
    pub(crate) parameter: String,
    pub(crate) resource: Value,
}

/// One template per (resource type, parameter) pair of the five CompartmentDefinitions.
#[cfg_attr(not(test), expect(dead_code, reason = "used by the pair tests only"))]
pub(crate) fn pair_templates(package_path: &Path) -> Result<Vec<PairTemplate>, String> {
    let package = read_package(package_path)?;
    let model = build_model(&package)?;
    let mut params: HashMap<(String, String), String> = HashMap::new();
    for sp in &package.search_parameters {
        let bases = sp.get("base").and_then(Value::as_array);
        let expression = sp.get("expression").and_then(Value::as_str);
        let (Some(bases), Some(expression)) = (bases, expression) else {
            continue;
        };
        for base in bases.iter().filter_map(Value::as_str) {
            let code = str_field(sp, "code")?.to_owned();
            params.insert((base.to_owned(), code), expression.to_owned());
        }
    }
    let mut out = Vec::new();
    for (id, owner) in COMPARTMENTS {
        let definition = package
            .compartments
            .get(id)
            .ok_or_else(|| format!("missing `{id}`"))?;
        let resources = definition.get("resource").and_then(Value::as_array);
        for resource in resources.into_iter().flatten() {
            let code = str_field(resource, "code")?;
            let codes = resource.get("param").and_then(Value::as_array);
            for param in codes.into_iter().flatten().filter_map(Value::as_str) {
                if param == "{def}" {
                    continue;
                }
                let expression = params
                    .get(&(code.to_owned(), param.to_owned()))
                    .ok_or_else(|| format!("no `{code}.{param}`"))?;
                let branches = compile(&model, code, expression)?;
                // The first branch that can reference the owner type.
                let branch = branches
                    .iter()
                    .find(|b| {
                        !b.iter()
                            .any(|s| matches!(s, Step::ReferenceTo(t) if t != owner))
                    })
                    .ok_or_else(|| format!("`{code}.{param}` can never reference a `{owner}`"))?;
                let mut value = Value::String("__REFERENCE__".to_owned());
                for step in branch.iter().rev() {
                    match step {
                        Step::Field(name, many) => {
                            let inner = if *many {
                                Value::Array(vec![value])
                            } else {
                                value
                            };
                            let mut object = serde_json::Map::new();
                            object.insert(name.clone(), inner);
                            value = Value::Object(object);
                        }
                        Step::ReferenceTo(_) => {}
                        other => {
                            return Err(format!(
                                "`{code}.{param}`: cannot build a resource through {other:?}"
                            ));
                        }
                    }
                }
                let Value::Object(mut object) = value else {
                    return Err(format!("`{code}.{param}`: empty path"));
                };
                object.insert("resourceType".to_owned(), Value::String(code.to_owned()));
                object.insert("id".to_owned(), Value::String("pair-test".to_owned()));
                out.push(PairTemplate {
                    compartment: owner,
                    resource_type: code.to_owned(),
                    parameter: param.to_owned(),
                    resource: Value::Object(object),
                });
            }
        }
    }
    Ok(out)
}
