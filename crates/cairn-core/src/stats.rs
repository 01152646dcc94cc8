//! Descriptive statistics and two-sample tests for comparing runs: [`describe`], Welch's t-test
//! ([`welch_t_test`]) and the Mann–Whitney U test ([`mann_whitney_u`]), plus the special functions
//! they rest on ([`ln_gamma`], [`regularized_incomplete_beta`], [`student_t_sf`], [`erfc`],
//! [`normal_sf`]).
//!
//! The tests are written to agree with SciPy (checked against SciPy 1.17.1 / NumPy 2.4.6):
//! [`welch_t_test`] with `scipy.stats.ttest_ind(a, b, equal_var=False)` and [`mann_whitney_u`]
//! with `scipy.stats.mannwhitneyu(a, b, alternative='two-sided', method='auto',
//! use_continuity=True)`, to a relative error of about 1e-12 on ordinary data (the unit tests
//! demand 1e-9 for p-values down to 1e-300). Means and variances are summed in the same order as
//! NumPy's pairwise summation, so even degenerate inputs (a constant sample whose mean is not
//! exactly representable, variances that overflow or underflow) give SciPy's answer.
//!
//! Everything here is a pure function of its arguments. Callers are expected to drop NaN before
//! calling; NaN never makes these functions panic, but what they return for it is unspecified.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

#[cfg(test)]
mod tests;

// ---------------------------------------------------------------------------------------------
// Descriptive statistics
// ---------------------------------------------------------------------------------------------

/// Summary of one sample, as returned by [`describe`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Describe {
    /// Number of values.
    pub n: usize,
    /// Arithmetic mean (NumPy's pairwise summation, so it equals `numpy.mean`).
    pub mean: f64,
    /// Sample standard deviation (`ddof = 1`, equal to `numpy.std(xs, ddof=1)`); 0 when `n == 1`.
    pub std: f64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Median; the mean of the two middle values when `n` is even.
    pub median: f64,
}

/// Describes a sample: count, mean, sample standard deviation, min, max and median.
///
/// Returns `None` for an empty slice. Infinities are accepted: `min`, `max` and `median` treat
/// them as ordinary values, while `mean` becomes ±inf (or NaN when both +inf and −inf occur) and
/// `std` becomes NaN, following IEEE arithmetic exactly as NumPy does. A sum of finite values that
/// overflows likewise gives an infinite mean.
pub fn describe(xs: &[f64]) -> Option<Describe> {
    if xs.is_empty() {
        return None;
    }
    let n = xs.len();
    let mean = mean(xs);
    let std = if n == 1 {
        0.0
    } else {
        // numpy.std(ddof=1): sum of squared deviations divided by n - 1.
        let squares: Vec<f64> = xs.iter().map(|&x| (x - mean) * (x - mean)).collect();
        (pairwise_sum(&squares) / (n - 1) as f64).sqrt()
    };
    let mut sorted = xs.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = if n % 2 == 1 {
        sorted[n / 2]
    } else {
        midpoint(sorted[n / 2 - 1], sorted[n / 2])
    };
    Some(Describe {
        n,
        mean,
        std,
        min: sorted[0],
        max: sorted[n - 1],
        median,
    })
}

/// `(a + b) / 2` as NumPy computes it, without overflowing for two large finite values.
fn midpoint(a: f64, b: f64) -> f64 {
    let m = (a + b) / 2.0;
    if m.is_infinite() && a.is_finite() && b.is_finite() {
        a / 2.0 + b / 2.0
    } else {
        m
    }
}

