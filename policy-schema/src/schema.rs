//! The normalized schema IR. The compiler turns every OpenAPI / JSON Schema
//! node into one [`Schema`] in the policy's table; `$ref`s become indices, so
//! the enforcement point never resolves a reference or reads a file.
//!
//! Each keyword keeps its JSON Schema 2020-12 meaning; OpenAPI 3.0 forms
//! (`nullable`, boolean `exclusiveMinimum`) are rewritten by the compiler.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Index into [`crate::Policy::schemas`].
pub type SchemaId = u32;

/// JSON Schema primitive types.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum SchemaType {
    Null,
    Boolean,
    Object,
    Array,
    Number,
    String,
    Integer,
}

/// `discriminator`: which subschema an object must match, by a property value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Discriminator {
    pub property: String,
    /// Property value to schema. Values not listed are refused.
    pub mapping: BTreeMap<String, SchemaId>,
}

/// A string `format` the enforcement point checks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Int32,
    Int64,
    Float,
    Double,
    Byte,
    Date,
    DateTime,
    Time,
    Email,
    Uuid,
    Uri,
    Hostname,
    Ipv4,
    Ipv6,
}

impl Format {
    /// The format of that name, if enforced.
    pub fn from_name(name: &str) -> Option<Format> {
        Some(match name {
            "int32" => Format::Int32,
            "int64" => Format::Int64,
            "float" => Format::Float,
            "double" => Format::Double,
            "byte" => Format::Byte,
            "date" => Format::Date,
            "date-time" => Format::DateTime,
            "time" => Format::Time,
            "email" => Format::Email,
            "uuid" => Format::Uuid,
            "uri" => Format::Uri,
            "hostname" => Format::Hostname,
            "ipv4" => Format::Ipv4,
            "ipv6" => Format::Ipv6,
            _ => return None,
        })
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// One schema node. An all-default node accepts everything (`true`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Schema {
    /// The boolean schema `false`: nothing is valid.
    #[serde(skip_serializing_if = "is_false")]
    pub never: bool,
    /// Where the node came from (`file#/pointer`), for error messages and logs.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub origin: String,
    #[serde(rename = "ref", skip_serializing_if = "Option::is_none")]
    pub reference: Option<SchemaId>,
    /// Allowed types; empty = any.
    #[serde(rename = "type", skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<SchemaType>,
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enumeration: Option<Vec<Value>>,
    #[serde(rename = "const", skip_serializing_if = "Option::is_none")]
    pub constant: Option<Value>,

    // numbers
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive_minimum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exclusive_maximum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiple_of: Option<f64>,

    // strings
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// ECMA-262 style pattern, unanchored; must compile as a Rust `regex`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<Format>,

    // objects
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, SchemaId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub required: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub additional_properties: Option<SchemaId>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub pattern_properties: BTreeMap<String, SchemaId>,
    /// Also set by the compiler (to a `never` schema) where unknown fields are
    /// rejected and the spec did not opt in to extra properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unevaluated_properties: Option<SchemaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub property_names: Option<SchemaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_properties: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_properties: Option<u64>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dependent_required: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dependent_schemas: BTreeMap<String, SchemaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discriminator: Option<Discriminator>,

    // arrays
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub prefix_items: Vec<SchemaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<SchemaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unevaluated_items: Option<SchemaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contains: Option<SchemaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_contains: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_contains: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_items: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_items: Option<u64>,
    #[serde(skip_serializing_if = "is_false")]
    pub unique_items: bool,

    // applicators
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub all_of: Vec<SchemaId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub any_of: Vec<SchemaId>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub one_of: Vec<SchemaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not: Option<SchemaId>,
    #[serde(rename = "if", skip_serializing_if = "Option::is_none")]
    pub if_: Option<SchemaId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub then: Option<SchemaId>,
    #[serde(rename = "else", skip_serializing_if = "Option::is_none")]
    pub else_: Option<SchemaId>,

    // field annotations the enforcement point acts on
    /// `readOnly`: refused in requests, not required in them.
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// `writeOnly`: removed from responses, not required in them.
    #[serde(skip_serializing_if = "is_false")]
    pub write_only: bool,
    /// `x-internal`: for callers not classed internal, refused in requests and
    /// removed from responses.
    #[serde(skip_serializing_if = "is_false")]
    pub internal: bool,
}

impl Schema {
    /// Every schema index this node refers to, for checks and graph walks.
    pub fn children(&self) -> impl Iterator<Item = SchemaId> + '_ {
        let singles = [
            self.reference,
            self.additional_properties,
            self.unevaluated_properties,
            self.property_names,
            self.items,
            self.unevaluated_items,
            self.contains,
            self.not,
            self.if_,
            self.then,
            self.else_,
        ];
        singles
            .into_iter()
            .flatten()
            .chain(self.properties.values().copied())
            .chain(self.pattern_properties.values().copied())
            .chain(self.dependent_schemas.values().copied())
            .chain(self.prefix_items.iter().copied())
            .chain(self.all_of.iter().copied())
            .chain(self.any_of.iter().copied())
            .chain(self.one_of.iter().copied())
            .chain(
                self.discriminator
                    .iter()
                    .flat_map(|d| d.mapping.values().copied()),
            )
    }
}
