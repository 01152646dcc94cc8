//! The single writer thread and its group commit.
//!
//! Every write is a job: a closure run against the one write [`Connection`]. The thread takes the
//! first queued job, then whatever else is already queued (up to [`MAX_GROUP`]), and runs them in
//! one transaction, each inside its own `SAVEPOINT`: a job that fails rolls back only its own
//! savepoint and gets its own error. The transaction is committed once, and only then is every
//! job answered; if the `COMMIT` fails, every job of the group gets an `Internal` error. So an
//! `Ok` always means "committed", and one fsync is shared by every write of the group.
//!
//! The queue is bounded ([`QUEUE_DEPTH`]): when it is full, async callers wait in `send` (back
//! pressure) instead of growing memory. When every sender is gone the thread drains what is
//! queued and exits.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use crate::StoreError;

/// Jobs waiting for the writer before callers are made to wait.
pub const QUEUE_DEPTH: usize = 1024;
/// Most jobs committed by one transaction.
pub const MAX_GROUP: usize = 256;

/// A unit of work for the writer.
pub trait Job: Send {
    /// Runs the work inside the current savepoint; `false` when it failed (and must be rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller once the fate of the transaction is known.
    fn answer(self: Box<Self>, committed: Result<(), GroupError>);
}

type Work<T> = Box<dyn FnOnce(&Connection) -> Result<T, StoreError> + Send>;

/// A job returning `T` to an awaiting caller.
pub struct TypedJob<T> {
    work: Option<Work<T>>,
    outcome: Option<Result<T, StoreError>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T: Send + 'static> TypedJob<T> {
    pub fn boxed(work: Work<T>) -> (Box<dyn Job>, oneshot::Receiver<Result<T, StoreError>>) {
        let (reply, receiver) = oneshot::channel();
        (
            Box::new(TypedJob {
                work: Some(work),
                outcome: None,
                reply,
            }),
            receiver,
        )
    }
}

impl<T: Send + 'static> Job for TypedJob<T> {
    fn run(&mut self, conn: &Connection) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| work(conn)))
            .unwrap_or_else(|_| Err(StoreError::Internal("write job panicked".to_string())));
        let ok = outcome.is_ok();
        self.outcome = Some(outcome);
        ok
    }

    fn answer(self: Box<Self>, committed: Result<(), GroupError>) {
        let this = *self;
        let result = match (committed, this.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            (Ok(()), None) => Err(StoreError::Internal("write job never ran".to_string())),
            // A job that failed on its own keeps its own error: nothing of it was to be committed.
            (Err(_), Some(Err(own))) => Err(own),
            (Err(error), _) if error.disk_full => Err(StoreError::Unavailable(format!(
                "the database could not take this write ({}; is its disk full?): retry",
                error.message
            ))),
            (Err(error), _) => Err(StoreError::Internal(error.message)),
        };
        // The caller may have gone away (request cancelled); the write stands regardless.
        let _ = this.reply.send(result);
    }
}

/// The writer thread's body: group, commit, answer, until every sender is dropped.
pub fn run_writer(conn: Connection, mut queue: mpsc::Receiver<Box<dyn Job>>) {
    while let Some(first) = queue.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let committed = commit_group(&conn, &mut group);
        if let Err(error) = &committed {
            tracing::error!(error = %error.message, jobs = group.len(), "group commit failed");
        }
        for job in group {
            job.answer(committed.clone());
        }
    }
    // Fold the WAL into the database before closing, so a stopped server leaves one file.
    if let Err(error) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(%error, "checkpoint at shutdown failed");
    }
    tracing::debug!("sqlite writer stopped");
}

/// Why a group was not committed; `disk_full` when SQLite ran out of space or rolled the whole
/// transaction back itself after a failed write (it does so on a full disk, an I/O error or no
/// memory): conditions that pass or that the operator fixes, answered as "unavailable", not as a
/// fault of the server.
#[derive(Debug, Clone)]
pub struct GroupError {
    pub message: String,
    pub disk_full: bool,
}

fn group_error(step: &str) -> impl Fn(rusqlite::Error) -> GroupError + '_ {
    move |error| GroupError {
        disk_full: super::is_disk_full(&error),
        message: format!("{step} failed: {error}"),
    }
}

fn commit_group(conn: &Connection, group: &mut [Box<dyn Job>]) -> Result<(), GroupError> {
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(group_error("begin"))?;
    let outcome = run_jobs(conn, group)
        .and_then(|()| conn.execute_batch("COMMIT").map_err(group_error("commit")));
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}