/// NumPy's pairwise summation (`pairwise_sum_DOUBLE`), reproduced operation for operation so
/// that sums, means and variances are bit-identical to `numpy.sum` on contiguous `float64` data.
fn pairwise_sum(xs: &[f64]) -> f64 {
    const BLOCK: usize = 128;
    let n = xs.len();
    if n < 8 {
        let mut res = 0.0;
        for &x in xs {
            res += x;
        }
        res
    } else if n <= BLOCK {
        let mut r = [0.0f64; 8];
        r.copy_from_slice(&xs[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for (acc, &x) in r.iter_mut().zip(&xs[i..i + 8]) {
                *acc += x;
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &x in &xs[i..] {
            res += x;
        }
        res
    } else {
        let mut half = n / 2;
        half -= half % 8;
        pairwise_sum(&xs[..half]) + pairwise_sum(&xs[half..])
    }
}

/// `numpy.mean` of a non-empty slice.
fn mean(xs: &[f64]) -> f64 {
    pairwise_sum(xs) / xs.len() as f64
}

/// Mean and `ddof = 1` variance computed as SciPy's `_var` does (mean of squared deviations,
/// then scaled by `n / (n - 1)`). Requires `xs.len() >= 2`.
fn mean_and_variance(xs: &[f64]) -> (f64, f64) {
    let m = mean(xs);
    let n = xs.len() as f64;
    let squares: Vec<f64> = xs.iter().map(|&x| (x - m) * (x - m)).collect();
    let variance = pairwise_sum(&squares) / n * (n / (n - 1.0));
    (m, variance)
}

// ---------------------------------------------------------------------------------------------
// Welch's t-test
// ---------------------------------------------------------------------------------------------

/// Result of [`welch_t_test`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WelchT {
    /// The t statistic, `(mean(a) - mean(b)) / sqrt(var(a)/n1 + var(b)/n2)`.
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom (1 when undefined, as in SciPy; see
    /// [`welch_t_test`]).
    pub df: f64,
    /// Two-sided p-value, `P(|T| >= |t|)` for Student's t with `df` degrees of freedom.
    pub p_value: f64,
    /// `mean(a) - mean(b)`.
    pub mean_difference: f64,
    /// Cohen's d with the pooled standard deviation,
    /// `sqrt(((n1-1) var(a) + (n2-1) var(b)) / (n1+n2-2))`.
    pub cohens_d: f64,
    /// Hedges' g: Cohen's d times the exact small-sample correction
    /// `J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))` with `m = n1 + n2 - 2`.
    pub hedges_g: f64,
}

/// Welch's unequal-variance t-test of `mean(a) == mean(b)`, two-sided.
///
/// Returns `None` when either sample has fewer than 2 values. `t`, `df` and `p_value` equal
/// `scipy.stats.ttest_ind(a, b, equal_var=False)` (statistic, df, pvalue), including its
/// degenerate cases, which follow from IEEE arithmetic plus one SciPy rule — when the df formula
/// gives NaN (0/0, or inf/inf after the variances overflow), `df` is set to 1:
///
/// - both variances zero, means different: `t = ±inf`, `df = 1`, `p_value = 0`;
/// - both variances zero, means equal: `t = NaN`, `df = 1`, `p_value = NaN`;
/// - one variance zero: an ordinary test with `df = n - 1` of the other sample;
/// - variances whose squares underflow to zero (data around 1e-160) or overflow (data around
///   1e150) also give `df = 1`, with an ordinary finite `t`; variances that overflow to
///   infinity (data around 1e300) give `t = ±0`, `p_value = 1`.
///
/// A constant sample whose mean is not exactly representable (e.g. three copies of 0.1) has a
/// tiny non-zero variance, as in NumPy, and so an enormous but finite `t`.
///
/// In the zero-variance cases `cohens_d` and `hedges_g` are `±inf` or NaN likewise.
pub fn welch_t_test(a: &[f64], b: &[f64]) -> Option<WelchT> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (n1, n2) = (a.len() as f64, b.len() as f64);
    let (m1, v1) = mean_and_variance(a);
    let (m2, v2) = mean_and_variance(b);

    let vn1 = v1 / n1;
    let vn2 = v2 / n2;
    let sum = vn1 + vn2;
    let mut df = (sum * sum) / ((vn1 * vn1) / (n1 - 1.0) + (vn2 * vn2) / (n2 - 1.0));
    if df.is_nan() {
        // SciPy: "If df is undefined, variances are zero ... it doesn't matter what df is as
        // long as it's not NaN."
        df = 1.0;
    }
    let denom = sum.sqrt();
    let mean_difference = m1 - m2;
    let t = mean_difference / denom;
    let p_value = student_t_two_sided_p(t, df);

    let pooled_df = n1 + n2 - 2.0;
    let pooled_sd = (((n1 - 1.0) * v1 + (n2 - 1.0) * v2) / pooled_df).sqrt();
    let cohens_d = mean_difference / pooled_sd;
    let hedges_g = cohens_d * hedges_correction(pooled_df);

    Some(WelchT {
        t,
        df,
        p_value,
        mean_difference,
        cohens_d,
        hedges_g,
    })
}

/// Hedges' exact bias correction `J(m) = Γ(m/2) / (sqrt(m/2) Γ((m-1)/2))`, for `m >= 2`.
fn hedges_correction(m: f64) -> f64 {
    let x = (m - 1.0) / 2.0;
    // Γ(x + 1/2) / Γ(x) = exp(-ln(Γ(x) / Γ(x + 1/2))).
    (-ln_gamma_ratio(x, 0.5)).exp() / (m / 2.0).sqrt()
}

// ---------------------------------------------------------------------------------------------
// Mann–Whitney U
// ---------------------------------------------------------------------------------------------

/// How [`mann_whitney_u`] computed its p-value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MwuMethod {
    /// From the exact null distribution of U (no ties, one sample of at most 8 values).
    Exact,
    /// From the normal approximation with tie and continuity corrections.
    Asymptotic,
}

/// Result of [`mann_whitney_u`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U statistic of sample `a` (SciPy's returned `statistic`): the number of pairs `(x, y)`
    /// with `x` from `a`, `y` from `b` and `x > y`, plus half the number with `x == y`.
    pub u: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Which null distribution gave `p_value`.
    pub method: MwuMethod,
    /// Rank-biserial correlation `2 U / (n1 n2) - 1`, in [-1, 1]; positive when `a` tends to be
    /// larger.
    pub rank_biserial: f64,
    /// Common-language effect size `U / (n1 n2)`: `P(x > y) + P(x == y) / 2` for random draws.
    pub common_language: f64,
}

