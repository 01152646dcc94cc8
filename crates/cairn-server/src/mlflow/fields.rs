//! Reading MLflow request fields the way MLflow's server does: proto-JSON bodies for POST/PATCH,
//! query strings for GET, with the same leniency (int64 as numbers or numeric strings, enums by name
//! or number, doubles as numbers or `"NaN"`/`"Infinity"`/`"-Infinity"`) and the same messages.

use axum::extract::{FromRequest, Request};
use axum::http::{Method, header};
use serde_json::{Map, Value};

use crate::error::{ApiError, ApiResult, ErrorCode};

/// Largest request body accepted on JSON routes (a full log-batch is ~1 MB).
const MAX_JSON_BODY: usize = 32 * 1024 * 1024;

/// The fields of one request (or of one nested object in it).
#[derive(Debug, Clone)]
pub enum Fields {
    Json(Map<String, Value>),
    Query(Vec<(String, String)>),
}

impl Fields {
    pub fn empty() -> Self {
        Fields::Json(Map::new())
    }

    pub fn from_query(query: Option<&str>) -> Self {
        let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        Fields::Query(pairs)
    }

    fn json_value(&self, name: &str) -> Option<&Value> {
        match self {
            Fields::Json(map) => map.get(name).filter(|v| !v.is_null()),
            Fields::Query(_) => None,
        }
    }

