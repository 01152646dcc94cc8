//! Screen-resolution downsampling on a fixed grid.
//!
//! A view asks for at most `N` buckets over `[from, to]` on an x axis (step, wall time, or time
//! relative to the run's start). The bucket width is the smallest power of two that covers the
//! range in `N` buckets or fewer, and buckets are aligned to multiples of the width. So:
//! - the result is a function of the points and the request only (deterministic);
//! - while a run grows inside the same width, a bucket changes only when a point falls in it;
//! - when the range doubles, each new bucket is exactly the union of two old ones;
//! - every bucket keeps its min and max, so spikes stay visible at any zoom.
//!
//! Callers feed points (or whole pre-summarised blocks, see [`Downsampler::add_summary`]) in the
//! canonical series order; a bucket's `last` is then its last point in that order.

use super::{Point, Summary};

/// Which coordinate of a point is its x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    Step,
    /// Wall time, in milliseconds since the Unix epoch.
    Time,
    /// Milliseconds since `origin` (the run's start time).
    Relative {
        origin: i64,
    },
}

impl Axis {
    pub fn x(self, point: &Point) -> i64 {
        match self {
            Axis::Step => point.step,
            Axis::Time => point.timestamp,
            Axis::Relative { origin } => point.timestamp.saturating_sub(origin),
        }
    }

    /// Maps a range of steps and a range of timestamps to this axis.
    pub fn range(self, steps: (i64, i64), times: (i64, i64)) -> (i64, i64) {
        match self {
            Axis::Step => steps,
            Axis::Time => times,
            Axis::Relative { origin } => (
                times.0.saturating_sub(origin),
                times.1.saturating_sub(origin),
            ),
        }
    }
}

/// The bucket grid of a view: buckets `[k * width, (k + 1) * width)` that meet `[from, to]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub from: i64,
    pub to: i64,
    pub width: i64,
}

impl Grid {
    /// The finest power-of-two grid with at most `buckets` buckets over `[from, to]` (bounds in
    /// either order). Buckets are aligned to multiples of the width, so no bucket holds both `-1`
    /// and `0`: a range that crosses zero gets at least 2 buckets even when 1 is asked for.
    pub fn new(from: i64, to: i64, buckets: usize) -> Grid {
        let (from, to) = if from <= to { (from, to) } else { (to, from) };
        let least = if from < 0 && to >= 0 { 2 } else { 1 };
        let buckets = i128::try_from(buckets.max(least)).unwrap_or(i128::MAX);
        let mut width: i128 = 1;
        loop {
            let first = i128::from(from).div_euclid(width);
            let last = i128::from(to).div_euclid(width);
            if last - first < buckets || width >= 1i128 << 63 {
                break;
            }
            width *= 2;
        }
        Grid {
            from,
            to,
            width: i64::try_from(width).unwrap_or(i64::MAX),
        }
    }

    pub fn index(&self, x: i64) -> i64 {
        x.div_euclid(self.width)
    }

    pub fn contains(&self, x: i64) -> bool {
        (self.from..=self.to).contains(&x)
    }

    /// The bucket holding every x in `[lo, hi]`, if they all fall in one bucket inside the range.
    pub fn single_bucket(&self, lo: i64, hi: i64) -> Option<i64> {
        (self.contains(lo) && self.contains(hi) && self.index(lo) == self.index(hi))
            .then(|| self.index(lo))
    }

    /// Whether `[lo, hi]` misses the range entirely.
    pub fn misses(&self, lo: i64, hi: i64) -> bool {
        hi < self.from || lo > self.to
    }
}

/// One bucket of a downsampled series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// First x of the bucket (inclusive).
    pub start: i64,
    /// Last x of the bucket (inclusive; `start + width - 1`, saturating).
    pub end: i64,
    pub summary: Summary,
}

/// Accumulates points and block summaries into the buckets of a [`Grid`]: one slot per bucket
/// of the grid (a grid has at most as many buckets as were asked for), so adding a point is an
/// index computation, not a map lookup.
#[derive(Debug, Clone)]
pub struct Downsampler {
    pub axis: Axis,
    pub grid: Grid,
    first: i64,
    buckets: Vec<Summary>,
}

impl Downsampler {
    pub fn new(axis: Axis, grid: Grid) -> Downsampler {
        let first = grid.index(grid.from);
        let count = usize::try_from(grid.index(grid.to) - first + 1).unwrap_or(1);
        Downsampler {
            axis,
            grid,
            first,
            buckets: vec![Summary::default(); count],
        }
    }

