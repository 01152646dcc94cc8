//! The comparison engine behind `POST /api/v1/compare`: params diff, metric summaries side by
//! side, the best run, groups with per-bucket bands, and a two-sample test, for up to
//! [`MAX_VIEW_RUNS`] runs.

use std::collections::HashMap;

use cairn_core::compare::{self, Aggregate, Band, Direction, GroupBy, ParamsDiff};
use cairn_core::model::Run;
use cairn_core::series::Summary;
use cairn_core::series::buckets::Grid;
use cairn_core::stats::{self, Describe, MannWhitney, WelchT};
use cairn_store::{SeriesRequest, XAxis};

use super::{MAX_VIEW_BUCKETS, MAX_VIEW_RUNS, Tracking};
use crate::error::{ApiError, ApiResult};
use cairn_core::validation;

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct CompareRequest {
    pub run_ids: Vec<String>,
    /// Keys to summarise; every key of the runs when empty.
    pub metrics: Vec<String>,
    pub best: Option<BestBy>,
    pub group_by: Option<GroupBy>,
    pub bands: Option<BandsRequest>,
    pub test: Option<TestRequest>,
    /// Leave the per-run summaries out of the result (the keys are still listed): the cheap
    /// first answer of a page that charts the runs before it tabulates them.
    pub omit_summaries: bool,
}

#[derive(Debug, Clone)]
pub struct BestBy {
    pub metric: String,
    pub direction: Direction,
    pub aggregate: Aggregate,
}

#[derive(Debug, Clone)]
pub struct BandsRequest {
    pub metric: String,
    pub buckets: usize,
    pub x: XAxis,
    /// The x range to cover (all of it when absent), as in a series view.
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// Two samples to test: two runs' points, two sets of runs, or two groups' runs.
#[derive(Debug, Clone)]
pub struct TestRequest {
    pub metric: String,
    pub aggregate: Aggregate,
    pub sides: TestSides,
    pub from_step: Option<i64>,
    pub to_step: Option<i64>,
}

#[derive(Debug, Clone)]
pub enum TestSides {
    Runs(Vec<String>, Vec<String>),
    Groups(String, String),
}

/// What the samples of a test are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleKind {
    /// Every point of one run against every point of another.
    Points,
    /// One aggregate value per run.
    Runs,
}

#[derive(Debug, Clone)]
pub struct TestSide {
    pub run_ids: Vec<String>,
    pub describe: Option<Describe>,
}

