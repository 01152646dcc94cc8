//! Run comparison: which params differ, which run is best by a metric, how runs group by a param
//! or tag, and per-bucket bands (mean ± std, min, max across the runs of a group).
//!
//! Pure computation over runs, series summaries and downsampled views that the caller has read;
//! the statistical tests live in [`crate::stats`].

use std::collections::BTreeMap;

use crate::model::Run;
use crate::series::Summary;
use crate::series::buckets::Bucket;

/// How one number is taken from a series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    #[default]
    Last,
    Min,
    Max,
    Mean,
}

impl Aggregate {
    pub fn parse(text: &str) -> Option<Aggregate> {
        match text {
            "last" => Some(Aggregate::Last),
            "min" => Some(Aggregate::Min),
            "max" => Some(Aggregate::Max),
            "mean" => Some(Aggregate::Mean),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Aggregate::Last => "last",
            Aggregate::Min => "min",
            Aggregate::Max => "max",
            Aggregate::Mean => "mean",
        }
    }

    /// The aggregate of a series; `None` when it has no number (a NaN last value counts as none).
    pub fn of(self, summary: &Summary) -> Option<f64> {
        let value = match self {
            Aggregate::Last => summary.last.map(|p| p.value),
            Aggregate::Min => summary.min_max().map(|m| m.0),
            Aggregate::Max => summary.min_max().map(|m| m.1),
            Aggregate::Mean => summary.mean(),
        };
        value.filter(|v| !v.is_nan())
    }
}

/// Whether smaller or larger is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Minimize,
    Maximize,
}

impl Direction {
    pub fn parse(text: &str) -> Option<Direction> {
        match text {
            "min" | "minimize" => Some(Direction::Minimize),
            "max" | "maximize" => Some(Direction::Maximize),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Minimize => "min",
            Direction::Maximize => "max",
        }
    }
}

/// Params that are the same in every run, and the keys of those that are not (a key missing
/// from some run differs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ParamsDiff {
    pub constant: BTreeMap<String, String>,
    pub differing: Vec<String>,
}

pub fn params_diff(runs: &[Run]) -> ParamsDiff {
    let mut values: BTreeMap<&str, (usize, Option<&str>, bool)> = BTreeMap::new();
    for run in runs {
        for param in &run.params {
            let entry =
                values
                    .entry(param.key.as_str())
                    .or_insert((0, Some(param.value.as_str()), true));
            entry.0 += 1;
            if entry.1 != Some(param.value.as_str()) {
                entry.2 = false;
            }
        }
    }
    let mut diff = ParamsDiff::default();
    for (key, (count, value, same)) in values {
        match value {
            Some(value) if same && count == runs.len() => {
                diff.constant.insert(key.to_string(), value.to_string());
            }
            _ => diff.differing.push(key.to_string()),
        }
    }
    diff
}

/// The best of `(id, value)` pairs; NaN and missing values never win; ties go to the first.
pub fn best<'a>(
    candidates: impl IntoIterator<Item = (&'a str, Option<f64>)>,
    direction: Direction,
) -> Option<(&'a str, f64)> {
    let mut best: Option<(&str, f64)> = None;
    for (id, value) in candidates {
        let Some(value) = value.filter(|v| !v.is_nan()) else {
            continue;
        };
        let better = match best {
            None => true,
            Some((_, current)) => match direction {
                Direction::Minimize => value < current,
                Direction::Maximize => value > current,
            },
        };
        if better {
            best = Some((id, value));
        }
    }
    best
}

/// What runs are grouped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupBy {
    Param(String),
    Tag(String),
}

impl GroupBy {
    /// `params.<key>` or `tags.<key>`.
    pub fn parse(text: &str) -> Option<GroupBy> {
        if let Some(key) = text.strip_prefix("params.") {
            return (!key.is_empty()).then(|| GroupBy::Param(key.to_string()));
        }
        if let Some(key) = text.strip_prefix("tags.") {
            return (!key.is_empty()).then(|| GroupBy::Tag(key.to_string()));
        }
        None
    }

    /// The run's group value; `None` when the run lacks the key.
    pub fn value_of<'a>(&self, run: &'a Run) -> Option<&'a str> {
        match self {
            GroupBy::Param(key) => run
                .params
                .iter()
                .find(|p| &p.key == key)
                .map(|p| p.value.as_str()),
            GroupBy::Tag(key) => run
                .tags
                .iter()
                .find(|t| &t.key == key)
                .map(|t| t.value.as_str()),
        }
    }
}

/// Runs (by index) per group value, groups in value order, runs lacking the key last (`None`).
pub fn group(runs: &[Run], by: &GroupBy) -> Vec<(Option<String>, Vec<usize>)> {
    let mut groups: BTreeMap<Option<&str>, Vec<usize>> = BTreeMap::new();
    for (index, run) in runs.iter().enumerate() {
        groups.entry(by.value_of(run)).or_default().push(index);
    }
    let mut out: Vec<(Option<String>, Vec<usize>)> = groups
        .into_iter()
        .map(|(value, members)| (value.map(str::to_string), members))
        .collect();
    // BTreeMap puts None first; missing keys read better last.
    let missing_first = usize::from(out.first().is_some_and(|g| g.0.is_none()));
    out.rotate_left(missing_first);
    out
}

/// Per-bucket statistics across the runs of a group: each run contributes its bucket mean.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Band {
    /// Bucket starts (the union over the group's runs), ascending.
    pub start: Vec<i64>,
    pub n: Vec<usize>,
    pub mean: Vec<f64>,
    /// Sample standard deviation (0 when one run has a value).
    pub std: Vec<f64>,
    pub min: Vec<f64>,
    pub max: Vec<f64>,
}

