//! The schema validator: compiled once from the policy's schema table,
//! evaluated per message with no allocation on the success path.
//!
//! Semantics are JSON Schema 2020-12's (the compiler maps OpenAPI 3.0 onto
//! them), plus the OpenAPI field annotations acted on per direction:
//! `readOnly` refused in requests, `writeOnly` removed from responses,
//! `x-internal` refused from / removed for callers not classed internal.
//!
//! Fast path first ([`Validator::is_valid`]); the failing location and
//! keyword are only worked out when a message is refused
//! ([`Validator::validate`]), like jsonschema-rs does.

mod formats;

use std::borrow::Cow;
use std::collections::HashSet;

use regex::Regex;
use specguard_policy::check::compile_pattern;
use specguard_policy::schema::{Schema, SchemaId, SchemaType};

use crate::json::{json_eq, Json, Member, Num};

/// Which message is being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Request,
    Response,
}

/// Who is asking, as far as validation cares.
#[derive(Debug, Clone, Copy)]
pub struct Ctx {
    pub dir: Direction,
    /// The caller is classed `internal` (sees `x-internal` fields).
    pub internal: bool,
}

/// Where and why a value failed. Goes to logs, never to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// JSON pointer into the instance.
    pub pointer: String,
    /// The keyword that failed (`required`, `minLength`, `readOnly`, ...).
    pub keyword: &'static str,
    /// Where the failing schema came from (`spec.yaml#/components/...`).
    pub schema: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Flags {
    read_only: bool,
    write_only: bool,
    internal: bool,
}

impl Flags {
    fn or(self, o: Flags) -> Flags {
        Flags {
            read_only: self.read_only || o.read_only,
            write_only: self.write_only || o.write_only,
            internal: self.internal || o.internal,
        }
    }
}

struct Node {
    s: Schema,
    enumeration: Option<Vec<Json<'static>>>,
    constant: Option<Json<'static>>,
    types: u8,
    pattern: Option<Regex>,
    pattern_props: Vec<(Regex, SchemaId)>,
    /// Has applicators that act on the same instance (needed for unevaluated*).
    in_place: bool,
    /// Effective field flags: own, or through `$ref` / `allOf`.
    flags: Flags,
    /// `{$ref: T, unevaluatedProperties: false}` with nothing else applied in
    /// place and a plain `T`: the members T declares are exactly the
    /// evaluated ones, so T is evaluated "closed" instead of collecting
    /// annotations key by key (the common shape of a closed `$ref`).
    closes_ref: bool,
    /// Some field under this node may be removed from a response.
    may_redact: bool,
    /// JSON types a value of this schema may take, following `$ref` and
    /// combinators (computed once; parameters are coerced with it).
    value_types: u8,
}

const T_NULL: u8 = 1;
const T_BOOL: u8 = 2;
const T_OBJECT: u8 = 4;
const T_ARRAY: u8 = 8;
const T_NUMBER: u8 = 16;
const T_STRING: u8 = 32;
const T_INTEGER: u8 = 64;

fn type_bit(t: SchemaType) -> u8 {
    match t {
        SchemaType::Null => T_NULL,
        SchemaType::Boolean => T_BOOL,
        SchemaType::Object => T_OBJECT,
        SchemaType::Array => T_ARRAY,
        SchemaType::Number => T_NUMBER,
        SchemaType::String => T_STRING,
        SchemaType::Integer => T_INTEGER,
    }
}

fn instance_bits(v: &Json) -> u8 {
    match v {
        Json::Null => T_NULL,
        Json::Bool(_) => T_BOOL,
        Json::Obj(_) => T_OBJECT,
        Json::Arr(_) => T_ARRAY,
        Json::Str(_) => T_STRING,
        Json::Num(n) if n.is_integer() => T_NUMBER | T_INTEGER,
        Json::Num(_) => T_NUMBER,
    }
}