#[derive(Debug, Clone)]
pub struct TestResult {
    pub metric: String,
    pub aggregate: Aggregate,
    pub samples: SampleKind,
    pub a: TestSide,
    pub b: TestSide,
    pub welch: Option<WelchT>,
    pub mann_whitney: Option<MannWhitney>,
    pub assumptions: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub struct GroupResult {
    /// `None`: the runs that lack the group key.
    pub value: Option<String>,
    pub run_ids: Vec<String>,
    /// Per metric: the description of each run's aggregate.
    pub metrics: Vec<(String, Option<Describe>)>,
    pub band: Option<Band>,
}

#[derive(Debug, Clone)]
pub struct CompareResult {
    pub runs: Vec<Run>,
    pub params: ParamsDiff,
    /// The metric keys of the runs (the requested ones when `metrics` named some), sorted, each
    /// with how many of the runs have it.
    pub metric_keys: Vec<(String, usize)>,
    /// Per metric key, per run (request order): the summary, when the run has the key. Empty
    /// with `omit_summaries`.
    pub metrics: Vec<(String, Vec<Option<Summary>>)>,
    pub best: Option<(BestBy, Option<(String, f64)>)>,
    pub group_by: Option<GroupBy>,
    pub groups: Vec<GroupResult>,
    /// The bands asked for and the grid they lie on (none when no run has a point in range).
    pub bands: Option<(BandsRequest, Option<Grid>)>,
    pub test: Option<TestResult>,
}

const POINT_ASSUMPTIONS: &[&str] = &[
    "samples are the two runs' points of the metric; consecutive points of a training curve are \
     autocorrelated, so they are not independent draws and p-values overstate significance",
    "Welch's t-test: two-sided, unequal variances, assumes approximately normal sample means",
    "Mann-Whitney U: two-sided, tests whether one sample tends to exceed the other; ties share ranks",
];
const RUN_ASSUMPTIONS: &[&str] = &[
    "samples are one aggregate value per run; runs are assumed independent (e.g. different seeds)",
    "Welch's t-test: two-sided, unequal variances, assumes approximately normal sample means",
    "Mann-Whitney U: two-sided, tests whether one sample tends to exceed the other; ties share ranks",
];

impl Tracking {
    pub async fn compare(&self, request: CompareRequest) -> ApiResult<CompareResult> {
        if request.run_ids.is_empty() {
            return Err(ApiError::missing("run_ids"));
        }
        if request.run_ids.len() > MAX_VIEW_RUNS {
            return Err(ApiError::invalid(format!(
                "A comparison covers at most {MAX_VIEW_RUNS} runs; got {}",
                request.run_ids.len()
            )));
        }
        for run_id in &request.run_ids {
            self.readable_run(run_id).await?;
        }
        for key in &request.metrics {
            validation::check_metric_key(key)?;
        }
        if let Some(bands) = &request.bands
            && (bands.buckets == 0 || bands.buckets > MAX_VIEW_BUCKETS)
        {
            return Err(ApiError::invalid(format!(
                "bands.buckets must be between 1 and {MAX_VIEW_BUCKETS}; got {}",
                bands.buckets
            )));
        }
        if let Some(TestRequest {
            sides: TestSides::Groups(..),
            ..
        }) = &request.test
            && request.group_by.is_none()
        {
            return Err(ApiError::invalid(
                "test.groups needs group_by: say which param or tag forms the groups",
            ));
        }

        let runs = self.store.get_runs(&request.run_ids).await?;
        let params = compare::params_diff(&runs);

        // Each run's latest metrics name its keys: enough for the key list and its counts.
        let mut key_runs: HashMap<&str, usize> = HashMap::new();
        for run in &runs {
            for metric in &run.metrics {
                *key_runs.entry(metric.key.as_str()).or_default() += 1;
            }
        }
        let mut keys: Vec<String> = if request.metrics.is_empty() {
            key_runs.keys().map(|key| key.to_string()).collect()
        } else {
            request.metrics.clone()
        };
        keys.sort();
        keys.dedup();
        let metric_keys: Vec<(String, usize)> = keys
            .iter()
            .map(|key| {
                (
                    key.clone(),
                    key_runs.get(key.as_str()).copied().unwrap_or(0),
                )
            })
            .collect();

        // The summaries also feed the best run, the groups' statistics and run-level tests.
        let needs_summaries = !request.omit_summaries
            || request.best.is_some()
            || request.group_by.is_some()
            || request.test.is_some();
        let summaries = if needs_summaries {
            self.metric_summaries(request.run_ids.clone(), request.metrics.clone())
                .await?
        } else {
            Vec::new()
        };
        // Keyed by (run, key): the lookups below run once per run and key (5,000 for 1,000 runs
        // of 5 metrics), which a scan of the summaries would make quadratic.
        let by_run_key: HashMap<(&str, &str), Summary> = summaries
            .iter()
            .map(|s| ((s.run_id.as_str(), s.key.as_str()), s.summary))
            .collect();
        let summary_of = |run_id: &str, key: &str| -> Option<Summary> {
            by_run_key.get(&(run_id, key)).copied()
        };
        let metrics: Vec<(String, Vec<Option<Summary>>)> = if request.omit_summaries {
            Vec::new()
        } else {
            keys.iter()
                .map(|key| {
                    let per_run = request
                        .run_ids
                        .iter()
                        .map(|run_id| summary_of(run_id, key))
                        .collect();
                    (key.clone(), per_run)
                })
                .collect()
        };

        let best = request.best.clone().map(|by| {
            let winner = compare::best(
                request.run_ids.iter().map(|run_id| {
                    (
                        run_id.as_str(),
                        summary_of(run_id, &by.metric).and_then(|s| by.aggregate.of(&s)),
                    )
                }),
                by.direction,
            )
            .map(|(id, value)| (id.to_string(), value));
            (by, winner)
        });

        let aggregate = request
            .best
            .as_ref()
            .map(|b| b.aggregate)
            .unwrap_or_default();
        let grouped: Vec<(Option<String>, Vec<usize>)> = match &request.group_by {
            Some(by) => compare::group(&runs, by),
            None if request.bands.is_some() => vec![(None, (0..runs.len()).collect())],
            None => Vec::new(),
        };

        let mut band_grid = None;
        let mut bands: Vec<Option<Band>> = vec![None; grouped.len()];
        if let Some(spec) = &request.bands {
            let view = self
                .series_view(SeriesRequest {
                    run_ids: request.run_ids.clone(),
                    key: spec.metric.clone(),
                    x: spec.x,
                    buckets: spec.buckets,
                    from: spec.from,
                    to: spec.to,
                })
                .await?;
            band_grid = view.grid;
            for (slot, (_, members)) in bands.iter_mut().zip(&grouped) {
                let series: Vec<&[cairn_core::series::buckets::Bucket]> = members
                    .iter()
                    .map(|&i| view.runs[i].buckets.as_slice())
                    .collect();
                *slot = Some(compare::band(&series));
            }
        }

        let groups = grouped
            .iter()
            .zip(bands)
            .map(|((value, members), band)| GroupResult {
                value: value.clone(),
                run_ids: members
                    .iter()
                    .map(|&i| request.run_ids[i].clone())
                    .collect(),
                metrics: keys
                    .iter()
                    .map(|key| {
                        let values: Vec<f64> = members
                            .iter()
                            .filter_map(|&i| summary_of(&request.run_ids[i], key))
                            .filter_map(|s| aggregate.of(&s))
                            .collect();
                        (key.clone(), stats::describe(&values))
                    })
                    .collect(),
                band,
            })
            .collect::<Vec<_>>();

        let test = match &request.test {
            Some(spec) => Some(self.run_test(spec, &request, &groups, &summary_of).await?),
            None => None,
        };

        Ok(CompareResult {
            runs,
            params,
            metric_keys,
            metrics,
            best,
            group_by: request.group_by.clone(),
            groups,
            bands: request.bands.clone().map(|b| (b, band_grid)),
            test,
        })
    }