/// Largest number of terms of the exact U distribution that [`mann_whitney_u`] will tabulate
/// (32 MiB of `u128`); beyond it the normal approximation is used (see there).
const MAX_EXACT_TERMS: usize = 1 << 21;

/// Mann–Whitney U test (Wilcoxon rank-sum), two-sided.
///
/// Returns `None` when either sample is empty. Matches `scipy.stats.mannwhitneyu(a, b,
/// alternative='two-sided', method='auto', use_continuity=True)`, whose `'auto'` rule is (SciPy
/// 1.17, `_mwu_choose_method`): if **both** samples have more than 8 values, or there is any tie
/// anywhere in the combined data (within a sample counts too), use the asymptotic method;
/// otherwise (one sample has at most 8 values and all values are distinct) use the exact one.
///
/// - Exact: `p = min(1, 2 P(U >= max(U1, U2)))` under the exact null distribution of U (each of
///   the `C(n1+n2, n1)` rank arrangements equally likely), computed exactly in integers.
/// - Asymptotic: `z = (max(U1, U2) - n1 n2 / 2 - 1/2) / s` with the tie-corrected
///   `s = sqrt(n1 n2 / 12 ((n + 1) - Σ(t³ - t) / (n (n - 1))))`, and `p = min(1, 2 Φ(-z))`.
///   When every value is equal, `s = 0` and `p = 1`.
///
/// SciPy needs O(k²) time for the exact distribution up to `k = n1 n2 - max(U1, U2)`; this
/// implementation needs O(k) but still caps the table at about two million terms. Only a small
/// sample against a sample of hundreds of thousands of values that overlaps it can exceed that,
/// and then the asymptotic method is used (and reported in `method`).
///
/// Values are ordered with IEEE equality for ties (so `-0.0` ties with `0.0`); infinities are
/// ordinary values.
pub fn mann_whitney_u(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    let (n1, n2) = (a.len(), b.len());
    let n = n1 + n2;

    let mut pooled: Vec<(f64, bool)> = a
        .iter()
        .map(|&x| (x, true))
        .chain(b.iter().map(|&y| (y, false)))
        .collect();
    pooled.sort_by(|p, q| p.0.total_cmp(&q.0));

    // Average ranks (1-based) over tie groups; every rank is a multiple of 1/2, so these sums
    // are exact for any realistic n.
    let mut rank_sum_a = 0.0;
    let mut tie_term = 0.0;
    let mut any_ties = false;
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && pooled[end].0 == pooled[start].0 {
            end += 1;
        }
        let size = end - start;
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let from_a = pooled[start..end].iter().filter(|p| p.1).count();
        rank_sum_a += from_a as f64 * average_rank;
        if size > 1 {
            any_ties = true;
            let t = size as f64;
            tie_term += t * t * t - t;
        }
        start = end;
    }

    let n1f = n1 as f64;
    let pairs = n1f * n2 as f64;
    let u1 = rank_sum_a - n1f * (n1f + 1.0) / 2.0;
    let u2 = pairs - u1;
    let u = u1.max(u2);

    let exact = (n1 <= 8 || n2 <= 8) && !any_ties;
    let exact_p = if exact {
        // No ties, so U is an integer; k = n1 n2 - U <= n1 n2 / 2.
        let k = (pairs - u) as usize;
        mwu_exact_cdf(n1, n2, k).map(|cdf| 2.0 * cdf)
    } else {
        None
    };
    let (p, method) = match exact_p {
        Some(p) => (p, MwuMethod::Exact),
        None => {
            let nf = n as f64;
            let mu = pairs / 2.0;
            let s = (pairs / 12.0 * ((nf + 1.0) - tie_term / (nf * (nf - 1.0)))).sqrt();
            let z = (u - mu - 0.5) / s;
            (2.0 * normal_sf(z), MwuMethod::Asymptotic)
        }
    };

    Some(MannWhitney {
        u: u1,
        p_value: p.clamp(0.0, 1.0),
        method,
        rank_biserial: 2.0 * u1 / pairs - 1.0,
        common_language: u1 / pairs,
    })
}

