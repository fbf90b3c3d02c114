//! JSON Schema (OpenAPI 3.0 and 3.1 dialects) to the policy's schema IR.
//!
//! Every keyword of a schema object is matched below: enforced, ignored as an
//! annotation, or an error. Nodes are cached by (document, pointer, position),
//! so shared and recursive `$ref`s become shared indices.
//!
//! Unknown fields: a schema in a *value position* (a body, a parameter, a
//! property value, an array item) that declares object members gets
//! `unevaluatedProperties: false` unless the spec opted in to extra members,
//! which is the "no unexpected fields" rule with `allOf` unions handled the
//! way JSON Schema 2020-12 judges them. In-place subschemas (`allOf` members,
//! `$ref` targets) are never closed themselves; their holder is.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value};

use super::diag::{Diagnostics, Location};
use super::loader::{DocId, Loader};
use crate::schema::{Discriminator, Format, Schema, SchemaId, SchemaType};

/// The one-line reason of a regex error (its Display spans several lines).
fn regex_reason(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or_default();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

/// Which OpenAPI dialect a document is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    V30,
    V31,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Position {
    /// The schema describes a whole value (body, parameter, property, item).
    Value,
    /// The schema is applied in place to a value another schema describes.
    InPlace,
}

/// Annotation keywords that have no effect on validation.
const ANNOTATIONS: &[&str] = &[
    "description",
    "title",
    "example",
    "examples",
    "default",
    "deprecated",
    "xml",
    "externalDocs",
    "$comment",
    "$schema",
    "$defs",
    "definitions",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
];

/// `x-specguard-*` keys allowed on a schema (the rest are errors).
const SPECGUARD_SCHEMA_KEYS: &[&str] = &[];

pub struct SchemaCompiler<'a> {
    pub loader: &'a mut Loader,
    pub diags: &'a mut Diagnostics,
    pub dialect: Dialect,
    pub reject_unknown: bool,
    pub strict_formats: bool,
    pub table: Vec<Schema>,
    value_position: Vec<bool>,
    cache: HashMap<(DocId, String, Position), SchemaId>,
    never: Option<SchemaId>,
    depth: usize,
}

/// Deepest schema nesting followed before the compiler gives up (recursion
/// through `$ref` is cached, so only absurd inline nesting reaches this).
const MAX_SCHEMA_DEPTH: usize = 256;

impl<'a> SchemaCompiler<'a> {
    pub fn new(
        loader: &'a mut Loader,
        diags: &'a mut Diagnostics,
        dialect: Dialect,
        reject_unknown: bool,
        strict_formats: bool,
    ) -> Self {
        Self {
            loader,
            diags,
            dialect,
            reject_unknown,
            strict_formats,
            table: Vec::new(),
            value_position: Vec::new(),
            cache: HashMap::new(),
            never: None,
            depth: 0,
        }
    }

    fn push(&mut self, s: Schema, pos: Position) -> SchemaId {
        let id = self.table.len() as SchemaId;
        self.table.push(s);
        self.value_position.push(pos == Position::Value);
        id
    }

    /// The shared `false` schema.
    pub fn never(&mut self) -> SchemaId {
        if let Some(id) = self.never {
            return id;
        }
        let id = self.push(
            Schema {
                never: true,
                ..Schema::default()
            },
            Position::InPlace,
        );
        self.never = Some(id);
        id
    }

