//! Experiments: create, read, rename, lifecycle, tags, search, keys.

use postgres::Transaction;

use super::sql;
use crate::Result;

/// Makes sure the `Default` experiment (id 0) exists.
pub fn ensure_default(tx: &mut Transaction<'_>) -> Result<()> {
    let now = sql::now_ms();
    tx.execute(
        "INSERT INTO experiments (experiment_id, name, artifact_location, lifecycle_stage, creation_time, last_update_time)
         VALUES (0, 'Default', 'mlflow-artifacts:/0', 'active', $1, $1)
         ON CONFLICT DO NOTHING",
        &[&now],
    )?;
    Ok(())
}