/// `P(U <= k)` under the exact null distribution of the Mann–Whitney U for samples of sizes
/// `n1` and `n2` without ties, or `None` when `k` is too large to tabulate.
///
/// The number of arrangements with `U = u` is the coefficient of `q^u` in the Gaussian binomial
/// `[m+n choose m]_q = Π_{i=1..m} (1 - q^(n+i)) / (1 - q^i)` (partitions of `u` into at most `m`
/// parts of size at most `n`). Multiplying by `1 - q^s` and dividing by `1 - q^i` are ring
/// operations, so done in wrapping `u128` arithmetic they give the counts exactly whenever the
/// total `C(m+n, m)` fits in 128 bits. Otherwise they are done in `f64`, one factor pair at a
/// time so that every intermediate series is itself a Gaussian binomial with positive
/// coefficients.
fn mwu_exact_cdf(n1: usize, n2: usize, k: usize) -> Option<f64> {
    if k >= MAX_EXACT_TERMS {
        return None;
    }
    let (m, n) = (n1.min(n2), n1.max(n2));
    Some(match binomial_u128(m + n, m) {
        Some(total) => mwu_counts_u128(m, n, k) as f64 / total as f64,
        None => mwu_cdf_f64(m, n, k),
    })
}

/// `C(n, k)` if it fits in a `u128` (every intermediate `C(n-k+j, j)` is an exact integer).
fn binomial_u128(n: usize, k: usize) -> Option<u128> {
    let k = k.min(n - k);
    let mut c: u128 = 1;
    for j in 1..=k {
        c = c.checked_mul((n - k + j) as u128)? / j as u128;
    }
    Some(c)
}

/// Number of rank arrangements with `U <= k`, exact modulo 2^128 (so exact when
/// `C(m+n, m) < 2^128`).
fn mwu_counts_u128(m: usize, n: usize, k: usize) -> u128 {
    let mut c = vec![0u128; k + 1];
    c[0] = 1;
    for i in 1..=m {
        for u in i..=k {
            c[u] = c[u].wrapping_add(c[u - i]);
        }
        let s = n + i;
        for u in (s..=k).rev() {
            c[u] = c[u].wrapping_sub(c[u - s]);
        }
    }
    c.iter().fold(0u128, |acc, &x| acc.wrapping_add(x))
}

/// `P(U <= k)` in floating point, for totals beyond `u128`.
fn mwu_cdf_f64(m: usize, n: usize, k: usize) -> f64 {
    let mut c = vec![0.0f64; k + 1];
    c[0] = 1.0;
    let mut total = 1.0;
    for i in 1..=m {
        for u in i..=k {
            c[u] += c[u - i];
        }
        let s = n + i;
        for u in (s..=k).rev() {
            c[u] -= c[u - s];
        }
        total = total * (n + i) as f64 / i as f64;
    }
    c.iter().sum::<f64>() / total
}

// ---------------------------------------------------------------------------------------------
// Special functions
// ---------------------------------------------------------------------------------------------

