//! Property tests: no input makes a parser panic, and printing a tree then parsing the text
//! gives the tree back.

use proptest::prelude::*;

use super::ast::*;
use super::{
    parse_experiment_filter, parse_experiment_order_by, parse_logged_model_filter,
    parse_logged_model_order_field, parse_run_filter, parse_run_order_by,
};

fn parse_everything(text: &str) {
    let _ = parse_run_filter(text);
    let _ = parse_experiment_filter(text);
    let _ = parse_logged_model_filter(text);
    let clauses = vec![text.to_string()];
    let _ = parse_run_order_by(&clauses);
    let _ = parse_experiment_order_by(&clauses);
    let _ = parse_logged_model_order_field(text, true, Some(text.to_string()), None);
}

/// Text made mostly of the language's own pieces, so random inputs get deep into the parser.
fn filterish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("metrics.".to_string()),
        Just("params.".to_string()),
        Just("tags.".to_string()),
        Just("datasets.".to_string()),
        Just("attributes.".to_string()),
        Just("`".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("\\".to_string()),
        Just(" AND ".to_string()),
        Just(" OR ".to_string()),
        Just(" NOT ".to_string()),
        Just(" IN ".to_string()),
        Just(" IS ".to_string()),
        Just("NULL".to_string()),
        Just(" LIKE ".to_string()),
        Just("(".to_string()),
        Just(")".to_string()),
        Just(",".to_string()),
        Just("=".to_string()),
        Just("!=".to_string()),
        Just("<".to_string()),
        Just(">=".to_string()),
        Just("-".to_string()),
        Just(".".to_string()),
        Just("1e".to_string()),
        Just("start_time".to_string()),
        Just("name".to_string()),
        Just(" DESC".to_string()),
        "[a-z0-9 ]{0,4}",
        "\\PC{0,2}",
    ];
    proptest::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z_][a-zA-Z0-9_./:-]{0,10}",
        "[a-zA-Z0-9 ._/:`'\"\\\\-]{1,10}",
        "\\PC{1,6}",
    ]
}

fn text_value() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z0-9 %_'\"\\\\]{0,10}", any::<String>()]
}

fn string_op() -> impl Strategy<Value = StringOp> {
    prop_oneof![
        Just(StringOp::Eq),
        Just(StringOp::Ne),
        Just(StringOp::Like),
        Just(StringOp::ILike)
    ]
}

fn num_op() -> impl Strategy<Value = NumOp> {
    prop_oneof![
        Just(NumOp::Eq),
        Just(NumOp::Ne),
        Just(NumOp::Lt),
        Just(NumOp::Le),
        Just(NumOp::Gt),
        Just(NumOp::Ge)
    ]
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |v| v.is_finite())
}

fn list() -> impl Strategy<Value = Vec<String>> {
    proptest::collection::vec(text_value(), 1..4)
}

