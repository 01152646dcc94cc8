//! Conformance checks of the metric engine: every sequence of writes reads back exactly, whether
//! points are raw, compacted or both; views and summaries equal the reference downsampler's over
//! the same points; idempotent ingest.

use std::collections::BTreeMap;

use cairn_core::model::{LifecycleStage, Metric};
use cairn_core::series::buckets::{Axis, Bucket, Downsampler, Grid};
use cairn_core::series::{Point, Summary, normalize};

use super::{Rng, T0, assert_kind, experiment, run};
use crate::{ErrorKind, HistoryRequest, SeriesPoints, SeriesRequest, Store, XAxis};

/// What the store should hold: the normalised union of everything written, per key.
#[derive(Default)]
struct Model {
    keys: BTreeMap<String, Vec<Point>>,
}

impl Model {
    fn add(&mut self, key: &str, points: &[Point]) {
        let series = self.keys.entry(key.to_string()).or_default();
        series.extend_from_slice(points);
        normalize(series);
    }

    fn points(&self, key: &str) -> Vec<Point> {
        self.keys.get(key).cloned().unwrap_or_default()
    }
}

fn bits(points: &[Point]) -> Vec<(i64, i64, u64)> {
    points
        .iter()
        .map(|p| (p.step, p.timestamp, p.value.to_bits()))
        .collect()
}

/// Values that stress the codec and the ordering.
fn hostile_value(rng: &mut Rng) -> f64 {
    match rng.below(12) {
        0 => f64::NAN,
        1 => f64::INFINITY,
        2 => f64::NEG_INFINITY,
        3 => -0.0,
        4 => 0.0,
        5 => f64::MAX,
        6 => f64::MIN_POSITIVE / 4.0,
        7 => f64::from_bits(rng.next()),
        8 => (rng.below(1000) as f64) / 7.0,
        _ => (rng.below(1 << 20) as f32 / 1024.0) as f64,
    }
}

/// A batch: mostly appends after `*next_step`, sometimes a rewrite of old steps or a duplicate.
fn random_batch(rng: &mut Rng, next_step: &mut i64, previous: &[Point]) -> Vec<Point> {
    let size = 1 + rng.below(300) as usize;
    let mut points = Vec::with_capacity(size);
    for _ in 0..size {
        let point = match rng.below(10) {
            0 if !previous.is_empty() => previous[rng.below(previous.len() as u64) as usize],
            1 => Point::new(
                rng.below((*next_step).max(1) as u64) as i64 - 5,
                T0 + rng.below(1_000_000) as i64,
                hostile_value(rng),
            ),
            _ => {
                *next_step += rng.below(3) as i64;
                Point::new(*next_step, T0 + *next_step * 37, hostile_value(rng))
            }
        };
        points.push(point);
    }
    rng.shuffle(&mut points);
    points
}

async fn stored_points(store: &dyn Store, run_id: &str, key: &str) -> Vec<Point> {
    store
        .points(run_id, key, None, None)
        .await
        .expect("points")
        .points
}

async fn check_reads(store: &dyn Store, run_id: &str, model: &Model, context: &str) {
    for (key, expected) in &model.keys {
        let got = stored_points(store, run_id, key).await;
        assert_eq!(bits(&got), bits(expected), "{context}: points of {key}");

        // MLflow's paged history sees the same points, page by page.
        let mut paged = Vec::new();
        let mut token = None;
        loop {
            let page = store
                .history(HistoryRequest {
                    run_id: run_id.to_string(),
                    key: key.clone(),
                    max_results: 97,
                    page_token: token,
                })
                .await
                .expect("history page");
            paged.extend(
                page.items
                    .iter()
                    .map(|m| Point::new(m.step, m.timestamp, m.value)),
            );
            token = page.next_page_token;
            if token.is_none() {
                break;
            }
        }
        assert_eq!(bits(&paged), bits(expected), "{context}: history of {key}");

        // A step range.
        if let (Some(first), Some(last)) = (expected.first(), expected.last()) {
            let (from, to) = (first.step + 3, (first.step + last.step) / 2);
            let got = store
                .points(run_id, key, Some(from), Some(to))
                .await
                .unwrap()
                .points;
            let want: Vec<Point> = expected
                .iter()
                .filter(|p| (from..=to).contains(&p.step))
                .copied()
                .collect();
            assert_eq!(bits(&got), bits(&want), "{context}: range of {key}");
        }

        let summaries = store
            .summaries(vec![run_id.to_string()], vec![key.clone()])
            .await
            .unwrap();
        assert_eq!(summaries.len(), 1, "{context}: one summary for {key}");
        assert_same_summary(&summaries[0].summary, &Summary::of(expected), context);
    }
}