/// `ln(sqrt(2π))`.
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;
/// `ln(π)`.
const LN_PI: f64 = 1.144_729_885_849_400_2;
/// `2 / sqrt(π)`.
const FRAC_2_SQRT_PI: f64 = std::f64::consts::FRAC_2_SQRT_PI;
/// `1 / sqrt(π)`.
const FRAC_1_SQRT_PI: f64 = 0.564_189_583_547_756_3;

/// The remainder of Stirling's series, `ln Γ(x) - ((x - 1/2) ln x - x + ln sqrt(2π))`, for
/// `x >= 10` (truncation error below 2e-18 there).
fn stirling_correction(x: f64) -> f64 {
    let r = 1.0 / x;
    let r2 = r * r;
    r * (1.0 / 12.0
        + r2 * (-1.0 / 360.0
            + r2 * (1.0 / 1260.0
                + r2 * (-1.0 / 1680.0
                    + r2 * (1.0 / 1188.0
                        + r2 * (-691.0 / 360_360.0
                            + r2 * (1.0 / 156.0 + r2 * (-3617.0 / 122_400.0))))))))
}

/// Natural logarithm of the absolute value of the gamma function, `ln |Γ(x)|`.
///
/// Stirling's series for `x >= 10`, the recurrence `Γ(x) = Γ(x + k) / (x (x+1) ... (x+k-1))`
/// below that, and the reflection formula for negative non-integers. Absolute error about 1e-15
/// for moderate `x`, relative error about 1e-15 for large `x`. Returns `+inf` at the poles
/// (0, −1, −2, ...) and at `+inf`, NaN for NaN.
pub fn ln_gamma(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x >= 10.0 {
        if x.is_infinite() {
            return f64::INFINITY;
        }
        return (x - 0.5) * x.ln() - x + LN_SQRT_2PI + stirling_correction(x);
    }
    if x <= 0.0 {
        if x == x.floor() {
            return f64::INFINITY;
        }
        // Γ(x) Γ(1 - x) = π / sin(π x); reduce x mod 2 first so sin stays accurate.
        let r = x - 2.0 * (x / 2.0).floor();
        return LN_PI - (PI * r).sin().abs().ln() - ln_gamma(1.0 - x);
    }
    let mut product = 1.0;
    let mut y = x;
    while y < 10.0 {
        product *= y;
        y += 1.0;
    }
    ln_gamma(y) - product.ln()
}

/// `ln(Γ(x) / Γ(x + h))` for `x > 0`, `h > 0`, without the cancellation of subtracting two large
/// `ln_gamma` values when `x` is large.
fn ln_gamma_ratio(x: f64, h: f64) -> f64 {
    if x >= 10.0 && x.is_finite() {
        let c = x + h;
        -(x - 0.5) * (h / x).ln_1p() - h * c.ln() + h + stirling_correction(x)
            - stirling_correction(c)
    } else {
        ln_gamma(x) - ln_gamma(x + h)
    }
}

/// `ln B(a, b) = ln Γ(a) + ln Γ(b) - ln Γ(a + b)` for `a, b > 0`, computed without cancellation
/// when either argument is large.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    let (small, large) = if a <= b { (a, b) } else { (b, a) };
    if small >= 10.0 {
        let c = small + large;
        LN_SQRT_2PI - 0.5 * c.ln()
            + (small - 0.5) * (small / c).ln()
            + (large - 0.5) * (-small / c).ln_1p()
            + stirling_correction(small)
            + stirling_correction(large)
            - stirling_correction(c)
    } else if large >= 10.0 {
        ln_gamma(small) + ln_gamma_ratio(large, small)
    } else {
        ln_gamma(small) + ln_gamma(large) - ln_gamma(small + large)
    }
}

