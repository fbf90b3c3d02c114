//! The OpenAPI document walk: root, paths, operations, parameters, bodies,
//! responses and specguard's root/operation annotations (sections 1 and 5 of
//! ANNOTATIONS.md). Each object's keys are matched exhaustively: handled,
//! ignored as documentation, or reported.

use serde_json::{Map, Value};

use super::diag::{Diagnostics, Location};
use super::loader::{DocId, Loader};
use super::schema::{Dialect, Position, SchemaCompiler};
use super::Options;
use crate::duration::{parse_duration_ms, parse_size};
use crate::model::*;

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Root-level `x-specguard-*` keys that later versions enforce; a spec that
/// relies on them must not compile into a policy that silently skips them.
const NOT_YET: &[&str] = &[
    "x-specguard-rate-limit",
    "x-specguard-block",
    "x-specguard-data-policy",
];

/// Per-document context.
struct Ctx<'c, 'a> {
    sc: SchemaCompiler<'a>,
    schemes: Vec<crate::security::SecurityScheme>,
    scheme_index: super::security::SchemeIndex,
    root_security: Vec<crate::security::Requirement>,
    root_callers: Vec<String>,
    root: DocId,
    root_mode: Mode,
    root_limits: Limits,
    root_unvalidated_allow: bool,
    _c: std::marker::PhantomData<&'c ()>,
}

fn obj(v: &Value) -> Option<&Map<String, Value>> {
    v.as_object()
}

/// Reports extensions: `x-specguard-*` not in `allowed` are errors, other `x-` a warning.
fn extension(diags: &mut Diagnostics, at: &Location, key: &str, allowed: &[&str]) {
    if allowed.contains(&key) {
        return;
    }
    if NOT_YET.contains(&key) || key.starts_with("x-specguard-") {
        diags.error(
            &at.child(key),
            format!("`{key}` is not enforced by this version of specguard (or not allowed here)"),
            Some("see ANNOTATIONS.md for where each annotation goes; remove it rather than rely on it unenforced"),
        );
    } else if key != "x-owner" && key != "x-internal" {
        diags.warn(
            &at.child(key),
            format!("extension `{key}` is ignored"),
            None,
        );
    }
}

