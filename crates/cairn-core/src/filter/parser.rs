//! Text → typed tree for the three filter languages and their `order_by` forms.
//!
//! Parsing happens in two steps. First a language-neutral pass reads each condition as
//! `identifier comparator value` ([`Condition`]); then a per-language builder checks the
//! condition against what its entity accepts (a metric wants a number, a tag a quoted string, ...)
//! and produces the typed clause. Both steps report the byte position of the offending text.
//!
//! Grammar (keywords case-insensitive):
//! ```text
//! filter      := ws* [ condition (ws* AND ws* condition)* ] ws*
//! condition   := identifier ws* comparator ws* value
//! identifier  := name | entity "." key          (split at the first dot)
//! entity      := bare-name | `quoted` | "quoted"
//! key         := bare-name-chars | `quoted` | "quoted"
//! comparator  := = | != | < | <= | > | >= | LIKE | ILIKE | IN | NOT IN | IS NULL | IS NOT NULL
//! value       := 'string' | "string" | number | ( 'string' [, 'string']* )   (lists after IN only)
//! order_by    := ws* identifier [ws+ (ASC | DESC)] ws*
//! ```
//! `OR`, `NOT` on its own and parentheses are rejected with an explicit message.

use super::FilterError;
use super::ast::{
    DatasetField, ExperimentClause, ExperimentOrderBy, ExperimentOrderKey, ExperimentTimeAttribute,
    LoggedModelClause, LoggedModelOrderBy, LoggedModelOrderKey, ModelStringAttribute,
    ModelTimeAttribute, ModelVersionClause, ModelVersionOrderBy, ModelVersionOrderKey, NumOp,
    RegisteredModelClause, RegisteredModelOrderBy, RegisteredModelOrderKey, RunClause,
    RunOrderAttribute, RunOrderBy, RunOrderKey, RunStringAttribute, RunTimeAttribute, StringOp,
    StringPredicate, VersionStringAttribute,
};
use super::lexer::{Cursor, Quoted, is_name_char, is_name_start};

/// An entity name or a key, with where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Name {
    text: String,
    start: usize,
}

/// `entity.key`, or a bare `key` (an attribute).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Identifier {
    entity: Option<Name>,
    key: Name,
    /// The identifier as written, for messages.
    written: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparator {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    ILike,
    In,
    NotIn,
    IsNull,
    IsNotNull,
}