    /// Converts the schema at (`doc`, `pointer`).
    pub fn convert(&mut self, doc: DocId, pointer: &str, pos: Position) -> SchemaId {
        let key = (doc, pointer.to_string(), pos);
        if let Some(&id) = self.cache.get(&key) {
            return id;
        }
        let at = Location::new(self.loader.display(doc), pointer);
        let id = self.push(
            Schema {
                origin: at.to_string(),
                ..Schema::default()
            },
            pos,
        );
        self.cache.insert(key, id);
        if self.depth >= MAX_SCHEMA_DEPTH {
            self.diags.error(
                &at,
                "schema nesting is too deep",
                Some("flatten the schema with $ref to components"),
            );
            return id;
        }
        self.depth += 1;
        let value = self.loader.get(doc, pointer).cloned();
        let node = match value {
            Some(Value::Bool(true)) => Schema {
                origin: at.to_string(),
                ..Schema::default()
            },
            Some(Value::Bool(false)) => Schema {
                never: true,
                origin: at.to_string(),
                ..Schema::default()
            },
            Some(Value::Object(obj)) => self.convert_object(doc, &at, &obj),
            _ => {
                self.diags
                    .error(&at, "a schema must be an object or a boolean", None);
                Schema::default()
            }
        };
        self.depth -= 1;
        self.table[id as usize] = node;
        id
    }

    fn sub(&mut self, doc: DocId, at: &Location, key: &str, pos: Position) -> SchemaId {
        self.convert(doc, &at.child(key).pointer, pos)
    }

    fn sub_list(
        &mut self,
        doc: DocId,
        at: &Location,
        key: &str,
        v: &Value,
        pos: Position,
    ) -> Vec<SchemaId> {
        match v.as_array() {
            Some(items) if !items.is_empty() => (0..items.len())
                .map(|i| self.convert(doc, &at.child(key).index(i).pointer, pos))
                .collect(),
            _ => {
                self.diags.error(
                    &at.child(key),
                    format!("`{key}` must be a non-empty list of schemas"),
                    None,
                );
                Vec::new()
            }
        }
    }

    fn sub_map(
        &mut self,
        doc: DocId,
        at: &Location,
        key: &str,
        v: &Value,
        pos: Position,
    ) -> BTreeMap<String, SchemaId> {
        let mut out = BTreeMap::new();
        match v.as_object() {
            Some(m) => {
                for name in m.keys() {
                    let id = self.convert(doc, &at.child(key).child(name).pointer, pos);
                    out.insert(name.clone(), id);
                }
            }
            None => self.diags.error(
                &at.child(key),
                format!("`{key}` must be a mapping of names to schemas"),
                None,
            ),
        }
        out
    }

    /// `true`/`false` or a schema, for `additionalProperties` and friends.
    fn bool_or_schema(
        &mut self,
        doc: DocId,
        at: &Location,
        key: &str,
        v: &Value,
        pos: Position,
    ) -> Option<SchemaId> {
        match v {
            Value::Bool(false) => Some(self.never()),
            Value::Bool(true) | Value::Object(_) => Some(self.sub(doc, at, key, pos)),
            _ => {
                self.diags.error(
                    &at.child(key),
                    format!("`{key}` must be a boolean or a schema"),
                    None,
                );
                None
            }
        }
    }

    fn number(&mut self, at: &Location, key: &str, v: &Value) -> Option<f64> {
        let n = v.as_f64();
        if n.is_none() {
            self.diags
                .error(&at.child(key), format!("`{key}` must be a number"), None);
        }
        n
    }

    fn count(&mut self, at: &Location, key: &str, v: &Value) -> Option<u64> {
        let n = v.as_u64();
        if n.is_none() {
            self.diags.error(
                &at.child(key),
                format!("`{key}` must be a non-negative integer"),
                None,
            );
        }
        n
    }

    fn flag(&mut self, at: &Location, key: &str, v: &Value) -> bool {
        match v.as_bool() {
            Some(b) => b,
            None => {
                self.diags.error(
                    &at.child(key),
                    format!("`{key}` must be true or false"),
                    None,
                );
                false
            }
        }
    }

