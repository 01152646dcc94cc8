//! Proto-JSON shapes of MLflow's responses (snake_case fields, int64 as numbers, doubles NaN/±Inf
//! as strings, enums by name), and the parsing of the nested messages requests carry.
//!
//! Responses are borrowed views over domain types, serialised straight into the response body.
//! Empty repeated fields are omitted, as proto-JSON does (and as MLflow's server answers): the
//! client parses fewer fields, and reads a missing list as empty.

use cairn_core::model::{
    Dataset, DatasetInput, Experiment, LoggedModel, Metric, ModelInput, ModelOutput, Param, Run,
    RunInfo, Tag,
};
use cairn_core::registry::{ModelVersion, RegisteredModel};
use serde::{Serialize, Serializer};

use super::fields::Fields;
use crate::error::ApiResult;

/// Doubles as proto-JSON writes them.
pub fn double<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if value.is_nan() {
        serializer.serialize_str("NaN")
    } else if value.is_infinite() {
        serializer.serialize_str(if *value > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        })
    } else {
        serializer.serialize_f64(*value)
    }
}

#[derive(Serialize)]
pub struct KeyValue<'a> {
    pub key: &'a str,
    pub value: &'a str,
}

pub fn tags(tags: &[Tag]) -> Vec<KeyValue<'_>> {
    tags.iter()
        .map(|t| KeyValue {
            key: &t.key,
            value: &t.value,
        })
        .collect()
}

pub fn params(params: &[Param]) -> Vec<KeyValue<'_>> {
    params
        .iter()
        .map(|p| KeyValue {
            key: &p.key,
            value: &p.value,
        })
        .collect()
}

#[derive(Serialize)]
pub struct ExperimentJson<'a> {
    pub experiment_id: &'a str,
    pub name: &'a str,
    pub artifact_location: &'a str,
    pub lifecycle_stage: &'static str,
    pub last_update_time: i64,
    pub creation_time: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue<'a>>,
}

pub fn experiment(e: &Experiment) -> ExperimentJson<'_> {
    ExperimentJson {
        experiment_id: &e.experiment_id,
        name: &e.name,
        artifact_location: &e.artifact_location,
        lifecycle_stage: e.lifecycle_stage.as_str(),
        last_update_time: e.last_update_time,
        creation_time: e.creation_time,
        tags: tags(&e.tags),
    }
}

#[derive(Serialize)]
pub struct RunInfoJson<'a> {
    pub run_id: &'a str,
    pub run_uuid: &'a str,
    pub run_name: &'a str,
    pub experiment_id: &'a str,
    pub user_id: &'a str,
    pub status: &'static str,
    pub start_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_time: Option<i64>,
    pub artifact_uri: &'a str,
    pub lifecycle_stage: &'static str,
}

pub fn run_info(info: &RunInfo) -> RunInfoJson<'_> {
    RunInfoJson {
        run_id: &info.run_id,
        run_uuid: &info.run_id,
        run_name: &info.run_name,
        experiment_id: &info.experiment_id,
        user_id: &info.user_id,
        status: info.status.as_str(),
        start_time: info.start_time,
        end_time: info.end_time,
        artifact_uri: &info.artifact_uri,
        lifecycle_stage: info.lifecycle_stage.as_str(),
    }
}

#[derive(Serialize)]
pub struct MetricJson<'a> {
    pub key: &'a str,
    #[serde(serialize_with = "double")]
    pub value: f64,
    pub timestamp: i64,
    pub step: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<&'a str>,
}

pub fn metric<'a>(m: &'a Metric, run_id: Option<&'a str>) -> MetricJson<'a> {
    MetricJson {
        key: &m.key,
        value: m.value,
        timestamp: m.timestamp,
        step: m.step,
        dataset_name: m.dataset_name.as_deref(),
        dataset_digest: m.dataset_digest.as_deref(),
        model_id: m.model_id.as_deref(),
        run_id,
    }
}

/// A plain run metric (latest value or history point): key, value, timestamp, step.
pub fn plain_metric(m: &Metric) -> MetricJson<'_> {
    MetricJson {
        key: &m.key,
        value: m.value,
        timestamp: m.timestamp,
        step: m.step,
        dataset_name: None,
        dataset_digest: None,
        model_id: None,
        run_id: None,
    }
}

#[derive(Serialize)]
pub struct DatasetJson<'a> {
    pub name: &'a str,
    pub digest: &'a str,
    pub source_type: &'a str,
    pub source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<&'a str>,
}

