//! The synthetic training curves the bench sends, and their JSON encoding.
//!
//! A series is a noisy loss curve `2·exp(-step/20000) + 0.05 + 0.02·noise` (noise: standard
//! normal), by default rounded to `f32` and widened back to `f64` — what a framework logging a
//! float32 tensor sends — or kept at full `f64` precision ([`Precision::F64`], the worst case for
//! the value codec). Steps go up by one; timestamps are `t0 + 50 ms · step` with ±3 ms of jitter.
//!
//! Every point is a pure function of (series seed, step) — the noise comes from a hash of the two,
//! not from a stateful generator — so bodies can be built in any order and a whole series can be
//! rebuilt at once (the reads bench does, to check what it reads back bit for bit).

use bytes::Bytes;
use serde::Serialize;

/// Start of every synthetic run's clock: 2025-01-01T00:00:00Z in milliseconds.
pub const T0_MS: i64 = 1_735_689_600_000;
/// Mean spacing of timestamps (ms).
pub const STEP_MS: i64 = 50;
/// Timestamp jitter: uniform in `[-JITTER_MS, JITTER_MS]`.
pub const JITTER_MS: i64 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// Values are exactly representable as `f32` (the realistic case).
    F32,
    /// Full-precision `f64` noise in every value.
    F64,
}

/// One metric series: a seed and a precision.
#[derive(Debug, Clone, Copy)]
pub struct Curve {
    pub seed: u64,
    pub precision: Precision,
}

/// Columns of a stretch of points.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stretch {
    pub steps: Vec<i64>,
    pub timestamps: Vec<i64>,
    pub values: Vec<f64>,
}

/// splitmix64 of a combination: a well-mixed 64-bit hash of (a, b).
fn mix(a: u64, b: u64) -> u64 {
    let mut z = a
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(b)
        .wrapping_add(0x6A09_E667_F3BC_C908);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform double in `[0, 1)` from a hash.
fn unit(hash: u64) -> f64 {
    (hash >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A standard normal sample for (seed, step) (Box–Muller on two hashed uniforms).
fn normal(seed: u64, step: i64) -> f64 {
    let h = mix(seed, step as u64);
    let u1 = 1.0 - unit(h); // (0, 1]
    let u2 = unit(mix(h, 0x5EED));
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The timestamp of a step (the same for every key logged at that step).
pub fn timestamp(step: i64) -> i64 {
    let jitter = (mix(0x7157, step as u64) % (2 * JITTER_MS as u64 + 1)) as i64 - JITTER_MS;
    T0_MS + step * STEP_MS + jitter
}

/// Timestamps of steps `first..first+count`.
pub fn timestamps(first: i64, count: usize) -> Vec<i64> {
    (first..first + count as i64).map(timestamp).collect()
}

impl Curve {
    pub fn new(seed: u64, precision: Precision) -> Curve {
        Curve { seed, precision }
    }

    /// Values at steps `first..first+count`.
    pub fn values(&self, first: i64, count: usize) -> Vec<f64> {
        (first..first + count as i64)
            .map(|step| {
                let x = step as f64;
                let value = 2.0 * (-x / 20_000.0).exp() + 0.05 + normal(self.seed, step) * 0.02;
                match self.precision {
                    Precision::F32 => (value as f32) as f64,
                    Precision::F64 => value,
                }
            })
            .collect()
    }

    /// Steps, timestamps and values of steps `first..first+count`.
    pub fn stretch(&self, first: i64, count: usize) -> Stretch {
        Stretch {
            steps: (first..first + count as i64).collect(),
            timestamps: timestamps(first, count),
            values: self.values(first, count),
        }
    }
}

#[derive(Serialize)]
struct IngestSeries<'a> {
    key: &'a str,
    steps: &'a [i64],
    timestamps: &'a [i64],
    values: &'a [f64],
}

#[derive(Serialize)]
struct IngestBody<'a> {
    metrics: Vec<IngestSeries<'a>>,
}

/// The `POST /api/v1/runs/{id}/metrics` body for steps `first..first+count` of each
/// `(key, curve)`: `{"metrics":[{"key","steps","timestamps","values"}, ...]}`.
pub fn ingest_body(series: &[(String, Curve)], first: i64, count: usize) -> Bytes {
    ingest_body_stamped(series, first, count, &timestamps(first, count))
}

/// [`ingest_body`] with the given timestamps (one per step, shared by every key) instead of the
/// synthetic clock: the stream bench puts the send time there.
pub fn ingest_body_stamped(
    series: &[(String, Curve)],
    first: i64,
    count: usize,
    stamps: &[i64],
) -> Bytes {
    let steps: Vec<i64> = (first..first + count as i64).collect();
    let values: Vec<Vec<f64>> = series
        .iter()
        .map(|(_, curve)| curve.values(first, count))
        .collect();
    let body = IngestBody {
        metrics: series
            .iter()
            .zip(&values)
            .map(|((key, _), values)| IngestSeries {
                key,
                steps: &steps,
                timestamps: stamps,
                values,
            })
            .collect(),
    };
    // Serializing plain numbers and strings into a Vec cannot fail.
    Bytes::from(serde_json::to_vec(&body).expect("JSON encoding of an ingest body"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stretches_are_reproducible_and_f32_exact() {
        let curve = Curve::new(7, Precision::F32);
        let a = curve.stretch(1_000, 500);
        let b = curve.stretch(1_000, 500);
        assert_eq!(a, b);
        // Independent of how a series is cut into requests.
        let mut joined = curve.stretch(1_000, 200);
        let rest = curve.stretch(1_200, 300);
        joined.steps.extend(rest.steps);
        joined.timestamps.extend(rest.timestamps);
        joined.values.extend(rest.values);
        assert_eq!(a, joined);
        let mean = a
            .steps
            .iter()
            .zip(&a.values)
            .map(|(step, v)| v - 2.0 * (-(*step as f64) / 20_000.0).exp() - 0.05)
            .sum::<f64>()
            / 500.0;
        assert!(mean.abs() < 0.01, "noise mean {mean}");
        assert!(a.values.iter().all(|v| (*v as f32) as f64 == *v));
        assert!(a.timestamps.windows(2).all(|w| {
            let gap = w[1] - w[0];
            (STEP_MS - 2 * JITTER_MS..=STEP_MS + 2 * JITTER_MS).contains(&gap)
        }));
        let wide = Curve::new(7, Precision::F64).values(1_000, 500);
        assert!(wide.iter().any(|v| (*v as f32) as f64 != *v));
    }

    #[test]
    fn bodies_are_the_documented_json() {
        let series = vec![
            ("loss".to_string(), Curve::new(1, Precision::F32)),
            ("acc".to_string(), Curve::new(2, Precision::F32)),
        ];
        let body = ingest_body(&series, 10, 3);
        let parsed: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(parsed["metrics"][0]["key"], "loss");
        assert_eq!(
            parsed["metrics"][1]["steps"],
            serde_json::json!([10, 11, 12])
        );
        assert_eq!(parsed["metrics"][1]["values"].as_array().unwrap().len(), 3);
        let back: Vec<f64> =
            serde_json::from_value(parsed["metrics"][0]["values"].clone()).unwrap();
        assert_eq!(back, series[0].1.values(10, 3));
    }
}