pub fn compile(
    loader: &mut Loader,
    root: DocId,
    options: &Options,
    diags: &mut Diagnostics,
) -> Policy {
    let file = loader.display(root).to_string();
    let top = Location::new(&file, "");
    let doc = loader.docs[root].value.clone();
    let empty = Policy {
        version: POLICY_VERSION,
        info: Info::default(),
        host: HostSettings::default(),
        mode: Mode::Enforce,
        security: Default::default(),
        operations: Vec::new(),
        schemas: Vec::new(),
    };
    let Some(rootobj) = obj(&doc) else {
        diags.error(&top, "an OpenAPI document must be a mapping", None);
        return empty;
    };
    let dialect = match rootobj.get("openapi").and_then(Value::as_str) {
        Some(v) if v.starts_with("3.0.") => Dialect::V30,
        Some(v) if v.starts_with("3.1.") => Dialect::V31,
        Some(v) => {
            diags.error(
                &top.child("openapi"),
                format!("OpenAPI version {v:?} is not supported"),
                Some("specguard reads OpenAPI 3.0.x and 3.1.x"),
            );
            return empty;
        }
        None => {
            let hint = if rootobj.contains_key("swagger") {
                "convert Swagger 2.0 to OpenAPI 3 first"
            } else {
                "is this an OpenAPI document?"
            };
            diags.error(
                &top.child("openapi"),
                "missing `openapi` version",
                Some(hint),
            );
            return empty;
        }
    };

    let reject_unknown = match rootobj.get("x-specguard-unknown-fields") {
        None => true,
        Some(Value::String(s)) if s == "reject" => true,
        Some(Value::String(s)) if s == "allow" => false,
        Some(_) => {
            diags.error(
                &top.child("x-specguard-unknown-fields"),
                "must be `reject` or `allow`",
                None,
            );
            true
        }
    };
    let root_mode = mode(diags, &top, rootobj).unwrap_or_default();
    let root_limits = limits(diags, &top, rootobj, &Limits::default());
    let root_unvalidated_allow = unvalidated(diags, &top, rootobj).unwrap_or(false);

    let mut info = Info {
        source: file.clone(),
        owner: owner(diags, &top, rootobj),
        ..Info::default()
    };
    if let Some(i) = rootobj.get("info").and_then(obj) {
        info.title = i
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        info.api_version = i
            .get("version")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
    } else {
        diags.error(&top.child("info"), "missing `info`", None);
    }
    let base = base_path(diags, &top, rootobj, options);

    let mut host = HostSettings::default();
    for key in rootobj.keys() {
        match key.as_str() {
            "openapi" | "info" | "servers" | "paths" | "tags" | "externalDocs"
            | "jsonSchemaDialect" => {}
            "components" => {}
            "webhooks" => diags.warn(
                &top.child(key),
                "webhooks describe calls the API makes; not enforced on inbound traffic",
                None,
            ),
            "security"
            | "x-specguard-callers"
            | "x-specguard-caller-classes"
            | "x-specguard-identity-headers" => {}
            "x-specguard-request-headers" => match rootobj[key].as_str() {
                Some("hold") => host.request_headers = HeaderMode::Hold,
                Some("forward") => host.request_headers = HeaderMode::Forward,
                _ => diags.error(&top.child(key), "must be `hold` or `forward`", None),
            },
            k if k.starts_with("x-") => extension(
                diags,
                &top,
                k,
                &[
                    "x-specguard-mode",
                    "x-specguard-limits",
                    "x-specguard-unknown-fields",
                    "x-specguard-unvalidated-media",
                    "x-specguard-request-headers",
                    "x-owner",
                ],
            ),
            k => diags.error(
                &top.child(k),
                format!("unknown OpenAPI root field `{k}`"),
                None,
            ),
        }
    }

    let (schemes, scheme_index) = super::security::schemes(loader, root, rootobj, &top, diags);
    let root_security = match rootobj.get("security") {
        Some(v) => {
            super::security::requirements(v, &top.child("security"), &scheme_index, &schemes, diags)
        }
        None => Vec::new(),
    };
    let root_callers = match rootobj.get("x-specguard-callers") {
        Some(v) => super::security::callers(v, &top.child("x-specguard-callers"), diags),
        None => Vec::new(),
    };
    let internal_class = match rootobj.get("x-specguard-caller-classes") {
        Some(v) => {
            super::security::caller_classes(v, &top.child("x-specguard-caller-classes"), diags)
        }
        None => Default::default(),
    };
    let identity_headers = match rootobj.get("x-specguard-identity-headers") {
        Some(v) => {
            super::security::identity_headers(v, &top.child("x-specguard-identity-headers"), diags)
        }
        None => Default::default(),
    };

    let mut ctx = Ctx {
        schemes: schemes.clone(),
        scheme_index,
        root_security,
        root_callers,
        sc: SchemaCompiler::new(
            loader,
            diags,
            dialect,
            reject_unknown,
            options.strict_formats,
        ),
        root,
        root_mode,
        root_limits,
        root_unvalidated_allow,
        _c: std::marker::PhantomData,
    };
    let mut operations = Vec::new();
    match rootobj.get("paths") {
        Some(Value::Object(paths)) => {
            for (template, _) in paths {
                let at = top.child("paths").child(template);
                path_item(&mut ctx, &at, template, &base, &mut operations);
            }
        }
        Some(_) => ctx
            .sc
            .diags
            .error(&top.child("paths"), "`paths` must be a mapping", None),
        None => ctx.sc.diags.error(
            &top.child("paths"),
            "missing `paths`: an API with no operations would refuse everything",
            None,
        ),
    }
    let mut seen = std::collections::HashMap::new();
    for op in &operations {
        let route = format!("{} {}", op.method, op.path);
        if let Some(prev) = seen.insert(op.id.clone(), route.clone()) {
            let msg = format!("operationId {:?} is used by both {prev} and {route}", op.id);
            ctx.sc.diags.error(
                &top.child("paths"),
                msg,
                Some("operationIds must be unique"),
            );
        }
    }
    let schemas = ctx.sc.finish();
    Policy {
        version: POLICY_VERSION,
        info,
        host,
        mode: root_mode,
        security: crate::security::Security {
            schemes,
            internal: internal_class,
            headers: identity_headers,
        },
        operations,
        schemas,
    }
}