#[derive(Serialize)]
pub struct DatasetInputJson<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue<'a>>,
    pub dataset: DatasetJson<'a>,
}

fn dataset(d: &Dataset) -> DatasetJson<'_> {
    DatasetJson {
        name: &d.name,
        digest: &d.digest,
        source_type: &d.source_type,
        source: &d.source,
        schema: d.schema.as_deref(),
        profile: d.profile.as_deref(),
    }
}

#[derive(Serialize)]
pub struct ModelIdJson<'a> {
    pub model_id: &'a str,
}

#[derive(Serialize)]
pub struct ModelOutputJson<'a> {
    pub model_id: &'a str,
    pub step: i64,
}

#[derive(Serialize)]
pub struct RunDataJson<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
pub struct RunInputsJson<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dataset_inputs: Vec<DatasetInputJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_inputs: Vec<ModelIdJson<'a>>,
}

#[derive(Serialize)]
pub struct RunOutputsJson<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub model_outputs: Vec<ModelOutputJson<'a>>,
}

#[derive(Serialize)]
pub struct RunJson<'a> {
    pub info: RunInfoJson<'a>,
    pub data: RunDataJson<'a>,
    pub inputs: RunInputsJson<'a>,
    pub outputs: RunOutputsJson<'a>,
}

pub fn run(r: &Run) -> RunJson<'_> {
    RunJson {
        info: run_info(&r.info),
        data: RunDataJson {
            metrics: r.metrics.iter().map(plain_metric).collect(),
            params: params(&r.params),
            tags: tags(&r.tags),
        },
        inputs: RunInputsJson {
            dataset_inputs: r
                .dataset_inputs
                .iter()
                .map(|i| DatasetInputJson {
                    tags: tags(&i.tags),
                    dataset: dataset(&i.dataset),
                })
                .collect(),
            model_inputs: r
                .model_inputs
                .iter()
                .map(|m| ModelIdJson {
                    model_id: &m.model_id,
                })
                .collect(),
        },
        outputs: RunOutputsJson {
            model_outputs: r
                .model_outputs
                .iter()
                .map(|m| ModelOutputJson {
                    model_id: &m.model_id,
                    step: m.step,
                })
                .collect(),
        },
    }
}

#[derive(Serialize)]
pub struct LoggedModelInfoJson<'a> {
    pub model_id: &'a str,
    pub experiment_id: &'a str,
    pub name: &'a str,
    pub creation_timestamp_ms: i64,
    pub last_updated_timestamp_ms: i64,
    pub artifact_uri: &'a str,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_run_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue<'a>>,
}

#[derive(Serialize)]
pub struct LoggedModelDataJson<'a> {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metrics: Vec<MetricJson<'a>>,
}

#[derive(Serialize)]
pub struct LoggedModelJson<'a> {
    pub info: LoggedModelInfoJson<'a>,
    pub data: LoggedModelDataJson<'a>,
}

pub fn logged_model(m: &LoggedModel) -> LoggedModelJson<'_> {
    LoggedModelJson {
        info: LoggedModelInfoJson {
            model_id: &m.model_id,
            experiment_id: &m.experiment_id,
            name: &m.name,
            creation_timestamp_ms: m.creation_timestamp,
            last_updated_timestamp_ms: m.last_updated_timestamp,
            artifact_uri: &m.artifact_location,
            status: m.status.as_str(),
            model_type: m.model_type.as_deref(),
            source_run_id: m.source_run_id.as_deref(),
            status_message: m.status_message.as_deref(),
            tags: tags(&m.tags),
        },
        data: LoggedModelDataJson {
            params: params(&m.params),
            metrics: m.metrics.iter().map(|x| metric(x, None)).collect(),
        },
    }
}

#[derive(Serialize)]
pub struct AliasJson<'a> {
    pub alias: &'a str,
    /// A string in MLflow's proto.
    pub version: String,
}

#[derive(Serialize)]
pub struct RegisteredModelJson<'a> {
    pub name: &'a str,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub latest_versions: Vec<ModelVersionJson<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<AliasJson<'a>>,
}