    fn query_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        let pairs: &[(String, String)] = match self {
            Fields::Query(pairs) => pairs,
            Fields::Json(_) => &[],
        };
        pairs
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A string field; numbers and bools are accepted and rendered as text.
    pub fn opt_str(&self, name: &str) -> ApiResult<Option<String>> {
        match self {
            Fields::Query(_) => Ok(self.query_values(name).next().map(str::to_string)),
            Fields::Json(_) => match self.json_value(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Bool(b)) => Ok(Some(b.to_string())),
                Some(other) => Err(invalid(other, name)),
            },
        }
    }

    /// A required string field; absent or empty is "Missing value for required parameter".
    pub fn req_str(&self, name: &str) -> ApiResult<String> {
        match self.opt_str(name)? {
            Some(value) if !value.is_empty() => Ok(value),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// A string field that may be absent but not empty when present is irrelevant: empty counts as
    /// absent, as in proto3.
    pub fn opt_nonempty_str(&self, name: &str) -> ApiResult<Option<String>> {
        Ok(self.opt_str(name)?.filter(|s| !s.is_empty()))
    }

    /// `run_id`, falling back to the legacy `run_uuid`.
    pub fn run_id(&self) -> ApiResult<String> {
        match self.opt_nonempty_str("run_id")? {
            Some(id) => Ok(id),
            None => self
                .opt_nonempty_str("run_uuid")?
                .ok_or_else(|| ApiError::missing("run_id")),
        }
    }

    pub fn opt_i64(&self, name: &str) -> ApiResult<Option<i64>> {
        let parse_text = |text: &str| -> ApiResult<i64> {
            text.trim()
                .parse::<i64>()
                .map_err(|_| ApiError::from(cairn_core::ValidationError::invalid_value(text, name)))
        };
        match self {
            Fields::Query(_) => self.query_values(name).next().map(parse_text).transpose(),
            Fields::Json(_) => match self.json_value(name) {
                None => Ok(None),
                Some(Value::Number(n)) => {
                    if let Some(i) = n.as_i64() {
                        Ok(Some(i))
                    } else {
                        match n.as_f64() {
                            Some(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(Some(f as i64)),
                            _ => Err(invalid(&Value::Number(n.clone()), name)),
                        }
                    }
                }
                Some(Value::String(s)) => parse_text(s).map(Some),
                Some(other) => Err(invalid(other, name)),
            },
        }
    }

    pub fn req_i64(&self, name: &str) -> ApiResult<i64> {
        self.opt_i64(name)?.ok_or_else(|| ApiError::missing(name))
    }

    pub fn opt_f64(&self, name: &str) -> ApiResult<Option<f64>> {
        let parse_text = |text: &str| -> ApiResult<f64> {
            match text.trim() {
                "NaN" | "nan" => Ok(f64::NAN),
                "Infinity" | "inf" | "+Infinity" => Ok(f64::INFINITY),
                "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
                other => other
                    .parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .ok_or_else(|| cairn_core::ValidationError::invalid_value(text, name).into()),
            }
        };
        match self {
            Fields::Query(_) => self.query_values(name).next().map(parse_text).transpose(),
            Fields::Json(_) => match self.json_value(name) {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(n.as_f64()),
                Some(Value::String(s)) => parse_text(s).map(Some),
                Some(other) => Err(invalid(other, name)),
            },
        }
    }

    pub fn req_f64(&self, name: &str) -> ApiResult<f64> {
        self.opt_f64(name)?.ok_or_else(|| ApiError::missing(name))
    }

    pub fn opt_bool(&self, name: &str) -> ApiResult<Option<bool>> {
        let parse_text = |text: &str| match text {
            "true" | "True" | "1" => Ok(true),
            "false" | "False" | "0" => Ok(false),
            other => Err(ApiError::from(cairn_core::ValidationError::invalid_value(
                other, name,
            ))),
        };
        match self {
            Fields::Query(_) => self.query_values(name).next().map(parse_text).transpose(),
            Fields::Json(_) => match self.json_value(name) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(Value::String(s)) => parse_text(s).map(Some),
                Some(other) => Err(invalid(other, name)),
            },
        }
    }

    /// A repeated string field (`a=1&a=2` in a query, an array in JSON).
    pub fn str_list(&self, name: &str) -> ApiResult<Vec<String>> {
        match self {
            Fields::Query(_) => Ok(self.query_values(name).map(str::to_string).collect()),
            Fields::Json(_) => match self.json_value(name) {
                None => Ok(Vec::new()),
                Some(Value::Array(items)) => items
                    .iter()
                    .map(|item| match item {
                        Value::String(s) => Ok(s.clone()),
                        Value::Number(n) => Ok(n.to_string()),
                        other => Err(invalid(other, name)),
                    })
                    .collect(),
                Some(Value::String(s)) => Ok(vec![s.clone()]),
                Some(other) => Err(invalid(other, name)),
            },
        }
    }

    /// Takes a repeated message field out of the request: each element as its own [`Fields`].
    /// Moving rather than copying keeps a 1000-element `log-batch` cheap.
    pub fn take_objects(&mut self, name: &str) -> ApiResult<Vec<Fields>> {
        let Fields::Json(map) = self else {
            return Ok(Vec::new());
        };
        match map.remove(name) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .into_iter()
                .map(|item| match item {
                    Value::Object(map) => Ok(Fields::Json(map)),
                    other => Err(invalid(&other, name)),
                })
                .collect(),
            Some(other) => Err(invalid(&other, name)),
        }
    }

    /// Takes a nested message field out of the request.
    pub fn take_object(&mut self, name: &str) -> ApiResult<Option<Fields>> {
        let Fields::Json(map) = self else {
            return Ok(None);
        };
        match map.remove(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Fields::Json(map))),
            Some(other) => Err(invalid(&other, name)),
        }
    }

    /// An enum field given by name or by number.
    pub fn opt_enum<T>(
        &self,
        name: &str,
        by_name: impl Fn(&str) -> Option<T>,
        by_number: impl Fn(i64) -> Option<T>,
    ) -> ApiResult<Option<T>> {
        let text = match self {
            Fields::Query(_) => self.query_values(name).next().map(str::to_string),
            Fields::Json(_) => match self.json_value(name) {
                None => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(other) => return Err(invalid(other, name)),
            },
        };
        let Some(text) = text else { return Ok(None) };
        let parsed = by_name(&text).or_else(|| text.parse::<i64>().ok().and_then(&by_number));
        parsed
            .map(Some)
            .ok_or_else(|| cairn_core::ValidationError::invalid_value(&text, name).into())
    }
}

fn invalid(value: &Value, name: &str) -> ApiError {
    cairn_core::ValidationError::invalid_value(value, name).into()
}

