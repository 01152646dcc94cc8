//! Tables as Parquet files, through the `parquet` crate (Apache Arrow's Rust implementation,
//! built without Arrow itself): every column optional; text as UTF-8 strings, integers as
//! INT64 (milliseconds since the epoch as UTC timestamps), doubles as DOUBLE; Snappy
//! compression and dictionary encoding (which keeps a column of repeated run ids small). A
//! table is written as row groups, so a metric history of any length streams through in
//! bounded memory.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use parquet::basic::{Compression, LogicalType, Repetition, TimeUnit, Type as PhysicalType};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use super::table::{Cells, IntKind, Table};

/// Writes row groups of one schema (the first table's columns) into a Parquet file.
pub struct Writer {
    inner: SerializedFileWriter<File>,
    names: Vec<String>,
}

/// The Parquet schema of `table`'s columns.
fn schema(table: &Table) -> anyhow::Result<Type> {
    let mut fields = Vec::new();
    for (name, cells) in &table.columns {
        let (physical, logical) = match cells {
            Cells::Text(_) => (PhysicalType::BYTE_ARRAY, Some(LogicalType::String)),
            Cells::Int(IntKind::Plain, _) => (PhysicalType::INT64, None),
            Cells::Int(IntKind::Millis, _) => (
                PhysicalType::INT64,
                Some(LogicalType::timestamp(true, TimeUnit::MILLIS)),
            ),
            Cells::Float(_) => (PhysicalType::DOUBLE, None),
        };
        let field = Type::primitive_type_builder(name, physical)
            .with_repetition(Repetition::OPTIONAL)
            .with_logical_type(logical)
            .build()
            .with_context(|| format!("the Parquet column '{name}'"))?;
        fields.push(Arc::new(field));
    }
    Ok(Type::group_type_builder("schema")
        .with_fields(fields)
        .build()?)
}

/// The present values of a column and its definition levels (1 present, 0 empty).
fn present<T: Clone, U>(cells: &[Option<T>], convert: impl Fn(&T) -> U) -> (Vec<U>, Vec<i16>) {
    let mut values = Vec::with_capacity(cells.len());
    let mut levels = Vec::with_capacity(cells.len());
    for cell in cells {
        match cell {
            Some(value) => {
                values.push(convert(value));
                levels.push(1);
            }
            None => levels.push(0),
        }
    }
    (values, levels)
}

impl Writer {
    /// Creates `path` for tables with `like`'s columns.
    pub fn create(path: &Path, like: &Table) -> anyhow::Result<Writer> {
        let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(concat!("cairn ", env!("CARGO_PKG_VERSION")).to_string())
            .build();
        let inner = SerializedFileWriter::new(file, Arc::new(schema(like)?), Arc::new(properties))?;
        Ok(Writer {
            inner,
            names: like.columns.iter().map(|(n, _)| n.clone()).collect(),
        })
    }

    /// Appends `table` (the same columns as the file's) as one row group.
    pub fn write(&mut self, table: &Table) -> anyhow::Result<()> {
        let names: Vec<&String> = table.columns.iter().map(|(n, _)| n).collect();
        anyhow::ensure!(
            names.iter().copied().eq(self.names.iter()),
            "a row group's columns differ from the file's"
        );
        if table.rows() == 0 {
            return Ok(());
        }
        let mut group = self.inner.next_row_group()?;
        for (name, cells) in &table.columns {
            let mut column = group
                .next_column()?
                .with_context(|| format!("the Parquet file has no column '{name}'"))?;
            match cells {
                Cells::Text(cells) => {
                    let (values, levels) = present(cells, |s| ByteArray::from(s.as_str()));
                    column
                        .typed::<ByteArrayType>()
                        .write_batch(&values, Some(&levels), None)?;
                }
                Cells::Int(_, cells) => {
                    let (values, levels) = present(cells, |n| *n);
                    column
                        .typed::<Int64Type>()
                        .write_batch(&values, Some(&levels), None)?;
                }
                Cells::Float(cells) => {
                    let (values, levels) = present(cells, |v| *v);
                    column
                        .typed::<DoubleType>()
                        .write_batch(&values, Some(&levels), None)?;
                }
            }
            column.close()?;
        }
        group.close()?;
        Ok(())
    }

    /// Writes the footer.
    pub fn finish(self) -> anyhow::Result<()> {
        self.inner.close()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::Field;

    #[test]
    fn tables_round_trip_through_the_parquet_reader() {
        let mut table = Table::default();
        table.push("run_id", Cells::Text(vec![Some("a".into()), None]));
        table.push("params.lr", Cells::Text(vec![None, Some("0.1".into())]));
        table.push(
            "start_time",
            Cells::Int(IntKind::Millis, vec![Some(5), None]),
        );
        table.push(
            "metrics.loss",
            Cells::Float(vec![Some(f64::NAN), Some(0.25)]),
        );
        let path = std::env::temp_dir().join(format!("cairn-pq-{}.parquet", std::process::id()));
        let mut writer = Writer::create(&path, &table).unwrap();
        writer.write(&table).unwrap();
        writer.write(&table).unwrap();
        writer.finish().unwrap();

        let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 2);
        let rows: Vec<_> = reader
            .get_row_iter(None)
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(rows.len(), 4);
        let first: Vec<(&String, &Field)> = rows[0].get_column_iter().collect();
        assert_eq!(first[0], (&"run_id".to_string(), &Field::Str("a".into())));
        assert_eq!(first[1].1, &Field::Null);
        assert_eq!(first[2].1, &Field::TimestampMillis(5));
        assert!(matches!(first[3].1, Field::Double(v) if v.is_nan()));
        let second: Vec<(&String, &Field)> = rows[1].get_column_iter().collect();
        assert_eq!(second[1].1, &Field::Str("0.1".into()));
        assert_eq!(second[3].1, &Field::Double(0.25));
        std::fs::remove_file(&path).unwrap();

        let mut other = Table::default();
        other.push("x", Cells::Float(vec![Some(1.0)]));
        let path = std::env::temp_dir().join(format!("cairn-pq2-{}.parquet", std::process::id()));
        let mut writer = Writer::create(&path, &table).unwrap();
        assert!(writer.write(&other).is_err());
        std::fs::remove_file(&path).unwrap();
    }
}