/// `ln(x^a y^b / B(a, b))` with `y = 1 - x` supplied separately (it may be known more accurately
/// than `1 - x`).
fn ln_power_terms(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if a >= 10.0 && b >= 10.0 {
        // Stirling form: x^a y^b / B(a,b) = sqrt(ab / (2π c)) (xc/a)^a (yc/b)^b
        //                                    · exp(δ(c) - δ(a) - δ(b)),  c = a + b,
        // with xc/a = 1 + (xb - ya)/a and yc/b = 1 + (ya - xb)/b, so the large terms cancel
        // analytically instead of numerically.
        // ln1p keeps the terms accurate near the peak (d small); far from it, xc/a or yc/b
        // approaches 0 and forming 1 + d/a would cancel, so take the logarithm directly.
        let c = a + b;
        let d = x.mul_add(b, -(y * a));
        let ln_xc_a = if (d / a).abs() < 0.5 {
            (d / a).ln_1p()
        } else {
            (x * (c / a)).ln()
        };
        let ln_yc_b = if (d / b).abs() < 0.5 {
            (-d / b).ln_1p()
        } else {
            (y * (c / b)).ln()
        };
        a * ln_xc_a + b * ln_yc_b + 0.5 * (a / c).ln() + 0.5 * b.ln() - LN_SQRT_2PI
            + stirling_correction(c)
            - stirling_correction(a)
            - stirling_correction(b)
    } else {
        let ln_x = if x < 0.5 { x.ln() } else { (-y).ln_1p() };
        let ln_y = if y < 0.5 { y.ln() } else { (-x).ln_1p() };
        a * ln_x + b * ln_y - ln_beta(a, b)
    }
}

/// Continued fraction for `I_x(a, b)` (Numerical Recipes' `betacf`), evaluated with the modified
/// Lentz method. Converges quickly for `x < (a + 1) / (a + b + 2)`.
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const EPS: f64 = 2.0 * f64::EPSILON;
    let max_iterations = 10_000 + 10 * (a.max(b).sqrt() as usize);
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let clamp_tiny = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / clamp_tiny(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=max_iterations {
        let m = m as f64;
        let m2 = 2.0 * m;
        let aa = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / clamp_tiny(1.0 + aa * d);
        c = clamp_tiny(1.0 + aa / c);
        h *= d * c;
        let aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / clamp_tiny(1.0 + aa * d);
        c = clamp_tiny(1.0 + aa / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() < EPS {
            break;
        }
    }
    h
}

/// `I_x(a, b)` given both `x` and `y = 1 - x`.
fn incomplete_beta_xy(a: f64, b: f64, x: f64, y: f64) -> f64 {
    if a.is_nan() || b.is_nan() || x.is_nan() || y.is_nan() || a <= 0.0 || b <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 0.0;
    }
    if y <= 0.0 {
        return 1.0;
    }
    // Near its switch-over point the continued fraction loses about `max(a, b) · 1e-16` to
    // rounding; when one parameter is large and the other at most 1 (every Student's t tail
    // with df >= 30), the asymptotic expansion is both faster and accurate.
    if a >= 15.0
        && b <= 1.0
        && x >= 0.7
        && let Some(value) = beta_large_a_small_b(a, b, x, y)
    {
        return value;
    }
    if b >= 15.0
        && a <= 1.0
        && y >= 0.7
        && let Some(complement) = beta_large_a_small_b(b, a, y, x)
        && complement <= 0.5
    {
        return 1.0 - complement;
    }
    if x < (a + 1.0) / (a + b + 2.0) {
        ln_power_terms(a, b, x, y).exp() * beta_continued_fraction(a, b, x) / a
    } else {
        1.0 - ln_power_terms(b, a, y, x).exp() * beta_continued_fraction(b, a, y) / b
    }
}