/// Predicates with the given operators enabled.
fn predicate(like: bool, lists: bool, nulls: bool) -> BoxedStrategy<StringPredicate> {
    let compare = if like {
        (string_op(), text_value())
            .prop_map(|(op, v)| StringPredicate::Compare(op, v))
            .boxed()
    } else {
        (
            prop_oneof![Just(StringOp::Eq), Just(StringOp::Ne)],
            text_value(),
        )
            .prop_map(|(op, v)| StringPredicate::Compare(op, v))
            .boxed()
    };
    let mut options = vec![compare];
    if lists {
        options.push(list().prop_map(StringPredicate::In).boxed());
        options.push(list().prop_map(StringPredicate::NotIn).boxed());
    }
    if nulls {
        options.push(Just(StringPredicate::IsNull).boxed());
        options.push(Just(StringPredicate::IsNotNull).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

fn run_clause() -> impl Strategy<Value = RunClause> {
    let string_attribute = prop_oneof![
        Just(RunStringAttribute::RunId),
        Just(RunStringAttribute::RunName),
        Just(RunStringAttribute::Status),
        Just(RunStringAttribute::ArtifactUri),
        Just(RunStringAttribute::UserId),
    ];
    let time_attribute = prop_oneof![
        Just(RunTimeAttribute::StartTime),
        Just(RunTimeAttribute::EndTime)
    ];
    let field = prop_oneof![
        Just(DatasetField::Name),
        Just(DatasetField::Digest),
        Just(DatasetField::Context)
    ];
    prop_oneof![
        (key(), num_op(), finite()).prop_map(|(key, op, value)| RunClause::Metric {
            key,
            op,
            value
        }),
        (key(), predicate(true, true, true))
            .prop_map(|(key, predicate)| RunClause::Param { key, predicate }),
        (key(), predicate(true, true, true))
            .prop_map(|(key, predicate)| RunClause::Tag { key, predicate }),
        (string_attribute, predicate(true, true, false)).prop_map(|(attribute, predicate)| {
            RunClause::StringAttribute {
                attribute,
                predicate,
            }
        }),
        (time_attribute, num_op(), any::<i64>()).prop_map(|(attribute, op, value)| {
            RunClause::TimeAttribute {
                attribute,
                op,
                value,
            }
        }),
        (field, predicate(true, true, false))
            .prop_map(|(field, predicate)| RunClause::Dataset { field, predicate }),
    ]
}

fn run_order_by() -> impl Strategy<Value = RunOrderBy> {
    let attribute = prop_oneof![
        Just(RunOrderAttribute::RunId),
        Just(RunOrderAttribute::RunName),
        Just(RunOrderAttribute::Status),
        Just(RunOrderAttribute::ArtifactUri),
        Just(RunOrderAttribute::UserId),
        Just(RunOrderAttribute::StartTime),
        Just(RunOrderAttribute::EndTime),
        Just(RunOrderAttribute::ExperimentId),
    ];
    let key = prop_oneof![
        key().prop_map(RunOrderKey::Metric),
        key().prop_map(RunOrderKey::Param),
        key().prop_map(RunOrderKey::Tag),
        attribute.prop_map(RunOrderKey::Attribute),
    ];
    (key, any::<bool>()).prop_map(|(key, ascending)| RunOrderBy { key, ascending })
}

fn experiment_clause() -> impl Strategy<Value = ExperimentClause> {
    let time = prop_oneof![
        Just(ExperimentTimeAttribute::CreationTime),
        Just(ExperimentTimeAttribute::LastUpdateTime)
    ];
    prop_oneof![
        predicate(true, true, false).prop_map(ExperimentClause::Name),
        predicate(false, true, false).prop_map(ExperimentClause::ExperimentId),
        (time, num_op(), any::<i64>()).prop_map(|(attribute, op, value)| {
            ExperimentClause::TimeAttribute {
                attribute,
                op,
                value,
            }
        }),
        (key(), predicate(true, false, false))
            .prop_map(|(key, predicate)| ExperimentClause::Tag { key, predicate }),
    ]
}

fn logged_model_clause() -> impl Strategy<Value = LoggedModelClause> {
    let string_attribute = prop_oneof![
        Just(ModelStringAttribute::ModelId),
        Just(ModelStringAttribute::Name),
        Just(ModelStringAttribute::ModelType),
        Just(ModelStringAttribute::Status),
        Just(ModelStringAttribute::SourceRunId),
    ];
    let time = prop_oneof![
        Just(ModelTimeAttribute::CreationTimestamp),
        Just(ModelTimeAttribute::LastUpdatedTimestamp)
    ];
    prop_oneof![
        (string_attribute, predicate(true, true, false)).prop_map(|(attribute, predicate)| {
            LoggedModelClause::StringAttribute {
                attribute,
                predicate,
            }
        }),
        (time, num_op(), any::<i64>()).prop_map(|(attribute, op, value)| {
            LoggedModelClause::TimeAttribute {
                attribute,
                op,
                value,
            }
        }),
        (key(), num_op(), finite()).prop_map(|(key, op, value)| LoggedModelClause::Metric {
            key,
            op,
            value
        }),
        (key(), predicate(true, true, true))
            .prop_map(|(key, predicate)| LoggedModelClause::Param { key, predicate }),
        (key(), predicate(true, true, true))
            .prop_map(|(key, predicate)| LoggedModelClause::Tag { key, predicate }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        parse_everything(&text);
    }

    #[test]
    fn filter_like_text_never_panics(text in filterish()) {
        parse_everything(&text);
    }

    #[test]
    fn run_filters_round_trip(clauses in proptest::collection::vec(run_clause(), 0..4)) {
        let filter = RunFilter { clauses };
        let text = filter.to_string();
        let parsed = parse_run_filter(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed, filter, "{}", text);
    }

    #[test]
    fn run_order_by_round_trips(entry in run_order_by()) {
        let text = entry.to_string();
        let parsed = parse_run_order_by(std::slice::from_ref(&text))
            .map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed, vec![entry], "{}", text);
    }

    #[test]
    fn experiment_filters_round_trip(clauses in proptest::collection::vec(experiment_clause(), 0..4)) {
        let filter = ExperimentFilter { clauses };
        let text = filter.to_string();
        let parsed = parse_experiment_filter(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed, filter, "{}", text);
    }

    #[test]
    fn logged_model_filters_round_trip(clauses in proptest::collection::vec(logged_model_clause(), 0..4)) {
        let filter = LoggedModelFilter { clauses };
        let text = filter.to_string();
        let parsed = parse_logged_model_filter(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert_eq!(parsed, filter, "{}", text);
    }
}

#[test]
fn experiment_order_by_round_trips() {
    for key in [
        ExperimentOrderKey::Name,
        ExperimentOrderKey::ExperimentId,
        ExperimentOrderKey::CreationTime,
        ExperimentOrderKey::LastUpdateTime,
    ] {
        for ascending in [true, false] {
            let entry = ExperimentOrderBy { key, ascending };
            assert_eq!(
                parse_experiment_order_by(&[entry.to_string()]).unwrap(),
                vec![entry]
            );
        }
    }
}
