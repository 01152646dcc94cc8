use crate::filter::ast::*;
use crate::filter::{
    parse_experiment_filter, parse_experiment_order_by, parse_logged_model_filter,
    parse_logged_model_order_field, parse_run_filter, parse_run_order_by,
};

fn s(text: &str) -> String {
    text.to_string()
}

fn eq(value: &str) -> StringPredicate {
    StringPredicate::Compare(StringOp::Eq, s(value))
}

fn one_run_clause(text: &str) -> RunClause {
    let filter = parse_run_filter(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    assert_eq!(filter.clauses.len(), 1, "{text:?}");
    filter.clauses.into_iter().next().unwrap()
}

/// Asserts a runs filter fails, with a message containing `needle`, at `position`.
fn run_error(text: &str, needle: &str, position: Option<usize>) {
    let error = match parse_run_filter(text) {
        Ok(filter) => panic!("{text:?} parsed as {filter:?}"),
        Err(error) => error,
    };
    assert!(
        error.message().contains(needle),
        "{text:?}: {error} does not contain {needle:?}"
    );
    assert_eq!(error.position(), position, "{text:?}: {error}");
}

#[test]
fn empty_filters_match_everything() {
    for text in ["", "   ", "\n\t "] {
        assert_eq!(parse_run_filter(text).unwrap(), RunFilter::default());
        assert_eq!(
            parse_experiment_filter(text).unwrap(),
            ExperimentFilter::default()
        );
        assert_eq!(
            parse_logged_model_filter(text).unwrap(),
            LoggedModelFilter::default()
        );
    }
}

#[test]
fn run_clauses() {
    use RunClause as C;
    let metric = |key: &str, op, value| C::Metric {
        key: s(key),
        op,
        value,
    };
    let cases: Vec<(&str, RunClause)> = vec![
        ("metrics.acc > 0.9", metric("acc", NumOp::Gt, 0.9)),
        ("metric.acc>=1", metric("acc", NumOp::Ge, 1.0)),
        ("metrics.acc<-1e-3", metric("acc", NumOp::Lt, -1e-3)),
        ("metrics.acc <= .5", metric("acc", NumOp::Le, 0.5)),
        ("metrics.acc = 2.", metric("acc", NumOp::Eq, 2.0)),
        ("metrics.acc != 1E3", metric("acc", NumOp::Ne, 1000.0)),
        ("metrics.`acc-1` = 1", metric("acc-1", NumOp::Eq, 1.0)),
        ("metrics.\"acc 1\" = 1", metric("acc 1", NumOp::Eq, 1.0)),
        (
            "metrics.train/loss < 1",
            metric("train/loss", NumOp::Lt, 1.0),
        ),
        ("`metrics`.`a.b` = 1", metric("a.b", NumOp::Eq, 1.0)),
        ("\"metrics\".x = 1", metric("x", NumOp::Eq, 1.0)),
        (
            "params.lr = '0.01'",
            C::Param {
                key: s("lr"),
                predicate: eq("0.01"),
            },
        ),
        (
            "param.lr = \"0.01\"",
            C::Param {
                key: s("lr"),
                predicate: eq("0.01"),
            },
        ),
        (
            "parameter.lr != 'x'",
            C::Param {
                key: s("lr"),
                predicate: StringPredicate::Compare(StringOp::Ne, s("x")),
            },
        ),
        (
            "parameters.lr LIKE '0.%'",
            C::Param {
                key: s("lr"),
                predicate: StringPredicate::Compare(StringOp::Like, s("0.%")),
            },
        ),
        (
            "params.lr ilike '0._'",
            C::Param {
                key: s("lr"),
                predicate: StringPredicate::Compare(StringOp::ILike, s("0._")),
            },
        ),
        (
            "params.lr IS NULL",
            C::Param {
                key: s("lr"),
                predicate: StringPredicate::IsNull,
            },
        ),
        (
            "params.lr is  not\tnull",
            C::Param {
                key: s("lr"),
                predicate: StringPredicate::IsNotNull,
            },
        ),
        (
            "params.lr IN ('a', \"b\")",
            C::Param {
                key: s("lr"),
                predicate: StringPredicate::In(vec![s("a"), s("b")]),
            },
        ),
        (
            "tags.mlflow.runName = 'x'",
            C::Tag {
                key: s("mlflow.runName"),
                predicate: eq("x"),
            },
        ),
        (
            "tag.`my key` = 'x'",
            C::Tag {
                key: s("my key"),
                predicate: eq("x"),
            },
        ),
        (
            "tags.k NOT IN ('a')",
            C::Tag {
                key: s("k"),
                predicate: StringPredicate::NotIn(vec![s("a")]),
            },
        ),
        (
            "tags.k not in('a','b' , 'c')",
            C::Tag {
                key: s("k"),
                predicate: StringPredicate::NotIn(vec![s("a"), s("b"), s("c")]),
            },
        ),
        (
            "tags.k = 'it''s'",
            C::Tag {
                key: s("k"),
                predicate: eq("it's"),
            },
        ),
        (
            "tags.k = 'it\\'s'",
            C::Tag {
                key: s("k"),
                predicate: eq("it's"),
            },
        ),
        (
            "tags.k = ''",
            C::Tag {
                key: s("k"),
                predicate: eq(""),
            },
        ),
        (
            "tags.k = 'C:\\data'",
            C::Tag {
                key: s("k"),
                predicate: eq("C:\\data"),
            },
        ),
        (
            "tags.k = 'a AND b'",
            C::Tag {
                key: s("k"),
                predicate: eq("a AND b"),
            },
        ),
        (
            "tags.é = 'ü'",
            C::Tag {
                key: s("é"),
                predicate: eq("ü"),
            },
        ),
        (
            "run_id = 'abc'",
            C::StringAttribute {
                attribute: RunStringAttribute::RunId,
                predicate: eq("abc"),
            },
        ),
        (
            "attributes.run_id IN ('a','b')",
            C::StringAttribute {
                attribute: RunStringAttribute::RunId,
                predicate: StringPredicate::In(vec![s("a"), s("b")]),
            },
        ),
        (
            "attribute.status = 'RUNNING'",
            C::StringAttribute {
                attribute: RunStringAttribute::Status,
                predicate: eq("RUNNING"),
            },
        ),
        (
            "attr.run_name = 'x'",
            C::StringAttribute {
                attribute: RunStringAttribute::RunName,
                predicate: eq("x"),
            },
        ),
        (
            "run.user_id != 'x'",
            C::StringAttribute {
                attribute: RunStringAttribute::UserId,
                predicate: StringPredicate::Compare(StringOp::Ne, s("x")),
            },
        ),
        (
            "`Run name` = 'x'",
            C::StringAttribute {
                attribute: RunStringAttribute::RunName,
                predicate: eq("x"),
            },
        ),
        (
            "attributes.\"run name\" = 'x'",
            C::StringAttribute {
                attribute: RunStringAttribute::RunName,
                predicate: eq("x"),
            },
        ),
        (
            "artifact_uri LIKE 's3://%'",
            C::StringAttribute {
                attribute: RunStringAttribute::ArtifactUri,
                predicate: StringPredicate::Compare(StringOp::Like, s("s3://%")),
            },
        ),
        (
            "user_id NOT IN ('bob')",
            C::StringAttribute {
                attribute: RunStringAttribute::UserId,
                predicate: StringPredicate::NotIn(vec![s("bob")]),
            },
        ),
        (
            "start_time > 100",
            C::TimeAttribute {
                attribute: RunTimeAttribute::StartTime,
                op: NumOp::Gt,
                value: 100,
            },
        ),
        (
            "created <= -5",
            C::TimeAttribute {
                attribute: RunTimeAttribute::StartTime,
                op: NumOp::Le,
                value: -5,
            },
        ),
        (
            "attributes.Created = 0",
            C::TimeAttribute {
                attribute: RunTimeAttribute::StartTime,
                op: NumOp::Eq,
                value: 0,
            },
        ),
        (
            "end_time != 9223372036854775807",
            C::TimeAttribute {
                attribute: RunTimeAttribute::EndTime,
                op: NumOp::Ne,
                value: i64::MAX,
            },
        ),
        (
            "datasets.name = 'iris'",
            C::Dataset {
                field: DatasetField::Name,
                predicate: eq("iris"),
            },
        ),
        (
            "dataset.digest IN ('d1')",
            C::Dataset {
                field: DatasetField::Digest,
                predicate: StringPredicate::In(vec![s("d1")]),
            },
        ),
        (
            "datasets.context ILIKE 'TRAIN'",
            C::Dataset {
                field: DatasetField::Context,
                predicate: StringPredicate::Compare(StringOp::ILike, s("TRAIN")),
            },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(one_run_clause(text), expected, "{text:?}");
    }
}

#[test]
fn conjunctions() {
    let filter = parse_run_filter(
        "  metrics.a > 1 and params.b = 'x'   AND tags.c IS NULL AND start_time>=5 ",
    )
    .unwrap();
    assert_eq!(filter.clauses.len(), 4);
    let filter = parse_run_filter("params.b = 'x'AND tags.c='y'").unwrap();
    assert_eq!(filter.clauses.len(), 2);
    let filter = parse_run_filter("tags.k IN ('a')AND tags.j = 'b'").unwrap();
    assert_eq!(filter.clauses.len(), 2);
}

#[test]
fn run_filter_errors() {
    let cases: Vec<(&str, &str, Option<usize>)> = vec![
        (
            "metrics.acc >> 1",
            "unexpected '>', expected a value",
            Some(13),
        ),
        (
            "metrics.acc > 'x'",
            "expected a number for metric 'acc'",
            Some(14),
        ),
        (
            "metrics.acc > \"0.5\"",
            "expected a number for metric 'acc'",
            Some(14),
        ),
        (
            "metrics.acc LIKE '1'",
            "'LIKE' is not supported for metric 'acc'",
            Some(12),
        ),
        (
            "metrics.acc IS NULL",
            "'IS NULL' is not supported for metric 'acc'",
            Some(12),
        ),
        (
            "params.lr = 0.01",
            "expected a quoted string for param 'lr'",
            Some(12),
        ),
        ("tags.x = abc", "put strings in single quotes", Some(9)),
        ("tags.x > 'a'", "'>' is not supported for tag 'x'", Some(7)),
        ("a = 'x' OR b = 'y'", "OR is not supported", Some(8)),
        ("(tags.a = 'x')", "parentheses are not supported", Some(0)),
        (
            "tags.a = 'x' AND (tags.b = 'y')",
            "parentheses are not supported",
            Some(17),
        ),
        ("tags.a = 'x' )", "parentheses are not supported", Some(13)),
        (
            "tags.a = 'x' tags.b = 'y'",
            "expected AND or the end of the filter",
            Some(13),
        ),
        (
            "tags.a = 'x' AND",
            "expected a condition after AND",
            Some(16),
        ),
        (
            "tags.a = 'x' AND  ",
            "expected a condition after AND",
            Some(18),
        ),
        (
            "AND tags.a = 'x'",
            "expected a condition, found 'AND'",
            Some(0),
        ),
        ("tags.a = 'x';", "unexpected ';'", Some(12)),
        ("tags.a = 'x", "unterminated string", Some(9)),
        ("tags.`a = 'x'", "unterminated name", Some(5)),
        ("tags.a <> 'x'", "'<>' is not supported", Some(7)),
        ("tags.a == 'x'", "'==' is not supported", Some(7)),
        ("tags.a ! 'x'", "did you mean '!='", Some(7)),
        ("tags.a NOT LIKE 'x'", "NOT LIKE is not supported", Some(7)),
        ("tags.a NOT 'x'", "expected IN after NOT", Some(11)),
        (
            "tags.a IS 'x'",
            "expected NULL or NOT NULL after IS",
            Some(10),
        ),
        ("tags.a IS NOT 'x'", "expected NULL after IS NOT", Some(14)),
        (
            "tags.a CONTAINS 'x'",
            "expected a comparison operator",
            Some(7),
        ),
        ("tags.a", "expected a comparison operator", Some(6)),
        (
            "tags.a =",
            "expected a value, found the end of the text",
            Some(8),
        ),
        ("tags.a IN 'x'", "expected a parenthesised list", Some(10)),
        ("tags.a IN ()", "empty list", Some(10)),
        (
            "tags.a IN ('x',)",
            "lists may only contain quoted strings",
            Some(15),
        ),
        ("tags.a IN ('x' 'y')", "expected ',' or ')'", Some(15)),
        (
            "tags.a IN ('x', 1)",
            "lists may only contain quoted strings",
            Some(16),
        ),
        ("tags.a IN ('x'", "unterminated list", Some(10)),
        (
            "tags.a = ('x')",
            "a list of values needs IN or NOT IN",
            Some(9),
        ),
        ("tags.a = `x`", "backticks quote names, not values", Some(9)),
        ("metrics.a = 1abc", "invalid number '1abc'", Some(12)),
        ("metrics.a = 1.2.3", "invalid number", Some(12)),
        ("metrics.a = -", "expected a value", Some(12)),
        ("foo.a = 'x'", "invalid entity type 'foo'", Some(0)),
        ("tags. = 'x'", "expected a key after 'tags.'", Some(5)),
        ("tags.`` = 'x'", "empty quoted name", Some(5)),
        (
            "tags.a\"b\" = 'x'",
            "unexpected quote inside a name",
            Some(6),
        ),
        ("tags.`a`b = 'x'", "right after a quoted name", Some(8)),
        ("'tags.a' = 'x'", "found a single-quoted string", Some(0)),
        ("bogus = 'x'", "invalid attribute key 'bogus'", Some(0)),
        (
            "attributes.experiment_id = '1'",
            "valid keys are run_id, run_name",
            Some(11),
        ),
        (
            "status IS NULL",
            "'IS NULL' is not supported for attribute 'status'",
            Some(7),
        ),
        ("status = RUNNING", "put strings in single quotes", Some(9)),
        (
            "start_time > '5'",
            "expected a number for attribute 'start_time'",
            Some(13),
        ),
        ("start_time > 1.5", "expected an integer", Some(13)),
        ("start_time > 1e3", "expected an integer", Some(13)),
        ("end_time > 99999999999999999999", "out of range", Some(11)),
        ("start_time LIKE '1'", "'LIKE' is not supported", Some(11)),
        ("datasets.size = 'x'", "invalid dataset key 'size'", Some(9)),
        (
            "datasets.name > 'x'",
            "'>' is not supported for dataset field 'name'",
            Some(14),
        ),
        (
            "NOT tags.a = 'x'",
            "NOT is only supported as NOT IN and IS NOT NULL",
            Some(0),
        ),
        ("= 'x'", "expected a name", Some(0)),
        (
            "tags.a = 'x' AND OR",
            "expected a condition, found 'OR'",
            Some(17),
        ),
    ];
    for (text, needle, position) in cases {
        run_error(text, needle, position);
    }
}

#[test]
fn run_order_by() {
    let parse = |clauses: &[&str]| {
        parse_run_order_by(&clauses.iter().map(|c| c.to_string()).collect::<Vec<_>>())
    };
    let entry = |key, ascending| RunOrderBy { key, ascending };
    assert_eq!(parse(&[]).unwrap(), vec![]);
    let cases: Vec<(&str, RunOrderBy)> = vec![
        ("metrics.acc", entry(RunOrderKey::Metric(s("acc")), true)),
        (
            "metrics.acc DESC",
            entry(RunOrderKey::Metric(s("acc")), false),
        ),
        (
            "  metrics.acc   desc  ",
            entry(RunOrderKey::Metric(s("acc")), false),
        ),
        (
            "metrics.`my acc` asc",
            entry(RunOrderKey::Metric(s("my acc")), true),
        ),
        ("params.lr Asc", entry(RunOrderKey::Param(s("lr")), true)),
        (
            "tags.mlflow.runName DESC",
            entry(RunOrderKey::Tag(s("mlflow.runName")), false),
        ),
        (
            "start_time",
            entry(RunOrderKey::Attribute(RunOrderAttribute::StartTime), true),
        ),
        (
            "created DESC",
            entry(RunOrderKey::Attribute(RunOrderAttribute::StartTime), false),
        ),
        (
            "attributes.experiment_id",
            entry(
                RunOrderKey::Attribute(RunOrderAttribute::ExperimentId),
                true,
            ),
        ),
        (
            "attribute.run_name",
            entry(RunOrderKey::Attribute(RunOrderAttribute::RunName), true),
        ),
        (
            "end_time",
            entry(RunOrderKey::Attribute(RunOrderAttribute::EndTime), true),
        ),
        (
            "status",
            entry(RunOrderKey::Attribute(RunOrderAttribute::Status), true),
        ),
        (
            "run_id",
            entry(RunOrderKey::Attribute(RunOrderAttribute::RunId), true),
        ),
        (
            "user_id",
            entry(RunOrderKey::Attribute(RunOrderAttribute::UserId), true),
        ),
        (
            "artifact_uri",
            entry(RunOrderKey::Attribute(RunOrderAttribute::ArtifactUri), true),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            parse(&[text]).unwrap_or_else(|e| panic!("{text:?}: {e}")),
            vec![expected],
            "{text:?}"
        );
    }
    let both = parse(&["metrics.a DESC", "params.b"]).unwrap();
    assert_eq!(both.len(), 2);

    let errors: Vec<(&str, &str, Option<usize>)> = vec![
        ("", "empty order_by clause", None),
        ("   ", "empty order_by clause", None),
        ("metrics.acc DOWN", "expected ASC or DESC", Some(12)),
        (
            "metrics.acc DESC extra",
            "unexpected 'extra' after the sort direction",
            Some(17),
        ),
        ("metrics.acc ASC DESC", "after the sort direction", Some(16)),
        ("metrics.`acc`DESC", "right after a quoted name", Some(13)),
        (
            "datasets.name",
            "cannot be ordered by dataset fields",
            Some(0),
        ),
        ("bogus", "invalid attribute key 'bogus'", Some(0)),
        ("foo.bar", "invalid entity type 'foo'", Some(0)),
        ("metrics.acc, params.b", "expected ASC or DESC", Some(11)),
    ];
    for (text, needle, position) in errors {
        let error = parse(&[text]).unwrap_err();
        assert!(error.message().contains(needle), "{text:?}: {error}");
        assert_eq!(error.position(), position, "{text:?}: {error}");
        assert_eq!(error.input(), Some(text));
    }
    let error = parse(&["metrics.a", "metrics.a DESC"]).unwrap_err();
    assert!(error.message().contains("more than once"), "{error}");
    let error = parse(&["created", "start_time DESC"]).unwrap_err();
    assert!(error.message().contains("more than once"), "{error}");
    assert!(parse(&["metrics.a", "params.a", "tags.a"]).is_ok());
}

#[test]
fn experiment_filters() {
    use ExperimentClause as C;
    let cases: Vec<(&str, ExperimentClause)> = vec![
        ("name = 'exp'", C::Name(eq("exp"))),
        (
            "attribute.name LIKE 'e%'",
            C::Name(StringPredicate::Compare(StringOp::Like, s("e%"))),
        ),
        (
            "name ILIKE 'E%'",
            C::Name(StringPredicate::Compare(StringOp::ILike, s("E%"))),
        ),
        (
            "name IN ('a', 'b')",
            C::Name(StringPredicate::In(vec![s("a"), s("b")])),
        ),
        (
            "name NOT IN ('a')",
            C::Name(StringPredicate::NotIn(vec![s("a")])),
        ),
        ("experiment_id = '1'", C::ExperimentId(eq("1"))),
        ("experiment_id = 1", C::ExperimentId(eq("1"))),
        (
            "experiment_id IN ('1', '2')",
            C::ExperimentId(StringPredicate::In(vec![s("1"), s("2")])),
        ),
        (
            "experiment_id != '0'",
            C::ExperimentId(StringPredicate::Compare(StringOp::Ne, s("0"))),
        ),
        (
            "creation_time > 5",
            C::TimeAttribute {
                attribute: ExperimentTimeAttribute::CreationTime,
                op: NumOp::Gt,
                value: 5,
            },
        ),
        (
            "last_update_time <= 7",
            C::TimeAttribute {
                attribute: ExperimentTimeAttribute::LastUpdateTime,
                op: NumOp::Le,
                value: 7,
            },
        ),
        (
            "tags.team = 'ml'",
            C::Tag {
                key: s("team"),
                predicate: eq("ml"),
            },
        ),
        (
            "tag.`a b` LIKE '%x'",
            C::Tag {
                key: s("a b"),
                predicate: StringPredicate::Compare(StringOp::Like, s("%x")),
            },
        ),
    ];
    for (text, expected) in cases {
        let filter = parse_experiment_filter(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(filter.clauses, vec![expected], "{text:?}");
    }
    let errors: Vec<(&str, &str)> = vec![
        (
            "metrics.a > 1",
            "invalid entity type 'metrics' for experiments",
        ),
        ("params.a = 'x'", "invalid entity type 'params'"),
        (
            "artifact_location = 'x'",
            "invalid attribute key 'artifact_location'",
        ),
        (
            "experiment_id LIKE '1%'",
            "'LIKE' is not supported for attribute 'experiment_id'",
        ),
        ("experiment_id = 1.5", "expected a quoted string"),
        ("creation_time = 'x'", "expected a number"),
        ("tags.a IN ('x')", "'IN' is not supported for tag 'a'"),
        ("tags.a IS NULL", "'IS NULL' is not supported"),
        ("name = 'a' OR name = 'b'", "OR is not supported"),
    ];
    for (text, needle) in errors {
        let error = parse_experiment_filter(text).unwrap_err();
        assert!(error.message().contains(needle), "{text:?}: {error}");
    }
}

#[test]
fn experiment_order_by() {
    let parse = |clauses: &[&str]| {
        parse_experiment_order_by(&clauses.iter().map(|c| c.to_string()).collect::<Vec<_>>())
    };
    let entry = |key, ascending| ExperimentOrderBy { key, ascending };
    assert_eq!(
        parse(&["name"]).unwrap(),
        vec![entry(ExperimentOrderKey::Name, true)]
    );
    assert_eq!(
        parse(&["attribute.name DESC"]).unwrap(),
        vec![entry(ExperimentOrderKey::Name, false)]
    );
    assert_eq!(
        parse(&["creation_time DESC", "experiment_id ASC"]).unwrap(),
        vec![
            entry(ExperimentOrderKey::CreationTime, false),
            entry(ExperimentOrderKey::ExperimentId, true)
        ]
    );
    assert_eq!(
        parse(&["last_update_time"]).unwrap(),
        vec![entry(ExperimentOrderKey::LastUpdateTime, true)]
    );
    for (text, needle) in [
        ("tags.a", "cannot be ordered by tags"),
        ("metrics.a", "invalid entity type"),
        ("bogus", "invalid attribute key 'bogus'"),
        ("name sideways", "expected ASC or DESC"),
    ] {
        let error = parse(&[text]).unwrap_err();
        assert!(error.message().contains(needle), "{text:?}: {error}");
    }
    assert!(
        parse(&["name", "name DESC"])
            .unwrap_err()
            .message()
            .contains("more than once")
    );
}

#[test]
fn logged_model_filters() {
    use LoggedModelClause as C;
    let cases: Vec<(&str, LoggedModelClause)> = vec![
        (
            "name = 'm'",
            C::StringAttribute {
                attribute: ModelStringAttribute::Name,
                predicate: eq("m"),
            },
        ),
        (
            "model_id IN ('m-1')",
            C::StringAttribute {
                attribute: ModelStringAttribute::ModelId,
                predicate: StringPredicate::In(vec![s("m-1")]),
            },
        ),
        (
            "attributes.model_type LIKE 'sk%'",
            C::StringAttribute {
                attribute: ModelStringAttribute::ModelType,
                predicate: StringPredicate::Compare(StringOp::Like, s("sk%")),
            },
        ),
        (
            "status = 'LOGGED_MODEL_READY'",
            C::StringAttribute {
                attribute: ModelStringAttribute::Status,
                predicate: eq("LOGGED_MODEL_READY"),
            },
        ),
        (
            "source_run_id NOT IN ('r')",
            C::StringAttribute {
                attribute: ModelStringAttribute::SourceRunId,
                predicate: StringPredicate::NotIn(vec![s("r")]),
            },
        ),
        (
            "creation_timestamp > 5",
            C::TimeAttribute {
                attribute: ModelTimeAttribute::CreationTimestamp,
                op: NumOp::Gt,
                value: 5,
            },
        ),
        (
            "creation_time > 5",
            C::TimeAttribute {
                attribute: ModelTimeAttribute::CreationTimestamp,
                op: NumOp::Gt,
                value: 5,
            },
        ),
        (
            "last_updated_timestamp < 5",
            C::TimeAttribute {
                attribute: ModelTimeAttribute::LastUpdatedTimestamp,
                op: NumOp::Lt,
                value: 5,
            },
        ),
        (
            "last_updated_time < 5",
            C::TimeAttribute {
                attribute: ModelTimeAttribute::LastUpdatedTimestamp,
                op: NumOp::Lt,
                value: 5,
            },
        ),
        (
            "metrics.accuracy >= 0.5",
            C::Metric {
                key: s("accuracy"),
                op: NumOp::Ge,
                value: 0.5,
            },
        ),
        (
            "params.alpha = '1'",
            C::Param {
                key: s("alpha"),
                predicate: eq("1"),
            },
        ),
        (
            "tags.`a.b` != 'x'",
            C::Tag {
                key: s("a.b"),
                predicate: StringPredicate::Compare(StringOp::Ne, s("x")),
            },
        ),
    ];
    for (text, expected) in cases {
        let filter = parse_logged_model_filter(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(filter.clauses, vec![expected], "{text:?}");
    }
    for (text, needle) in [
        (
            "datasets.name = 'x'",
            "cannot be filtered by dataset fields",
        ),
        ("run_id = 'x'", "invalid attribute key 'run_id'"),
        ("metrics.a = 'x'", "expected a number for metric 'a'"),
        ("creation_timestamp = 1.5", "expected an integer"),
        ("name > 'x'", "'>' is not supported"),
    ] {
        let error = parse_logged_model_filter(text).unwrap_err();
        assert!(error.message().contains(needle), "{text:?}: {error}");
    }
}

#[test]
fn logged_model_order_fields() {
    let entry = |key, ascending| LoggedModelOrderBy { key, ascending };
    let cases: Vec<(&str, LoggedModelOrderKey)> = vec![
        ("creation_timestamp", LoggedModelOrderKey::CreationTimestamp),
        ("creation_time", LoggedModelOrderKey::CreationTimestamp),
        (" name ", LoggedModelOrderKey::Name),
        ("model_id", LoggedModelOrderKey::ModelId),
        ("model_type", LoggedModelOrderKey::ModelType),
        ("status", LoggedModelOrderKey::Status),
        ("source_run_id", LoggedModelOrderKey::SourceRunId),
        (
            "last_updated_timestamp",
            LoggedModelOrderKey::LastUpdatedTimestamp,
        ),
        (
            "metrics.accuracy",
            LoggedModelOrderKey::Metric {
                key: s("accuracy"),
                dataset_name: None,
                dataset_digest: None,
            },
        ),
        (
            "metrics.a.b c",
            LoggedModelOrderKey::Metric {
                key: s("a.b c"),
                dataset_name: None,
                dataset_digest: None,
            },
        ),
    ];
    for (field, expected) in cases {
        assert_eq!(
            parse_logged_model_order_field(field, false, None, None).unwrap(),
            entry(expected, false),
            "{field}"
        );
    }
    assert_eq!(
        parse_logged_model_order_field("metrics.acc", true, Some(s("ds")), Some(s("d1"))).unwrap(),
        entry(
            LoggedModelOrderKey::Metric {
                key: s("acc"),
                dataset_name: Some(s("ds")),
                dataset_digest: Some(s("d1"))
            },
            true
        )
    );
    assert_eq!(
        parse_logged_model_order_field("metrics.acc", true, Some(s("")), Some(s(""))).unwrap(),
        entry(
            LoggedModelOrderKey::Metric {
                key: s("acc"),
                dataset_name: None,
                dataset_digest: None
            },
            true
        )
    );
    for (field, name, digest, needle) in [
        (
            "metrics.acc",
            None,
            Some(s("d")),
            "dataset_digest can only be given together with dataset_name",
        ),
        ("params.a", None, None, "only attributes and metrics.<name>"),
        ("metric.a", None, None, "only attributes and metrics.<name>"),
        ("metrics.", None, None, "expected a metric name"),
        ("bogus", None, None, "invalid order_by field 'bogus'"),
        ("", None, None, "invalid order_by field ''"),
    ] {
        let error = parse_logged_model_order_field(field, true, name, digest).unwrap_err();
        assert!(error.message().contains(needle), "{field:?}: {error}");
    }
}
