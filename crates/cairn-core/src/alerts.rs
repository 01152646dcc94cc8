//! Alerts: per-experiment rules that notify a webhook when a run fails or finishes, a metric
//! crosses a threshold, or a running run goes silent — and the log of their deliveries.

use crate::validation::ValidationError;

/// Most minutes a silence rule may wait.
pub const MAX_SILENT_MINUTES: i64 = 7 * 24 * 60;

/// What fires a rule (once per run).
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    RunFailed,
    RunFinished,
    /// A point of `key` above `threshold`.
    MetricAbove {
        key: String,
        threshold: f64,
    },
    /// A point of `key` below `threshold`.
    MetricBelow {
        key: String,
        threshold: f64,
    },
    /// A RUNNING run with nothing logged (and no status change) for `minutes`.
    Silent {
        minutes: i64,
    },
}

impl Condition {
    pub fn kind(&self) -> &'static str {
        match self {
            Condition::RunFailed => "run_failed",
            Condition::RunFinished => "run_finished",
            Condition::MetricAbove { .. } => "metric_above",
            Condition::MetricBelow { .. } => "metric_below",
            Condition::Silent { .. } => "silent",
        }
    }

    /// Builds a condition from its parts as clients send them.
    pub fn parse(
        kind: &str,
        key: Option<String>,
        threshold: Option<f64>,
        minutes: Option<i64>,
    ) -> Result<Self, ValidationError> {
        let metric = |key: Option<String>, threshold: Option<f64>| {
            let key = key.filter(|k| !k.is_empty()).ok_or_else(|| {
                ValidationError::new(format!("A {kind} alert needs the metric 'key'"))
            })?;
            crate::validation::check_metric_key(&key)?;
            let threshold = threshold.filter(|t| t.is_finite()).ok_or_else(|| {
                ValidationError::new(format!("A {kind} alert needs a finite 'threshold'"))
            })?;
            Ok::<_, ValidationError>((key, threshold))
        };
        match kind {
            "run_failed" => Ok(Condition::RunFailed),
            "run_finished" => Ok(Condition::RunFinished),
            "metric_above" => {
                let (key, threshold) = metric(key, threshold)?;
                Ok(Condition::MetricAbove { key, threshold })
            }
            "metric_below" => {
                let (key, threshold) = metric(key, threshold)?;
                Ok(Condition::MetricBelow { key, threshold })
            }
            "silent" => match minutes {
                Some(m) if (1..=MAX_SILENT_MINUTES).contains(&m) => {
                    Ok(Condition::Silent { minutes: m })
                }
                _ => Err(ValidationError::new(format!(
                    "A silent alert needs 'minutes' between 1 and {MAX_SILENT_MINUTES}"
                ))),
            },
            other => Err(ValidationError::new(format!(
                "Unknown alert condition '{other}': expected run_failed, run_finished, \
                 metric_above, metric_below or silent"
            ))),
        }
    }

    /// Whether a point value fires a metric condition of `key`.
    pub fn fires_on(&self, key: &str, value: f64) -> bool {
        match self {
            Condition::MetricAbove { key: k, threshold } => k == key && value > *threshold,
            Condition::MetricBelow { key: k, threshold } => k == key && value < *threshold,
            _ => false,
        }
    }
}

/// How a webhook body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `{"rule", "experiment_id", "run_id", "event", "text", ...}`.
    #[default]
    Json,
    /// `{"text": "..."}`, what Slack's incoming webhooks take.
    Slack,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Slack => "slack",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "json" => Some(Format::Json),
            "slack" => Some(Format::Slack),
            _ => None,
        }
    }
}

/// A rule.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRule {
    pub id: i64,
    pub experiment_id: String,
    pub name: String,
    pub condition: Condition,
    pub webhook_url: String,
    pub format: Format,
    pub created: i64,
}

/// One attempt to deliver one firing of a rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub rule_id: i64,
    pub run_id: String,
    /// What happened, in words (also the message sent).
    pub event: String,
    /// 1 for the first try.
    pub attempt: u32,
    /// The webhook's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why the attempt failed, when it did.
    pub error: Option<String>,
    pub time: i64,
}

impl Delivery {
    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// A webhook URL: http or https, with a host.
pub fn check_webhook_url(url: &str) -> Result<(), ValidationError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| {
            ValidationError::new(format!(
                "Invalid webhook URL '{url}': use http:// or https://"
            ))
        })?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || url.len() > 2000 || url.chars().any(char::is_whitespace) {
        return Err(ValidationError::new(format!("Invalid webhook URL '{url}'")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        assert_eq!(
            Condition::parse("run_failed", None, None, None).unwrap(),
            Condition::RunFailed
        );
        let above = Condition::parse("metric_above", Some("loss".into()), Some(2.0), None).unwrap();
        assert!(
            above.fires_on("loss", 2.5)
                && !above.fires_on("loss", 2.0)
                && !above.fires_on("acc", 9.0)
        );
        let below = Condition::parse("metric_below", Some("acc".into()), Some(0.5), None).unwrap();
        assert!(below.fires_on("acc", 0.4) && !below.fires_on("acc", f64::NAN));
        assert!(Condition::parse("metric_above", None, Some(1.0), None).is_err());
        assert!(
            Condition::parse("metric_above", Some("loss".into()), Some(f64::NAN), None).is_err()
        );
        assert!(Condition::parse("silent", None, None, Some(0)).is_err());
        assert_eq!(
            Condition::parse("silent", None, None, Some(5)).unwrap(),
            Condition::Silent { minutes: 5 }
        );
        assert!(Condition::parse("bogus", None, None, None).is_err());
    }

    #[test]
    fn webhook_urls() {
        assert!(check_webhook_url("https://hooks.example.invalid/T/B/x").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9000/hook").is_ok());
        for bad in ["ftp://x", "http://", "https:///x", "http://a b", "hooks"] {
            assert!(check_webhook_url(bad).is_err(), "{bad}");
        }
    }
}
