use std::cmp::Ordering;

use crate::filter::ast::*;
use crate::filter::{
    compare_runs, ilike_matches, like_matches, parse_run_filter, parse_run_order_by,
};
use crate::model::{
    Dataset, DatasetInput, Experiment, LifecycleStage, Metric, Param, Run, RunInfo, RunStatus, Tag,
};

fn run(id: &str, start_time: i64) -> Run {
    Run {
        info: RunInfo {
            run_id: id.to_string(),
            experiment_id: "1".to_string(),
            run_name: format!("name-{id}"),
            user_id: "alice".to_string(),
            status: RunStatus::Running,
            start_time,
            end_time: None,
            artifact_uri: format!("s3://bucket/{id}"),
            lifecycle_stage: LifecycleStage::Active,
        },
        metrics: Vec::new(),
        params: Vec::new(),
        tags: Vec::new(),
        dataset_inputs: Vec::new(),
        model_inputs: Vec::new(),
        model_outputs: Vec::new(),
    }
}

fn with_metric(mut run: Run, key: &str, value: f64) -> Run {
    run.metrics.push(Metric::new(key, value, 0, 0));
    run
}

fn with_param(mut run: Run, key: &str, value: &str) -> Run {
    run.params.push(Param::new(key, value));
    run
}

fn with_tag(mut run: Run, key: &str, value: &str) -> Run {
    run.tags.push(Tag::new(key, value));
    run
}

fn with_dataset(mut run: Run, name: &str, digest: &str, context: Option<&str>) -> Run {
    run.dataset_inputs.push(DatasetInput {
        tags: context
            .map(|c| vec![Tag::new("mlflow.data.context", c)])
            .unwrap_or_default(),
        dataset: Dataset {
            name: name.to_string(),
            digest: digest.to_string(),
            source_type: "local".to_string(),
            source: "/data".to_string(),
            schema: None,
            profile: None,
        },
    });
    run
}

fn matches(filter: &str, run: &Run) -> bool {
    parse_run_filter(filter)
        .unwrap_or_else(|e| panic!("{filter:?}: {e}"))
        .matches(run)
}

#[test]
fn like_patterns() {
    let cases = [
        ("abc", "abc", true),
        ("abc", "a%", true),
        ("abc", "%c", true),
        ("abc", "%b%", true),
        ("abc", "a_c", true),
        ("abc", "a_", false),
        ("abc", "___", true),
        ("abc", "____", false),
        ("abc", "%", true),
        ("", "%", true),
        ("", "", true),
        ("", "_", false),
        ("abc", "ABC", false),
        ("aXbXc", "a%b%c", true),
        ("aaab", "%aab", true),
        ("mississippi", "m%iss%pi", true),
        ("mississippi", "m%iss%px", false),
        ("éa", "_a", true),
        ("a.b", "a.b", true),
        ("axb", "a.b", false),
        ("a%b", "a%b", true),
        ("ab", "a%%b", true),
    ];
    for (value, pattern, expected) in cases {
        assert_eq!(
            like_matches(value, pattern),
            expected,
            "{value:?} LIKE {pattern:?}"
        );
    }
    assert!(ilike_matches("ABC", "a%"));
    assert!(ilike_matches("Élan", "é%"));
    assert!(!like_matches("Élan", "é%"));
}

#[test]
fn metric_clauses() {
    let r = with_metric(run("r", 0), "acc", 0.5);
    assert!(matches("metrics.acc = 0.5", &r));
    assert!(matches("metrics.acc > 0.4 AND metrics.acc < 0.6", &r));
    assert!(matches("metrics.acc != 1", &r));
    assert!(!matches("metrics.acc >= 0.6", &r));
    // Missing metric: nothing matches, not even `!=`.
    assert!(!matches("metrics.loss != 1", &r));
    // NaN satisfies no comparison.
    let nan = with_metric(run("n", 0), "acc", f64::NAN);
    for op in ["=", "!=", "<", "<=", ">", ">="] {
        assert!(!matches(&format!("metrics.acc {op} 0"), &nan), "{op}");
    }
    let inf = with_metric(run("i", 0), "acc", f64::INFINITY);
    assert!(matches("metrics.acc > 1e308", &inf));
    assert!(matches("metrics.acc = 1e400", &inf));
}