impl Comparator {
    fn symbol(self) -> &'static str {
        match self {
            Comparator::Eq => "=",
            Comparator::Ne => "!=",
            Comparator::Lt => "<",
            Comparator::Le => "<=",
            Comparator::Gt => ">",
            Comparator::Ge => ">=",
            Comparator::Like => "LIKE",
            Comparator::ILike => "ILIKE",
            Comparator::In => "IN",
            Comparator::NotIn => "NOT IN",
            Comparator::IsNull => "IS NULL",
            Comparator::IsNotNull => "IS NOT NULL",
        }
    }

    fn num_op(self) -> Option<NumOp> {
        match self {
            Comparator::Eq => Some(NumOp::Eq),
            Comparator::Ne => Some(NumOp::Ne),
            Comparator::Lt => Some(NumOp::Lt),
            Comparator::Le => Some(NumOp::Le),
            Comparator::Gt => Some(NumOp::Gt),
            Comparator::Ge => Some(NumOp::Ge),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    /// The literal as written; converted once the target type is known.
    Number(String),
    List(Vec<String>),
}

/// One `identifier comparator value` condition before entity-specific checks.
#[derive(Debug, Clone, PartialEq)]
struct Condition {
    identifier: Identifier,
    comparator: Comparator,
    comparator_pos: usize,
    /// `None` for `IS NULL` / `IS NOT NULL`.
    value: Option<Value>,
    value_pos: usize,
}

// ---------------------------------------------------------------------------------------------
// Language-neutral scanning
// ---------------------------------------------------------------------------------------------

fn error_at(position: usize, message: impl Into<String>) -> FilterError {
    FilterError::at(position, message)
}

/// After a quoted name, the next character must not glue onto it.
fn expect_name_boundary(cursor: &Cursor<'_>) -> Result<(), FilterError> {
    match cursor.peek() {
        Some(c) if is_name_char(c) || matches!(c, '`' | '"' | '\'') => Err(error_at(
            cursor.pos(),
            format!(
                "unexpected {} right after a quoted name",
                cursor.describe_next()
            ),
        )),
        _ => Ok(()),
    }
}

fn quoted_name(cursor: &mut Cursor<'_>) -> Result<Name, FilterError> {
    let Quoted { text, start, .. } = cursor.quoted()?;
    if text.is_empty() {
        return Err(error_at(start, "empty quoted name"));
    }
    Ok(Name { text, start })
}

/// The key after `entity.`: quoted, or a run of name characters.
fn key_after_dot(cursor: &mut Cursor<'_>, entity: &Name) -> Result<Name, FilterError> {
    match cursor.peek() {
        Some('`' | '"') => {
            let key = quoted_name(cursor)?;
            expect_name_boundary(cursor)?;
            Ok(key)
        }
        Some(c) if is_name_char(c) => {
            let (text, start) = cursor.name_chars();
            expect_unquoted_end(cursor)?;
            Ok(Name {
                text: text.to_string(),
                start,
            })
        }
        _ => Err(error_at(
            cursor.pos(),
            format!(
                "expected a key after '{}.', found {}",
                entity.text,
                cursor.describe_next()
            ),
        )),
    }
}

/// A bare name must not run into a quote (`tags.a"b"`).
fn expect_unquoted_end(cursor: &Cursor<'_>) -> Result<(), FilterError> {
    match cursor.peek() {
        Some('`' | '"' | '\'') => Err(error_at(
            cursor.pos(),
            "unexpected quote inside a name: quote the whole key, e.g. tags.`my key`",
        )),
        _ => Ok(()),
    }
}

fn scan_identifier(cursor: &mut Cursor<'_>) -> Result<Identifier, FilterError> {
    let start = cursor.pos();
    let (entity, key) = match cursor.peek() {
        Some('`' | '"') => {
            let first = quoted_name(cursor)?;
            if cursor.eat_char('.') {
                let key = key_after_dot(cursor, &first)?;
                (Some(first), key)
            } else {
                expect_name_boundary(cursor)?;
                (None, first)
            }
        }
        Some(c) if is_name_start(c) => {
            let (word, word_start) = cursor.bare_name();
            match word.split_once('.') {
                Some((entity, rest)) => {
                    let entity = Name {
                        text: entity.to_string(),
                        start: word_start,
                    };
                    if rest.is_empty() {
                        let key = key_after_dot(cursor, &entity)?;
                        (Some(entity), key)
                    } else {
                        expect_unquoted_end(cursor)?;
                        let key = Name {
                            text: rest.to_string(),
                            start: word_start + entity.text.len() + 1,
                        };
                        (Some(entity), key)
                    }
                }
                None => {
                    expect_unquoted_end(cursor)?;
                    (
                        None,
                        Name {
                            text: word.to_string(),
                            start: word_start,
                        },
                    )
                }
            }
        }
        Some('\'') => {
            return Err(error_at(
                start,
                "expected a name such as metrics.accuracy, found a single-quoted string \
                 (quote names with backticks: tags.`my key`)",
            ));
        }
        Some('(' | ')') => return Err(parentheses_error(start)),
        _ => {
            return Err(error_at(
                start,
                format!(
                    "expected a name such as metrics.accuracy, found {}",
                    cursor.describe_next()
                ),
            ));
        }
    };
    let written = cursor_text_between(cursor, start);
    Ok(Identifier {
        entity,
        key,
        written,
    })
}

fn cursor_text_between(cursor: &Cursor<'_>, start: usize) -> String {
    // `rest` starts at the cursor; the identifier is what lies between `start` and it.
    let consumed = cursor.pos() - start;
    cursor.text_from(start)[..consumed].to_string()
}

fn parentheses_error(position: usize) -> FilterError {
    error_at(
        position,
        "parentheses are not supported: write conditions joined with AND",
    )
}

fn scan_comparator(
    cursor: &mut Cursor<'_>,
    identifier: &Identifier,
) -> Result<(Comparator, usize), FilterError> {
    let pos = cursor.pos();
    let comparator = match cursor.peek() {
        Some('=') => {
            cursor.bump();
            if cursor.peek() == Some('=') {
                return Err(error_at(pos, "'==' is not supported: use '='"));
            }
            Comparator::Eq
        }
        Some('!') => {
            cursor.bump();
            if !cursor.eat_char('=') {
                return Err(error_at(pos, "unexpected '!': did you mean '!='?"));
            }
            Comparator::Ne
        }
        Some('<') => {
            cursor.bump();
            if cursor.eat_char('=') {
                Comparator::Le
            } else if cursor.peek() == Some('>') {
                return Err(error_at(pos, "'<>' is not supported: use '!='"));
            } else {
                Comparator::Lt
            }
        }
        Some('>') => {
            cursor.bump();
            if cursor.eat_char('=') {
                Comparator::Ge
            } else {
                Comparator::Gt
            }
        }
        _ if cursor.eat_keyword("LIKE") => Comparator::Like,
        _ if cursor.eat_keyword("ILIKE") => Comparator::ILike,
        _ if cursor.eat_keyword("IN") => Comparator::In,
        _ if cursor.eat_keyword("NOT") => {
            cursor.skip_whitespace();
            if cursor.eat_keyword("IN") {
                Comparator::NotIn
            } else if cursor.at_keyword("LIKE") || cursor.at_keyword("ILIKE") {
                return Err(error_at(pos, "NOT LIKE is not supported: use != or LIKE"));
            } else {
                return Err(error_at(
                    cursor.pos(),
                    format!("expected IN after NOT, found {}", cursor.describe_next()),
                ));
            }
        }
        _ if cursor.eat_keyword("IS") => {
            cursor.skip_whitespace();
            if cursor.eat_keyword("NULL") {
                Comparator::IsNull
            } else if cursor.eat_keyword("NOT") {
                cursor.skip_whitespace();
                if !cursor.eat_keyword("NULL") {
                    return Err(error_at(
                        cursor.pos(),
                        format!(
                            "expected NULL after IS NOT, found {}",
                            cursor.describe_next()
                        ),
                    ));
                }
                Comparator::IsNotNull
            } else {
                return Err(error_at(
                    cursor.pos(),
                    format!(
                        "expected NULL or NOT NULL after IS, found {}",
                        cursor.describe_next()
                    ),
                ));
            }
        }
        _ => {
            return Err(error_at(
                pos,
                format!(
                    "expected a comparison operator (=, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN, \
                     IS NULL, IS NOT NULL) after '{}', found {}",
                    identifier.written,
                    cursor.describe_next()
                ),
            ));
        }
    };
    Ok((comparator, pos))
}

fn scan_string(cursor: &mut Cursor<'_>) -> Result<String, FilterError> {
    Ok(cursor.quoted()?.text)
}

fn scan_list(cursor: &mut Cursor<'_>) -> Result<Vec<String>, FilterError> {
    let open = cursor.pos();
    if !cursor.eat_char('(') {
        return Err(error_at(
            open,
            format!(
                "expected a parenthesised list of quoted strings, found {}",
                cursor.describe_next()
            ),
        ));
    }
    cursor.skip_whitespace();
    if cursor.peek() == Some(')') {
        return Err(error_at(
            open,
            "empty list: IN and NOT IN need at least one quoted string",
        ));
    }
    let mut items = Vec::new();
    loop {
        cursor.skip_whitespace();
        match cursor.peek() {
            Some('\'' | '"') => items.push(scan_string(cursor)?),
            None => return Err(error_at(open, "unterminated list: missing ')'")),
            _ => {
                return Err(error_at(
                    cursor.pos(),
                    format!(
                        "lists may only contain quoted strings, found {}",
                        cursor.describe_next()
                    ),
                ));
            }
        }
        cursor.skip_whitespace();
        if cursor.eat_char(',') {
            continue;
        }
        if cursor.eat_char(')') {
            return Ok(items);
        }
        if cursor.is_at_end() {
            return Err(error_at(open, "unterminated list: missing ')'"));
        }
        return Err(error_at(
            cursor.pos(),
            format!(
                "expected ',' or ')' in the list, found {}",
                cursor.describe_next()
            ),
        ));
    }
}

fn scan_scalar(cursor: &mut Cursor<'_>) -> Result<Value, FilterError> {
    let pos = cursor.pos();
    match cursor.peek() {
        Some('\'' | '"') => Ok(Value::Str(scan_string(cursor)?)),
        Some('`') => Err(error_at(
            pos,
            "backticks quote names, not values: put strings in single quotes",
        )),
        Some(c) if c.is_ascii_digit() || c == '-' || c == '.' => {
            let Some((text, _)) = cursor.number() else {
                return Err(error_at(
                    pos,
                    format!("expected a value, found {}", cursor.describe_next()),
                ));
            };
            if cursor
                .peek()
                .is_some_and(|c| is_name_char(c) || matches!(c, '\'' | '"' | '`'))
            {
                let glued: String = cursor
                    .text_from(pos)
                    .chars()
                    .take_while(|c| is_name_char(*c))
                    .take(40)
                    .collect();
                return Err(error_at(pos, format!("invalid number '{glued}'")));
            }
            Ok(Value::Number(text.to_string()))
        }
        Some('(') => Err(error_at(pos, "a list of values needs IN or NOT IN")),
        Some(c) if is_name_start(c) => Err(error_at(
            pos,
            format!(
                "expected a value, found {}: put strings in single quotes",
                cursor.describe_next()
            ),
        )),
        None => Err(error_at(pos, "expected a value, found the end of the text")),
        Some(_) => Err(error_at(
            pos,
            format!("unexpected {}, expected a value", cursor.describe_next()),
        )),
    }
}

fn scan_condition(cursor: &mut Cursor<'_>) -> Result<Condition, FilterError> {
    let start = cursor.pos();
    for keyword in ["AND", "OR"] {
        if cursor.at_keyword(keyword) {
            return Err(error_at(
                start,
                format!("expected a condition, found '{keyword}'"),
            ));
        }
    }
    if cursor.at_keyword("NOT") {
        return Err(error_at(
            start,
            "NOT is only supported as NOT IN and IS NOT NULL",
        ));
    }
    let identifier = scan_identifier(cursor)?;
    cursor.skip_whitespace();
    let (comparator, comparator_pos) = scan_comparator(cursor, &identifier)?;
    cursor.skip_whitespace();
    let value_pos = cursor.pos();
    let value = match comparator {
        Comparator::IsNull | Comparator::IsNotNull => None,
        Comparator::In | Comparator::NotIn => Some(Value::List(scan_list(cursor)?)),
        _ => Some(scan_scalar(cursor)?),
    };
    Ok(Condition {
        identifier,
        comparator,
        comparator_pos,
        value,
        value_pos,
    })
}

/// Reads `condition (AND condition)*`, then builds each condition with `build` (so syntax errors
/// anywhere are reported before what a condition means is checked).
fn parse_conjunction<T>(
    text: &str,
    build: impl Fn(Condition) -> Result<T, FilterError>,
) -> Result<Vec<T>, FilterError> {
    scan_conjunction(text)?.into_iter().map(build).collect()
}

fn scan_conjunction(text: &str) -> Result<Vec<Condition>, FilterError> {
    let mut cursor = Cursor::new(text);
    let mut conditions = Vec::new();
    cursor.skip_whitespace();
    if cursor.is_at_end() {
        return Ok(conditions);
    }
    loop {
        conditions.push(scan_condition(&mut cursor)?);
        cursor.skip_whitespace();
        if cursor.is_at_end() {
            return Ok(conditions);
        }
        let pos = cursor.pos();
        if cursor.eat_keyword("AND") {
            cursor.skip_whitespace();
            if cursor.is_at_end() {
                return Err(error_at(
                    cursor.pos(),
                    "expected a condition after AND, found the end of the text",
                ));
            }
            continue;
        }
        if cursor.at_keyword("OR") {
            return Err(error_at(
                pos,
                "OR is not supported: conditions can only be joined with AND",
            ));
        }
        if matches!(cursor.peek(), Some('(' | ')')) {
            return Err(parentheses_error(pos));
        }
        return Err(error_at(
            pos,
            format!(
                "unexpected {}: expected AND or the end of the filter",
                cursor.describe_next()
            ),
        ));
    }
}

/// Reads one `identifier [ASC|DESC]` order-by clause.
fn parse_order_clause(text: &str) -> Result<(Identifier, bool), FilterError> {
    let mut cursor = Cursor::new(text);
    cursor.skip_whitespace();
    if cursor.is_at_end() {
        return Err(FilterError::new("empty order_by clause"));
    }
    let identifier = scan_identifier(&mut cursor)?;
    let spaced = cursor.skip_whitespace();
    if cursor.is_at_end() {
        return Ok((identifier, true));
    }
    let direction_pos = cursor.pos();
    let ascending = if spaced && cursor.eat_keyword("ASC") {
        true
    } else if spaced && cursor.eat_keyword("DESC") {
        false
    } else {
        return Err(error_at(
            direction_pos,
            format!(
                "expected ASC or DESC after '{}', found {}",
                identifier.written,
                cursor.describe_next()
            ),
        ));
    };
    cursor.skip_whitespace();
    if !cursor.is_at_end() {
        return Err(error_at(
            cursor.pos(),
            format!(
                "unexpected {} after the sort direction",
                cursor.describe_next()
            ),
        ));
    }
    Ok((identifier, ascending))
}

// ---------------------------------------------------------------------------------------------
// Typed values
// ---------------------------------------------------------------------------------------------

/// Which string comparisons a target accepts (`=` and `!=` always).
#[derive(Debug, Clone, Copy)]
struct StringOps {
    like: bool,
    lists: bool,
    nulls: bool,
}

/// Params and tags of runs and logged models.
const KEY_VALUE_OPS: StringOps = StringOps {
    like: true,
    lists: true,
    nulls: true,
};
/// String attributes and dataset fields.
const ATTRIBUTE_OPS: StringOps = StringOps {
    like: true,
    lists: true,
    nulls: false,
};
/// Experiment tags.
const EXPERIMENT_TAG_OPS: StringOps = StringOps {
    like: true,
    lists: false,
    nulls: false,
};
/// Identifiers compared exactly (`experiment_id`).
const ID_OPS: StringOps = StringOps {
    like: false,
    lists: true,
    nulls: false,
};

impl StringOps {
    fn listed(self) -> String {
        let mut ops = vec!["=", "!="];
        if self.like {
            ops.extend(["LIKE", "ILIKE"]);
        }
        if self.lists {
            ops.extend(["IN", "NOT IN"]);
        }
        if self.nulls {
            ops.extend(["IS NULL", "IS NOT NULL"]);
        }
        ops.join(", ")
    }
}

fn string_predicate(
    condition: &Condition,
    subject: &str,
    ops: StringOps,
) -> Result<StringPredicate, FilterError> {
    let unsupported = || {
        error_at(
            condition.comparator_pos,
            format!(
                "'{}' is not supported for {subject}: use one of {}",
                condition.comparator.symbol(),
                ops.listed()
            ),
        )
    };
    let op = match condition.comparator {
        Comparator::Eq => StringOp::Eq,
        Comparator::Ne => StringOp::Ne,
        Comparator::Like if ops.like => StringOp::Like,
        Comparator::ILike if ops.like => StringOp::ILike,
        Comparator::In | Comparator::NotIn if ops.lists => {
            let items = match &condition.value {
                Some(Value::List(items)) => items.clone(),
                _ => {
                    return Err(error_at(
                        condition.value_pos,
                        "expected a list of quoted strings",
                    ));
                }
            };
            return Ok(if condition.comparator == Comparator::In {
                StringPredicate::In(items)
            } else {
                StringPredicate::NotIn(items)
            });
        }
        Comparator::IsNull if ops.nulls => return Ok(StringPredicate::IsNull),
        Comparator::IsNotNull if ops.nulls => return Ok(StringPredicate::IsNotNull),
        _ => return Err(unsupported()),
    };
    match &condition.value {
        Some(Value::Str(text)) => Ok(StringPredicate::Compare(op, text.clone())),
        Some(Value::Number(text)) => Err(error_at(
            condition.value_pos,
            format!("expected a quoted string for {subject}, found {text} (write '{text}')"),
        )),
        _ => Err(error_at(
            condition.value_pos,
            format!("expected a quoted string for {subject}"),
        )),
    }
}

fn number_literal<'c>(
    condition: &'c Condition,
    subject: &str,
) -> Result<(NumOp, &'c str), FilterError> {
    let op = condition.comparator.num_op().ok_or_else(|| {
        error_at(
            condition.comparator_pos,
            format!(
                "'{}' is not supported for {subject}: use one of =, !=, <, <=, >, >=",
                condition.comparator.symbol()
            ),
        )
    })?;
    match &condition.value {
        Some(Value::Number(text)) => Ok((op, text)),
        Some(Value::Str(text)) => Err(error_at(
            condition.value_pos,
            format!("expected a number for {subject}, found the string '{text}'"),
        )),
        _ => Err(error_at(
            condition.value_pos,
            format!("expected a number for {subject}"),
        )),
    }
}