/// Extracts [`Fields`]: the query string for GET (and bodiless DELETE), the JSON body otherwise.
/// A body with a content type other than `application/json` is a 400.
impl<S: Send + Sync> FromRequest<S> for Fields {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        if request.method() == Method::GET || request.method() == Method::HEAD {
            return Ok(Fields::from_query(request.uri().query()));
        }
        let is_delete = request.method() == Method::DELETE;
        let query = request.uri().query().map(str::to_string);
        let content_type = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|e| {
                ApiError::new(
                    ErrorCode::BadRequest,
                    format!("could not read request body: {e}"),
                )
            })?;
        if bytes.len() > MAX_JSON_BODY {
            return Err(ApiError::new(
                ErrorCode::BadRequest,
                "request body too large",
            ));
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            if is_delete {
                return Ok(Fields::from_query(query.as_deref()));
            }
            if !content_type.starts_with("application/json") {
                return Err(content_type_error());
            }
            return Ok(Fields::empty());
        }
        if !content_type.starts_with("application/json") {
            return Err(content_type_error());
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(map)) => Ok(Fields::Json(map)),
            Ok(_) => Err(ApiError::new(
                ErrorCode::BadRequest,
                "request body must be a JSON object",
            )),
            Err(error) => Err(ApiError::new(
                ErrorCode::BadRequest,
                format!("malformed JSON body: {error}"),
            )),
        }
    }
}

fn content_type_error() -> ApiError {
    ApiError::invalid("Bad Request. Content-Type must be 'application/json'")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(text: &str) -> Fields {
        match serde_json::from_str(text).unwrap() {
            Value::Object(map) => Fields::Json(map),
            _ => unreachable!(),
        }
    }

    #[test]
    fn int64_as_number_or_string() {
        let f = json(r#"{"a": 5, "b": "6", "c": "x", "d": 7.0}"#);
        assert_eq!(f.opt_i64("a").unwrap(), Some(5));
        assert_eq!(f.opt_i64("b").unwrap(), Some(6));
        assert_eq!(f.opt_i64("d").unwrap(), Some(7));
        assert_eq!(f.opt_i64("zz").unwrap(), None);
        let err = f.opt_i64("c").unwrap_err();
        assert_eq!(err.message, "Invalid value x for parameter 'c' supplied");
    }

    #[test]
    fn doubles_accept_special_strings() {
        let f = json(r#"{"a": "NaN", "b": "Infinity", "c": "-Infinity", "d": 1.5, "e": "nope"}"#);
        assert!(f.req_f64("a").unwrap().is_nan());
        assert_eq!(f.req_f64("b").unwrap(), f64::INFINITY);
        assert_eq!(f.req_f64("c").unwrap(), f64::NEG_INFINITY);
        assert_eq!(f.req_f64("d").unwrap(), 1.5);
        assert!(f.req_f64("e").is_err());
        assert_eq!(
            f.req_f64("missing").unwrap_err().message,
            "Missing value for required parameter 'missing'"
        );
    }

    #[test]
    fn query_repeats_keys() {
        let f = Fields::from_query(Some(
            "run_ids=a&run_ids=b&metric_key=loss%2Fx&max_results=10",
        ));
        assert_eq!(f.str_list("run_ids").unwrap(), vec!["a", "b"]);
        assert_eq!(f.req_str("metric_key").unwrap(), "loss/x");
        assert_eq!(f.opt_i64("max_results").unwrap(), Some(10));
    }

    #[test]
    fn run_id_falls_back_to_run_uuid() {
        assert_eq!(json(r#"{"run_uuid": "r1"}"#).run_id().unwrap(), "r1");
        assert_eq!(
            json(r#"{"run_id": "r2", "run_uuid": "r1"}"#)
                .run_id()
                .unwrap(),
            "r2"
        );
        assert!(json("{}").run_id().is_err());
    }

    #[test]
    fn enums_by_name_or_number() {
        let f = json(r#"{"s": "FINISHED", "n": 4, "bad": "NOPE"}"#);
        let parse = |name: &str| {
            f.opt_enum(
                name,
                cairn_core::model::RunStatus::parse,
                cairn_core::model::RunStatus::from_number,
            )
        };
        assert_eq!(
            parse("s").unwrap(),
            Some(cairn_core::model::RunStatus::Finished)
        );
        assert_eq!(
            parse("n").unwrap(),
            Some(cairn_core::model::RunStatus::Failed)
        );
        assert!(parse("bad").is_err());
    }
}