fn mode(diags: &mut Diagnostics, at: &Location, o: &Map<String, Value>) -> Option<Mode> {
    match o.get("x-specguard-mode")? {
        Value::String(s) if s == "enforce" => Some(Mode::Enforce),
        Value::String(s) if s == "monitor" => Some(Mode::Monitor),
        _ => {
            diags.error(
                &at.child("x-specguard-mode"),
                "must be `enforce` or `monitor`",
                None,
            );
            None
        }
    }
}

fn unvalidated(diags: &mut Diagnostics, at: &Location, o: &Map<String, Value>) -> Option<bool> {
    match o.get("x-specguard-unvalidated-media")? {
        Value::String(s) if s == "allow" => Some(true),
        Value::String(s) if s == "refuse" => Some(false),
        _ => {
            diags.error(
                &at.child("x-specguard-unvalidated-media"),
                "must be `allow` or `refuse`",
                None,
            );
            None
        }
    }
}

fn owner(diags: &mut Diagnostics, at: &Location, o: &Map<String, Value>) -> Option<Owner> {
    let v = o.get("x-owner")?;
    let at = at.child("x-owner");
    let Some(m) = obj(v) else {
        diags.error(
            &at,
            "`x-owner` must be a mapping with team and contact",
            None,
        );
        return None;
    };
    let mut out = Owner::default();
    for (k, val) in m {
        let text = val.as_str().map(str::to_string);
        if text.is_none() {
            diags.error(&at.child(k), "must be a string", None);
        }
        match k.as_str() {
            "team" => out.team = text,
            "contact" => out.contact = text,
            _ => diags.error(
                &at.child(k),
                format!("unknown x-owner field `{k}`"),
                Some("x-owner has team and contact"),
            ),
        }
    }
    Some(out)
}

/// `x-specguard-limits`, layered over `base`.
fn limits(diags: &mut Diagnostics, at: &Location, o: &Map<String, Value>, base: &Limits) -> Limits {
    let mut l = base.clone();
    let Some(v) = o.get("x-specguard-limits") else {
        return l;
    };
    let at = at.child("x-specguard-limits");
    let Some(m) = obj(v) else {
        diags.error(&at, "`x-specguard-limits` must be a mapping", None);
        return l;
    };
    for (k, val) in m {
        let size = || match val {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => parse_size(s),
            _ => None,
        };
        let int = || val.as_u64().and_then(|n| u32::try_from(n).ok());
        let bad = |diags: &mut Diagnostics, what: &str| {
            diags.error(&at.child(k), format!("`{k}` must be {what}"), None)
        };
        match k.as_str() {
            "request-body" => match size() { Some(n) => l.request_body = n, None => bad(diags, "a size like 1MiB") },
            "response-body" => match size() { Some(n) => l.response_body = n, None => bad(diags, "a size like 4MiB") },
            "json-depth" => match int() { Some(n) if n > 0 => l.json_depth = n, _ => bad(diags, "a positive integer") },
            "json-keys" => match int() { Some(n) => l.json_keys = n, None => bad(diags, "an integer") },
            "string-length" => match int() { Some(n) => l.string_length = n, None => bad(diags, "an integer") },
            "array-items" => match int() { Some(n) => l.array_items = n, None => bad(diags, "an integer") },
            "timeout" => match val.as_str().and_then(parse_duration_ms) { Some(n) if n > 0 => l.timeout_ms = Some(n), _ => bad(diags, "a duration like 6s") },
            "concurrency" => match int() { Some(n) if n > 0 => l.concurrency = Some(n), _ => bad(diags, "a positive integer") },
            _ => diags.error(&at.child(k), format!("unknown limit `{k}`"), Some("limits are request-body, response-body, json-depth, json-keys, string-length, array-items, timeout, concurrency")),
        }
    }
    l
}