fn has(m: &[Member], key: &str) -> bool {
    m.iter().any(|x| x.key == key)
}

fn member<'m, 'a>(m: &'m [Member<'a>], key: &str) -> Option<&'m Json<'a>> {
    m.iter().find(|x| x.key == key).map(|x| &x.value)
}

/// Collects the failing path while unwinding (innermost segment first).
struct Trace {
    segs: Vec<String>,
    keyword: &'static str,
    schema: SchemaId,
}

type Tr<'t> = Option<&'t mut Trace>;

fn fail(tr: &mut Tr, kw: &'static str, id: SchemaId) -> bool {
    if let Some(t) = tr {
        if t.keyword.is_empty() {
            t.keyword = kw;
            t.schema = id;
        }
    }
    false
}

fn seg(tr: &mut Tr, s: impl FnOnce() -> String) {
    if let Some(t) = tr {
        t.segs.push(s());
    }
}

/// The compiled validator for a policy's schema table.
pub struct Validator {
    nodes: Vec<Node>,
}

impl Validator {
    /// Compiles the table: regexes, type masks, flags, in-place cycle check.
    pub fn new(schemas: &[Schema]) -> Result<Validator, String> {
        let mut nodes = Vec::with_capacity(schemas.len());
        for (i, s) in schemas.iter().enumerate() {
            let pattern = match &s.pattern {
                Some(p) => {
                    Some(compile_pattern(p).map_err(|e| format!("schema {i}: pattern: {e}"))?)
                }
                None => None,
            };
            let pattern_props = s
                .pattern_properties
                .iter()
                .map(|(p, id)| compile_pattern(p).map(|r| (r, *id)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("schema {i}: patternProperties: {e}"))?;
            let in_place = s.reference.is_some()
                || !s.all_of.is_empty()
                || !s.any_of.is_empty()
                || !s.one_of.is_empty()
                || s.if_.is_some()
                || !s.dependent_schemas.is_empty()
                || s.discriminator.is_some();
            nodes.push(Node {
                enumeration: s
                    .enumeration
                    .as_ref()
                    .map(|e| e.iter().map(Json::from_value).collect()),
                constant: s.constant.as_ref().map(Json::from_value),
                types: s.types.iter().fold(0, |m, t| m | type_bit(*t)),
                pattern,
                pattern_props,
                in_place,
                flags: Flags {
                    read_only: s.read_only,
                    write_only: s.write_only,
                    internal: s.internal,
                },
                may_redact: false,
                closes_ref: false,
                value_types: 0,
                s: s.clone(),
            });
        }
        let mut v = Validator { nodes };
        v.check_in_place_cycles()?;
        for i in 0..v.nodes.len() {
            let s = &v.nodes[i].s;
            let only_ref = s.reference.is_some()
                && s.all_of.is_empty()
                && s.any_of.is_empty()
                && s.one_of.is_empty()
                && s.not.is_none()
                && s.if_.is_none()
                && s.dependent_schemas.is_empty()
                && s.discriminator.is_none()
                && s.properties.is_empty()
                && s.pattern_properties.is_empty()
                && s.additional_properties.is_none();
            let never_uneval = s
                .unevaluated_properties
                .is_some_and(|u| v.nodes[u as usize].s.never);
            let target_plain = s.reference.is_some_and(|t| !v.nodes[t as usize].in_place);
            v.nodes[i].closes_ref =
                only_ref && never_uneval && target_plain && s.unevaluated_items.is_none();
        }
        for i in 0..v.nodes.len() {
            let t = v.value_types_inner(i as SchemaId, &mut HashSet::new());
            v.nodes[i].value_types = t;
        }
        Ok(v.with_derived_flags())
    }

    fn node(&self, id: SchemaId) -> &Node {
        &self.nodes[id as usize]
    }

    /// Applicators evaluated on the same instance. A cycle among them would
    /// loop forever on any input, so it is refused at configure time.
    fn in_place_children(s: &Schema) -> impl Iterator<Item = SchemaId> + '_ {
        s.reference
            .into_iter()
            .chain(s.all_of.iter().copied())
            .chain(s.any_of.iter().copied())
            .chain(s.one_of.iter().copied())
            .chain(s.not)
            .chain(s.if_)
            .chain(s.then)
            .chain(s.else_)
            .chain(s.dependent_schemas.values().copied())
            .chain(
                s.discriminator
                    .iter()
                    .flat_map(|d| d.mapping.values().copied()),
            )
    }