fn float_value(condition: &Condition, subject: &str) -> Result<(NumOp, f64), FilterError> {
    let (op, text) = number_literal(condition, subject)?;
    let value = text.parse::<f64>().map_err(|_| {
        error_at(
            condition.value_pos,
            format!("invalid number '{text}' for {subject}"),
        )
    })?;
    Ok((op, value))
}

fn integer_value(condition: &Condition, subject: &str) -> Result<(NumOp, i64), FilterError> {
    let (op, text) = number_literal(condition, subject)?;
    let value = text.parse::<i64>().map_err(|_| {
        if text.contains(['.', 'e', 'E']) {
            error_at(
                condition.value_pos,
                format!(
                    "expected an integer (milliseconds since the epoch) for {subject}, found {text}"
                ),
            )
        } else {
            error_at(
                condition.value_pos,
                format!("number {text} is out of range for {subject}"),
            )
        }
    })?;
    Ok((op, value))
}

// ---------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entity {
    Metric,
    Param,
    Tag,
    Attribute,
    Dataset,
}

const ENTITY_TYPES: &str = "metrics, params, tags, attributes, datasets";

/// The entity of a runs / logged-models identifier (MLflow's aliases; no prefix = attribute).
fn entity_of(identifier: &Identifier) -> Result<Entity, FilterError> {
    let Some(entity) = &identifier.entity else {
        return Ok(Entity::Attribute);
    };
    match entity.text.as_str() {
        "metric" | "metrics" => Ok(Entity::Metric),
        "param" | "params" | "parameter" | "parameters" => Ok(Entity::Param),
        "tag" | "tags" => Ok(Entity::Tag),
        "attribute" | "attributes" | "attr" | "run" => Ok(Entity::Attribute),
        "dataset" | "datasets" => Ok(Entity::Dataset),
        other => Err(error_at(
            entity.start,
            format!("invalid entity type '{other}': valid types are {ENTITY_TYPES}"),
        )),
    }
}