/// Counts, extremes, first and last exactly; sums up to rounding (they are added in another order).
fn assert_same_summary(got: &Summary, want: &Summary, context: &str) {
    assert_eq!(got.count, want.count, "{context}: count");
    assert_eq!(got.nans, want.nans, "{context}: NaN count");
    assert_eq!(
        got.min_max().map(|(a, b)| (a.to_bits(), b.to_bits())),
        want.min_max().map(|(a, b)| (a.to_bits(), b.to_bits())),
        "{context}: min/max"
    );
    assert_eq!(
        got.first.map(|p| bits(&[p])),
        want.first.map(|p| bits(&[p])),
        "{context}: first"
    );
    assert_eq!(
        got.last.map(|p| bits(&[p])),
        want.last.map(|p| bits(&[p])),
        "{context}: last"
    );
    match (got.mean(), want.mean()) {
        (Some(a), Some(b)) if a.is_finite() && b.is_finite() => {
            let scale = a.abs().max(b.abs()).max(1e-300);
            assert!(
                (a - b).abs() / scale < 1e-9 || (a - b).abs() < 1e-12,
                "{context}: mean {a} vs {b}"
            );
        }
        (Some(a), Some(b)) => assert!(
            a.to_bits() == b.to_bits()
                || (a.is_nan() && b.is_nan())
                || !a.is_finite()
                || !b.is_finite(),
            "{context}: mean {a} vs {b}"
        ),
        (a, b) => assert_eq!(a.is_some(), b.is_some(), "{context}: mean presence"),
    }
}

fn reference_view(points: &[Point], axis: Axis, grid: Grid) -> Vec<Bucket> {
    let mut sampler = Downsampler::new(axis, grid);
    for point in points {
        sampler.add_point(point);
    }
    sampler.finish()
}

fn assert_same_buckets(got: &[Bucket], want: &[Bucket], context: &str) {
    assert_eq!(got.len(), want.len(), "{context}: bucket count");
    for (g, w) in got.iter().zip(want) {
        assert_eq!(
            (g.start, g.end),
            (w.start, w.end),
            "{context}: bucket bounds"
        );
        assert_same_summary(&g.summary, &w.summary, &format!("{context} @ {}", g.start));
    }
}

pub async fn series_random_writes_read_back_exactly(store: &dyn Store) {
    let exp = experiment(store, "series-random").await;
    let run_id = run(store, &exp).await;
    let mut rng = Rng(0x5eed_1234_abcd);
    let mut model = Model::default();
    let keys = ["loss", "acc", "lr/0"];
    let mut next_step = [0i64; 3];
    for round in 0..4 {
        for batch_index in 0..25 {
            let k = rng.below(keys.len() as u64) as usize;
            let previous = model.points(keys[k]);
            let points = random_batch(&mut rng, &mut next_step[k], &previous);
            model.add(keys[k], &points);
            if batch_index % 2 == 0 {
                let accepted = store
                    .log_points(
                        &run_id,
                        vec![SeriesPoints {
                            key: keys[k].to_string(),
                            points: points.clone(),
                        }],
                        None,
                    )
                    .await
                    .expect("log points")
                    .accepted;
                assert!(accepted <= points.len());
            } else {
                // MLflow's log-batch lands in the same series (at most 1000 metrics per batch).
                let metrics: Vec<Metric> = points
                    .iter()
                    .map(|p| Metric::new(keys[k], p.value, p.timestamp, p.step))
                    .collect();
                store
                    .log_batch(&run_id, metrics, vec![], vec![])
                    .await
                    .unwrap();
            }
        }
        check_reads(store, &run_id, &model, &format!("round {round}, raw")).await;
        store.compact().await.expect("compact");
        check_reads(store, &run_id, &model, &format!("round {round}, compacted")).await;
    }
}