/// `I_x(a, b)` for `a >= 15`, `b <= 1` by DiDonato and Morris's asymptotic expansion (ACM TOMS
/// 708, `BGRAT`, their eq. 9):
///
/// `I_x(a, b) = Γ(a+b) / (Γ(a) ν^b) · Σ_n p_n J_n`, with `ν = a + (b-1)/2`, `z = -ν ln x`,
/// `J_0 = Q(b, z)` (regularized upper incomplete gamma) and the `J_n`, `p_n` from their
/// recurrences (eqs. 9.4 and 9.6). Here `J_n` is kept multiplied by `e^-z z^b / Γ(b)`, so the
/// large exponentials never have to cancel. `None` when the series does not settle, in which case
/// the caller falls back to the continued fraction.
fn beta_large_a_small_b(a: f64, b: f64, x: f64, y: f64) -> Option<f64> {
    const TERMS: usize = 30;
    let nu = a + 0.5 * (b - 1.0);
    let ln_x = if y < 0.375 { (-y).ln_1p() } else { x.ln() };
    let z = -nu * ln_x;
    if z.is_nan() || z <= 0.0 || z.is_infinite() {
        return None;
    }
    // Γ(a+b) / (Γ(a) ν^b): close to 1.
    let scale = (-ln_gamma_ratio(a, b) - b * nu.ln()).exp();
    // e^-z z^b / Γ(b).
    let gamma_density = (b * z.ln() - z - ln_gamma(b)).exp();
    let v = 0.25 / (nu * nu);
    let half_ln_x_squared = 0.25 * ln_x * ln_x;

    let mut j = regularized_gamma_q(b, z);
    let mut sum = j;
    let mut ln_x_power = gamma_density; // (ln x / 2)^(2n-2), times the gamma density
    let mut inverse_factorials = [0.0f64; TERMS]; // 1 / (2n+1)!
    let mut p = [0.0f64; TERMS];
    let mut inverse_factorial = 1.0;
    let mut two_n = 0.0;
    for n in 1..TERMS {
        let b_two_n = b + two_n;
        j = (b_two_n * (b_two_n + 1.0) * j + (z + b_two_n + 1.0) * ln_x_power) * v;
        two_n += 2.0;
        ln_x_power *= half_ln_x_squared;
        inverse_factorial /= two_n * (two_n + 1.0);
        inverse_factorials[n] = inverse_factorial;
        let mut s = 0.0;
        for m in 1..n {
            s += (m as f64 * b - n as f64) * inverse_factorials[m] * p[n - m];
        }
        p[n] = (b - 1.0) * inverse_factorial + s / n as f64;
        let term = p[n] * j;
        sum += term;
        if sum <= 0.0 || !sum.is_finite() {
            return None;
        }
        if term.abs() <= f64::EPSILON * sum {
            return Some((scale * sum).min(1.0));
        }
    }
    None
}

/// The regularized upper incomplete gamma function `Q(b, z) = Γ(b, z) / Γ(b)` for `0 < b <= 1`,
/// `z > 0`: `erfc(sqrt z)` for `b = 1/2`, otherwise the power series of `P` below `z = b + 1`
/// and the Legendre continued fraction (modified Lentz) above.
fn regularized_gamma_q(b: f64, z: f64) -> f64 {
    if b == 0.5 {
        return erfc(z.sqrt());
    }
    if z < b + 1.0 {
        let mut term = 1.0;
        let mut sum = 1.0;
        let mut k = b;
        for _ in 0..500 {
            k += 1.0;
            term *= z / k;
            sum += term;
            if term < sum * f64::EPSILON {
                break;
            }
        }
        1.0 - (b * z.ln() - z - ln_gamma(b + 1.0)).exp() * sum
    } else {
        const TINY: f64 = 1e-300;
        let clamp_tiny = |v: f64| if v.abs() < TINY { TINY } else { v };
        let mut bb = z + 1.0 - b;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / bb;
        let mut h = d;
        for i in 1..500 {
            let i = f64::from(i);
            let an = -i * (i - b);
            bb += 2.0;
            d = 1.0 / clamp_tiny(an * d + bb);
            c = clamp_tiny(bb + an / c);
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 2.0 * f64::EPSILON {
                break;
            }
        }
        (b * z.ln() - z - ln_gamma(b)).exp() * h
    }
}

/// The regularized incomplete beta function
/// `I_x(a, b) = (1 / B(a, b)) ∫_0^x t^(a-1) (1-t)^(b-1) dt` (SciPy's `special.betainc`).
///
/// Uses the continued fraction (modified Lentz) on whichever of `I_x(a, b)` and
/// `1 - I_(1-x)(b, a)` converges fast, with the prefactor `x^a (1-x)^b / B(a, b)` computed in
/// logarithms (and in Stirling form when both `a` and `b` are at least 10). When one parameter
/// is at least 15 and the other at most 1 (and `x` lies on the large parameter's side), it uses
/// DiDonato and Morris's asymptotic expansion instead, where the continued fraction would lose
/// about `max(a, b) · 1e-16` to rounding. Against SciPy on a grid of `a, b` in [0.05, 1e5] and
/// `x` in [1e-8, 1 - 1e-5], the relative error stayed below 1e-12 (values under 1e-300 aside).
/// Returns 0 for `x <= 0`, 1 for `x >= 1`, NaN when `a <= 0`, `b <= 0` or any argument is NaN.
pub fn regularized_incomplete_beta(a: f64, b: f64, x: f64) -> f64 {
    incomplete_beta_xy(a, b, x, 1.0 - x)
}