enum RunAttribute {
    String(RunStringAttribute),
    Time(RunTimeAttribute),
}

const RUN_FILTER_ATTRIBUTES: &str =
    "run_id, run_name, status, artifact_uri, user_id, start_time, end_time, created";
const RUN_ORDER_ATTRIBUTES: &str =
    "run_id, run_name, status, artifact_uri, user_id, start_time, end_time, created, experiment_id";

fn run_filter_attribute(key: &Name) -> Result<RunAttribute, FilterError> {
    Ok(match key.text.as_str() {
        "run_id" => RunAttribute::String(RunStringAttribute::RunId),
        "run_name" | "run name" | "Run name" | "Run Name" => {
            RunAttribute::String(RunStringAttribute::RunName)
        }
        "status" => RunAttribute::String(RunStringAttribute::Status),
        "artifact_uri" => RunAttribute::String(RunStringAttribute::ArtifactUri),
        "user_id" => RunAttribute::String(RunStringAttribute::UserId),
        "start_time" | "created" | "Created" => RunAttribute::Time(RunTimeAttribute::StartTime),
        "end_time" => RunAttribute::Time(RunTimeAttribute::EndTime),
        other => {
            return Err(error_at(
                key.start,
                format!("invalid attribute key '{other}': valid keys are {RUN_FILTER_ATTRIBUTES}"),
            ));
        }
    })
}