    fn convert_object(&mut self, doc: DocId, at: &Location, obj: &Map<String, Value>) -> Schema {
        let mut s = Schema {
            origin: at.to_string(),
            ..Schema::default()
        };
        let mut nullable = false;
        let mut excl_min_flag = false;
        let mut excl_max_flag = false;

        if let Some(r) = obj.get("$ref") {
            match r.as_str() {
                Some(text) => match self.loader.resolve_ref(doc, text, &at.child("$ref")) {
                    Ok((tdoc, tptr)) => {
                        s.reference = Some(self.convert(tdoc, &tptr, Position::InPlace))
                    }
                    Err(d) => self.diags.items.push(d),
                },
                None => self
                    .diags
                    .error(&at.child("$ref"), "`$ref` must be a string", None),
            }
            if self.dialect == Dialect::V30 {
                // OpenAPI 3.0: siblings of $ref are ignored by the standard. Say so
                // when they would have constrained something.
                let constraining: Vec<&String> = obj
                    .keys()
                    .filter(|k| {
                        k.as_str() != "$ref"
                            && !ANNOTATIONS.contains(&k.as_str())
                            && !k.starts_with("x-")
                    })
                    .collect();
                if !constraining.is_empty() {
                    self.diags.warn(
                        at,
                        format!("OpenAPI 3.0 ignores keywords beside $ref: {constraining:?}"),
                        Some("wrap them with allOf: [{$ref: ...}, {...}] or move the spec to OpenAPI 3.1"),
                    );
                }
                return s;
            }
        }

        for (key, v) in obj {
            let k = key.as_str();
            match k {
                "$ref" => {}
                "type" => s.types = self.types(at, v),
                "nullable" => {
                    nullable = self.flag(at, k, v);
                    if self.dialect == Dialect::V31 {
                        self.diags.warn(
                            &at.child(k),
                            "`nullable` is OpenAPI 3.0; applied anyway",
                            Some("in 3.1 write type: [T, \"null\"]"),
                        );
                    }
                }
                "enum" => match v.as_array() {
                    Some(a) => s.enumeration = Some(a.clone()),
                    None => self
                        .diags
                        .error(&at.child(k), "`enum` must be a list", None),
                },
                "const" => s.constant = Some(v.clone()),
                "minimum" => s.minimum = self.number(at, k, v),
                "maximum" => s.maximum = self.number(at, k, v),
                "exclusiveMinimum" => match v {
                    Value::Bool(b) => excl_min_flag = *b,
                    _ => s.exclusive_minimum = self.number(at, k, v),
                },
                "exclusiveMaximum" => match v {
                    Value::Bool(b) => excl_max_flag = *b,
                    _ => s.exclusive_maximum = self.number(at, k, v),
                },
                "multipleOf" => {
                    s.multiple_of = self.number(at, k, v);
                    if s.multiple_of.is_some_and(|m| m <= 0.0) {
                        self.diags
                            .error(&at.child(k), "`multipleOf` must be greater than 0", None);
                    }
                }
                "minLength" => s.min_length = self.count(at, k, v),
                "maxLength" => s.max_length = self.count(at, k, v),
                "pattern" => match v.as_str() {
                    Some(p) => {
                        if let Err(e) = crate::check::compile_pattern(p) {
                            self.diags.error(
                                &at.child(k),
                                format!("pattern {p:?} is not supported: {}", regex_reason(&e)),
                                Some("specguard uses linear-time regular expressions: no look-around or back-references; rewrite the pattern"),
                            );
                        }
                        s.pattern = Some(p.to_string());
                    }
                    None => self
                        .diags
                        .error(&at.child(k), "`pattern` must be a string", None),
                },
                "format" => match v.as_str() {
                    Some(name) => match Format::from_name(name) {
                        Some(f) => s.format = Some(f),
                        None => {
                            let msg = format!(
                                "format {name:?} is not known to specguard and is not enforced"
                            );
                            if self.strict_formats {
                                self.diags.error(
                                    &at.child(k),
                                    msg,
                                    Some("use a pattern instead, or drop --strict-formats"),
                                );
                            } else {
                                self.diags.warn(
                                    &at.child(k),
                                    msg,
                                    Some("add a pattern if the format matters"),
                                );
                            }
                        }
                    },
                    None => self
                        .diags
                        .error(&at.child(k), "`format` must be a string", None),
                },
                "properties" => s.properties = self.sub_map(doc, at, k, v, Position::Value),
                "required" => match v.as_array().and_then(|a| {
                    a.iter()
                        .map(|x| x.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()
                }) {
                    Some(r) => s.required = r,
                    None => self.diags.error(
                        &at.child(k),
                        "`required` must be a list of property names",
                        Some("in OpenAPI, `required: true` belongs on parameters, not schemas"),
                    ),
                },
                "additionalProperties" => {
                    s.additional_properties = self.bool_or_schema(doc, at, k, v, Position::Value)
                }
                "patternProperties" => {
                    s.pattern_properties = self.sub_map(doc, at, k, v, Position::Value);
                    for p in s.pattern_properties.keys() {
                        if let Err(e) = crate::check::compile_pattern(p) {
                            self.diags.error(
                                &at.child(k).child(p),
                                format!("pattern {p:?} is not supported: {}", regex_reason(&e)),
                                None,
                            );
                        }
                    }
                }
                "unevaluatedProperties" => {
                    s.unevaluated_properties = self.bool_or_schema(doc, at, k, v, Position::Value)
                }
                "propertyNames" => {
                    s.property_names = self.bool_or_schema(doc, at, k, v, Position::InPlace)
                }
                "minProperties" => s.min_properties = self.count(at, k, v),
                "maxProperties" => s.max_properties = self.count(at, k, v),
                "dependentRequired" => {
                    let parsed = v.as_object().and_then(|m| {
                        m.iter()
                            .map(|(name, deps)| {
                                deps.as_array()
                                    .and_then(|a| {
                                        a.iter()
                                            .map(|x| x.as_str().map(str::to_string))
                                            .collect::<Option<Vec<_>>>()
                                    })
                                    .map(|d| (name.clone(), d))
                            })
                            .collect::<Option<BTreeMap<_, _>>>()
                    });
                    match parsed {
                        Some(m) => s.dependent_required = m,
                        None => self.diags.error(
                            &at.child(k),
                            "`dependentRequired` must map names to lists of names",
                            None,
                        ),
                    }
                }
                "dependentSchemas" => {
                    s.dependent_schemas = self.sub_map(doc, at, k, v, Position::InPlace)
                }
                "discriminator" => s.discriminator = self.discriminator(doc, at, obj, v),
                "items" => match v {
                    Value::Array(_) => self.diags.error(
                        &at.child(k),
                        "array-form `items` is not JSON Schema 2020-12",
                        Some("use prefixItems for tuples"),
                    ),
                    _ => s.items = self.bool_or_schema(doc, at, k, v, Position::Value),
                },
                "prefixItems" => s.prefix_items = self.sub_list(doc, at, k, v, Position::Value),
                "unevaluatedItems" => {
                    s.unevaluated_items = self.bool_or_schema(doc, at, k, v, Position::Value)
                }
                "contains" => s.contains = self.bool_or_schema(doc, at, k, v, Position::InPlace),
                "minContains" => s.min_contains = self.count(at, k, v),
                "maxContains" => s.max_contains = self.count(at, k, v),
                "minItems" => s.min_items = self.count(at, k, v),
                "maxItems" => s.max_items = self.count(at, k, v),
                "uniqueItems" => s.unique_items = self.flag(at, k, v),
                "allOf" => s.all_of = self.sub_list(doc, at, k, v, Position::InPlace),
                "anyOf" => s.any_of = self.sub_list(doc, at, k, v, Position::InPlace),
                "oneOf" => s.one_of = self.sub_list(doc, at, k, v, Position::InPlace),
                "not" => s.not = self.bool_or_schema(doc, at, k, v, Position::InPlace),
                "if" => s.if_ = self.bool_or_schema(doc, at, k, v, Position::InPlace),
                "then" => s.then = self.bool_or_schema(doc, at, k, v, Position::InPlace),
                "else" => s.else_ = self.bool_or_schema(doc, at, k, v, Position::InPlace),
                "readOnly" => s.read_only = self.flag(at, k, v),
                "writeOnly" => s.write_only = self.flag(at, k, v),
                "x-internal" => s.internal = self.flag(at, k, v),
                "$id" | "$anchor" | "$dynamicRef" | "$dynamicAnchor" | "$recursiveRef"
                | "$recursiveAnchor" | "$vocabulary" => {
                    self.diags.error(
                        &at.child(k),
                        format!("`{k}` is not supported"),
                        Some("specguard resolves references by JSON pointer only; use $ref: '#/components/schemas/...' or a relative file"),
                    );
                }
                "dependencies" => self.diags.error(
                    &at.child(k),
                    "`dependencies` is draft-07",
                    Some("split it into dependentRequired and dependentSchemas"),
                ),
                "additionalItems" => self.diags.error(
                    &at.child(k),
                    "`additionalItems` is not JSON Schema 2020-12",
                    Some("use prefixItems with items"),
                ),
                _ if ANNOTATIONS.contains(&k) => {}
                _ if k.starts_with("x-specguard-") => {
                    if !SPECGUARD_SCHEMA_KEYS.contains(&k) {
                        self.diags.error(&at.child(k), format!("`{k}` is not a specguard schema annotation (or not enforced by this version)"), Some("see ANNOTATIONS.md for the vocabulary"));
                    }
                }
                _ if k.starts_with("x-") => {
                    if k == "x-data-classification" {
                        self.diags.error(
                            &at.child(k),
                            "data classes are not enforced by this version",
                            Some(
                                "remove it until data-class policies ship, rather than rely on it",
                            ),
                        );
                    } else {
                        self.diags
                            .warn(&at.child(k), format!("extension `{k}` is ignored"), None);
                    }
                }
                _ => self.diags.error(
                    &at.child(k),
                    format!("unknown schema keyword `{k}`"),
                    Some("fix the spelling, or prefix vendor extensions with x-"),
                ),
            }
        }

        // OpenAPI 3.0 forms, rewritten into 2020-12 meaning.
        if nullable && !s.types.is_empty() && !s.types.contains(&SchemaType::Null) {
            s.types.push(SchemaType::Null);
            if let Some(e) = &mut s.enumeration {
                if !e.contains(&Value::Null) {
                    e.push(Value::Null);
                }
            }
        }
        if excl_min_flag {
            match s.minimum.take() {
                Some(m) => s.exclusive_minimum = Some(m),
                None => self.diags.error(
                    &at.child("exclusiveMinimum"),
                    "`exclusiveMinimum: true` needs `minimum`",
                    None,
                ),
            }
        }
        if excl_max_flag {
            match s.maximum.take() {
                Some(m) => s.exclusive_maximum = Some(m),
                None => self.diags.error(
                    &at.child("exclusiveMaximum"),
                    "`exclusiveMaximum: true` needs `maximum`",
                    None,
                ),
            }
        }
        if s.read_only && s.write_only {
            self.diags
                .error(at, "a schema cannot be both readOnly and writeOnly", None);
        }
        s
    }

    fn types(&mut self, at: &Location, v: &Value) -> Vec<SchemaType> {
        let names: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        let mut out = Vec::new();
        for n in names {
            let t = match n.as_str() {
                Some("null") => SchemaType::Null,
                Some("boolean") => SchemaType::Boolean,
                Some("object") => SchemaType::Object,
                Some("array") => SchemaType::Array,
                Some("number") => SchemaType::Number,
                Some("string") => SchemaType::String,
                Some("integer") => SchemaType::Integer,
                _ => {
                    self.diags.error(
                        &at.child("type"),
                        format!("{n} is not a JSON Schema type"),
                        Some("use one of null, boolean, object, array, number, string, integer"),
                    );
                    continue;
                }
            };
            if !out.contains(&t) {
                out.push(t);
            }
        }
        out
    }

    fn discriminator(
        &mut self,
        doc: DocId,
        at: &Location,
        obj: &Map<String, Value>,
        v: &Value,
    ) -> Option<Discriminator> {
        let dat = at.child("discriminator");
        let d = v.as_object()?;
        let Some(property) = d.get("propertyName").and_then(Value::as_str) else {
            self.diags
                .error(&dat, "`discriminator.propertyName` is required", None);
            return None;
        };
        let mut mapping = BTreeMap::new();
        if let Some(m) = d.get("mapping") {
            let Some(m) = m.as_object() else {
                self.diags.error(
                    &dat.child("mapping"),
                    "`mapping` must map values to schema references",
                    None,
                );
                return None;
            };
            for (value, target) in m {
                let Some(t) = target.as_str() else {
                    self.diags.error(
                        &dat.child("mapping").child(value),
                        "mapping targets are $ref strings or schema names",
                        None,
                    );
                    continue;
                };
                let reference = if t.contains('#')
                    || t.contains('/')
                    || t.ends_with(".yaml")
                    || t.ends_with(".json")
                {
                    t.to_string()
                } else {
                    format!("#/components/schemas/{t}")
                };
                match self
                    .loader
                    .resolve_ref(doc, &reference, &dat.child("mapping").child(value))
                {
                    Ok((tdoc, tptr)) => {
                        let id = self.convert(tdoc, &tptr, Position::InPlace);
                        mapping.insert(value.clone(), id);
                    }
                    Err(e) => self.diags.items.push(e),
                }
            }
        } else {
            // Implicit mapping: the component name of each oneOf/anyOf $ref.
            for key in ["oneOf", "anyOf"] {
                for (i, member) in obj
                    .get(key)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .enumerate()
                {
                    let Some(r) = member.get("$ref").and_then(Value::as_str) else {
                        continue;
                    };
                    let name = r.rsplit('/').next().unwrap_or(r).to_string();
                    if let Ok((tdoc, tptr)) =
                        self.loader.resolve_ref(doc, r, &at.child(key).index(i))
                    {
                        let id = self.convert(tdoc, &tptr, Position::InPlace);
                        mapping.insert(name, id);
                    }
                }
            }
            if mapping.is_empty() {
                self.diags.error(
                    &dat,
                    "discriminator without `mapping` needs oneOf/anyOf members that are $refs",
                    Some("add an explicit mapping"),
                );
            }
        }
        for k in d.keys() {
            if !matches!(k.as_str(), "propertyName" | "mapping") && !k.starts_with("x-") {
                self.diags.error(
                    &dat.child(k),
                    format!("unknown discriminator field `{k}`"),
                    None,
                );
            }
        }
        Some(Discriminator {
            property: property.to_string(),
            mapping,
        })
    }

    /// Closes value-position schemas that declare object members (see module docs).
    /// Returns the finished table.
    pub fn finish(mut self) -> Vec<Schema> {
        if !self.reject_unknown {
            return self.table;
        }
        let n = self.table.len();
        // declares[i]: node i, or something it applies in place, declares members.
        let mut declares: Vec<bool> = self
            .table
            .iter()
            .map(|s| !s.properties.is_empty() || !s.pattern_properties.is_empty())
            .collect();
        loop {
            let mut changed = false;
            for i in 0..n {
                if declares[i] {
                    continue;
                }
                let s = &self.table[i];
                let in_place = s
                    .reference
                    .into_iter()
                    .chain(s.all_of.iter().copied())
                    .chain(s.any_of.iter().copied())
                    .chain(s.one_of.iter().copied())
                    .chain(s.then)
                    .chain(s.else_)
                    .chain(s.dependent_schemas.values().copied());
                if in_place.into_iter().any(|c| declares[c as usize]) {
                    declares[i] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let never = self.never();
        let closes = self.value_position.iter().zip(&declares);
        for (s, (&value_position, &declares)) in self.table.iter_mut().zip(closes) {
            let may_be_object = s.types.is_empty() || s.types.contains(&SchemaType::Object);
            if value_position
                && declares
                && may_be_object
                && s.additional_properties.is_none()
                && s.unevaluated_properties.is_none()
            {
                s.unevaluated_properties = Some(never);
            }
        }
        self.table
    }
}
