//! Small helpers for reporting: percentiles of latency samples, a shared latency histogram (for
//! more samples than fit in memory), number formatting and an aligned markdown table printer
//! (every result table of the bench goes through [`Table`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Latency samples in milliseconds, sorted once for percentile queries.
#[derive(Debug, Clone, Default)]
pub struct Samples {
    ms: Vec<f64>,
}

impl Samples {
    pub fn from_durations(durations: impl IntoIterator<Item = Duration>) -> Samples {
        let mut ms: Vec<f64> = durations
            .into_iter()
            .map(|d| d.as_secs_f64() * 1e3)
            .collect();
        ms.sort_by(f64::total_cmp);
        Samples { ms }
    }

    pub fn len(&self) -> usize {
        self.ms.len()
    }

    /// Nearest-rank percentile (`p` in 0..=100); 0 when there are no samples.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.ms.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.ms.len() as f64).ceil() as usize;
        self.ms[rank.clamp(1, self.ms.len()) - 1]
    }

    pub fn max(&self) -> f64 {
        self.ms.last().copied().unwrap_or(0.0)
    }
}

/// Width of a [`Histogram`] bucket (ms).
pub const BUCKET_MS: f64 = 0.1;
/// Buckets of a [`Histogram`]: 0.1 ms wide up to 10 s; later samples go to one overflow bucket.
const BUCKETS: usize = 100_000;
/// Where a [`Histogram`]'s buckets end (ms).
pub const HISTOGRAM_LIMIT_MS: f64 = BUCKETS as f64 * BUCKET_MS;

/// Latency samples in milliseconds counted in 0.1 ms buckets up to 10 s (beyond that one overflow
/// bucket; the exact maximum is kept too). Many threads may record at once: each record is a
/// relaxed atomic add, and the memory is fixed (800 KB) however many samples come.
#[derive(Debug)]
pub struct Histogram {
    buckets: Box<[AtomicU64]>,
    max_us: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            buckets: (0..=BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            max_us: AtomicU64::new(0),
        }
    }

    /// Counts `count` samples of `ms` milliseconds (negative values count as 0).
    pub fn record(&self, ms: f64, count: u64) {
        if count == 0 {
            return;
        }
        let ms = ms.max(0.0);
        let index = ((ms / BUCKET_MS) as usize).min(BUCKETS);
        self.buckets[index].fetch_add(count, Ordering::Relaxed);
        self.max_us
            .fetch_max((ms * 1e3).round() as u64, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    /// Nearest-rank percentile (`p` in 0..=100) as the upper edge of its bucket; infinite when it
    /// falls in the overflow bucket (over [`HISTOGRAM_LIMIT_MS`]); 0 when empty.
    pub fn percentile(&self, p: f64) -> f64 {
        let total = self.count();
        if total == 0 {
            return 0.0;
        }
        let rank = (((p / 100.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, bucket) in self.buckets.iter().enumerate() {
            seen += bucket.load(Ordering::Relaxed);
            if seen >= rank {
                return if index == BUCKETS {
                    f64::INFINITY
                } else {
                    ((index + 1) as f64 * BUCKET_MS).min(self.max())
                };
            }
        }
        self.max()
    }

    pub fn max(&self) -> f64 {
        self.max_us.load(Ordering::Relaxed) as f64 / 1e3
    }
}

/// `1234567` → `"1,234,567"`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, c) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A byte count for humans: `512 B`, `3.4 KiB`, `12.0 MiB`.
pub fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let n = n as f64;
    if n < KIB {
        format!("{n} B")
    } else if n < KIB * KIB {
        format!("{:.1} KiB", n / KIB)
    } else if n < KIB * KIB * KIB {
        format!("{:.1} MiB", n / (KIB * KIB))
    } else {
        format!("{:.2} GiB", n / (KIB * KIB * KIB))
    }
}

/// Milliseconds with a precision that suits the magnitude.
pub fn ms(value: f64) -> String {
    if value < 10.0 {
        format!("{value:.2}")
    } else if value < 100.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.0}")
    }
}

/// [`ms`], or `>10000` for a percentile past a [`Histogram`]'s last bucket.
pub fn histogram_ms(value: f64) -> String {
    if value.is_finite() {
        ms(value)
    } else {
        format!(">{HISTOGRAM_LIMIT_MS:.0}")
    }
}

/// An aligned markdown table.
#[derive(Debug)]
pub struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(head: &[&str]) -> Table {
        Table {
            head: head.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        assert_eq!(cells.len(), self.head.len(), "table row width");
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let mut widths: Vec<usize> = self.head.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:<width$}"))
                .collect();
            println!("| {} |", padded.join(" | "));
        };
        line(&self.head);
        let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
        println!("|-{}-|", rule.join("-|-"));
        for row in &self.rows {
            line(row);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_nearest_rank() {
        let samples = Samples::from_durations((1..=100).rev().map(Duration::from_millis));
        assert_eq!(samples.percentile(50.0), 50.0);
        assert_eq!(samples.percentile(99.0), 99.0);
        assert_eq!(samples.percentile(0.0), 1.0);
        assert_eq!(samples.max(), 100.0);
        assert_eq!(Samples::default().percentile(50.0), 0.0);
    }

    #[test]
    fn histogram_percentiles_are_bucket_edges() {
        let histogram = Histogram::new();
        assert_eq!(histogram.percentile(99.0), 0.0);
        for ms in 1..=100 {
            histogram.record(ms as f64 - 0.05, 1);
        }
        histogram.record(-3.0, 0);
        assert_eq!(histogram.count(), 100);
        assert!((histogram.percentile(50.0) - 50.0).abs() < 1e-9);
        assert!((histogram.percentile(99.0) - 99.0).abs() < 1e-9);
        assert!((histogram.max() - 99.95).abs() < 1e-9);
        // Weights, negatives and the overflow bucket.
        let histogram = Histogram::new();
        histogram.record(-1.0, 98);
        histogram.record(12_345.0, 2);
        assert!((histogram.percentile(98.0) - 0.1).abs() < 1e-9);
        assert_eq!(histogram.percentile(99.0), f64::INFINITY);
        assert_eq!(histogram_ms(histogram.percentile(99.0)), ">10000");
        assert_eq!(histogram.max(), 12_345.0);
    }

    #[test]
    fn numbers_are_readable() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(12_345_678), "12,345,678");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MiB");
    }
}