fn dataset_field(key: &Name) -> Result<DatasetField, FilterError> {
    match key.text.as_str() {
        "name" => Ok(DatasetField::Name),
        "digest" => Ok(DatasetField::Digest),
        "context" => Ok(DatasetField::Context),
        other => Err(error_at(
            key.start,
            format!("invalid dataset key '{other}': valid keys are name, digest, context"),
        )),
    }
}

fn run_clause(condition: Condition) -> Result<RunClause, FilterError> {
    let key = condition.identifier.key.text.clone();
    match entity_of(&condition.identifier)? {
        Entity::Metric => {
            let (op, value) = float_value(&condition, &format!("metric '{key}'"))?;
            Ok(RunClause::Metric { key, op, value })
        }
        Entity::Param => {
            let predicate = string_predicate(&condition, &format!("param '{key}'"), KEY_VALUE_OPS)?;
            Ok(RunClause::Param { key, predicate })
        }
        Entity::Tag => {
            let predicate = string_predicate(&condition, &format!("tag '{key}'"), KEY_VALUE_OPS)?;
            Ok(RunClause::Tag { key, predicate })
        }
        Entity::Attribute => match run_filter_attribute(&condition.identifier.key)? {
            RunAttribute::String(attribute) => {
                let predicate =
                    string_predicate(&condition, &format!("attribute '{key}'"), ATTRIBUTE_OPS)?;
                Ok(RunClause::StringAttribute {
                    attribute,
                    predicate,
                })
            }
            RunAttribute::Time(attribute) => {
                let (op, value) = integer_value(&condition, &format!("attribute '{key}'"))?;
                Ok(RunClause::TimeAttribute {
                    attribute,
                    op,
                    value,
                })
            }
        },
        Entity::Dataset => {
            let field = dataset_field(&condition.identifier.key)?;
            let predicate =
                string_predicate(&condition, &format!("dataset field '{key}'"), ATTRIBUTE_OPS)?;
            Ok(RunClause::Dataset { field, predicate })
        }
    }
}

pub(crate) fn run_filter(text: &str) -> Result<Vec<RunClause>, FilterError> {
    parse_conjunction(text, run_clause)
}

fn run_order_attribute(key: &Name) -> Result<RunOrderAttribute, FilterError> {
    Ok(match key.text.as_str() {
        "run_id" => RunOrderAttribute::RunId,
        "run_name" | "run name" | "Run name" | "Run Name" => RunOrderAttribute::RunName,
        "status" => RunOrderAttribute::Status,
        "artifact_uri" => RunOrderAttribute::ArtifactUri,
        "user_id" => RunOrderAttribute::UserId,
        "start_time" | "created" | "Created" => RunOrderAttribute::StartTime,
        "end_time" => RunOrderAttribute::EndTime,
        "experiment_id" => RunOrderAttribute::ExperimentId,
        other => {
            return Err(error_at(
                key.start,
                format!("invalid attribute key '{other}': valid keys are {RUN_ORDER_ATTRIBUTES}"),
            ));
        }
    })
}