pub async fn series_views_match_the_reference(store: &dyn Store) {
    let exp = experiment(store, "series-views").await;
    let run_a = run(store, &exp).await;
    let run_b = run(store, &exp).await;
    let start_a = store.get_run(&run_a).await.unwrap().info.start_time;
    let mut rng = Rng(42);
    let mut model_a = Model::default();
    let mut model_b = Model::default();
    // A long series with a spike, logged in batches; a shorter one in the other run.
    for batch in 0..40 {
        let points: Vec<Point> = (0..500)
            .map(|i| {
                let step = batch * 500 + i;
                let value = if step == 12_345 {
                    1e6
                } else {
                    (rng.below(1000) as f64) / 1000.0
                };
                Point::new(step, T0 + step * 10 + rng.below(5) as i64, value)
            })
            .collect();
        model_a.add("loss", &points);
        store
            .log_points(
                &run_a,
                vec![SeriesPoints {
                    key: "loss".into(),
                    points,
                }],
                None,
            )
            .await
            .unwrap();
        if batch % 4 == 0 {
            let points: Vec<Point> = (0..300)
                .map(|i| Point::new(batch * 300 + i, T0 + i, f64::from(i as i32 % 17)))
                .collect();
            model_b.add("loss", &points);
            store
                .log_points(
                    &run_b,
                    vec![SeriesPoints {
                        key: "loss".into(),
                        points,
                    }],
                    None,
                )
                .await
                .unwrap();
        }
        if batch == 20 {
            store.compact().await.unwrap();
        }
    }
    let a = model_a.points("loss");
    let b = model_b.points("loss");
    for compacted in [false, true] {
        if compacted {
            store.compact().await.unwrap();
        }
        for (x, buckets, range) in [
            (XAxis::Step, 100, None),
            (XAxis::Step, 1000, Some((5_000, 6_000))),
            (XAxis::Step, 7, Some((-10, 30_000))),
            (XAxis::Time, 64, None),
            (XAxis::Relative, 50, None),
        ] {
            let context = format!("{x:?}/{buckets}/{range:?}/compacted={compacted}");
            let view = store
                .series(SeriesRequest {
                    run_ids: vec![
                        run_a.clone(),
                        "0123456789abcdef0123456789abcdef".into(),
                        run_b.clone(),
                    ],
                    key: "loss".into(),
                    x,
                    buckets,
                    from: range.map(|r| r.0),
                    to: range.map(|r| r.1),
                })
                .await
                .unwrap();
            let grid = view.grid.expect("a grid");
            assert!(
                grid.index(grid.to) - grid.index(grid.from) < buckets as i64,
                "{context}"
            );
            assert_eq!(view.runs.len(), 3);
            assert!(!view.runs[1].found && view.runs[1].buckets.is_empty());
            let start_b = store.get_run(&run_b).await.unwrap().info.start_time;
            let (axis_a, axis_b) = match x {
                XAxis::Step => (Axis::Step, Axis::Step),
                XAxis::Time => (Axis::Time, Axis::Time),
                XAxis::Relative => (
                    Axis::Relative { origin: start_a },
                    Axis::Relative { origin: start_b },
                ),
            };
            if range.is_none() {
                // The grid covers every run's data.
                let xs = a
                    .iter()
                    .map(|p| axis_a.x(p))
                    .chain(b.iter().map(|p| axis_b.x(p)));
                let (lo, hi) = xs.fold((i64::MAX, i64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
                assert_eq!((grid.from, grid.to), (lo, hi), "{context}");
            }
            assert_same_buckets(
                &view.runs[0].buckets,
                &reference_view(&a, axis_a, grid),
                &format!("{context} a"),
            );
            assert_same_buckets(
                &view.runs[2].buckets,
                &reference_view(&b, axis_b, grid),
                &format!("{context} b"),
            );
        }
    }
    // The spike survives any resolution.
    let coarse = store
        .series(SeriesRequest {
            run_ids: vec![run_a.clone()],
            key: "loss".into(),
            x: XAxis::Step,
            buckets: 3,
            from: None,
            to: None,
        })
        .await
        .unwrap();
    let max = coarse.runs[0]
        .buckets
        .iter()
        .filter_map(|b| b.summary.min_max().map(|m| m.1))
        .fold(f64::MIN, f64::max);
    assert_eq!(max, 1e6);
}

pub async fn series_buckets_are_stable_as_a_run_grows(store: &dyn Store) {
    let exp = experiment(store, "series-stable").await;
    let run_id = run(store, &exp).await;
    let request = |run_id: &str| SeriesRequest {
        run_ids: vec![run_id.to_string()],
        key: "m".into(),
        x: XAxis::Step,
        buckets: 64,
        from: Some(0),
        to: Some(8191),
    };
    let points: Vec<Point> = (0..8192)
        .map(|s| Point::new(s, T0 + s, ((s * 7919) % 1000) as f64))
        .collect();
    store
        .log_points(
            &run_id,
            vec![SeriesPoints {
                key: "m".into(),
                points: points[..3000].to_vec(),
            }],
            None,
        )
        .await
        .unwrap();
    store.compact().await.unwrap();
    let before = store.series(request(&run_id)).await.unwrap().runs[0]
        .buckets
        .clone();
    store
        .log_points(
            &run_id,
            vec![SeriesPoints {
                key: "m".into(),
                points: points[3000..].to_vec(),
            }],
            None,
        )
        .await
        .unwrap();
    let grid = Grid::new(0, 8191, 64);
    let touched = grid.index(3000);
    for compacted in [false, true] {
        if compacted {
            store.compact().await.unwrap();
        }
        let after = store.series(request(&run_id)).await.unwrap().runs[0]
            .buckets
            .clone();
        for bucket in before.iter().filter(|b| grid.index(b.start) < touched) {
            let same = after
                .iter()
                .find(|a| a.start == bucket.start)
                .expect("bucket still there");
            assert_eq!(same.summary.count, bucket.summary.count);
            assert_eq!(same.summary.min_max(), bucket.summary.min_max());
            assert_eq!(same.summary.last, bucket.summary.last);
        }
        assert_eq!(after.iter().map(|b| b.summary.count).sum::<u64>(), 8192);
    }
}

pub async fn series_ingest_is_idempotent_and_checked(store: &dyn Store) {
    let exp = experiment(store, "series-ingest").await;
    let run_id = run(store, &exp).await;
    let batch = vec![
        SeriesPoints {
            key: "a".into(),
            points: vec![
                Point::new(0, T0, 1.0),
                Point::new(1, T0, 2.0),
                Point::new(1, T0, 2.0),
            ],
        },
        SeriesPoints {
            key: "b".into(),
            points: vec![Point::new(5, T0, f64::NAN)],
        },
    ];
    let first = store
        .log_points(&run_id, batch.clone(), Some("k-1".into()))
        .await
        .unwrap();
    assert_eq!(first.accepted, 3, "a batch's own duplicates count once");
    assert!(!first.replay);
    let again = store
        .log_points(&run_id, batch.clone(), Some("k-1".into()))
        .await
        .unwrap();
    assert_eq!(
        again.accepted, first.accepted,
        "a retry answers like the first call"
    );
    assert!(again.replay, "and says it was a replay");
    // A retry changes nothing, even with new points under the same key.
    let different = vec![SeriesPoints {
        key: "a".into(),
        points: vec![Point::new(9, T0, 9.0)],
    }];
    store
        .log_points(&run_id, different.clone(), Some("k-1".into()))
        .await
        .unwrap();
    assert_eq!(stored_points(store, &run_id, "a").await.len(), 2);
    assert_eq!(stored_points(store, &run_id, "b").await.len(), 1);
    // The same key on another run is another key.
    let other = run(store, &exp).await;
    store
        .log_points(&other, different, Some("k-1".into()))
        .await
        .unwrap();
    assert_eq!(stored_points(store, &other, "a").await.len(), 1);
    // The latest value feeds search and the run's metrics.
    let run_view = store.get_run(&run_id).await.unwrap();
    let latest_a = run_view.metrics.iter().find(|m| m.key == "a").unwrap();
    assert_eq!((latest_a.step, latest_a.value), (1, 2.0));

    let unknown = "0123456789abcdef0123456789abcdef";
    assert_kind(
        store.log_points(unknown, batch.clone(), None).await,
        ErrorKind::NotFound,
        "unknown run",
    );
    assert_kind(
        store.points(unknown, "a", None, None).await,
        ErrorKind::NotFound,
        "points of an unknown run",
    );
    assert!(
        stored_points(store, &run_id, "never-logged")
            .await
            .is_empty()
    );
    store
        .set_run_lifecycle(&run_id, LifecycleStage::Deleted, T0)
        .await
        .unwrap();
    assert_kind(
        store.log_points(&run_id, batch, None).await,
        ErrorKind::InvalidArgument,
        "deleted run",
    );
}

pub async fn series_links_survive_compaction(store: &dyn Store) {
    let exp = experiment(store, "series-links").await;
    let run_id = run(store, &exp).await;
    let mut linked = Metric::new("eval", 0.5, T0, 3);
    linked.model_id = Some("m-0123456789abcdef0123456789abcdef".into());
    linked.dataset_name = Some("val".into());
    linked.dataset_digest = Some("abc".into());
    store
        .log_batch(
            &run_id,
            vec![Metric::new("eval", 0.1, T0, 1), linked.clone()],
            vec![],
            vec![],
        )
        .await
        .unwrap();
    store.compact().await.unwrap();
    let history = store
        .history(HistoryRequest {
            run_id: run_id.clone(),
            key: "eval".into(),
            max_results: 0,
            page_token: None,
        })
        .await
        .unwrap();
    assert_eq!(history.items.len(), 2);
    assert_eq!(history.items[1], linked);
    assert_eq!(history.items[0].model_id, None);
}

pub async fn series_retention_thins_old_points_only(store: &dyn Store) {
    let exp = experiment(store, "series-retention").await;
    let other_exp = experiment(store, "series-no-retention").await;
    let old_run = run(store, &exp).await;
    let fresh_run = run(store, &exp).await;
    let elsewhere = run(store, &other_exp).await;
    let mut rng = Rng(99);
    let old: Vec<Point> = (0..1000)
        .map(|s| Point::new(s, T0 + s, hostile_value(&mut rng)))
        .collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let fresh: Vec<Point> = (0..1000).map(|s| Point::new(s, now, s as f64)).collect();
    for (run_id, points) in [(&old_run, &old), (&fresh_run, &fresh), (&elsewhere, &old)] {
        store
            .log_points(
                run_id,
                vec![SeriesPoints {
                    key: "m".into(),
                    points: points.clone(),
                }],
                None,
            )
            .await
            .unwrap();
    }
    assert_eq!(store.retention(&exp).await.unwrap(), None);
    let policy = crate::RetentionPolicy {
        after_days: 1,
        resolution: 100,
    };
    store.set_retention(&exp, Some(policy)).await.unwrap();
    assert_eq!(store.retention(&exp).await.unwrap(), Some(policy));
    assert_kind(
        store.set_retention("424242", Some(policy)).await,
        ErrorKind::NotFound,
        "retention of an unknown experiment",
    );
    let stats = store.compact().await.unwrap();
    assert!(stats.thinned_chunks >= 1, "{stats:?}");

    let mut expected = old.clone();
    normalize(&mut expected);
    let kept = cairn_core::series::thin(&expected, 100);
    assert!(kept.len() <= 40 && kept.len() >= 20, "{}", kept.len());
    let read = store.points(&old_run, "m", None, None).await.unwrap();
    assert_eq!(bits(&read.points), bits(&kept));
    assert_eq!(read.thinned, 100);
    let view = store
        .series(SeriesRequest {
            run_ids: vec![old_run.clone(), fresh_run.clone()],
            key: "m".into(),
            x: XAxis::Step,
            buckets: 10,
            from: None,
            to: None,
        })
        .await
        .unwrap();
    assert_eq!(
        view.runs[0].thinned, 100,
        "the view says it read thinned data"
    );
    assert_eq!(view.runs[1].thinned, 0);
    // Extremes survive thinning.
    let old_summary = Summary::of(&expected);
    let got: Vec<Bucket> = view.runs[0].buckets.clone();
    let max = got
        .iter()
        .filter_map(|b| b.summary.min_max())
        .map(|m| m.1)
        .fold(f64::NEG_INFINITY, |a, b| {
            if b.total_cmp(&a).is_gt() { b } else { a }
        });
    assert_eq!(max.to_bits(), old_summary.min_max().unwrap().1.to_bits());

    // Recent points and other experiments are untouched; removing the policy stops thinning.
    assert_eq!(stored_points(store, &fresh_run, "m").await.len(), 1000);
    let mut untouched = old.clone();
    normalize(&mut untouched);
    assert_eq!(
        bits(&stored_points(store, &elsewhere, "m").await),
        bits(&untouched)
    );
    store.set_retention(&exp, None).await.unwrap();
    assert_eq!(store.retention(&exp).await.unwrap(), None);
    let again = store.compact().await.unwrap();
    assert_eq!(again.thinned_chunks, 0);
}