pub fn band(runs: &[&[Bucket]]) -> Band {
    let mut by_start: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
    for buckets in runs {
        for bucket in *buckets {
            if let Some(mean) = bucket.summary.mean().filter(|m| !m.is_nan()) {
                by_start.entry(bucket.start).or_default().push(mean);
            }
        }
    }
    let mut band = Band::default();
    for (start, values) in by_start {
        let n = values.len();
        let mean = values.iter().sum::<f64>() / n as f64;
        let std = if n > 1 {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        band.start.push(start);
        band.n.push(n);
        band.mean.push(mean);
        band.std.push(std);
        band.min
            .push(values.iter().copied().fold(f64::INFINITY, f64::min));
        band.max
            .push(values.iter().copied().fold(f64::NEG_INFINITY, f64::max));
    }
    band
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LifecycleStage, Param, RunInfo, RunStatus, Tag};
    use crate::series::Point;

    fn run(id: &str, params: &[(&str, &str)], tags: &[(&str, &str)]) -> Run {
        Run {
            info: RunInfo {
                run_id: id.into(),
                experiment_id: "0".into(),
                run_name: id.into(),
                user_id: String::new(),
                status: RunStatus::Finished,
                start_time: 0,
                end_time: None,
                artifact_uri: String::new(),
                lifecycle_stage: LifecycleStage::Active,
            },
            metrics: vec![],
            params: params
                .iter()
                .map(|(k, v)| Param {
                    key: (*k).into(),
                    value: (*v).into(),
                })
                .collect(),
            tags: tags.iter().map(|(k, v)| Tag::new(*k, *v)).collect(),
            dataset_inputs: vec![],
            model_inputs: vec![],
            model_outputs: vec![],
        }
    }

    #[test]
    fn params_diff_separates_constant_from_differing() {
        let runs = [
            run("a", &[("lr", "0.1"), ("bs", "32"), ("only_a", "x")], &[]),
            run("b", &[("lr", "0.2"), ("bs", "32")], &[]),
        ];
        let diff = params_diff(&runs);
        assert_eq!(diff.constant.get("bs").map(String::as_str), Some("32"));
        assert_eq!(diff.differing, vec!["lr".to_string(), "only_a".to_string()]);
    }

    #[test]
    fn best_skips_nan_and_missing_and_keeps_the_first_tie() {
        let candidates = [
            ("a", Some(f64::NAN)),
            ("b", Some(2.0)),
            ("c", None),
            ("d", Some(1.0)),
            ("e", Some(1.0)),
        ];
        assert_eq!(best(candidates, Direction::Minimize), Some(("d", 1.0)));
        assert_eq!(best(candidates, Direction::Maximize), Some(("b", 2.0)));
        assert_eq!(best([("a", None)], Direction::Maximize), None);
    }

    #[test]
    fn aggregates_read_summaries() {
        let s = Summary::of(&[
            Point::new(0, 0, 3.0),
            Point::new(1, 0, 1.0),
            Point::new(2, 0, 2.0),
        ]);
        assert_eq!(Aggregate::Last.of(&s), Some(2.0));
        assert_eq!(Aggregate::Min.of(&s), Some(1.0));
        assert_eq!(Aggregate::Max.of(&s), Some(3.0));
        assert_eq!(Aggregate::Mean.of(&s), Some(2.0));
        let nan_last = Summary::of(&[Point::new(0, 0, 1.0), Point::new(1, 0, f64::NAN)]);
        assert_eq!(Aggregate::Last.of(&nan_last), None);
    }

    #[test]
    fn groups_by_param_or_tag_with_missing_last() {
        let runs = [
            run("a", &[("lr", "0.1")], &[("team", "x")]),
            run("b", &[], &[("team", "y")]),
            run("c", &[("lr", "0.1")], &[]),
            run("d", &[("lr", "0.01")], &[("team", "x")]),
        ];
        let by_lr = group(&runs, &GroupBy::parse("params.lr").unwrap());
        assert_eq!(
            by_lr,
            vec![
                (Some("0.01".into()), vec![3]),
                (Some("0.1".into()), vec![0, 2]),
                (None, vec![1]),
            ]
        );
        let by_team = group(&runs, &GroupBy::parse("tags.team").unwrap());
        assert_eq!(by_team.last().unwrap(), &(None, vec![2]));
        assert_eq!(GroupBy::parse("metrics.x"), None);
        assert_eq!(GroupBy::parse("params."), None);
    }

    #[test]
    fn bands_align_on_bucket_starts() {
        let bucket = |start: i64, values: &[f64]| Bucket {
            start,
            end: start + 9,
            summary: Summary::of(
                &values
                    .iter()
                    .map(|v| Point::new(start, 0, *v))
                    .collect::<Vec<_>>(),
            ),
        };
        let a = [bucket(0, &[1.0, 3.0]), bucket(10, &[4.0])];
        let b = [bucket(0, &[4.0]), bucket(20, &[f64::NAN])];
        let band = band(&[&a, &b]);
        assert_eq!(band.start, vec![0, 10]);
        assert_eq!(band.n, vec![2, 1]);
        assert_eq!(band.mean, vec![3.0, 4.0]);
        assert!((band.std[0] - std::f64::consts::SQRT_2).abs() < 1e-12);
        assert_eq!(band.std[1], 0.0);
        assert_eq!((band.min[0], band.max[0]), (2.0, 4.0));
    }
}