fn base_path(
    diags: &mut Diagnostics,
    top: &Location,
    root: &Map<String, Value>,
    options: &Options,
) -> String {
    if let Some(b) = &options.base_path {
        return b.trim_end_matches('/').to_string();
    }
    let Some(servers) = root.get("servers").and_then(Value::as_array) else {
        return String::new();
    };
    let mut paths = Vec::new();
    for (i, s) in servers.iter().enumerate() {
        let Some(url) = s.get("url").and_then(Value::as_str) else {
            diags.error(&top.child("servers").index(i), "server without `url`", None);
            continue;
        };
        let mut url = url.to_string();
        if let Some(vars) = s.get("variables").and_then(obj) {
            for (name, var) in vars {
                let default = var
                    .get("default")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                url = url.replace(&format!("{{{name}}}"), default);
            }
        }
        let path = match url.split_once("://") {
            Some((_, rest)) => rest
                .find('/')
                .map(|i| rest[i..].to_string())
                .unwrap_or_default(),
            None => url,
        };
        let path = path.trim_end_matches('/').to_string();
        if !paths.contains(&path) {
            paths.push(path);
        }
    }
    match paths.len() {
        0 => String::new(),
        1 => paths.remove(0),
        _ => {
            diags.error(
                &top.child("servers"),
                format!("servers have different base paths {paths:?}"),
                Some("pass --base-path to say which one this proxy serves"),
            );
            String::new()
        }
    }
}

/// Follows a `$ref` on a path item, parameter, request body or response.
fn deref(ctx: &mut Ctx, doc: DocId, at: &Location, v: &Value) -> Option<(DocId, Location, Value)> {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => match ctx.sc.loader.resolve_ref(doc, r, &at.child("$ref")) {
            Ok((tdoc, ptr)) => {
                let target = ctx.sc.loader.get(tdoc, &ptr).cloned()?;
                let loc = Location::new(ctx.sc.loader.display(tdoc), ptr);
                // Chains of references (a component that is itself a $ref).
                deref(ctx, tdoc, &loc, &target)
            }
            Err(d) => {
                ctx.sc.diags.items.push(d);
                None
            }
        },
        None => Some((doc, at.clone(), v.clone())),
    }
}

