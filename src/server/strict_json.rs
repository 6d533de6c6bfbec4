//! The one JSON reader of every request body (/execute, /cancel, /v1/*). serde_json's own `Value`
//! keeps the last of two equal keys, so `{"job_id":"a","job_id":"b"}` would silently run job "b";
//! here a repeated key in any object is an error naming its path (`messages[1].role`). Numbers
//! beyond f64 (`1e400`) are named the same way. Nesting is limited by serde_json's recursion
//! limit (MAX_DEPTH arrays/objects deep), which stays in force because every value is read
//! through serde_json's own `deserialize_any`.

use std::cell::RefCell;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Most arrays/objects nested in one another: serde_json's recursion limit (it counts down from
/// 128 and fails on reaching 0); deeper is a syntax error ("recursion limit exceeded").
pub const MAX_DEPTH: usize = 127;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonError {
    /// Not JSON, or nested deeper than MAX_DEPTH: serde_json's message with line and column.
    Syntax(String),
    /// `path` is the repeated key's place, e.g. `job_id` or `messages[1].role`.
    DuplicateKey { path: String },
    /// A number that does not fit an f64, at `path` (`body` for a bare number).
    NumberOutOfRange { path: String },
}

impl JsonError {
    /// The request field the error is about (`body` when it is about the whole body).
    pub fn field(&self) -> &str {
        match self {
            JsonError::Syntax(_) => "body",
            JsonError::DuplicateKey { path } | JsonError::NumberOutOfRange { path } => path,
        }
    }

    pub fn message(&self) -> String {
        match self {
            JsonError::Syntax(e) => format!("the body is not valid JSON: {e}"),
            JsonError::DuplicateKey { path } => {
                format!("duplicate key '{path}': a request that gives a key twice is ambiguous; give it once")
            }
            JsonError::NumberOutOfRange { path } => format!("'{path}' is a number beyond the range of a 64-bit float"),
        }
    }
}

/// Parses a whole body (trailing non-whitespace is a syntax error) into a `Value`.
pub fn parse(body: &[u8]) -> Result<Value, JsonError> {
    let trail = Trail::default();
    let mut de = serde_json::Deserializer::from_slice(body);
    let result = ValueSeed(&trail).deserialize(&mut de).and_then(|v| de.end().map(|()| v));
    result.map_err(|e| {
        if let Some(path) = trail.duplicate.borrow_mut().take() {
            return JsonError::DuplicateKey { path };
        }
        // serde_json's text for a number it cannot hold; the trail still holds the value's place.
        if e.is_syntax() && e.to_string().starts_with("number out of range") {
            let path = trail.path();
            return JsonError::NumberOutOfRange { path: if path.is_empty() { "body".into() } else { path } };
        }
        JsonError::Syntax(e.to_string())
    })
}

enum Segment {
    Key(String),
    Index(usize),
}

/// Where the reader is: pushed before a value is read, popped once it was read, so after an
/// error the trail is the place of the value that failed.
#[derive(Default)]
struct Trail {
    segments: RefCell<Vec<Segment>>,
    duplicate: RefCell<Option<String>>,
}

impl Trail {
    fn path(&self) -> String {
        let mut out = String::new();
        for s in self.segments.borrow().iter() {
            match s {
                Segment::Key(k) if out.is_empty() => out.push_str(k),
                Segment::Key(k) => {
                    out.push('.');
                    out.push_str(k);
                }
                Segment::Index(i) => out.push_str(&format!("[{i}]")),
            }
        }
        out
    }

    fn enter(&self, s: Segment) {
        self.segments.borrow_mut().push(s);
    }

    fn leave(&self) {
        self.segments.borrow_mut().pop();
    }
}

struct ValueSeed<'a>(&'a Trail);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        // serde_json only hands finite floats; a NaN here would be a serde_json change.
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        loop {
            self.0.enter(Segment::Index(items.len()));
            let item = seq.next_element_seed(ValueSeed(self.0))?;
            self.0.leave();
            match item {
                Some(v) => items.push(v),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            self.0.enter(Segment::Key(key.clone()));
            if obj.contains_key(&key) {
                *self.0.duplicate.borrow_mut() = Some(self.0.path());
                return Err(de::Error::custom("duplicate key"));
            }
            let v = map.next_value_seed(ValueSeed(self.0))?;
            self.0.leave();
            obj.insert(key, v);
        }
        Ok(Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dup(body: &str) -> String {
        match parse(body.as_bytes()) {
            Err(JsonError::DuplicateKey { path }) => path,
            other => panic!("{body}: {other:?}"),
        }
    }

    #[test]
    fn reads_what_serde_json_reads() {
        let body = r#"{"a":[1,-2,3.5,"x",null,true,{"b":{}}],"c":18446744073709551615,"d":-9223372036854775808}"#;
        assert_eq!(parse(body.as_bytes()).unwrap(), serde_json::from_str::<Value>(body).unwrap());
        assert_eq!(parse(b" 7 ").unwrap(), Value::from(7));
    }

    #[test]
    fn a_repeated_key_is_named_by_its_path() {
        assert_eq!(dup(r#"{"job_id":"a","job_id":"b"}"#), "job_id");
        assert_eq!(dup(r#"{"messages":[{"role":"user"},{"role":"user","content":"x","role":"system"}]}"#), "messages[1].role");
        assert_eq!(dup(r#"{"a":{"b":[[{"c":1,"c":1}]]}}"#), "a.b[0][0].c");
        // Equal after unescaping is equal.
        assert_eq!(dup(r#"{"k":1,"\u006b":2}"#), "k");
        // The same key in sibling objects is fine.
        assert!(parse(br#"{"m":[{"role":"a"},{"role":"b"}]}"#).is_ok());
    }

    #[test]
    fn numbers_beyond_f64_are_named_and_big_integers_become_floats() {
        assert_eq!(parse(br#"{"temperature":1e400}"#), Err(JsonError::NumberOutOfRange { path: "temperature".into() }));
        assert_eq!(parse(br#"{"a":{"b":[0,-1e999]}}"#), Err(JsonError::NumberOutOfRange { path: "a.b[1]".into() }));
        assert_eq!(parse(b"1e400"), Err(JsonError::NumberOutOfRange { path: "body".into() }));
        // Beyond u64 is still an f64 to serde_json: the fields that want integers refuse it.
        assert!(parse(br#"{"seed":18446744073709551616}"#).unwrap()["seed"].is_f64());
        assert!(parse(br#"{"x":1e308}"#).unwrap()["x"].is_f64());
    }

    #[test]
    fn syntax_errors_keep_serde_jsons_text_and_depth_is_limited() {
        for body in ["{", "{\"a\":1,}", "[1] x", "NaN", "{\"a\":NaN}", "{\"a\":Infinity}", ""] {
            match parse(body.as_bytes()) {
                Err(JsonError::Syntax(m)) => assert!(m.contains("line"), "{body}: {m}"),
                other => panic!("{body}: {other:?}"),
            }
        }
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(parse(deep(MAX_DEPTH).as_bytes()).is_ok());
        match parse(deep(MAX_DEPTH + 1).as_bytes()) {
            Err(JsonError::Syntax(m)) => assert!(m.contains("recursion limit"), "{m}"),
            other => panic!("{other:?}"),
        }
        let deep_objects = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH + 1), "}".repeat(MAX_DEPTH + 1));
        assert!(matches!(parse(deep_objects.as_bytes()), Err(JsonError::Syntax(_))));
    }
}