#[test]
fn latest_metric_point_wins() {
    let mut r = run("r", 0);
    r.metrics.push(Metric::new("acc", 1.0, 10, 5));
    r.metrics.push(Metric::new("acc", 2.0, 5, 6));
    assert!(matches("metrics.acc = 2", &r));
    assert!(!matches("metrics.acc = 1", &r));
}

#[test]
fn key_value_clauses() {
    let r = with_tag(with_param(run("r", 0), "lr", "0.01"), "team", "Vision");
    let cases = [
        ("params.lr = '0.01'", true),
        ("params.lr = '0.010'", false),
        ("params.lr != '0.1'", true),
        ("params.missing != 'x'", false),
        ("params.missing NOT IN ('x')", false),
        ("params.missing IS NULL", true),
        ("params.lr IS NULL", false),
        ("params.lr IS NOT NULL", true),
        ("params.lr IN ('0.01', '1')", true),
        ("params.lr NOT IN ('0.01')", false),
        ("params.lr LIKE '0.0_'", true),
        ("tags.team LIKE 'vis%'", false),
        ("tags.team ILIKE 'vis%'", true),
        ("tags.team = 'Vision' AND params.lr = '0.01'", true),
        ("tags.team = 'Vision' AND params.lr = '1'", false),
    ];
    for (filter, expected) in cases {
        assert_eq!(matches(filter, &r), expected, "{filter}");
    }
}

#[test]
fn attribute_clauses() {
    let mut r = run("abc", 100);
    r.info.status = RunStatus::Finished;
    let cases = [
        ("run_id = 'abc'", true),
        ("run_id IN ('x', 'abc')", true),
        ("run_id NOT IN ('abc')", false),
        ("run_name = 'name-abc'", true),
        ("status = 'FINISHED'", true),
        ("status != 'RUNNING'", true),
        ("user_id ILIKE 'ALI%'", true),
        ("artifact_uri LIKE 's3://%'", true),
        ("start_time = 100", true),
        ("created > 99", true),
        ("start_time < 100", false),
        ("end_time > 0", false),
        ("end_time != 0", false),
    ];
    for (filter, expected) in cases {
        assert_eq!(matches(filter, &r), expected, "{filter}");
    }
    r.info.end_time = Some(200);
    assert!(matches("end_time >= 200", &r));
}

#[test]
fn dataset_clauses() {
    let r = with_dataset(
        with_dataset(run("r", 0), "iris", "d1", Some("train")),
        "wine",
        "d2",
        None,
    );
    let cases = [
        ("datasets.name = 'iris'", true),
        ("datasets.name = 'wine'", true),
        ("datasets.name != 'iris'", true),
        ("datasets.name IN ('x')", false),
        ("datasets.name NOT IN ('iris', 'wine')", false),
        ("datasets.digest LIKE 'd%'", true),
        ("datasets.context = 'train'", true),
        ("datasets.context = 'eval'", false),
        ("datasets.context ILIKE 'TR%'", true),
    ];
    for (filter, expected) in cases {
        assert_eq!(matches(filter, &r), expected, "{filter}");
    }
    let bare = run("b", 0);
    assert!(!matches("datasets.name != 'x'", &bare));
    let clause = RunClause::Dataset {
        field: DatasetField::Name,
        predicate: StringPredicate::IsNull,
    };
    assert!(clause.matches(&bare));
    assert!(!clause.matches(&r));
}

#[test]
fn empty_filter_matches_everything() {
    assert!(RunFilter::default().matches(&run("r", 0)));
}

#[test]
fn experiment_filter_matches() {
    let experiment = Experiment {
        experiment_id: "7".to_string(),
        name: "Churn".to_string(),
        artifact_location: "/a".to_string(),
        lifecycle_stage: LifecycleStage::Active,
        creation_time: 10,
        last_update_time: 20,
        tags: vec![Tag::new("team", "ml")],
    };
    let cases = [
        ("name = 'Churn'", true),
        ("name ILIKE 'ch%'", true),
        ("name LIKE 'ch%'", false),
        ("experiment_id = 7", true),
        ("experiment_id IN ('1', '7')", true),
        ("creation_time > 5 AND last_update_time <= 20", true),
        ("tags.team = 'ml'", true),
        ("tags.other != 'x'", false),
    ];
    for (filter, expected) in cases {
        let parsed = crate::filter::parse_experiment_filter(filter).unwrap();
        assert_eq!(parsed.matches(&experiment), expected, "{filter}");
    }
}

