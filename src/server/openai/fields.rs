//! Typed reads of an OpenAI request's JSON fields, each refusal naming its field. `null` reads as
//! absent, as the OpenAI API treats it.

use serde_json::{Map, Value};

use super::error::OpenAiError;

pub struct Fields<'a> {
    obj: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub fn new(obj: &'a Map<String, Value>) -> Fields<'a> {
        Fields { obj }
    }

    /// Refuses the first key not in `known`.
    pub fn only(&self, known: &[&str]) -> Result<(), OpenAiError> {
        match self.obj.keys().find(|k| !known.contains(&k.as_str())) {
            Some(k) => Err(OpenAiError::invalid("unknown_parameter", k.as_str(), format!("Unrecognized request argument supplied: {k}"))),
            None => Ok(()),
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, OpenAiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(OpenAiError::value(key, format!("'{key}' must be a string"))),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<&'a str, OpenAiError> {
        self.string(key)?.ok_or_else(|| OpenAiError::invalid("missing_required_parameter", key, format!("'{key}' is required")))
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, OpenAiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(OpenAiError::value(key, format!("'{key}' must be a boolean"))),
        }
    }

    /// A JSON integer (not a float) in [lo, hi].
    pub fn integer(&self, key: &str, lo: i128, hi: i128) -> Result<Option<i128>, OpenAiError> {
        let Some(v) = self.get(key) else { return Ok(None) };
        let n = match v {
            Value::Number(n) => n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from)),
            _ => None,
        };
        match n {
            Some(n) if (lo..=hi).contains(&n) => Ok(Some(n)),
            Some(n) => Err(OpenAiError::value(key, format!("'{key}' must be between {lo} and {hi} (got {n})"))),
            None => Err(OpenAiError::value(key, format!("'{key}' must be an integer"))),
        }
    }

    /// A number accepted by `ok`, which `rule` describes.
    pub fn number(&self, key: &str, ok: impl Fn(f64) -> bool, rule: &str) -> Result<Option<f32>, OpenAiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => {
                // Checked as the f32 the sampler gets: 1e-50 is above 0 as an f64 but 0 as an f32;
                // -0.0 becomes 0.
                let x = n.as_f64().ok_or_else(|| OpenAiError::value(key, format!("'{key}' must be a number")))? as f32 as f64;
                if ok(x) { Ok(Some(x as f32 + 0.0)) } else { Err(OpenAiError::value(key, format!("'{key}' {rule} (got {x})"))) }
            }
            Some(_) => Err(OpenAiError::value(key, format!("'{key}' must be a number"))),
        }
    }

    /// Refuses a field that would change the output in a way we do not serve, unless `harmless`
    /// accepts its value.
    pub fn refuse_unless(&self, key: &str, harmless: impl Fn(&Value) -> bool, why: &str) -> Result<(), OpenAiError> {
        match self.get(key) {
            Some(v) if !harmless(v) => Err(OpenAiError::unsupported(key, format!("'{key}' is not supported: {why}"))),
            _ => Ok(()),
        }
    }
}