fn path_item(ctx: &mut Ctx, at: &Location, template: &str, base: &str, out: &mut Vec<Operation>) {
    let root = ctx.root;
    let Some(v) = ctx.sc.loader.get(root, &at.pointer).cloned() else {
        return;
    };
    let Some((doc, at, item)) = deref(ctx, root, at, &v) else {
        return;
    };
    let Some(item) = obj(&item).cloned() else {
        ctx.sc
            .diags
            .error(&at, "a path item must be a mapping", None);
        return;
    };
    if !template.starts_with('/') {
        ctx.sc
            .diags
            .error(&at, format!("path {template:?} must start with '/'"), None);
        return;
    }
    if let Err(e) = crate::check::path_template_params(template) {
        ctx.sc.diags.error(&at, e, None);
        return;
    }
    let shared = item.get("parameters").cloned();
    for (key, val) in &item {
        let k = key.as_str();
        match k {
            _ if METHODS.contains(&k) => {
                let op_at = at.child(k);
                if let Some(op) = operation(
                    ctx,
                    doc,
                    &op_at,
                    k,
                    template,
                    base,
                    val,
                    shared.as_ref(),
                    &at,
                ) {
                    out.push(op);
                }
            }
            "summary" | "description" | "parameters" | "$ref" => {}
            "servers" => ctx.sc.diags.error(
                &at.child(k),
                "per-path servers are not supported",
                Some("use root servers or --base-path"),
            ),
            _ if k.starts_with("x-") => extension(ctx.sc.diags, &at, k, &[]),
            _ => ctx
                .sc
                .diags
                .error(&at.child(k), format!("unknown path item field `{k}`"), None),
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn operation(
    ctx: &mut Ctx,
    doc: DocId,
    at: &Location,
    method: &str,
    template: &str,
    base: &str,
    v: &Value,
    shared_params: Option<&Value>,
    item_at: &Location,
) -> Option<Operation> {
    let Some(o) = obj(v) else {
        ctx.sc
            .diags
            .error(at, "an operation must be a mapping", None);
        return None;
    };
    let method_uc = method.to_ascii_uppercase();
    let path = format!("{base}{template}");
    let id = match o.get("operationId") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            ctx.sc.diags.error(
                &at.child("operationId"),
                "operationId must be a non-empty string",
                None,
            );
            return None;
        }
        None => format!("{method_uc} {path}"),
    };
    let mut internal = false;
    let mut op_security = None;
    let mut op_callers = None;
    for (key, val) in o {
        let k = key.as_str();
        match k {
            "tags" | "summary" | "description" | "externalDocs" | "operationId" | "deprecated"
            | "parameters" | "requestBody" | "responses" => {}
            "callbacks" => ctx.sc.diags.warn(
                &at.child(k),
                "callbacks describe calls the API makes; not enforced on inbound traffic",
                None,
            ),
            "servers" => ctx.sc.diags.error(
                &at.child(k),
                "per-operation servers are not supported",
                Some("use root servers or --base-path"),
            ),
            "security" => {
                op_security = Some(super::security::requirements(
                    val,
                    &at.child(k),
                    &ctx.scheme_index,
                    &ctx.schemes,
                    ctx.sc.diags,
                ));
            }
            "x-specguard-callers" => {
                op_callers = Some(super::security::callers(val, &at.child(k), ctx.sc.diags))
            }
            "x-internal" => match val.as_bool() {
                Some(b) => internal = b,
                None => ctx
                    .sc
                    .diags
                    .error(&at.child(k), "must be true or false", None),
            },
            _ if k.starts_with("x-") => extension(
                ctx.sc.diags,
                at,
                k,
                &[
                    "x-specguard-mode",
                    "x-specguard-limits",
                    "x-specguard-unvalidated-media",
                    "x-owner",
                ],
            ),
            _ => ctx
                .sc
                .diags
                .error(&at.child(k), format!("unknown operation field `{k}`"), None),
        }
    }
    let op_mode = mode(ctx.sc.diags, at, o).unwrap_or(ctx.root_mode);
    let op_limits = limits(ctx.sc.diags, at, o, &ctx.root_limits);
    let allow_unvalidated = unvalidated(ctx.sc.diags, at, o).unwrap_or(ctx.root_unvalidated_allow);
    let op_owner = owner(ctx.sc.diags, at, o);

    // Parameters: path-item level first, operation level overrides by (name, in).
    let mut parameters: Vec<Parameter> = Vec::new();
    let lists = [
        (shared_params.cloned(), item_at.child("parameters")),
        (o.get("parameters").cloned(), at.child("parameters")),
    ];
    for (list, list_at) in lists {
        let Some(list) = list else { continue };
        let Some(items) = list.as_array() else {
            ctx.sc
                .diags
                .error(&list_at, "`parameters` must be a list", None);
            continue;
        };
        for (i, p) in items.iter().enumerate() {
            if let Some(param) = parameter(ctx, doc, &list_at.index(i), p) {
                parameters.retain(|q| !(q.name == param.name && q.location == param.location));
                parameters.push(param);
            }
        }
    }

    // Every template variable needs its path parameter and vice versa.
    let vars = crate::check::path_template_params(template).unwrap_or_default();
    for v in &vars {
        if !parameters
            .iter()
            .any(|p| p.location == ParamLocation::Path && &p.name == v)
        {
            ctx.sc.diags.error(
                &at.child("parameters"),
                format!("path template variable {{{v}}} has no `in: path` parameter"),
                Some("declare it under parameters with a schema"),
            );
        }
    }
    for p in parameters
        .iter()
        .filter(|p| p.location == ParamLocation::Path)
    {
        if !vars.contains(&p.name) {
            ctx.sc.diags.error(
                &at.child("parameters"),
                format!(
                    "path parameter {:?} is not in the template {template:?}",
                    p.name
                ),
                None,
            );
        }
    }

    let request_body = match o.get("requestBody") {
        Some(rb) => request_body(ctx, doc, &at.child("requestBody"), rb, allow_unvalidated),
        None => None,
    };

    let mut responses = Vec::new();
    match o.get("responses").and_then(obj) {
        Some(rs) => {
            for (status, r) in rs {
                let r_at = at.child("responses").child(status);
                if status.starts_with("x-") {
                    continue;
                }
                if !crate::check::valid_status_key(status) {
                    ctx.sc.diags.error(&r_at, format!("response key {status:?} is not a status code, a range like 2XX, or default"), None);
                    continue;
                }
                if let Some(resp) = response(ctx, doc, &r_at, status, r) {
                    responses.push(resp);
                }
            }
            if responses.is_empty() {
                ctx.sc.diags.error(
                    &at.child("responses"),
                    "an operation must declare at least one response",
                    None,
                );
            }
        }
        None => ctx.sc.diags.error(
            &at.child("responses"),
            "missing `responses`",
            Some("every response is validated; declare what the operation returns"),
        ),
    }

    Some(Operation {
        id,
        method: method_uc,
        path,
        mode: op_mode,
        internal,
        owner: op_owner,
        security: op_security.unwrap_or_else(|| ctx.root_security.clone()),
        callers: op_callers.unwrap_or_else(|| ctx.root_callers.clone()),
        parameters,
        request_body,
        responses,
        limits: op_limits,
    })
}

fn parameter(ctx: &mut Ctx, doc: DocId, at: &Location, v: &Value) -> Option<Parameter> {
    let (doc, at, v) = deref(ctx, doc, at, v)?;
    let Some(p) = obj(&v) else {
        ctx.sc
            .diags
            .error(&at, "a parameter must be a mapping", None);
        return None;
    };
    let diags = &mut *ctx.sc.diags;
    let Some(name) = p.get("name").and_then(Value::as_str).map(str::to_string) else {
        diags.error(&at.child("name"), "parameter without `name`", None);
        return None;
    };
    let location = match p.get("in").and_then(Value::as_str) {
        Some("path") => ParamLocation::Path,
        Some("query") => ParamLocation::Query,
        Some("header") => ParamLocation::Header,
        Some("cookie") => ParamLocation::Cookie,
        _ => {
            diags.error(
                &at.child("in"),
                "`in` must be path, query, header or cookie",
                None,
            );
            return None;
        }
    };
    if location == ParamLocation::Header
        && ["accept", "content-type", "authorization"].contains(&name.to_ascii_lowercase().as_str())
    {
        diags.warn(
            &at,
            format!("header parameter {name:?} is ignored (OpenAPI defines it elsewhere)"),
            None,
        );
        return None;
    }
    let mut required = false;
    let mut internal = false;
    let mut style = None;
    let mut explode = None;
    for (key, val) in p {
        let k = key.as_str();
        match k {
            "name" | "in" | "description" | "deprecated" | "example" | "examples" | "schema"
            | "$ref" => {}
            "required" => required = val.as_bool().unwrap_or(false),
            "allowEmptyValue" | "allowReserved" => {}
            "style" => style = val.as_str().map(str::to_string),
            "explode" => explode = val.as_bool(),
            "content" => diags.error(
                &at.child(k),
                "parameters described by `content` are not supported",
                Some("describe the parameter with `schema`"),
            ),
            "x-internal" => internal = val.as_bool().unwrap_or(false),
            _ if k.starts_with("x-") => extension(diags, &at, k, &[]),
            _ => diags.error(&at.child(k), format!("unknown parameter field `{k}`"), None),
        }
    }
    if location == ParamLocation::Path && !required {
        diags.error(
            &at.child("required"),
            format!("path parameter {name:?} must be `required: true`"),
            None,
        );
    }
    let style = match (location, style.as_deref()) {
        (ParamLocation::Path | ParamLocation::Header, None | Some("simple")) => ParamStyle::Simple,
        (ParamLocation::Query | ParamLocation::Cookie, None | Some("form")) => ParamStyle::Form,
        (ParamLocation::Query, Some("spaceDelimited")) => ParamStyle::SpaceDelimited,
        (ParamLocation::Query, Some("pipeDelimited")) => ParamStyle::PipeDelimited,
        (ParamLocation::Query, Some("deepObject")) => ParamStyle::DeepObject,
        (_, Some(s)) => {
            diags.error(&at.child("style"), format!("style {s:?} is not supported for {location:?} parameters"), Some("path/header: simple; query: form, spaceDelimited, pipeDelimited, deepObject; cookie: form"));
            return None;
        }
    };
    let explode = explode.unwrap_or(style == ParamStyle::Form);
    let name = if location == ParamLocation::Header {
        name.to_ascii_lowercase()
    } else {
        name
    };
    let schema = if p.contains_key("schema") {
        ctx.sc
            .convert(doc, &at.child("schema").pointer, Position::Value)
    } else {
        ctx.sc.diags.error(
            &at,
            format!("parameter {name:?} has no `schema`"),
            Some("every parameter is validated; give it a schema"),
        );
        return None;
    };
    Some(Parameter {
        name,
        location,
        required,
        internal,
        style,
        explode,
        schema,
    })
}

/// Essence of a media type: lower-case `type/subtype`, parameters dropped.
pub fn media_essence(m: &str) -> String {
    m.split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// Whether a media type (or range) carries JSON.
pub fn is_json_media(essence: &str) -> bool {
    essence == "application/json" || essence.ends_with("+json")
}

fn content(
    ctx: &mut Ctx,
    doc: DocId,
    at: &Location,
    v: &Value,
    request: bool,
    allow_unvalidated: bool,
) -> Vec<MediaType> {
    let mut out = Vec::new();
    let Some(m) = obj(v) else {
        ctx.sc.diags.error(
            at,
            "`content` must map media types to media type objects",
            None,
        );
        return out;
    };
    for (media, mt) in m {
        let mat = at.child(media);
        let essence = media_essence(media);
        let Some(mto) = obj(mt) else {
            ctx.sc
                .diags
                .error(&mat, "a media type object must be a mapping", None);
            continue;
        };
        for k in mto.keys() {
            match k.as_str() {
                "schema" | "example" | "examples" => {}
                "encoding" => ctx
                    .sc
                    .diags
                    .warn(&mat.child(k), "`encoding` is not enforced", None),
                _ if k.starts_with("x-") => extension(ctx.sc.diags, &mat, k, &[]),
                _ => ctx.sc.diags.error(
                    &mat.child(k),
                    format!("unknown media type field `{k}`"),
                    None,
                ),
            }
        }
        let handling = if is_json_media(&essence) {
            BodyHandling::Json
        } else if !request {
            ctx.sc.diags.warn(
                &mat,
                format!(
                    "{essence} responses cannot be validated; they pass size-limited and counted"
                ),
                None,
            );
            BodyHandling::PassUnvalidated
        } else if allow_unvalidated {
            ctx.sc.diags.warn(&mat, format!("{essence} request bodies cannot be validated; allowed size-limited by x-specguard-unvalidated-media"), None);
            BodyHandling::PassUnvalidated
        } else {
            ctx.sc.diags.warn(
                &mat,
                format!("{essence} request bodies cannot be validated and will be refused"),
                Some("set x-specguard-unvalidated-media: allow to let them through size-limited"),
            );
            BodyHandling::Refuse
        };
        let schema = if handling == BodyHandling::Json && mto.contains_key("schema") {
            Some(
                ctx.sc
                    .convert(doc, &mat.child("schema").pointer, Position::Value),
            )
        } else {
            None
        };
        out.push(MediaType {
            media_type: essence,
            schema,
            handling,
        });
    }
    out
}

fn request_body(
    ctx: &mut Ctx,
    doc: DocId,
    at: &Location,
    v: &Value,
    allow_unvalidated: bool,
) -> Option<RequestBody> {
    let (doc, at, v) = deref(ctx, doc, at, v)?;
    let Some(b) = obj(&v) else {
        ctx.sc
            .diags
            .error(&at, "`requestBody` must be a mapping", None);
        return None;
    };
    let mut required = false;
    let mut media = Vec::new();
    for (key, val) in b {
        match key.as_str() {
            "description" | "$ref" => {}
            "required" => required = val.as_bool().unwrap_or(false),
            "content" => {
                media = content(ctx, doc, &at.child("content"), val, true, allow_unvalidated)
            }
            k if k.starts_with("x-") => extension(ctx.sc.diags, &at, k, &[]),
            k => ctx.sc.diags.error(
                &at.child(k),
                format!("unknown requestBody field `{k}`"),
                None,
            ),
        }
    }
    if media.is_empty() {
        ctx.sc.diags.error(
            &at.child("content"),
            "`requestBody` declares no media type",
            None,
        );
    }
    Some(RequestBody {
        required,
        content: media,
    })
}

fn response(ctx: &mut Ctx, doc: DocId, at: &Location, status: &str, v: &Value) -> Option<Response> {
    let (doc, at, v) = deref(ctx, doc, at, v)?;
    let Some(r) = obj(&v) else {
        ctx.sc
            .diags
            .error(&at, "a response must be a mapping", None);
        return None;
    };
    let mut media = Vec::new();
    for (key, val) in r {
        match key.as_str() {
            "description" | "$ref" | "links" => {}
            "headers" => ctx.sc.diags.warn(
                &at.child("headers"),
                "response headers are not validated by this version",
                None,
            ),
            "content" => media = content(ctx, doc, &at.child("content"), val, false, true),
            k if k.starts_with("x-") => extension(ctx.sc.diags, &at, k, &[]),
            k => ctx
                .sc
                .diags
                .error(&at.child(k), format!("unknown response field `{k}`"), None),
        }
    }
    Some(Response {
        status: status.to_string(),
        content: media,
    })
}