fn order(clauses: &[&str]) -> Vec<RunOrderBy> {
    parse_run_order_by(&clauses.iter().map(|c| c.to_string()).collect::<Vec<_>>()).unwrap()
}

fn sorted_ids(order_by: &[RunOrderBy], runs: &[Run]) -> Vec<String> {
    let mut runs = runs.to_vec();
    runs.sort_by(|a, b| compare_runs(order_by, a, b));
    runs.into_iter().map(|r| r.info.run_id).collect()
}

#[test]
fn metric_order_puts_nan_then_missing_last_both_ways() {
    let runs = vec![
        with_metric(run("nan", 0), "m", f64::NAN),
        run("missing", 0),
        with_metric(run("one", 0), "m", 1.0),
        with_metric(run("neg-inf", 0), "m", f64::NEG_INFINITY),
        with_metric(run("inf", 0), "m", f64::INFINITY),
        with_metric(run("zero", 0), "m", 0.0),
    ];
    assert_eq!(
        sorted_ids(&order(&["metrics.m ASC"]), &runs),
        ["neg-inf", "zero", "one", "inf", "nan", "missing"]
    );
    assert_eq!(
        sorted_ids(&order(&["metrics.m DESC"]), &runs),
        ["inf", "one", "zero", "neg-inf", "nan", "missing"]
    );
}

#[test]
fn string_and_attribute_orders_put_missing_last() {
    let runs = vec![
        with_param(run("b", 0), "p", "b"),
        run("none", 0),
        with_param(run("a", 0), "p", "a"),
        with_param(run("upper", 0), "p", "B"),
    ];
    assert_eq!(
        sorted_ids(&order(&["params.p"]), &runs),
        ["upper", "a", "b", "none"]
    );
    assert_eq!(
        sorted_ids(&order(&["params.p DESC"]), &runs),
        ["b", "a", "upper", "none"]
    );

    let mut ended = run("ended", 0);
    ended.info.end_time = Some(5);
    let mut ended_later = run("later", 0);
    ended_later.info.end_time = Some(9);
    let runs = vec![run("open", 0), ended.clone(), ended_later.clone()];
    assert_eq!(
        sorted_ids(&order(&["end_time"]), &runs),
        ["ended", "later", "open"]
    );
    assert_eq!(
        sorted_ids(&order(&["end_time DESC"]), &runs),
        ["later", "ended", "open"]
    );
}

#[test]
fn experiment_ids_sort_numerically() {
    let mut nine = run("nine", 0);
    nine.info.experiment_id = "9".to_string();
    let mut ten = run("ten", 0);
    ten.info.experiment_id = "10".to_string();
    assert_eq!(
        sorted_ids(&order(&["experiment_id"]), &[ten, nine]),
        ["nine", "ten"]
    );
}

#[test]
fn ties_break_by_start_time_desc_then_run_id() {
    let runs = vec![
        run("b", 1),
        run("a", 1),
        run("c", 2),
        with_metric(run("d", 0), "m", 1.0),
    ];
    assert_eq!(sorted_ids(&[], &runs), ["c", "a", "b", "d"]);
    // Equal metric values (and equal missing values) fall through to the tie-break.
    let runs = vec![
        with_metric(run("x", 1), "m", 1.0),
        with_metric(run("y", 2), "m", 1.0),
        run("p", 1),
        run("q", 2),
        with_metric(run("n1", 1), "m", f64::NAN),
        with_metric(run("n2", 2), "m", f64::NAN),
    ];
    assert_eq!(
        sorted_ids(&order(&["metrics.m DESC"]), &runs),
        ["y", "x", "n2", "n1", "q", "p"]
    );
    assert_eq!(
        sorted_ids(&order(&["start_time ASC"]), &runs[..2]),
        ["x", "y"]
    );
}

#[test]
fn later_keys_decide_after_earlier_ties() {
    let runs = vec![
        with_param(with_metric(run("a", 0), "m", 1.0), "p", "z"),
        with_param(with_metric(run("b", 0), "m", 1.0), "p", "y"),
        with_param(with_metric(run("c", 0), "m", 2.0), "p", "x"),
    ];
    assert_eq!(
        sorted_ids(&order(&["metrics.m", "params.p"]), &runs),
        ["b", "a", "c"]
    );
    assert_eq!(
        compare_runs(&order(&["metrics.m"]), &runs[0], &runs[0]),
        Ordering::Equal
    );
}