fn run_jobs(conn: &Connection, group: &mut [Box<dyn Job>]) -> Result<(), GroupError> {
    for job in group.iter_mut() {
        conn.execute_batch("SAVEPOINT job")
            .map_err(group_error("savepoint"))?;
        let closing = if job.run(conn) {
            "RELEASE job"
        } else if conn.is_autocommit() {
            // SQLite rolled the whole transaction back: the group's earlier jobs are gone too.
            return Err(GroupError {
                message: "SQLite rolled the transaction back after a failed write".into(),
                disk_full: true,
            });
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        conn.execute_batch(closing)
            .map_err(group_error("savepoint release"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job<T: Send + 'static>(
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> (Box<dyn Job>, oneshot::Receiver<Result<T, StoreError>>) {
        TypedJob::boxed(Box::new(work))
    }

    fn insert(value: i64) -> impl FnOnce(&Connection) -> Result<(), StoreError> + Send + 'static {
        move |conn| {
            conn.execute("INSERT INTO t (x) VALUES (?1)", [value])?;
            Ok(())
        }
    }

    /// Queues every job before the writer starts, so they all land in one group.
    fn run_group(conn: Connection, jobs: Vec<Box<dyn Job>>) {
        let (sender, receiver) = mpsc::channel(QUEUE_DEPTH);
        for job in jobs {
            assert!(sender.try_send(job).is_ok(), "queue has room");
        }
        drop(sender);
        run_writer(conn, receiver);
    }

    #[test]
    fn a_failing_job_rolls_back_only_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
        let (first, first_answer) = job(insert(1));
        let (failing, failing_answer) = job(|conn| {
            conn.execute("INSERT INTO t (x) VALUES (2)", [])?;
            Err::<(), _>(StoreError::InvalidArgument("nope".into()))
        });
        let (last, last_answer) = job(insert(3));
        run_group(conn, vec![first, failing, last]);
        assert!(first_answer.blocking_recv().unwrap().is_ok());
        assert_eq!(
            failing_answer
                .blocking_recv()
                .unwrap()
                .unwrap_err()
                .to_string(),
            "nope"
        );
        assert!(last_answer.blocking_recv().unwrap().is_ok());
        let check = Connection::open(&path).unwrap();
        let values: Vec<i64> = check
            .prepare("SELECT x FROM t ORDER BY x")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .map(|v| v.unwrap())
            .collect();
        assert_eq!(values, vec![1, 3]);
    }

    #[test]
    fn a_full_disk_is_unavailable_and_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        // A database that may not grow past a few pages stands in for a full disk: SQLite
        // answers SQLITE_FULL exactly as when a write finds no space.
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        conn.execute_batch(&format!("PRAGMA max_page_count = {}", pages + 2))
            .unwrap();
        let big = |conn: &Connection| {
            conn.execute("INSERT INTO t (x) VALUES (zeroblob(1000000))", [])?;
            Ok(())
        };
        let (full, full_answer) = job(big);
        let (small, small_answer) = job(|conn| {
            conn.execute("INSERT INTO t (x) VALUES (x'01')", [])?;
            Ok(())
        });
        run_group(conn, vec![full, small]);
        let error = full_answer.blocking_recv().unwrap().unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Unavailable, "{error}");
        assert!(error.to_string().contains("full"), "{error}");
        // SQLite rolls the whole transaction back on a full disk: the group's other writes are
        // refused as unavailable too (to be retried), never as an internal error.
        let error = small_answer.blocking_recv().unwrap().unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Unavailable, "{error}");
        let check = Connection::open(&path).unwrap();
        let ok: String = check
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
        check
            .execute("INSERT INTO t (x) VALUES (x'01')", [])
            .expect("the database takes writes once there is room");
    }

    #[test]
    fn a_failed_commit_fails_every_job_of_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        // A deferred foreign key is checked at COMMIT: an orphan row makes the commit fail.
        conn.execute_batch(
            "PRAGMA foreign_keys = ON;
             CREATE TABLE parent (id INTEGER PRIMARY KEY);
             CREATE TABLE t (x INTEGER REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .unwrap();
        let (orphan, orphan_answer) = job(insert(42));
        let (innocent, innocent_answer) = job(|conn| {
            conn.execute("INSERT INTO parent (id) VALUES (7)", [])?;
            Ok(())
        });
        run_group(conn, vec![orphan, innocent]);
        for answer in [orphan_answer, innocent_answer] {
            let error = answer.blocking_recv().unwrap().unwrap_err();
            assert_eq!(error.kind(), crate::ErrorKind::Internal, "{error}");
        }
        let check = Connection::open(&path).unwrap();
        let parents: i64 = check
            .query_row("SELECT count(*) FROM parent", [], |r| r.get(0))
            .unwrap();
        assert_eq!(parents, 0, "nothing of the group was committed");
    }
}
