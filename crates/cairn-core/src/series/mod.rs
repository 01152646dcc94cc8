//! Metric series: the point type, value summaries, the compressed chunk codec and screen-resolution
//! bucketing. Pure computation shared by every storage backend.
//!
//! Module map:
//! - this file: [`Point`], its canonical order, and [`Summary`] (count, NaN count, min, max, sum,
//!   first and last point) with an associative merge.
//! - [`codec`]: the versioned chunk format: independently decodable blocks of points, each with a
//!   summary, so readers can answer a range from summaries and decode only the blocks at its edges.
//! - [`buckets`]: fixed-grid downsampling (min, max, mean, last and count per bucket) that stays
//!   stable as a series grows.
//!
//! **Architecture Invariant:** a series is a multiset of points in canonical order
//! ([`Point::cmp_canonical`]); identical points (same step, timestamp and value bits) are kept
//! once. Every reader returns points in that order.

use std::cmp::Ordering;

pub mod buckets;
pub mod codec;

/// One metric point. NaN values are canonical (`f64::NAN`'s bit pattern) once stored.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub step: i64,
    /// Milliseconds since the Unix epoch.
    pub timestamp: i64,
    pub value: f64,
}

impl Point {
    pub fn new(step: i64, timestamp: i64, value: f64) -> Point {
        Point {
            step,
            timestamp,
            value: canonical_value(value),
        }
    }

    /// The canonical order: step, then timestamp, then value with NaN above every number
    /// (`-0.0` sorts below `0.0`; both are kept).
    pub fn cmp_canonical(&self, other: &Point) -> Ordering {
        self.step
            .cmp(&other.step)
            .then(self.timestamp.cmp(&other.timestamp))
            .then_with(|| cmp_values(self.value, other.value))
    }

    /// Same step, timestamp and value bits (NaNs being canonical).
    pub fn same_as(&self, other: &Point) -> bool {
        self.step == other.step
            && self.timestamp == other.timestamp
            && self.value.to_bits() == other.value.to_bits()
    }
}

/// Every NaN becomes `f64::NAN`, so that stored NaNs compare and deduplicate as one value.
pub fn canonical_value(value: f64) -> f64 {
    if value.is_nan() { f64::NAN } else { value }
}

/// Numbers in `total_cmp` order, NaN above all of them.
pub fn cmp_values(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => a.total_cmp(&b),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (true, true) => Ordering::Equal,
    }
}

/// Sorts points canonically and drops exact duplicates.
pub fn normalize(points: &mut Vec<Point>) {
    for point in points.iter_mut() {
        point.value = canonical_value(point.value);
    }
    points.sort_by(Point::cmp_canonical);
    points.dedup_by(|later, earlier| later.same_as(earlier));
}

/// The smaller in `total_cmp` order (so `-0.0` is below `0.0`, whatever the argument order).
fn total_min(a: f64, b: f64) -> f64 {
    if b.total_cmp(&a).is_lt() { b } else { a }
}

fn total_max(a: f64, b: f64) -> f64 {
    if b.total_cmp(&a).is_gt() { b } else { a }
}

/// Retention thinning (M4): the points to keep — per bucket of `resolution` steps, the first and last point and the points
/// with the smallest and largest value (NaN never counts as either). Input and output are in
/// canonical order.
pub fn thin(points: &[Point], resolution: i64) -> Vec<Point> {
    let mut keep = Vec::new();
    let mut start = 0;
    while start < points.len() {
        let bucket = points[start].step.div_euclid(resolution);
        let end = start
            + points[start..]
                .iter()
                .position(|p| p.step.div_euclid(resolution) != bucket)
                .unwrap_or(points.len() - start);
        let group = &points[start..end];
        let mut chosen = vec![0, group.len() - 1];
        let numbers = group.iter().enumerate().filter(|(_, p)| !p.value.is_nan());
        if let Some((min, _)) = numbers
            .clone()
            .min_by(|a, b| cmp_values(a.1.value, b.1.value).then(a.0.cmp(&b.0)))
        {
            chosen.push(min);
        }
        if let Some((max, _)) =
            numbers.max_by(|a, b| cmp_values(a.1.value, b.1.value).then(b.0.cmp(&a.0)))
        {
            chosen.push(max);
        }
        chosen.sort_unstable();
        chosen.dedup();
        keep.extend(chosen.into_iter().map(|i| group[i]));
        start = end;
    }
    keep
}