fn run_order_clause(text: &str) -> Result<RunOrderBy, FilterError> {
    let (identifier, ascending) = parse_order_clause(text)?;
    let key = identifier.key.text.clone();
    let key = match entity_of(&identifier)? {
        Entity::Metric => RunOrderKey::Metric(key),
        Entity::Param => RunOrderKey::Param(key),
        Entity::Tag => RunOrderKey::Tag(key),
        Entity::Attribute => RunOrderKey::Attribute(run_order_attribute(&identifier.key)?),
        Entity::Dataset => {
            let start = identifier.entity.as_ref().map_or(0, |e| e.start);
            return Err(error_at(start, "runs cannot be ordered by dataset fields"));
        }
    };
    Ok(RunOrderBy { key, ascending })
}

/// Parses every clause; a field named twice is an error (as in MLflow).
fn order_list<T, K: PartialEq>(
    clauses: &[String],
    parse: impl Fn(&str) -> Result<T, FilterError>,
    key_of: impl Fn(&T) -> K,
) -> Result<Vec<T>, FilterError> {
    let mut parsed: Vec<T> = Vec::with_capacity(clauses.len());
    for clause in clauses {
        let entry = parse(clause).map_err(|error| error.for_order_by(clause))?;
        if parsed
            .iter()
            .any(|earlier| key_of(earlier) == key_of(&entry))
        {
            return Err(
                FilterError::new("order_by names this field more than once").for_order_by(clause)
            );
        }
        parsed.push(entry);
    }
    Ok(parsed)
}

pub(crate) fn run_order_by(clauses: &[String]) -> Result<Vec<RunOrderBy>, FilterError> {
    order_list(clauses, run_order_clause, |entry| entry.key.clone())
}

// ---------------------------------------------------------------------------------------------
// Experiments
// ---------------------------------------------------------------------------------------------

const EXPERIMENT_ATTRIBUTES: &str = "name, experiment_id, creation_time, last_update_time";

/// Experiments accept only `attribute.` and `tag(s).` prefixes (as MLflow does).
fn experiment_entity_is_tag(identifier: &Identifier) -> Result<bool, FilterError> {
    match identifier
        .entity
        .as_ref()
        .map(|e| (e.text.as_str(), e.start))
    {
        None | Some(("attribute", _)) => Ok(false),
        Some(("tag" | "tags", _)) => Ok(true),
        Some((other, start)) => Err(error_at(
            start,
            format!(
                "invalid entity type '{other}' for experiments: valid types are attribute, tags"
            ),
        )),
    }
}

fn experiment_clause(mut condition: Condition) -> Result<ExperimentClause, FilterError> {
    let key = condition.identifier.key.text.clone();
    if experiment_entity_is_tag(&condition.identifier)? {
        let predicate = string_predicate(&condition, &format!("tag '{key}'"), EXPERIMENT_TAG_OPS)?;
        return Ok(ExperimentClause::Tag { key, predicate });
    }
    let subject = format!("attribute '{key}'");
    match key.as_str() {
        "name" => Ok(ExperimentClause::Name(string_predicate(
            &condition,
            &subject,
            ATTRIBUTE_OPS,
        )?)),
        "experiment_id" => {
            // Ids are integers; accept them unquoted too.
            if let Some(Value::Number(text)) = &condition.value
                && text.parse::<u64>().is_ok()
            {
                condition.value = Some(Value::Str(text.clone()));
            }
            Ok(ExperimentClause::ExperimentId(string_predicate(
                &condition, &subject, ID_OPS,
            )?))
        }
        "creation_time" | "last_update_time" => {
            let attribute = if key == "creation_time" {
                ExperimentTimeAttribute::CreationTime
            } else {
                ExperimentTimeAttribute::LastUpdateTime
            };
            let (op, value) = integer_value(&condition, &subject)?;
            Ok(ExperimentClause::TimeAttribute {
                attribute,
                op,
                value,
            })
        }
        other => Err(error_at(
            condition.identifier.key.start,
            format!("invalid attribute key '{other}': valid keys are {EXPERIMENT_ATTRIBUTES}"),
        )),
    }
}

pub(crate) fn experiment_filter(text: &str) -> Result<Vec<ExperimentClause>, FilterError> {
    parse_conjunction(text, experiment_clause)
}

fn experiment_order_clause(text: &str) -> Result<ExperimentOrderBy, FilterError> {
    let (identifier, ascending) = parse_order_clause(text)?;
    if experiment_entity_is_tag(&identifier)? {
        let start = identifier.entity.as_ref().map_or(0, |e| e.start);
        return Err(error_at(start, "experiments cannot be ordered by tags"));
    }
    let key = match identifier.key.text.as_str() {
        "name" => ExperimentOrderKey::Name,
        "experiment_id" => ExperimentOrderKey::ExperimentId,
        "creation_time" => ExperimentOrderKey::CreationTime,
        "last_update_time" => ExperimentOrderKey::LastUpdateTime,
        other => {
            return Err(error_at(
                identifier.key.start,
                format!("invalid attribute key '{other}': valid keys are {EXPERIMENT_ATTRIBUTES}"),
            ));
        }
    };
    Ok(ExperimentOrderBy { key, ascending })
}

pub(crate) fn experiment_order_by(
    clauses: &[String],
) -> Result<Vec<ExperimentOrderBy>, FilterError> {
    order_list(clauses, experiment_order_clause, |entry| entry.key)
}