    fn check_in_place_cycles(&self) -> Result<(), String> {
        // Iterative DFS with colours: 0 new, 1 on stack, 2 done.
        let n = self.nodes.len();
        let mut colour = vec![0u8; n];
        for start in 0..n {
            if colour[start] != 0 {
                continue;
            }
            let mut stack: Vec<(usize, Vec<SchemaId>)> = vec![(
                start,
                Self::in_place_children(&self.nodes[start].s).collect(),
            )];
            colour[start] = 1;
            while let Some((node, children)) = stack.last_mut() {
                match children.pop() {
                    Some(c) => {
                        let c = c as usize;
                        match colour[c] {
                            0 => {
                                colour[c] = 1;
                                let cs = Self::in_place_children(&self.nodes[c].s).collect();
                                stack.push((c, cs));
                            }
                            1 => {
                                return Err(format!(
                                    "schema {} applies itself to the same value without nesting ({}); the spec's schemas recurse without end",
                                    c, self.nodes[c].s.origin
                                ))
                            }
                            _ => {}
                        }
                    }
                    None => {
                        colour[*node] = 2;
                        stack.pop();
                    }
                }
            }
        }
        Ok(())
    }

    fn with_derived_flags(mut self) -> Self {
        let n = self.nodes.len();
        loop {
            let mut changed = false;
            for i in 0..n {
                let s = &self.nodes[i].s;
                let mut f = self.nodes[i].flags;
                for c in s.reference.into_iter().chain(s.all_of.iter().copied()) {
                    f = f.or(self.nodes[c as usize].flags);
                }
                let mut redact = self.nodes[i].may_redact;
                for c in s.children() {
                    let cn = &self.nodes[c as usize];
                    if cn.may_redact {
                        redact = true;
                    }
                }
                for c in s
                    .properties
                    .values()
                    .chain(s.pattern_properties.values())
                    .chain(s.additional_properties.iter())
                {
                    let cf = self.nodes[*c as usize].flags;
                    if cf.write_only || cf.internal {
                        redact = true;
                    }
                }
                if f != self.nodes[i].flags || redact != self.nodes[i].may_redact {
                    self.nodes[i].flags = f;
                    self.nodes[i].may_redact = redact;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        self
    }

    /// Whether `v` is valid against schema `id`.
    pub fn is_valid(&self, id: SchemaId, v: &Json, cx: Ctx) -> bool {
        self.eval(id, v, cx, &mut None)
    }

    /// Like [`Self::is_valid`], with the first failure explained.
    pub fn validate(&self, id: SchemaId, v: &Json, cx: Ctx) -> Result<(), Failure> {
        if self.is_valid(id, v, cx) {
            return Ok(());
        }
        let mut t = Trace {
            segs: Vec::new(),
            keyword: "",
            schema: id,
        };
        self.eval(id, v, cx, &mut Some(&mut t));
        let mut pointer = String::new();
        for s in t.segs.iter().rev() {
            pointer.push('/');
            pointer.push_str(&s.replace('~', "~0").replace('/', "~1"));
        }
        Err(Failure {
            pointer,
            keyword: if t.keyword.is_empty() {
                "schema"
            } else {
                t.keyword
            },
            schema: self.node(t.schema).s.origin.clone(),
        })
    }

    fn eval(&self, id: SchemaId, v: &Json, cx: Ctx, tr: &mut Tr) -> bool {
        self.eval_c(id, v, cx, tr, false)
    }

    /// `close`: members the schema does not declare are unevaluated and refused
    /// (see `Node::closes_ref`).
    fn eval_c(&self, id: SchemaId, v: &Json, cx: Ctx, tr: &mut Tr, close: bool) -> bool {
        let n = self.node(id);
        let s = &n.s;
        if s.never {
            return fail(tr, "false", id);
        }
        if n.types != 0 && n.types & instance_bits(v) == 0 {
            return fail(tr, "type", id);
        }
        if let Some(e) = &n.enumeration {
            if !e.iter().any(|x| json_eq(x, v)) {
                return fail(tr, "enum", id);
            }
        }
        if let Some(c) = &n.constant {
            if !json_eq(c, v) {
                return fail(tr, "const", id);
            }
        }
        let ok = match v {
            Json::Obj(m) => self.eval_object(id, n, m, cx, tr, close),
            Json::Arr(a) => self.eval_array(id, n, a, cx, tr),
            Json::Str(st) => self.eval_string(id, n, st, tr),
            Json::Num(num) => self.eval_number(id, n, *num, tr),
            _ => true,
        };
        if !ok {
            return false;
        }
        if let Some(f) = s.format {
            if !formats::check(f, v) {
                return fail(tr, "format", id);
            }
        }
        if n.in_place || s.not.is_some() {
            return self.eval_in_place(id, n, v, cx, tr);
        }
        true
    }

    /// A member schema for extra members: the `false` schema fails without
    /// recording its own keyword, so the caller's keyword is reported.
    fn sub_ok(&self, id: SchemaId, v: &Json, cx: Ctx, tr: &mut Tr) -> bool {
        if self.node(id).s.never {
            return false;
        }
        self.eval(id, v, cx, tr)
    }

    fn eval_in_place(&self, id: SchemaId, n: &Node, v: &Json, cx: Ctx, tr: &mut Tr) -> bool {
        let s = &n.s;
        if n.closes_ref {
            if let Some(r) = s.reference {
                return self.eval_c(r, v, cx, tr, true);
            }
        }
        if let Some(r) = s.reference {
            if !self.eval(r, v, cx, tr) {
                return false;
            }
        }
        for &c in &s.all_of {
            if !self.eval(c, v, cx, tr) {
                return false;
            }
        }
        if !s.any_of.is_empty() && !s.any_of.iter().any(|&c| self.eval(c, v, cx, &mut None)) {
            return fail(tr, "anyOf", id);
        }
        if !s.one_of.is_empty() {
            let mut count = 0;
            for &c in &s.one_of {
                if self.eval(c, v, cx, &mut None) {
                    count += 1;
                    if count > 1 {
                        break;
                    }
                }
            }
            if count != 1 {
                return fail(tr, "oneOf", id);
            }
        }
        if let Some(c) = s.not {
            if self.eval(c, v, cx, &mut None) {
                return fail(tr, "not", id);
            }
        }
        if let Some(c) = s.if_ {
            let branch = if self.eval(c, v, cx, &mut None) {
                s.then
            } else {
                s.else_
            };
            if let Some(b) = branch {
                if !self.eval(b, v, cx, tr) {
                    return false;
                }
            }
        }
        if let Json::Obj(m) = v {
            for (k, &c) in &s.dependent_schemas {
                if has(m, k) && !self.eval(c, v, cx, tr) {
                    return false;
                }
            }
            if let Some(d) = &s.discriminator {
                let target = member(m, &d.property)
                    .and_then(Json::as_str)
                    .and_then(|t| d.mapping.get(t));
                match target {
                    Some(&t) => {
                        if !self.eval(t, v, cx, tr) {
                            return false;
                        }
                    }
                    None => {
                        seg(tr, || d.property.clone());
                        return fail(tr, "discriminator", id);
                    }
                }
            }
            if let Some(u) = s.unevaluated_properties {
                for Member {
                    key: k, value: val, ..
                } in m
                {
                    if !self.evaluates_key(id, m, v, k, cx, true) && !self.sub_ok(u, val, cx, tr) {
                        seg(tr, || k.to_string());
                        return fail(tr, "unevaluatedProperties", id);
                    }
                }
            }
        }
        if let (Json::Arr(a), Some(u)) = (v, s.unevaluated_items) {
            for (i, item) in a.iter().enumerate() {
                if !self.evaluates_item(id, v, i, cx, true) && !self.eval(u, item, cx, tr) {
                    seg(tr, || i.to_string());
                    return fail(tr, "unevaluatedItems", id);
                }
            }
        }
        true
    }

    /// Whether schema `id`, applied to object `v`, evaluates member `key`
    /// (2020-12 annotation collection, restricted to what we need).
    fn evaluates_key(
        &self,
        id: SchemaId,
        m: &[Member],
        v: &Json,
        key: &str,
        cx: Ctx,
        top: bool,
    ) -> bool {
        let s = &self.node(id).s;
        if s.properties.contains_key(key)
            || s.additional_properties.is_some()
            || (!top && s.unevaluated_properties.is_some())
            || self
                .node(id)
                .pattern_props
                .iter()
                .any(|(r, _)| r.is_match(key))
        {
            return true;
        }
        if !self.node(id).in_place {
            return false;
        }
        let sub = |c: SchemaId| self.evaluates_key(c, m, v, key, cx, false);
        if s.reference.is_some_and(sub) || s.all_of.iter().copied().any(sub) {
            return true;
        }
        let valid_sub = |c: SchemaId| self.eval(c, v, cx, &mut None) && sub(c);
        if s.any_of.iter().copied().any(valid_sub) || s.one_of.iter().copied().any(valid_sub) {
            return true;
        }
        if let Some(c) = s.if_ {
            if self.eval(c, v, cx, &mut None) {
                if sub(c) || s.then.is_some_and(sub) {
                    return true;
                }
            } else if s.else_.is_some_and(sub) {
                return true;
            }
        }
        if s.dependent_schemas
            .iter()
            .any(|(k, &c)| has(m, k) && sub(c))
        {
            return true;
        }
        if let Some(d) = &s.discriminator {
            let t = member(m, &d.property)
                .and_then(Json::as_str)
                .and_then(|t| d.mapping.get(t));
            if t.is_some_and(|&t| sub(t)) {
                return true;
            }
        }
        false
    }

    /// Whether schema `id`, applied to array `v`, evaluates item `i`.
    fn evaluates_item(&self, id: SchemaId, v: &Json, i: usize, cx: Ctx, top: bool) -> bool {
        let n = self.node(id);
        let s = &n.s;
        if i < s.prefix_items.len() || s.items.is_some() || (!top && s.unevaluated_items.is_some())
        {
            return true;
        }
        if let (Some(c), Json::Arr(a)) = (s.contains, v) {
            if a.get(i)
                .is_some_and(|item| self.eval(c, item, cx, &mut None))
            {
                return true;
            }
        }
        if !n.in_place {
            return false;
        }
        let sub = |c: SchemaId| self.evaluates_item(c, v, i, cx, false);
        let valid_sub = |c: SchemaId| self.eval(c, v, cx, &mut None) && sub(c);
        s.reference.is_some_and(sub)
            || s.all_of.iter().copied().any(sub)
            || s.any_of.iter().copied().any(valid_sub)
            || s.one_of.iter().copied().any(valid_sub)
            || s.if_.is_some_and(|c| {
                if self.eval(c, v, cx, &mut None) {
                    sub(c) || s.then.is_some_and(sub)
                } else {
                    s.else_.is_some_and(sub)
                }
            })
    }

    fn eval_object(
        &self,
        id: SchemaId,
        n: &Node,
        m: &[Member],
        cx: Ctx,
        tr: &mut Tr,
        close: bool,
    ) -> bool {
        let s = &n.s;
        let len = m.len() as u64;
        if s.min_properties.is_some_and(|x| len < x) {
            return fail(tr, "minProperties", id);
        }
        if s.max_properties.is_some_and(|x| len > x) {
            return fail(tr, "maxProperties", id);
        }
        for r in &s.required {
            if !has(m, r) {
                if let Some(&p) = s.properties.get(r) {
                    let f = self.node(p).flags;
                    let exempt = match cx.dir {
                        Direction::Request => f.read_only || (f.internal && !cx.internal),
                        Direction::Response => f.write_only,
                    };
                    if exempt {
                        continue;
                    }
                }
                seg(tr, || r.clone());
                return fail(tr, "required", id);
            }
        }
        for (k, deps) in &s.dependent_required {
            if has(m, k) && deps.iter().any(|d| !has(m, d)) {
                return fail(tr, "dependentRequired", id);
            }
        }
        // Unknown-member check inline when no in-place applicator can evaluate
        // members; otherwise it runs after them (eval_in_place).
        let inline_unevaluated = if n.in_place {
            None
        } else {
            s.unevaluated_properties
        };
        for Member {
            key: k, value: val, ..
        } in m
        {
            let k: &str = k;
            let mut matched = false;
            if let Some(&p) = s.properties.get(k) {
                matched = true;
                let f = self.node(p).flags;
                if cx.dir == Direction::Request {
                    if f.read_only {
                        seg(tr, || k.to_string());
                        return fail(tr, "readOnly", p);
                    }
                    if f.internal && !cx.internal {
                        seg(tr, || k.to_string());
                        return fail(tr, "x-internal", p);
                    }
                }
                if !self.eval(p, val, cx, tr) {
                    seg(tr, || k.to_string());
                    return false;
                }
            }
            for (re, p) in &n.pattern_props {
                if re.is_match(k) {
                    matched = true;
                    if !self.eval(*p, val, cx, tr) {
                        seg(tr, || k.to_string());
                        return false;
                    }
                }
            }
            if !matched {
                if let Some(a) = s.additional_properties {
                    if !self.sub_ok(a, val, cx, tr) {
                        seg(tr, || k.to_string());
                        return fail(tr, "additionalProperties", id);
                    }
                } else if close && inline_unevaluated.is_none() {
                    seg(tr, || k.to_string());
                    return fail(tr, "unevaluatedProperties", id);
                } else if let Some(u) = inline_unevaluated {
                    if !self.sub_ok(u, val, cx, tr) {
                        seg(tr, || k.to_string());
                        return fail(tr, "unevaluatedProperties", id);
                    }
                }
            }
            if let Some(pn) = s.property_names {
                if !self.eval(pn, &Json::Str(Cow::Borrowed(k)), cx, &mut None) {
                    seg(tr, || k.to_string());
                    return fail(tr, "propertyNames", id);
                }
            }
        }
        true
    }

    fn eval_array(&self, id: SchemaId, n: &Node, a: &[Json], cx: Ctx, tr: &mut Tr) -> bool {
        let s = &n.s;
        let len = a.len() as u64;
        if s.min_items.is_some_and(|x| len < x) {
            return fail(tr, "minItems", id);
        }
        if s.max_items.is_some_and(|x| len > x) {
            return fail(tr, "maxItems", id);
        }
        if s.unique_items && !unique(a) {
            return fail(tr, "uniqueItems", id);
        }
        for (i, item) in a.iter().enumerate() {
            let schema = match s.prefix_items.get(i) {
                Some(&p) => Some(p),
                None => s.items,
            };
            if let Some(c) = schema {
                if !self.eval(c, item, cx, tr) {
                    seg(tr, || i.to_string());
                    return false;
                }
            }
        }
        if let Some(c) = s.contains {
            let matches = a
                .iter()
                .filter(|item| self.eval(c, item, cx, &mut None))
                .count() as u64;
            let min = s.min_contains.unwrap_or(1);
            if matches < min {
                return fail(tr, "contains", id);
            }
            if s.max_contains.is_some_and(|x| matches > x) {
                return fail(tr, "maxContains", id);
            }
        }
        if !n.in_place {
            if let Some(u) = s.unevaluated_items {
                let covered = if s.items.is_some() {
                    a.len()
                } else {
                    s.prefix_items.len()
                };
                for (i, item) in a.iter().enumerate().skip(covered) {
                    let by_contains = s
                        .contains
                        .is_some_and(|c| self.eval(c, item, cx, &mut None));
                    if !by_contains && !self.eval(u, item, cx, tr) {
                        seg(tr, || i.to_string());
                        return fail(tr, "unevaluatedItems", id);
                    }
                }
            }
        }
        true
    }

    fn eval_string(&self, id: SchemaId, n: &Node, st: &str, tr: &mut Tr) -> bool {
        let s = &n.s;
        if s.min_length.is_some() || s.max_length.is_some() {
            // JSON Schema counts code points; only count when needed.
            let len = st.chars().count() as u64;
            if s.min_length.is_some_and(|x| len < x) {
                return fail(tr, "minLength", id);
            }
            if s.max_length.is_some_and(|x| len > x) {
                return fail(tr, "maxLength", id);
            }
        }
        if let Some(re) = &n.pattern {
            if !re.is_match(st) {
                return fail(tr, "pattern", id);
            }
        }
        true
    }

    fn eval_number(&self, id: SchemaId, n: &Node, num: Num, tr: &mut Tr) -> bool {
        let s = &n.s;
        let x = num.as_f64();
        if s.minimum.is_some_and(|m| x < m) {
            return fail(tr, "minimum", id);
        }
        if s.maximum.is_some_and(|m| x > m) {
            return fail(tr, "maximum", id);
        }
        if s.exclusive_minimum.is_some_and(|m| x <= m) {
            return fail(tr, "exclusiveMinimum", id);
        }
        if s.exclusive_maximum.is_some_and(|m| x >= m) {
            return fail(tr, "exclusiveMaximum", id);
        }
        if let Some(m) = s.multiple_of {
            let ok = match (num.as_i64(), m.fract() == 0.0 && m.abs() < 9.0e15) {
                (Some(i), true) => i % (m as i64) == 0,
                _ => {
                    let q = x / m;
                    q.is_finite() && (q - q.round()).abs() <= 1e-9 * q.abs().max(1.0)
                }
            };
            if !ok {
                return fail(tr, "multipleOf", id);
            }
        }
        true
    }

    /// Whether [`Self::redact`] could remove anything under schema `id`.
    pub fn may_redact(&self, id: SchemaId) -> bool {
        self.node(id).may_redact
    }

    /// Works out what to remove from a valid response for this caller:
    /// `writeOnly` fields always, `x-internal` fields for callers not classed
    /// internal. Pushes byte ranges of the input (see [`crate::json::splice`]).
    pub fn redact(&self, id: SchemaId, v: &Json, cx: Ctx, out: &mut Vec<(u32, u32)>) {
        let n = self.node(id);
        if !n.may_redact {
            return;
        }
        let s = &n.s;
        let hidden = |t: SchemaId| {
            let f = self.node(t).flags;
            f.write_only || (f.internal && !cx.internal)
        };
        match v {
            Json::Obj(m) => {
                let mut drop = vec![false; m.len()];
                for (i, mem) in m.iter().enumerate() {
                    let k: &str = &mem.key;
                    let targets: Vec<SchemaId> = match s.properties.get(k) {
                        Some(&p) => vec![p],
                        None => {
                            let pats: Vec<SchemaId> = n
                                .pattern_props
                                .iter()
                                .filter(|(r, _)| r.is_match(k))
                                .map(|(_, p)| *p)
                                .collect();
                            if pats.is_empty() {
                                s.additional_properties.into_iter().collect()
                            } else {
                                pats
                            }
                        }
                    };
                    if targets.iter().any(|&t| hidden(t)) {
                        drop[i] = true;
                    } else {
                        for t in targets {
                            self.redact(t, &mem.value, cx, out);
                        }
                    }
                }
                if drop.iter().any(|d| *d) {
                    crate::json::removal_ranges(m, &drop, out);
                }
            }
            Json::Arr(a) => {
                for (i, item) in a.iter().enumerate() {
                    let schema = match s.prefix_items.get(i) {
                        Some(&p) => Some(p),
                        None => s.items,
                    };
                    if let Some(c) = schema {
                        self.redact(c, item, cx, out);
                    }
                }
            }
            _ => {}
        }
        for c in s.reference.into_iter().chain(s.all_of.iter().copied()) {
            self.redact(c, v, cx, out);
        }
        for &c in s.any_of.iter().chain(s.one_of.iter()) {
            if self.node(c).may_redact && self.is_valid(c, v, cx) {
                self.redact(c, v, cx, out);
            }
        }
        if let Some(c) = s.if_ {
            let branch = if self.is_valid(c, v, cx) {
                s.then
            } else {
                s.else_
            };
            if let Some(b) = branch {
                self.redact(b, v, cx, out);
            }
        }
    }

    /// The JSON types a parameter decoded against schema `id` may take
    /// (following `$ref` and `allOf`): used to coerce text into JSON values.
    pub fn value_types(&self, id: SchemaId) -> u8 {
        self.node(id).value_types
    }

    fn value_types_inner(&self, id: SchemaId, seen: &mut HashSet<SchemaId>) -> u8 {
        if !seen.insert(id) {
            return 0;
        }
        let n = self.node(id);
        if n.types != 0 {
            return n.types;
        }
        let s = &n.s;
        let mut t = 0;
        for c in s
            .reference
            .iter()
            .chain(&s.all_of)
            .chain(&s.any_of)
            .chain(&s.one_of)
        {
            t |= self.value_types_inner(*c, seen);
        }
        t
    }

    /// The item schema of an array schema (following `$ref`), for array parameters.
    pub fn item_schema(&self, id: SchemaId) -> Option<SchemaId> {
        let s = &self.node(id).s;
        s.items
            .or_else(|| s.reference.and_then(|r| self.item_schema(r)))
    }

    /// Property schemas of an object schema (following `$ref`), for object parameters.
    pub fn property_schema(&self, id: SchemaId, name: &str) -> Option<SchemaId> {
        let s = &self.node(id).s;
        s.properties
            .get(name)
            .copied()
            .or_else(|| s.reference.and_then(|r| self.property_schema(r, name)))
            .or(s.additional_properties)
    }
}

/// Type bits for [`Validator::value_types`].
pub mod types {
    pub const NULL: u8 = super::T_NULL;
    pub const BOOL: u8 = super::T_BOOL;
    pub const OBJECT: u8 = super::T_OBJECT;
    pub const ARRAY: u8 = super::T_ARRAY;
    pub const NUMBER: u8 = super::T_NUMBER;
    pub const STRING: u8 = super::T_STRING;
    pub const INTEGER: u8 = super::T_INTEGER;
}

fn unique(a: &[Json]) -> bool {
    // Strings and integers hash; everything else compares pairwise.
    if a.iter().all(|v| matches!(v, Json::Str(_))) {
        let mut seen = HashSet::with_capacity(a.len());
        return a
            .iter()
            .all(|v| seen.insert(v.as_str().unwrap_or_default()));
    }
    if a.iter().all(|v| matches!(v, Json::Num(Num::I(_)))) {
        let mut seen = HashSet::with_capacity(a.len());
        return a
            .iter()
            .all(|v| matches!(v, Json::Num(Num::I(i)) if seen.insert(*i)));
    }
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            if json_eq(&a[i], &a[j]) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests;