pub fn registered_model(m: &RegisteredModel) -> RegisteredModelJson<'_> {
    RegisteredModelJson {
        name: &m.name,
        creation_timestamp: m.creation_timestamp,
        last_updated_timestamp: m.last_updated_timestamp,
        description: m.description.as_deref(),
        latest_versions: m.latest_versions.iter().map(model_version).collect(),
        tags: tags(&m.tags),
        aliases: m
            .aliases
            .iter()
            .map(|a| AliasJson {
                alias: &a.alias,
                version: a.version.to_string(),
            })
            .collect(),
    }
}

#[derive(Serialize)]
pub struct ModelVersionJson<'a> {
    pub name: &'a str,
    /// A string in MLflow's proto.
    pub version: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<&'a str>,
    pub current_stage: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<&'a str>,
    pub source: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<&'a str>,
    /// Versions are usable as soon as they are created.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<KeyValue<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_link: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<&'a str>,
}

pub fn model_version(v: &ModelVersion) -> ModelVersionJson<'_> {
    ModelVersionJson {
        name: &v.name,
        version: v.version.to_string(),
        creation_timestamp: v.creation_timestamp,
        last_updated_timestamp: v.last_updated_timestamp,
        user_id: v.user_id.as_deref(),
        current_stage: v.current_stage.as_str(),
        description: v.description.as_deref(),
        source: &v.source,
        run_id: v.run_id.as_deref(),
        status: "READY",
        tags: tags(&v.tags),
        run_link: v.run_link.as_deref(),
        aliases: v.aliases.iter().map(String::as_str).collect(),
        model_id: v.model_id.as_deref(),
    }
}

// ----- request messages -----

/// `{key, value}` pairs as tags.
pub fn parse_tags(fields: &mut Fields, name: &str) -> ApiResult<Vec<Tag>> {
    fields
        .take_objects(name)?
        .iter()
        .map(|f| {
            Ok(Tag::new(
                f.req_str("key")?,
                f.opt_str("value")?.unwrap_or_default(),
            ))
        })
        .collect()
}

/// `{key, value}` pairs as params.
pub fn parse_params(fields: &mut Fields, name: &str) -> ApiResult<Vec<Param>> {
    fields
        .take_objects(name)?
        .iter()
        .map(|f| {
            Ok(Param::new(
                f.req_str("key")?,
                f.opt_str("value")?.unwrap_or_default(),
            ))
        })
        .collect()
}

/// A metric message (log-metric body or a log-batch element).
pub fn parse_metric(f: &Fields) -> ApiResult<Metric> {
    Ok(Metric {
        key: f.req_str("key")?,
        value: f.req_f64("value")?,
        timestamp: f.req_i64("timestamp")?,
        step: f.opt_i64("step")?.unwrap_or(0),
        model_id: f.opt_nonempty_str("model_id")?,
        dataset_name: f.opt_nonempty_str("dataset_name")?,
        dataset_digest: f.opt_nonempty_str("dataset_digest")?,
    })
}

pub fn parse_dataset_input(mut f: Fields) -> ApiResult<DatasetInput> {
    let d = f
        .take_object("dataset")?
        .ok_or_else(|| crate::error::ApiError::missing("dataset"))?;
    Ok(DatasetInput {
        tags: parse_tags(&mut f, "tags")?,
        dataset: Dataset {
            name: d.req_str("name")?,
            digest: d.req_str("digest")?,
            source_type: d.req_str("source_type")?,
            source: d.req_str("source")?,
            schema: d.opt_nonempty_str("schema")?,
            profile: d.opt_nonempty_str("profile")?,
        },
    })
}

pub fn parse_model_input(f: &Fields) -> ApiResult<ModelInput> {
    Ok(ModelInput {
        model_id: f.req_str("model_id")?,
    })
}

pub fn parse_model_output(f: &Fields) -> ApiResult<ModelOutput> {
    Ok(ModelOutput {
        model_id: f.req_str("model_id")?,
        step: f.opt_i64("step")?.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_use_proto_json_strings() {
        let m = Metric::new("k", f64::NAN, 1, 2);
        let text = serde_json::to_string(&plain_metric(&m)).unwrap();
        assert_eq!(text, r#"{"key":"k","value":"NaN","timestamp":1,"step":2}"#);
        let m = Metric::new("k", f64::NEG_INFINITY, 1, 2);
        assert!(
            serde_json::to_string(&plain_metric(&m))
                .unwrap()
                .contains(r#""-Infinity""#)
        );
        let m = Metric::new("k", 0.5, 1, 2);
        assert!(
            serde_json::to_string(&plain_metric(&m))
                .unwrap()
                .contains(r#""value":0.5"#)
        );
    }
}
