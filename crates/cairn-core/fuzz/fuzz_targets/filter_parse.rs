//! Feeds arbitrary UTF-8 to every filter / order-by parser; none may panic, and whatever parses
//! must print back to text that parses to the same tree.
#![no_main]

use cairn_core::filter::{
    parse_experiment_filter, parse_experiment_order_by, parse_logged_model_filter,
    parse_logged_model_order_field, parse_run_filter, parse_run_order_by,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(filter) = parse_run_filter(text) {
        let printed = filter.to_string();
        if filter.clauses.iter().all(|clause| !matches!(clause, cairn_core::filter::ast::RunClause::Metric { value, .. } if !value.is_finite())) {
            assert_eq!(parse_run_filter(&printed).ok(), Some(filter), "{printed}");
        }
    }
    let _ = parse_experiment_filter(text);
    let _ = parse_logged_model_filter(text);
    let clauses: Vec<String> = text.split('\u{1f}').map(str::to_string).collect();
    let _ = parse_run_order_by(&clauses);
    let _ = parse_experiment_order_by(&clauses);
    let _ = parse_logged_model_order_field(text, true, Some(text.to_string()), None);
});