    async fn run_test(
        &self,
        spec: &TestRequest,
        request: &CompareRequest,
        groups: &[GroupResult],
        summary_of: &impl Fn(&str, &str) -> Option<Summary>,
    ) -> ApiResult<TestResult> {
        validation::check_metric_key(&spec.metric)?;
        let (a, b) = match &spec.sides {
            TestSides::Runs(a, b) => (a.clone(), b.clone()),
            TestSides::Groups(ga, gb) => {
                let find = |wanted: &str| {
                    groups
                        .iter()
                        .find(|g| g.value.as_deref() == Some(wanted))
                        .map(|g| g.run_ids.clone())
                        .ok_or_else(|| {
                            ApiError::invalid(format!(
                                "test.groups: no compared run has the group value '{wanted}'"
                            ))
                        })
                };
                (find(ga)?, find(gb)?)
            }
        };
        for side in [&a, &b] {
            if side.is_empty() {
                return Err(ApiError::invalid(
                    "each side of a test needs at least one run",
                ));
            }
            for run_id in side {
                if !request.run_ids.contains(run_id) {
                    return Err(ApiError::invalid(format!(
                        "test run {run_id} is not among the compared run_ids"
                    )));
                }
            }
        }
        let single = a.len() == 1 && b.len() == 1 && matches!(spec.sides, TestSides::Runs(..));
        let (xs, ys, samples) = if single {
            let points = |run_id: String| async move {
                self.metric_points(&run_id, &spec.metric, spec.from_step, spec.to_step)
                    .await
                    .map(|read| {
                        read.points
                            .into_iter()
                            .map(|p| p.value)
                            .filter(|v| !v.is_nan())
                            .collect::<Vec<f64>>()
                    })
            };
            (
                points(a[0].clone()).await?,
                points(b[0].clone()).await?,
                SampleKind::Points,
            )
        } else {
            let values = |side: &[String]| -> Vec<f64> {
                side.iter()
                    .filter_map(|run_id| summary_of(run_id, &spec.metric))
                    .filter_map(|s| spec.aggregate.of(&s))
                    .collect()
            };
            (values(&a), values(&b), SampleKind::Runs)
        };
        Ok(TestResult {
            metric: spec.metric.clone(),
            aggregate: spec.aggregate,
            samples,
            welch: stats::welch_t_test(&xs, &ys),
            mann_whitney: stats::mann_whitney_u(&xs, &ys),
            a: TestSide {
                run_ids: a,
                describe: stats::describe(&xs),
            },
            b: TestSide {
                run_ids: b,
                describe: stats::describe(&ys),
            },
            assumptions: match samples {
                SampleKind::Points => POINT_ASSUMPTIONS.to_vec(),
                SampleKind::Runs => RUN_ASSUMPTIONS.to_vec(),
            },
        })
    }
}