// ---------------------------------------------------------------------------------------------
// Logged models
// ---------------------------------------------------------------------------------------------

const MODEL_ATTRIBUTES: &str = "model_id, name, model_type, status, source_run_id, creation_timestamp \
                                (or creation_time), last_updated_timestamp (or last_updated_time)";

enum ModelAttribute {
    String(ModelStringAttribute),
    Time(ModelTimeAttribute),
}

fn model_attribute(key: &str) -> Option<ModelAttribute> {
    Some(match key {
        "model_id" => ModelAttribute::String(ModelStringAttribute::ModelId),
        "name" => ModelAttribute::String(ModelStringAttribute::Name),
        "model_type" => ModelAttribute::String(ModelStringAttribute::ModelType),
        "status" => ModelAttribute::String(ModelStringAttribute::Status),
        "source_run_id" => ModelAttribute::String(ModelStringAttribute::SourceRunId),
        "creation_timestamp" | "creation_time" => {
            ModelAttribute::Time(ModelTimeAttribute::CreationTimestamp)
        }
        "last_updated_timestamp" | "last_updated_time" => {
            ModelAttribute::Time(ModelTimeAttribute::LastUpdatedTimestamp)
        }
        _ => return None,
    })
}

fn logged_model_clause(condition: Condition) -> Result<LoggedModelClause, FilterError> {
    let key = condition.identifier.key.text.clone();
    match entity_of(&condition.identifier)? {
        Entity::Metric => {
            let (op, value) = float_value(&condition, &format!("metric '{key}'"))?;
            Ok(LoggedModelClause::Metric { key, op, value })
        }
        Entity::Param => {
            let predicate = string_predicate(&condition, &format!("param '{key}'"), KEY_VALUE_OPS)?;
            Ok(LoggedModelClause::Param { key, predicate })
        }
        Entity::Tag => {
            let predicate = string_predicate(&condition, &format!("tag '{key}'"), KEY_VALUE_OPS)?;
            Ok(LoggedModelClause::Tag { key, predicate })
        }
        Entity::Attribute => match model_attribute(&key) {
            Some(ModelAttribute::String(attribute)) => {
                let predicate =
                    string_predicate(&condition, &format!("attribute '{key}'"), ATTRIBUTE_OPS)?;
                Ok(LoggedModelClause::StringAttribute {
                    attribute,
                    predicate,
                })
            }
            Some(ModelAttribute::Time(attribute)) => {
                let (op, value) = integer_value(&condition, &format!("attribute '{key}'"))?;
                Ok(LoggedModelClause::TimeAttribute {
                    attribute,
                    op,
                    value,
                })
            }
            None => Err(error_at(
                condition.identifier.key.start,
                format!("invalid attribute key '{key}': valid keys are {MODEL_ATTRIBUTES}"),
            )),
        },
        Entity::Dataset => {
            let start = condition.identifier.entity.as_ref().map_or(0, |e| e.start);
            Err(error_at(
                start,
                "logged models cannot be filtered by dataset fields: use the datasets parameter of the search",
            ))
        }
    }
}

pub(crate) fn logged_model_filter(text: &str) -> Result<Vec<LoggedModelClause>, FilterError> {
    parse_conjunction(text, logged_model_clause)
}

/// `field_name` of a logged-models `order_by` entry: an attribute or `metrics.<key>` (the key is
/// taken verbatim, as MLflow does).
pub(crate) fn logged_model_order_field(
    field_name: &str,
    ascending: bool,
    dataset_name: Option<String>,
    dataset_digest: Option<String>,
) -> Result<LoggedModelOrderBy, FilterError> {
    let dataset_name = dataset_name.filter(|name| !name.is_empty());
    let dataset_digest = dataset_digest.filter(|digest| !digest.is_empty());
    if dataset_digest.is_some() && dataset_name.is_none() {
        return Err(FilterError::new(
            "dataset_digest can only be given together with dataset_name",
        ));
    }
    let key = if let Some((entity, key)) = field_name.split_once('.') {
        if entity != "metrics" {
            return Err(error_at(
                0,
                format!(
                    "invalid order_by field '{entity}': only attributes and metrics.<name> are allowed"
                ),
            ));
        }
        if key.is_empty() {
            return Err(error_at(
                field_name.len(),
                "expected a metric name after 'metrics.'",
            ));
        }
        LoggedModelOrderKey::Metric {
            key: key.to_string(),
            dataset_name,
            dataset_digest,
        }
    } else {
        match field_name.trim() {
            "model_id" => LoggedModelOrderKey::ModelId,
            "name" => LoggedModelOrderKey::Name,
            "creation_timestamp" | "creation_time" => LoggedModelOrderKey::CreationTimestamp,
            "last_updated_timestamp" | "last_updated_time" => {
                LoggedModelOrderKey::LastUpdatedTimestamp
            }
            "model_type" => LoggedModelOrderKey::ModelType,
            "status" => LoggedModelOrderKey::Status,
            "source_run_id" => LoggedModelOrderKey::SourceRunId,
            other => {
                return Err(FilterError::new(format!(
                    "invalid order_by field '{other}': valid fields are model_id, name, creation_timestamp, \
                     last_updated_timestamp, model_type, status, source_run_id and metrics.<name>"
                )));
            }
        }
    };
    Ok(LoggedModelOrderBy { key, ascending })
}

// ---------------------------------------------------------------------------------------------
// Model registry: registered models and model versions
// ---------------------------------------------------------------------------------------------

/// Registry tags: no lists, no nulls (as MLflow).
const REGISTRY_TAG_OPS: StringOps = StringOps {
    like: true,
    lists: false,
    nulls: false,
};