/// Two-sided tail of Student's t distribution: `P(|T| >= |t|)` with `df` degrees of freedom.
///
/// Equals `2 * scipy.special.stdtr(df, -|t|)`: 1 at `t = 0`, 0 at `t = ±inf`; the normal tail
/// when `df = +inf`; NaN for NaN arguments or `df <= 0`. Computed as
/// `I_(df/(df+t²))(df/2, 1/2)` (see [`regularized_incomplete_beta`]), with `df/(df+t²)` and
/// `t²/(df+t²)` formed from `df/t²` so neither loses accuracy; relative error below 2e-13 against
/// mpmath for df from 3.7 to 1e8. For `|t|` beyond about `1e150 · sqrt(df)` the result underflows
/// to 0 (SciPy's does too).
pub fn student_t_two_sided_p(t: f64, df: f64) -> f64 {
    if t.is_nan() || df.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    let at = t.abs();
    if at == 0.0 {
        return 1.0;
    }
    if at.is_infinite() {
        return 0.0;
    }
    if df.is_infinite() {
        return (2.0 * normal_sf(at)).min(1.0);
    }
    let r = (df / at) / at; // df / t²
    let (x, y) = if r.is_infinite() {
        (1.0, 0.0)
    } else {
        (r / (1.0 + r), 1.0 / (1.0 + r))
    };
    incomplete_beta_xy(df / 2.0, 0.5, x, y).clamp(0.0, 1.0)
}

/// Survival function of Student's t distribution, `P(T > t)` with `df` degrees of freedom
/// (SciPy's `stats.t.sf(t, df)` = `special.stdtr(df, -t)`). See [`student_t_two_sided_p`].
pub fn student_t_sf(t: f64, df: f64) -> f64 {
    let p2 = student_t_two_sided_p(t, df);
    if t > 0.0 { 0.5 * p2 } else { 1.0 - 0.5 * p2 }
}

/// `exp(-x²)` for `x >= 0` without the error of rounding `x²` first: `x` is split into a part
/// with 16 fractional bits (whose square is exact) and a small remainder.
fn exp_neg_square(x: f64) -> f64 {
    let high = (x * 65536.0).round() / 65536.0;
    let low = x - high;
    (-high * high).exp() * (-(2.0 * high * low + low * low)).exp()
}

/// The complementary error function `erfc(x) = 1 - erf(x)`, to a relative error below about
/// 1e-14 everywhere it does not underflow (`x < 26.6`).
///
/// For `|x| < 1`, the Maclaurin series of `erf` (at most a factor 6 loss in `1 - erf`); for
/// `x >= 1`, Laplace's continued fraction
/// `erfc(x) = exp(-x²)/sqrt(π) · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))` evaluated with the
/// modified Lentz method; for `x <= -1`, `2 - erfc(-x)`.
pub fn erfc(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    if x < 0.0 {
        if x > -1.0 {
            return 1.0 - erf_series(x);
        }
        return 2.0 - erfc(-x);
    }
    if x < 1.0 {
        return 1.0 - erf_series(x);
    }
    if x > 27.5 {
        // erfc(27.5) < 1e-330: below the smallest subnormal.
        return 0.0;
    }
    const TINY: f64 = 1e-300;
    let clamp_tiny = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut f = x;
    let mut c = x;
    let mut d = 0.0;
    for k in 1..=1000 {
        let a = k as f64 * 0.5;
        d = 1.0 / clamp_tiny(x + a * d);
        c = clamp_tiny(x + a / c);
        let delta = c * d;
        f *= delta;
        if (delta - 1.0).abs() < 1e-16 {
            break;
        }
    }
    exp_neg_square(x) * FRAC_1_SQRT_PI / f
}

/// `erf(x)` by its Maclaurin series, for `|x| < 1`.
fn erf_series(x: f64) -> f64 {
    let x2 = x * x;
    let mut term = x;
    let mut sum = x;
    for n in 1..100 {
        let n = f64::from(n);
        term *= -x2 / n;
        let contribution = term / (2.0 * n + 1.0);
        sum += contribution;
        if contribution.abs() <= sum.abs() * 1e-17 {
            break;
        }
    }
    FRAC_2_SQRT_PI * sum
}

/// Survival function of the standard normal distribution, `P(Z > z) = erfc(z / sqrt 2) / 2`
/// (SciPy's `special.ndtr(-z)`), accurate to a relative error of about 1e-13 down to the
/// underflow near `z = 38.5`.
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z * FRAC_1_SQRT_2)
}