    fn slot(&mut self, index: i64) -> &mut Summary {
        // In range by construction: callers check `grid.contains` first.
        let last = self.buckets.len() - 1;
        let offset = usize::try_from(index - self.first).unwrap_or(0);
        &mut self.buckets[offset.min(last)]
    }

    pub fn add_point(&mut self, point: &Point) {
        let x = self.axis.x(point);
        if self.grid.contains(x) {
            let index = self.grid.index(x);
            self.slot(index).add(*point);
        }
    }

    /// Folds in a block of points whose x values all lie in `[lo, hi]`, when that range is
    /// entirely inside one bucket, and says whether it did. When it did not, the caller must
    /// decode the block and add its points one by one.
    pub fn add_summary(&mut self, lo: i64, hi: i64, summary: &Summary) -> bool {
        match self.grid.single_bucket(lo, hi) {
            Some(index) => {
                self.slot(index).merge(summary);
                true
            }
            None => false,
        }
    }

    /// Buckets that received at least one point, in x order.
    pub fn finish(self) -> Vec<Bucket> {
        let width = self.grid.width;
        let first = self.first;
        self.buckets
            .into_iter()
            .enumerate()
            .filter(|(_, summary)| summary.count > 0)
            .map(|(offset, summary)| {
                let start = (first + offset as i64).saturating_mul(width);
                Bucket {
                    start,
                    end: start.saturating_add(width - 1),
                    summary,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn downsample(points: &[Point], axis: Axis, grid: Grid) -> Vec<Bucket> {
        let mut sampler = Downsampler::new(axis, grid);
        for point in points {
            sampler.add_point(point);
        }
        sampler.finish()
    }

    #[test]
    fn grid_is_the_finest_power_of_two_that_fits() {
        assert_eq!(Grid::new(0, 999, 1000).width, 1);
        assert_eq!(Grid::new(0, 1000, 1000).width, 2);
        assert_eq!(Grid::new(0, 9_999_999, 2000).width, 8192);
        assert_eq!(Grid::new(5, 5, 1).width, 1);
        assert_eq!(Grid::new(i64::MIN, i64::MAX, 1).width, i64::MAX);
        let across_zero = Grid::new(-1, 0, 1);
        assert_eq!(
            across_zero.index(0) - across_zero.index(-1),
            1,
            "two buckets, not one"
        );
        assert_eq!(Grid::new(3, 5, 1).index(5), Grid::new(3, 5, 1).index(3));
        let grid = Grid::new(-10, 10, 4);
        assert!(grid.index(10) - grid.index(-10) < 4);
        assert_eq!(Grid::new(10, -10, 4), grid);
    }

    #[test]
    fn buckets_keep_spikes_and_last_values() {
        let mut points: Vec<Point> = (0..1000).map(|s| Point::new(s, s * 10, 1.0)).collect();
        points[537].value = 1e9;
        points[538].value = -1e9;
        let buckets = downsample(&points, Axis::Step, Grid::new(0, 999, 10));
        assert!(buckets.len() <= 10);
        assert_eq!(buckets.iter().map(|b| b.summary.count).sum::<u64>(), 1000);
        let spike = buckets
            .iter()
            .find(|b| (b.start..=b.end).contains(&537))
            .unwrap();
        assert_eq!(spike.summary.min_max(), Some((-1e9, 1e9)));
        let last = buckets.last().unwrap();
        assert_eq!(last.summary.last.unwrap().step, 999);
    }

    #[test]
    fn appending_points_only_changes_the_buckets_they_fall_in() {
        let grid = Grid::new(0, 4095, 64);
        let points: Vec<Point> = (0..3000)
            .map(|s| Point::new(s, s, (s % 7) as f64))
            .collect();
        let before = downsample(&points[..2000], Axis::Step, grid);
        let after = downsample(&points, Axis::Step, grid);
        let touched = grid.index(2000);
        for bucket in &before {
            if grid.index(bucket.start) < touched {
                assert!(after.contains(bucket));
            }
        }
    }

    #[test]
    fn doubling_the_range_merges_pairs_of_buckets() {
        let points: Vec<Point> = (0..4096)
            .map(|s| Point::new(s, s, (s * 37 % 101) as f64))
            .collect();
        let fine = downsample(&points, Axis::Step, Grid::new(0, 4095, 64));
        let coarse = downsample(&points, Axis::Step, Grid::new(0, 4095, 32));
        assert_eq!(coarse.len() * 2, fine.len());
        for (pair, big) in fine.chunks(2).zip(&coarse) {
            let mut merged = pair[0].summary;
            merged.merge(&pair[1].summary);
            assert_eq!(merged, big.summary);
        }
    }

    #[test]
    fn summaries_fold_only_when_inside_one_bucket() {
        let grid = Grid::new(0, 99, 10);
        let mut sampler = Downsampler::new(Axis::Step, grid);
        let block = Summary::of(&[Point::new(16, 0, 2.0), Point::new(17, 0, 3.0)]);
        assert!(sampler.add_summary(16, 17, &block));
        assert!(!sampler.add_summary(15, 16, &block));
        assert!(!sampler.add_summary(98, 100, &block));
        let buckets = sampler.finish();
        assert_eq!(buckets.len(), 1);
        assert_eq!(buckets[0].start, 16);
        assert_eq!(buckets[0].summary.mean(), Some(2.5));
    }

    #[test]
    fn relative_time_counts_from_the_origin() {
        let axis = Axis::Relative { origin: 1_000 };
        let points = [Point::new(0, 1_000, 1.0), Point::new(1, 1_500, 2.0)];
        let buckets = downsample(&points, axis, Grid::new(0, 1023, 2));
        assert_eq!(buckets.len(), 1);
        assert_eq!((buckets[0].start, buckets[0].end), (0, 511));
        assert_eq!(axis.range((0, 1), (1_000, 1_500)), (0, 500));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;
    use crate::series::normalize;

    fn points() -> impl Strategy<Value = Vec<Point>> {
        prop::collection::vec(
            (
                -50i64..5_000,
                0i64..1_000_000,
                prop_oneof![
                    4 => -1e6f64..1e6,
                    1 => Just(f64::NAN),
                    1 => Just(f64::INFINITY),
                    1 => Just(f64::NEG_INFINITY),
                ],
            ),
            1..400,
        )
        .prop_map(|raw| {
            let mut points: Vec<Point> = raw
                .into_iter()
                .map(|(step, time, value)| Point::new(step, time, value))
                .collect();
            normalize(&mut points);
            points
        })
    }

    fn view(points: &[Point], grid: Grid) -> Vec<Bucket> {
        let mut sampler = Downsampler::new(Axis::Step, grid);
        points.iter().for_each(|p| sampler.add_point(p));
        sampler.finish()
    }

    proptest! {
        /// Every point lands in exactly one bucket, and each bucket's extremes, last point and
        /// count are those of the points inside it.
        #[test]
        fn buckets_partition_points_and_keep_extremes(points in points(), buckets in 1usize..300) {
            let (lo, hi) = (points[0].step, points[points.len() - 1].step);
            let grid = Grid::new(lo, hi, buckets);
            let allowed = if lo < 0 && hi >= 0 { buckets.max(2) } else { buckets };
            prop_assert!(grid.index(hi) - grid.index(lo) < allowed as i64);
            let out = view(&points, grid);
            prop_assert!(out.len() <= allowed);
            prop_assert_eq!(out.iter().map(|b| b.summary.count).sum::<u64>(), points.len() as u64);
            for bucket in &out {
                let inside: Vec<Point> = points
                    .iter()
                    .filter(|p| (bucket.start..=bucket.end).contains(&p.step))
                    .copied()
                    .collect();
                let expected = Summary::of(&inside);
                prop_assert_eq!(bucket.summary.count, expected.count);
                prop_assert_eq!(
                    bucket.summary.min_max().map(|(a, b)| (a.to_bits(), b.to_bits())),
                    expected.min_max().map(|(a, b)| (a.to_bits(), b.to_bits()))
                );
                prop_assert_eq!(
                    bucket.summary.last.map(|p| (p.step, p.timestamp, p.value.to_bits())),
                    expected.last.map(|p| (p.step, p.timestamp, p.value.to_bits()))
                );
            }
        }

        /// Appending points after the current end changes only the buckets they fall in.
        #[test]
        fn appends_leave_earlier_buckets_alone(points in points(), split in 0usize..400, buckets in 1usize..100) {
            let split = split.min(points.len());
            let grid = Grid::new(-50, 5_000, buckets);
            let before = view(&points[..split], grid);
            let after = view(&points, grid);
            let first_new = points.get(split).map(|p| grid.index(p.step));
            for bucket in &before {
                let untouched = first_new.is_none_or(|new| grid.index(bucket.start) < new);
                if untouched {
                    let kept = after.iter().any(|b| {
                        b.start == bucket.start
                            && b.summary.count == bucket.summary.count
                            && b.summary.min_max().map(|(a, c)| (a.to_bits(), c.to_bits()))
                                == bucket.summary.min_max().map(|(a, c)| (a.to_bits(), c.to_bits()))
                    });
                    prop_assert!(kept, "bucket at {} changed", bucket.start);
                }
            }
        }
    }
}
