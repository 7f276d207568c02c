//! VCDA's login `type`s (localUser, ssoCredentials, ssoToken, vcdCredentials, vcdCookie,
//! vcdAccessToken, anything else) with any fields of any type, built from structured input
//! and sent through the whole router to `POST /sessions`. No panic, no 5xx, every answer a
//! VCDA-shaped 4xx (nobody the fuzzer can name knows a password or holds a token here), and
//! a `type` that is missing, not a string or unknown is a 400 (a body over 64 KiB, a 413).

#![no_main]

use arbitrary::Arbitrary;
use axum::http::{Method, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tollgate_fuzz::server;

const TYPES: &[&str] = &["localUser", "ssoCredentials", "ssoToken", "vcdCredentials", "vcdCookie", "vcdAccessToken"];
const FIELDS: &[&str] = &[
    "localUser",
    "localPassword",
    "username",
    "password",
    "vcdUser",
    "vcdPassword",
    "vcdCookie",
    "vcdAccessToken",
    "samlToken",
    "nonce",
    "signature",
    "timestamp",
    "principal",
];
const ORGS: &[&str] = &["", "System", "org1", "no-org", "@"];
const ACCEPTS: &[&str] = &[
    "application/vnd.vmware.h4-v3.5+json;charset=UTF-8",
    "application/vnd.vmware.h4-v4.5+json;charset=UTF-8",
    "application/json",
    "*/*",
];

#[derive(Arbitrary, Debug)]
enum Kind {
    Known(u8),
    Other(String),
    NotString(Scalar),
    Missing,
}

#[derive(Arbitrary, Debug)]
enum Field {
    Known(u8),
    Other(String),
}

#[derive(Arbitrary, Debug)]
enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// `user@org`, as vcdCredentials and principal want.
    UserAtOrg(String, u8),
    /// A string of this many bytes, to cross the length limits.
    Long(u16),
}

#[derive(Arbitrary, Debug)]
enum Val {
    Scalar(Scalar),
    Array(Vec<Scalar>),
    Object(Vec<(String, Scalar)>),
}

#[derive(Arbitrary, Debug)]
struct Login {
    kind: Kind,
    fields: Vec<(Field, Val)>,
    accept: u8,
}

fn scalar(s: &Scalar) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(*b),
        Scalar::Int(i) => Value::from(*i),
        Scalar::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Scalar::Text(t) => Value::String(t.clone()),
        Scalar::UserAtOrg(user, org) => Value::String(format!("{user}@{}", ORGS[*org as usize % ORGS.len()])),
        Scalar::Long(n) => Value::String("x".repeat(*n as usize % 2048)),
    }
}

fn value(v: &Val) -> Value {
    match v {
        Val::Scalar(s) => scalar(s),
        Val::Array(items) => Value::Array(items.iter().map(scalar).collect()),
        Val::Object(pairs) => Value::Object(pairs.iter().map(|(k, v)| (k.clone(), scalar(v))).collect()),
    }
}

fuzz_target!(|login: Login| {
    let mut object = Map::new();
    for (field, val) in &login.fields {
        let name = match field {
            Field::Known(i) => FIELDS[*i as usize % FIELDS.len()].to_owned(),
            Field::Other(name) => name.clone(),
        };
        object.insert(name, value(val));
    }
    let kind = match &login.kind {
        Kind::Known(i) => Some(Value::String(TYPES[*i as usize % TYPES.len()].to_owned())),
        Kind::Other(other) => Some(Value::String(other.clone())),
        Kind::NotString(s) => Some(scalar(s)),
        Kind::Missing => None,
    };
    match &kind {
        Some(kind) => object.insert("type".into(), kind.clone()),
        None => object.remove("type"),
    };
    let body = Value::Object(object).to_string();
    let accept = ACCEPTS[login.accept as usize % ACCEPTS.len()];
    let headers: &[(&str, &[u8])] = &[("content-type", b"application/json"), ("accept", accept.as_bytes())];
    let answer = server().exchange(Method::POST, "/sessions", headers, body.as_bytes()).expect("a valid request");
    let text = String::from_utf8_lossy(&answer.body);
    assert!(answer.status.is_client_error(), "{} {text}", answer.status);
    let known = kind.as_ref().and_then(Value::as_str).is_some_and(|k| TYPES.contains(&k));
    // A body over the limit is a 413 before its type is read.
    if !known && body.len() <= tollgate_dialects::common::MAX_BODY_BYTES {
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{kind:?}: {text}");
    }
});