/// Registry searches accept only attributes (no prefix, or `attribute.`) and `tag(s).`.
fn registry_entity_is_tag(identifier: &Identifier, what: &str) -> Result<bool, FilterError> {
    match identifier
        .entity
        .as_ref()
        .map(|e| (e.text.as_str(), e.start))
    {
        None | Some(("attribute" | "attributes", _)) => Ok(false),
        Some(("tag" | "tags", _)) => Ok(true),
        Some((other, start)) => Err(error_at(
            start,
            format!("invalid entity type '{other}' for {what}: valid types are attribute, tags"),
        )),
    }
}

fn registered_model_clause(condition: Condition) -> Result<RegisteredModelClause, FilterError> {
    let key = condition.identifier.key.text.clone();
    if registry_entity_is_tag(&condition.identifier, "registered models")? {
        let predicate = string_predicate(&condition, &format!("tag '{key}'"), REGISTRY_TAG_OPS)?;
        return Ok(RegisteredModelClause::Tag { key, predicate });
    }
    match key.as_str() {
        "name" => Ok(RegisteredModelClause::Name(string_predicate(
            &condition,
            "attribute 'name'",
            ATTRIBUTE_OPS,
        )?)),
        other => Err(error_at(
            condition.identifier.key.start,
            format!(
                "invalid attribute key '{other}': registered models can be filtered by name and tags"
            ),
        )),
    }
}

pub(crate) fn registered_model_filter(
    text: &str,
) -> Result<Vec<RegisteredModelClause>, FilterError> {
    parse_conjunction(text, registered_model_clause)
}

fn registered_model_order_clause(text: &str) -> Result<RegisteredModelOrderBy, FilterError> {
    let (identifier, ascending) = parse_order_clause(text)?;
    if registry_entity_is_tag(&identifier, "registered models")? {
        let start = identifier.entity.as_ref().map_or(0, |e| e.start);
        return Err(error_at(
            start,
            "registered models cannot be ordered by tags",
        ));
    }
    let key = match identifier.key.text.as_str() {
        "name" => RegisteredModelOrderKey::Name,
        "creation_timestamp" => RegisteredModelOrderKey::CreationTimestamp,
        "timestamp" | "last_updated_timestamp" => RegisteredModelOrderKey::LastUpdatedTimestamp,
        other => {
            return Err(error_at(
                identifier.key.start,
                format!(
                    "invalid order_by key '{other}': valid keys are name, timestamp, \
                     last_updated_timestamp, creation_timestamp"
                ),
            ));
        }
    };
    Ok(RegisteredModelOrderBy { key, ascending })
}

pub(crate) fn registered_model_order_by(
    clauses: &[String],
) -> Result<Vec<RegisteredModelOrderBy>, FilterError> {
    order_list(clauses, registered_model_order_clause, |entry| entry.key)
}

const VERSION_ATTRIBUTES: &str = "name, run_id, source_path, version_number";

fn model_version_clause(condition: Condition) -> Result<ModelVersionClause, FilterError> {
    let key = condition.identifier.key.text.clone();
    if registry_entity_is_tag(&condition.identifier, "model versions")? {
        let predicate = string_predicate(&condition, &format!("tag '{key}'"), REGISTRY_TAG_OPS)?;
        return Ok(ModelVersionClause::Tag { key, predicate });
    }
    let subject = format!("attribute '{key}'");
    let attribute = match key.as_str() {
        "name" => VersionStringAttribute::Name,
        "run_id" => VersionStringAttribute::RunId,
        "source_path" => VersionStringAttribute::SourcePath,
        "version_number" => {
            let (op, value) = integer_value(&condition, &subject)?;
            return Ok(ModelVersionClause::VersionNumber { op, value });
        }
        other => {
            return Err(error_at(
                condition.identifier.key.start,
                format!(
                    "invalid attribute key '{other}': valid keys are {VERSION_ATTRIBUTES} and tags"
                ),
            ));
        }
    };
    Ok(ModelVersionClause::StringAttribute {
        attribute,
        predicate: string_predicate(&condition, &subject, ATTRIBUTE_OPS)?,
    })
}

pub(crate) fn model_version_filter(text: &str) -> Result<Vec<ModelVersionClause>, FilterError> {
    parse_conjunction(text, model_version_clause)
}

fn model_version_order_clause(text: &str) -> Result<ModelVersionOrderBy, FilterError> {
    let (identifier, ascending) = parse_order_clause(text)?;
    if registry_entity_is_tag(&identifier, "model versions")? {
        let start = identifier.entity.as_ref().map_or(0, |e| e.start);
        return Err(error_at(start, "model versions cannot be ordered by tags"));
    }
    let key = match identifier.key.text.as_str() {
        "name" => ModelVersionOrderKey::Name,
        "version_number" => ModelVersionOrderKey::VersionNumber,
        "creation_timestamp" => ModelVersionOrderKey::CreationTimestamp,
        "timestamp" | "last_updated_timestamp" => ModelVersionOrderKey::LastUpdatedTimestamp,
        other => {
            return Err(error_at(
                identifier.key.start,
                format!(
                    "invalid order_by key '{other}': valid keys are name, version_number, \
                     creation_timestamp, last_updated_timestamp"
                ),
            ));
        }
    };
    Ok(ModelVersionOrderBy { key, ascending })
}

pub(crate) fn model_version_order_by(
    clauses: &[String],
) -> Result<Vec<ModelVersionOrderBy>, FilterError> {
    order_list(clauses, model_version_order_clause, |entry| entry.key)
}

#[cfg(test)]
mod tests;