/// Statistics over a set of points. `min`, `max` and `sum` ignore NaN (infinities count; `min`
/// and `max` order `-0.0` below `0.0`);
/// `first` and `last` are the first and last points in the order they were added.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Summary {
    pub count: u64,
    pub nans: u64,
    pub min: f64,
    pub max: f64,
    pub sum: f64,
    pub first: Option<Point>,
    pub last: Option<Point>,
}

impl Summary {
    pub fn of(points: &[Point]) -> Summary {
        let mut summary = Summary::default();
        for point in points {
            summary.add(*point);
        }
        summary
    }

    pub fn add(&mut self, point: Point) {
        if self.count == 0 {
            self.first = Some(point);
            self.min = f64::INFINITY;
            self.max = f64::NEG_INFINITY;
        }
        self.count += 1;
        if point.value.is_nan() {
            self.nans += 1;
        } else {
            self.min = total_min(self.min, point.value);
            self.max = total_max(self.max, point.value);
            self.sum += point.value;
        }
        self.last = Some(point);
    }

    /// Appends `later`, whose points come after this summary's points.
    pub fn merge(&mut self, later: &Summary) {
        if later.count == 0 {
            return;
        }
        if self.count == 0 {
            *self = *later;
            return;
        }
        self.count += later.count;
        self.nans += later.nans;
        if later.numbers() > 0 {
            self.min = total_min(self.min, later.min);
            self.max = total_max(self.max, later.max);
            self.sum += later.sum;
        }
        self.last = later.last;
    }

    /// Points that are not NaN.
    pub fn numbers(&self) -> u64 {
        self.count - self.nans
    }

    /// `None` when every point is NaN (or there are none).
    pub fn min_max(&self) -> Option<(f64, f64)> {
        (self.numbers() > 0).then_some((self.min, self.max))
    }

    pub fn mean(&self) -> Option<f64> {
        (self.numbers() > 0).then(|| self.sum / self.numbers() as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_order_puts_nan_last_and_keeps_signed_zeros() {
        let mut points = vec![
            Point::new(1, 0, f64::NAN),
            Point::new(1, 0, 0.0),
            Point::new(1, 0, -0.0),
            Point::new(0, 5, 3.0),
            Point::new(1, 0, f64::from_bits(f64::NAN.to_bits() | 1)),
            Point::new(1, 0, 0.0),
        ];
        normalize(&mut points);
        assert_eq!(points.len(), 4);
        assert_eq!(points[0], Point::new(0, 5, 3.0));
        assert_eq!(points[1].value.to_bits(), (-0.0f64).to_bits());
        assert_eq!(points[2].value.to_bits(), 0.0f64.to_bits());
        assert!(points[3].value.is_nan());
    }

    #[test]
    fn summary_merge_equals_summary_of_concatenation() {
        let a = [Point::new(0, 0, 2.0), Point::new(1, 0, f64::NAN)];
        let b = [Point::new(2, 0, -1.0), Point::new(3, 0, f64::INFINITY)];
        let mut merged = Summary::of(&a);
        merged.merge(&Summary::of(&b));
        let all: Vec<Point> = a.iter().chain(b.iter()).copied().collect();
        assert_eq!(merged, Summary::of(&all));
        assert_eq!(merged.min_max(), Some((-1.0, f64::INFINITY)));
        assert_eq!(merged.nans, 1);
        assert_eq!(merged.last, Some(b[1]));
        assert_eq!(Summary::of(&[Point::new(0, 0, f64::NAN)]).mean(), None);
    }

    #[test]
    fn thinning_keeps_first_last_min_and_max_per_bucket() {
        let values = [5.0, 1.0, f64::NAN, 9.0, 3.0, 2.0, 2.0, 7.0];
        let points: Vec<Point> = values
            .iter()
            .enumerate()
            .map(|(i, v)| Point::new(i as i64, 0, *v))
            .collect();
        let kept = thin(&points, 4);
        let steps: Vec<i64> = kept.iter().map(|p| p.step).collect();
        // Bucket 0..3: first 5 (0), min 1 (1), max 9 (3), last 9 (3). Bucket 4..7: first 3 (4),
        // min 2 (5, the first of two), max 7 (7), last 7 (7).
        assert_eq!(steps, vec![0, 1, 3, 4, 5, 7]);
        assert_eq!(thin(&points, 1).len(), points.len());
        let all_nan = [
            Point::new(0, 0, f64::NAN),
            Point::new(1, 0, f64::NAN),
            Point::new(2, 0, f64::NAN),
        ];
        assert_eq!(thin(&all_nan, 10).len(), 2);
    }
}
