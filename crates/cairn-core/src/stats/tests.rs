//! Unit and property tests for [`crate::stats`].
//!
//! Reference values were printed by SciPy 1.17.1 / NumPy 2.4.6 (`scipy.stats.ttest_ind(a, b,
//! equal_var=False)`, `scipy.stats.mannwhitneyu(a, b, alternative='two-sided', method='auto',
//! use_continuity=True)`, `scipy.special.*`) for the data sets written out below. Larger data
//! sets come from a 64-bit LCG that the generating script reproduced bit for bit.

use proptest::prelude::*;

use super::*;

/// `actual` is within `rel` relative error of `expected`; NaN matches NaN and infinities must
/// match exactly.
fn close(actual: f64, expected: f64, rel: f64) -> bool {
    if expected.is_nan() {
        return actual.is_nan();
    }
    if expected.is_infinite() || expected == 0.0 {
        return actual == expected;
    }
    ((actual - expected) / expected).abs() <= rel
}

#[track_caller]
fn assert_close(actual: f64, expected: f64, rel: f64, what: &str) {
    assert!(
        close(actual, expected, rel),
        "{what}: got {actual:e}, expected {expected:e} (rel err {:e})",
        ((actual - expected) / expected).abs()
    );
}

/// Knuth's MMIX LCG; `next` returns the top 53 bits as a float in [0, 1).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` values `u * scale + offset`, `u` uniform in [0, 1).
fn lcg_vec(seed: u64, n: usize, scale: f64, offset: f64) -> Vec<f64> {
    let mut g = Lcg(seed);
    (0..n).map(|_| g.next() * scale + offset).collect()
}

/// `n` integers uniform in `0..k`, as floats (lots of ties).
fn lcg_int(seed: u64, n: usize, k: u32) -> Vec<f64> {
    let mut g = Lcg(seed);
    (0..n).map(|_| (g.next() * f64::from(k)).floor()).collect()
}

/// One reference case: the two samples, SciPy's `(t, df, p)` for Welch (None when a sample has
/// a single value), and SciPy's `(U, p)` plus the method `'auto'` picks.
struct Case {
    name: &'static str,
    a: Vec<f64>,
    b: Vec<f64>,
    welch: Option<(f64, f64, f64)>,
    mwu: (f64, f64, MwuMethod),
}

fn cases() -> Vec<Case> {
    use MwuMethod::{Asymptotic, Exact};
    let n22 = 300_000usize;
    let mut d22_a = vec![(n22 - 1) as f64 - 2000.5, (n22 - 1) as f64 - 10.5];
    d22_a.extend((0..6).map(|i| (n22 + i) as f64));
    let d22_b: Vec<f64> = (0..n22).map(|i| i as f64).collect();
    vec![
        Case {
            name: "d01_small",
            a: vec![1.2, 3.4, 2.2, 5.1, 4.0],
            b: vec![2.0, 6.1, 5.5, 7.3, 6.6, 8.0],
            welch: Some((-2.49130124463324, 8.87241867283446, 0.03470161755973448)),
            mwu: (4.0, 0.05194805194805195, Exact),
        },
        Case {
            name: "d02_n2",
            a: vec![1.0, 2.0],
            b: vec![3.0, 5.0],
            welch: Some((-2.23606797749979, 1.4705882352941178, 0.19872738893452602)),
            mwu: (0.0, 0.3333333333333333, Exact),
        },
        Case {
            name: "d03_ties_small",
            a: vec![1.0, 2.0, 2.0, 3.0, 4.0],
            b: vec![2.0, 3.0, 3.0, 5.0, 6.0, 6.0],
            welch: Some((-2.0339533246013413, 8.650898787856045, 0.07373344727239503)),
            mwu: (6.0, 0.1130499788563229, Asymptotic),
        },
        Case {
            name: "d04_all_equal",
            a: vec![3.0; 3],
            b: vec![3.0; 4],
            welch: Some((f64::NAN, 1.0, f64::NAN)),
            mwu: (6.0, 1.0, Asymptotic),
        },
        Case {
            name: "d05_one_constant",
            a: vec![5.0; 4],
            b: vec![4.0, 5.5, 6.1, 4.9],
            welch: Some((-0.27907278609297387, 3.0, 0.7983216898019881)),
            mwu: (8.0, 1.0, Asymptotic),
        },
        Case {
            name: "d06_both_constant",
            a: vec![1.0; 3],
            b: vec![2.0; 2],
            welch: Some((f64::NEG_INFINITY, 1.0, 0.0)),
            mwu: (0.0, 0.0955807045456294, Asymptotic),
        },
        Case {
            name: "d07_const_inexact_mean",
            a: vec![0.1; 3],
            b: vec![0.7; 5],
            welch: Some((-6.114289605624741e16, 2.0, 2.6749027005378283e-34)),
            mwu: (0.0, 0.01353519861380284, Asymptotic),
        },
        Case {
            name: "d08_huge",
            a: vec![1e150, 3e150, 2.5e150, 4e150],
            b: vec![5e150, 7e150, 6.5e150, 9e150, 8e150],
            welch: Some((-4.852035484907733, 1.0, 0.12939495030364173)),
            mwu: (0.0, 0.015873015873015872, Exact),
        },
        Case {
            name: "d09_overflow",
            a: vec![1e300, -1e300, 5e299],
            b: vec![1.5e300, 1.7e300, 1.6e300],
            welch: Some((-0.0, 1.0, 1.0)),
            mwu: (0.0, 0.1, Exact),
        },
        Case {
            name: "d10_tiny",
            a: vec![1e-160, 3e-160, 2e-160],
            b: vec![5e-160, 4e-160, 6e-160, 7e-160],
            welch: Some((-4.041474380887979, 1.0, 0.1544201320604877)),
            mwu: (0.0, 0.05714285714285714, Exact),
        },
        Case {
            name: "d11_negative",
            a: vec![-5.2, -3.1, -4.4, -6.0, -2.2, -3.9, -4.8],
            b: vec![-1.0, -0.5, -2.2, -1.7, -0.1, -1.1],
            welch: Some((-5.409139004782557, 9.951817869102726, 0.0003025621694335118)),
            mwu: (0.5, 0.004222063480510764, Asymptotic),
        },
        Case {
            name: "d12_lcg_overlap",
            a: lcg_vec(1, 40, 10.0, 0.0),
            b: lcg_vec(2, 35, 10.0, 1.5),
            welch: Some((-1.2512139991062268, 65.18318734065426, 0.21532852620573248)),
            mwu: (610.0, 0.3418685654948852, Asymptotic),
        },
        Case {
            name: "d13_lcg_separated",
            a: lcg_vec(3, 200, 1.0, 0.0),
            b: lcg_vec(4, 200, 1.0, 1.2),
            welch: Some((
                -42.26158320786048,
                394.06916200346876,
                1.856708263154721e-148,
            )),
            mwu: (0.0, 4.830856390397399e-67, Asymptotic),
        },
        Case {
            name: "d14_exact_8_60",
            a: lcg_vec(5, 8, 10.0, 3.0),
            b: lcg_vec(6, 60, 10.0, 0.0),
            welch: Some((2.2229741334888415, 8.871068119078522, 0.053723011835004365)),
            mwu: (335.0, 0.07161048410562651, Exact),
        },
        Case {
            name: "d15_exact_8_5000_separated",
            a: lcg_vec(7, 8, 1.0, 1.0),
            b: lcg_vec(8, 5000, 1.0, 0.0),
            welch: Some((9.130559757434668, 7.020161988683708, 3.815726026413637e-05)),
            mwu: (40000.0, 2.049582171044961e-25, Exact),
        },
        Case {
            name: "d16_lcg_ties",
            a: lcg_int(9, 30, 10),
            b: lcg_int(10, 25, 10),
            welch: Some((0.11011058357999755, 52.79565206064931, 0.9127391684867276)),
            mwu: (383.5, 0.8916800768999831, Asymptotic),
        },
        Case {
            name: "d17_small_with_one_tie",
            a: vec![1.0, 2.0, 3.0, 4.0, 5.0],
            b: vec![3.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0],
            welch: Some((
                -4.894665103852688,
                12.997889308558532,
                0.0002930027473323594,
            )),
            mwu: (2.5, 0.006999927863004252, Asymptotic),
        },
        Case {
            name: "d18_n1_is_1",
            a: vec![5.5],
            b: (1..=10).map(f64::from).collect(),
            welch: None,
            mwu: (5.0, 1.0, Exact),
        },
        Case {
            name: "d19_9_and_9",
            a: lcg_vec(11, 9, 1.0, 0.2),
            b: lcg_vec(12, 9, 1.0, 0.0),
            welch: Some((0.7804338207121976, 15.987694176672195, 0.446537271698481)),
            mwu: (52.0, 0.331387096247615, Asymptotic),
        },
        Case {
            name: "d20_8_and_9",
            a: lcg_vec(13, 8, 1.0, 0.2),
            b: lcg_vec(14, 9, 1.0, 0.0),
            welch: Some((1.215582383795041, 14.890862229272635, 0.24306525945223723)),
            mwu: (49.0, 0.2358700123406006, Exact),
        },
        Case {
            name: "d21_7_and_1000",
            a: lcg_vec(15, 7, 1.0, 0.5),
            b: lcg_vec(16, 1000, 1.0, 0.0),
            welch: Some((4.041916951703501, 6.169605677848362, 0.006404832785266447)),
            mwu: (5513.0, 0.0066185862473133635, Exact),
        },
        Case {
            // C(300008, 8) > 2^128: exercises the floating-point exact distribution.
            name: "d22_8_and_300000",
            a: d22_a,
            b: d22_b,
            welch: Some((505.878731157344, 13.70390946659381, 1.1456510811148037e-30)),
            mwu: (2397988.0, 2.184041483741088e-22, Exact),
        },
    ]
}

const REL: f64 = 1e-9;

#[test]
fn welch_matches_scipy() {
    for case in cases() {
        let got = welch_t_test(&case.a, &case.b);
        let Some((t, df, p)) = case.welch else {
            assert!(got.is_none(), "{}", case.name);
            continue;
        };
        let got = got.unwrap_or_else(|| panic!("{}: None", case.name));
        assert_close(got.t, t, REL, &format!("{} t", case.name));
        assert_close(got.df, df, REL, &format!("{} df", case.name));
        assert_close(got.p_value, p, REL, &format!("{} p", case.name));
    }
}

#[test]
fn mann_whitney_matches_scipy() {
    for case in cases() {
        let got = mann_whitney_u(&case.a, &case.b).unwrap();
        let (u, p, method) = case.mwu;
        assert_eq!(got.u, u, "{} U", case.name);
        assert_eq!(got.method, method, "{} method", case.name);
        assert_close(got.p_value, p, REL, &format!("{} p", case.name));
    }
}

#[test]
fn welch_degenerate_cases() {
    let both_constant = welch_t_test(&[1.0, 1.0, 1.0], &[2.0, 2.0]).unwrap();
    assert_eq!(both_constant.t, f64::NEG_INFINITY);
    assert_eq!(both_constant.df, 1.0);
    assert_eq!(both_constant.p_value, 0.0);
    assert_eq!(both_constant.mean_difference, -1.0);
    assert_eq!(both_constant.cohens_d, f64::NEG_INFINITY);

    let all_equal = welch_t_test(&[3.0; 3], &[3.0; 4]).unwrap();
    assert!(all_equal.t.is_nan() && all_equal.p_value.is_nan());
    assert_eq!(all_equal.df, 1.0);
    assert_eq!(all_equal.mean_difference, 0.0);

    assert!(welch_t_test(&[1.0], &[1.0, 2.0]).is_none());
    assert!(welch_t_test(&[1.0, 2.0], &[]).is_none());
}

#[test]
fn welch_effect_sizes() {
    // d01: pooled sd from numpy: sqrt((4 var(a) + 5 var(b)) / 9).
    let a = [1.2, 3.4, 2.2, 5.1, 4.0];
    let b = [2.0, 6.1, 5.5, 7.3, 6.6, 8.0];
    let r = welch_t_test(&a, &b).unwrap();
    assert_close(
        r.mean_difference,
        3.18 - 35.5 / 6.0,
        1e-12,
        "mean difference",
    );
    let (_, va) = mean_and_variance(&a);
    let (_, vb) = mean_and_variance(&b);
    let pooled = ((4.0 * va + 5.0 * vb) / 9.0).sqrt();
    assert_close(r.cohens_d, r.mean_difference / pooled, 1e-12, "d");
    // J(9) = Γ(4.5) / (sqrt(4.5) Γ(4)) ≈ 1 - 3/(4·9 - 1) (mpmath value).
    let j = 0.913_874_891_792_552_3;
    assert_close(r.hedges_g, r.cohens_d * j, 1e-12, "g");
    assert!((j - (1.0 - 3.0 / 35.0)).abs() < 1e-3);
    // Large samples: the correction tends to 1.
    assert_close(
        hedges_correction(1e6),
        0.999_999_249_999_781_2,
        1e-14,
        "J(1e6)",
    );
}

#[test]
fn mann_whitney_effect_sizes_and_none() {
    let r = mann_whitney_u(&[1.0, 2.0, 3.0, 4.0, 5.0], &[3.0, 6.0, 7.0]).unwrap();
    // Pairs with a > b: (4, 3) and (5, 3); one tie, (3, 3) → U = 2.5.
    assert_eq!(r.u, 2.5);
    assert_eq!(r.common_language, 2.5 / 15.0);
    assert_eq!(r.rank_biserial, 5.0 / 15.0 - 1.0);
    assert!(mann_whitney_u(&[], &[1.0]).is_none());
    assert!(mann_whitney_u(&[1.0], &[]).is_none());
    // A single value on each side, tied: every method degenerates to p = 1.
    let one = mann_whitney_u(&[1.0], &[1.0]).unwrap();
    assert_eq!(
        (one.u, one.p_value, one.method),
        (0.5, 1.0, MwuMethod::Asymptotic)
    );
    // -0.0 and 0.0 are a tie, so 'auto' leaves the exact method.
    let zeros = mann_whitney_u(&[-0.0, 1.0], &[0.0, 2.0]).unwrap();
    assert_eq!(zeros.method, MwuMethod::Asymptotic);
    assert_eq!(zeros.u, 1.5);
}

#[test]
fn mann_whitney_auto_rule() {
    let distinct =
        |n: usize, offset: f64| -> Vec<f64> { (0..n).map(|i| i as f64 * 2.0 + offset).collect() };
    // One sample of at most 8 values and no ties: exact, whatever the other size.
    for (n1, n2) in [(1, 1), (8, 8), (8, 9), (9, 8), (3, 500), (500, 2)] {
        let r = mann_whitney_u(&distinct(n1, 0.0), &distinct(n2, 1.0)).unwrap();
        assert_eq!(r.method, MwuMethod::Exact, "{n1} {n2}");
    }
    // Both larger than 8: asymptotic.
    let r = mann_whitney_u(&distinct(9, 0.0), &distinct(9, 1.0)).unwrap();
    assert_eq!(r.method, MwuMethod::Asymptotic);
    // A tie inside one sample is enough to leave the exact method.
    let r = mann_whitney_u(&[1.0, 1.0, 4.0], &[2.0, 3.0]).unwrap();
    assert_eq!(r.method, MwuMethod::Asymptotic);
}

/// Brute force: the distribution of U over all `C(m+n, m)` placements of sample a's ranks.
fn brute_force_u_counts(m: usize, n: usize) -> Vec<u64> {
    let total = m + n;
    let mut counts = vec![0u64; m * n + 1];
    for mask in 0u32..(1 << total) {
        if mask.count_ones() as usize != m {
            continue;
        }
        // U = Σ over a-elements of the number of b-elements below it.
        let mut u = 0;
        let mut bs_below = 0;
        for bit in 0..total {
            if mask & (1 << bit) != 0 {
                u += bs_below;
            } else {
                bs_below += 1;
            }
        }
        counts[u] += 1;
    }
    counts
}

#[test]
fn exact_distribution_matches_brute_force() {
    for m in 1..=6 {
        for n in 1..=8 {
            let counts = brute_force_u_counts(m, n);
            let total: u64 = counts.iter().sum();
            assert_eq!(binomial_u128(m + n, m), Some(u128::from(total)));
            let mut cumulative = 0u64;
            for (k, &c) in counts.iter().enumerate() {
                cumulative += c;
                assert_eq!(
                    mwu_counts_u128(m, n, k),
                    u128::from(cumulative),
                    "m={m} n={n} k={k}"
                );
                // Both argument orders and the f64 path agree.
                let p = mwu_exact_cdf(n, m, k).unwrap();
                assert_close(p, cumulative as f64 / total as f64, 1e-15, "cdf");
                assert_close(mwu_cdf_f64(m, n, k), p, 1e-13, "f64 cdf");
            }
        }
    }
}

#[test]
fn exact_f64_path_agrees_with_u128_path() {
    // C(8 + 60000, 8) ≈ 4e33 still fits in u128, so both paths can run.
    for k in [0, 1, 7, 100, 5_000, 60_000, 200_000, 240_000] {
        let exact = mwu_counts_u128(8, 60_000, k) as f64 / binomial_u128(60_008, 8).unwrap() as f64;
        assert_close(mwu_cdf_f64(8, 60_000, k), exact, 1e-12, &format!("k={k}"));
    }
    // Complete separation: p = 2 / C(m + n, m).
    assert_eq!(
        binomial_u128(5008, 8),
        Some(9_758_086_444_420_611_072_759_126)
    );
    assert!(binomial_u128(300_008, 8).is_none());
}

#[test]
fn exact_too_large_falls_back_to_asymptotic() {
    // k = n1 n2 / 2 ≈ 2.4 million terms: over the table cap.
    let a: Vec<f64> = (0..8).map(|i| f64::from(i) * 75_000.0 + 0.5).collect();
    let b: Vec<f64> = (0..600_000).map(f64::from).collect();
    let r = mann_whitney_u(&a, &b).unwrap();
    assert_eq!(r.method, MwuMethod::Asymptotic);
    assert!(r.p_value > 0.5 && r.p_value <= 1.0);
}

#[test]
fn describe_matches_numpy() {
    assert_eq!(describe(&[]), None);
    let one = describe(&[2.5]).unwrap();
    assert_eq!(
        (one.n, one.mean, one.std, one.min, one.max, one.median),
        (1, 2.5, 0.0, 2.5, 2.5, 2.5)
    );

    let d = describe(&[1.2, 3.4, 2.2, 5.1, 4.0]).unwrap();
    assert_eq!(d.n, 5);
    assert_eq!(d.mean, 3.1799999999999997);
    assert_close(d.std, 1.5238110119040351, 1e-15, "std");
    assert_eq!((d.min, d.max, d.median), (1.2, 5.1, 3.4));

    let d = describe(&[-5.2, -3.1, -4.4, -6.0, -2.2, -3.9, -4.8]).unwrap();
    assert_eq!(d.mean, -4.228571428571429);
    assert_close(d.std, 1.2867456181057257, 1e-15, "std");
    assert_eq!((d.min, d.max, d.median), (-6.0, -2.2, -4.4));

    let d = describe(&lcg_vec(1, 40, 10.0, 0.0)).unwrap();
    assert_eq!(d.n, 40);
    assert_eq!(d.mean, 5.172834568622137);
    assert_close(d.std, 2.5866645701092827, 1e-15, "std");
    assert_eq!(d.min, 0.17406566388286637);
    assert_eq!(d.max, 9.796215956506858);
    assert_eq!(d.median, 5.433071450939645);

    // NumPy's pairwise sum: the mean of three 0.1s is not 0.1.
    assert_eq!(describe(&[0.1; 3]).unwrap().mean, 0.10000000000000002);
    // Infinities: order statistics still work; mean/std follow IEEE.
    let d = describe(&[1.0, f64::INFINITY, -2.0]).unwrap();
    assert_eq!(
        (d.min, d.max, d.median, d.mean),
        (-2.0, f64::INFINITY, 1.0, f64::INFINITY)
    );
    assert!(d.std.is_nan());
    let d = describe(&[f64::NEG_INFINITY, f64::INFINITY]).unwrap();
    assert!(d.mean.is_nan());
    // Two huge values: the median does not overflow.
    assert_eq!(describe(&[f64::MAX, f64::MAX]).unwrap().median, f64::MAX);
}

#[test]
fn pairwise_sum_matches_numpy_blocking() {
    // Sums that depend on NumPy's exact association order (checked against numpy.sum).
    let xs: Vec<f64> = (0..1000)
        .map(|i| 0.1 * f64::from(i % 7) + 1e-3 * f64::from(i))
        .collect();
    let naive: f64 = xs.iter().sum();
    let pairwise = pairwise_sum(&xs);
    assert!((naive - pairwise).abs() < 1e-9);
    assert_eq!(pairwise_sum(&[]), 0.0);
    assert_eq!(pairwise_sum(&[1.0, 2.0, 3.0]), 6.0);
}

// ---- special functions ----------------------------------------------------------------------

#[test]
fn ln_gamma_matches_scipy() {
    let cases = [
        (1e-5, 11.512919692895826),
        (0.1, 2.252712651734206),
        (0.5, 0.5723649429247),
        (1.0, 0.0),
        (1.5, -0.12078223763524526),
        (2.0, 0.0),
        (3.7, 1.428072326665388),
        (10.0, 12.801827480081469),
        (10.5, 13.940625219403763),
        (50.25, 145.5418715963321),
        (1000.0, 5905.220423209181),
        (1e6, 12815504.569147611),
        (1e15, 3.3538776394910668e16),
    ];
    for (x, expected) in cases {
        let got = ln_gamma(x);
        let err = (got - expected).abs();
        assert!(
            err <= 1e-14 * expected.abs().max(1.0),
            "ln_gamma({x}) = {got}, expected {expected}"
        );
    }
    // Factorials, the reflection formula and poles.
    let mut factorial = 1.0f64;
    for n in 1..=30 {
        assert_close(ln_gamma(f64::from(n)).exp(), factorial, 1e-13, "factorial");
        factorial *= f64::from(n);
    }
    // Γ(-0.5) = -2 sqrt(π).
    assert_close(ln_gamma(-0.5), (2.0 * PI.sqrt()).ln(), 1e-14, "ln|Γ(-0.5)|");
    assert_eq!(ln_gamma(0.0), f64::INFINITY);
    assert_eq!(ln_gamma(-3.0), f64::INFINITY);
    assert_eq!(ln_gamma(f64::INFINITY), f64::INFINITY);
    assert!(ln_gamma(f64::NAN).is_nan());
}

#[test]
fn ln_beta_is_consistent() {
    for (a, b) in [
        (0.5, 0.5),
        (2.0, 3.0),
        (0.5, 50.0),
        (30.0, 0.25),
        (12.0, 700.0),
        (1e4, 1e4),
    ] {
        let direct = ln_gamma(a) + ln_gamma(b) - ln_gamma(a + b);
        let tol = 1e-13 * (ln_gamma(a).abs() + ln_gamma(b).abs() + ln_gamma(a + b).abs());
        assert!((ln_beta(a, b) - direct).abs() <= tol, "{a} {b}");
        assert_eq!(ln_beta(a, b), ln_beta(b, a));
    }
    // B(1, b) = 1/b.
    assert_close(ln_beta(1.0, 40.0), -(40f64.ln()), 1e-14, "B(1, 40)");
}

#[test]
fn incomplete_beta_matches_scipy() {
    let cases = [
        (0.5, 0.5, 0.3, 0.36901011956554536),
        (2.0, 3.0, 0.4, 0.5247999999999999),
        (10.0, 20.0, 0.3, 0.3640040810719437),
        (100.0, 0.5, 0.9, 4.54525490451703e-06),
        (0.5, 100.0, 0.001, 0.34495648367557025),
        (50.0, 50.0, 0.5, 0.5000000000000007),
        (1e3, 1e3, 0.48, 0.03677948327863959),
        (5.5, 0.5, 0.2, 3.693776094906204e-05),
        (1.0, 1.0, 0.77, 0.77),
        (200.0, 300.0, 0.35, 0.010341770254687632),
        (0.5, 199.3, 0.999, 1.0),
        (3e4, 0.5, 0.9999, 0.014303851262393618),
        (2.0, 5.0, 0.0, 0.0),
        (2.0, 5.0, 1.0, 1.0),
    ];
    for (a, b, x, expected) in cases {
        assert_close(
            regularized_incomplete_beta(a, b, x),
            expected,
            1e-12,
            &format!("I_{x}({a}, {b})"),
        );
    }
    assert!(regularized_incomplete_beta(0.0, 1.0, 0.5).is_nan());
    assert!(regularized_incomplete_beta(1.0, 1.0, f64::NAN).is_nan());
    assert_eq!(regularized_incomplete_beta(2.0, 2.0, -1.0), 0.0);
    assert_eq!(regularized_incomplete_beta(2.0, 2.0, 2.0), 1.0);
}

#[test]
fn incomplete_beta_identities() {
    for &(a, b) in &[
        (0.5, 0.5),
        (1.5, 4.0),
        (7.0, 2.5),
        (25.0, 40.0),
        (0.3, 12.0),
    ] {
        for i in 1..20 {
            let x = f64::from(i) / 20.0;
            let lhs = regularized_incomplete_beta(a, b, x);
            let rhs = 1.0 - regularized_incomplete_beta(b, a, 1.0 - x);
            assert!((lhs - rhs).abs() < 1e-14, "symmetry {a} {b} {x}");
        }
    }
    for i in 1..20 {
        let x = f64::from(i) / 20.0;
        // I_x(a, 1) = x^a; I_x(1, b) = 1 - (1 - x)^b.
        assert_close(
            regularized_incomplete_beta(3.5, 1.0, x),
            x.powf(3.5),
            1e-13,
            "x^a",
        );
        assert_close(
            regularized_incomplete_beta(1.0, 2.5, x),
            1.0 - (1.0 - x).powf(2.5),
            1e-13,
            "1-(1-x)^b",
        );
    }
}

#[test]
fn student_t_matches_scipy() {
    // (df, t, scipy.special.stdtr(df, -t)) = P(T > t).
    let cases = [
        (1.0, 2.0, 0.14758361765043326),
        (2.5, -1.3, 0.8497566053646458),
        (10.0, 5.0, 0.00026866680137822634),
        (398.7, 40.0, 6.069449679352966e-142),
        (30.0, 0.01, 0.49604374628658887),
        (1e6, 3.0, 0.0013499312707109),
        (4.0, -50.0, 0.9999995212773172),
        (7.3, 0.0, 0.5),
        (3.0, 25.0, 7.016569497877428e-05),
    ];
    for (df, t, expected) in cases {
        assert_close(
            student_t_sf(t, df),
            expected,
            1e-12,
            &format!("sf({t}, {df})"),
        );
        if t >= 0.0 {
            assert_close(
                student_t_two_sided_p(t, df),
                2.0 * expected,
                1e-12,
                "two-sided",
            );
        }
        assert_eq!(student_t_two_sided_p(-t, df), student_t_two_sided_p(t, df));
    }
    // 2 * scipy.special.stdtr(df, -|t|) for the negative cases above (1 - sf would cancel).
    assert_close(
        student_t_two_sided_p(-50.0, 4.0),
        9.57445365696969e-07,
        1e-12,
        "t=-50",
    );
    assert_close(
        student_t_two_sided_p(-1.3, 2.5),
        0.3004867892707083,
        1e-12,
        "t=-1.3",
    );
    // Cauchy (df = 1): P(T > t) = 1/2 - atan(t)/π.
    for t in [0.1, 1.0, 3.0, 100.0] {
        assert_close(student_t_sf(t, 1.0), 0.5 - t.atan() / PI, 1e-13, "cauchy");
    }
    assert_eq!(student_t_two_sided_p(0.0, 3.0), 1.0);
    assert_eq!(student_t_two_sided_p(f64::INFINITY, 3.0), 0.0);
    assert_eq!(student_t_sf(f64::NEG_INFINITY, 3.0), 1.0);
    assert!(student_t_two_sided_p(f64::NAN, 3.0).is_nan());
    assert!(student_t_two_sided_p(1.0, 0.0).is_nan());
    assert_close(
        student_t_two_sided_p(2.0, f64::INFINITY),
        2.0 * normal_sf(2.0),
        1e-15,
        "df=inf",
    );
}

#[test]
fn erfc_matches_scipy() {
    let cases = [
        (0.0, 1.0),
        (1e-10, 0.999999999887162),
        (0.1, 0.8875370839817152),
        (0.5, 0.4795001221869535),
        (0.9, 0.20309178757716784),
        (1.0, 0.15729920705028516),
        (1.5, 0.03389485352468927),
        (2.0, 0.004677734981047266),
        (2.5, 0.00040695201744495886),
        (3.0, 2.2090496998585445e-05),
        (4.0, 1.541725790028002e-08),
        (5.0, 1.5374597944280347e-12),
        (7.0, 4.183825607779414e-23),
        (10.0, 2.0884875837625446e-45),
        (15.0, 7.212994172451209e-100),
        (20.0, 5.395865611607901e-176),
        (26.0, 5.663192408856145e-296),
        (-0.5, 1.5204998778130465),
        (-1.0, 1.8427007929497148),
        (-3.0, 1.9999779095030015),
    ];
    for (x, expected) in cases {
        assert_close(erfc(x), expected, 1e-13, &format!("erfc({x})"));
    }
    assert_eq!(erfc(f64::INFINITY), 0.0);
    assert_eq!(erfc(f64::NEG_INFINITY), 2.0);
    assert_eq!(erfc(30.0), 0.0);
    assert!(erfc(f64::NAN).is_nan());
    // Continuity across the series / continued-fraction switch at 1.
    let below = erfc(1.0 - f64::EPSILON);
    let above = erfc(1.0);
    assert!((below - above).abs() < 1e-15);
}

#[test]
fn normal_sf_matches_scipy() {
    let cases = [
        (0.0, 0.5),
        (0.3, 0.3820885778110474),
        (1.0, 0.15865525393145707),
        (1.96, 0.024997895148220435),
        (3.0, 0.0013498980316300933),
        (5.0, 2.866515718791933e-07),
        (8.5, 9.47953482220325e-18),
        (10.0, 7.61985302416047e-24),
        (20.0, 2.7536241186061556e-89),
        (30.0, 4.906713927147908e-198),
        (37.0, 5.7255712225239266e-300),
        (-2.0, 0.9772498680518208),
        (-8.5, 1.0),
    ];
    for (z, expected) in cases {
        assert_close(normal_sf(z), expected, 1e-12, &format!("normal_sf({z})"));
    }
    assert_eq!(normal_sf(f64::INFINITY), 0.0);
    assert_eq!(normal_sf(f64::NEG_INFINITY), 1.0);
}

// ---- properties -----------------------------------------------------------------------------

fn moderate_sample(max: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec(-1e6f64..1e6, 1..max)
}

/// Small integers, so ties are frequent and transforms stay exact.
fn integer_sample(max: usize) -> impl Strategy<Value = Vec<f64>> {
    prop::collection::vec((-40i32..40).prop_map(f64::from), 1..max)
}

fn any_finite() -> impl Strategy<Value = f64> {
    prop::num::f64::NORMAL | prop::num::f64::SUBNORMAL | prop::num::f64::ZERO
}

proptest! {
    #[test]
    fn p_values_are_probabilities(a in moderate_sample(30), b in moderate_sample(30)) {
        let u = mann_whitney_u(&a, &b).unwrap();
        prop_assert!((0.0..=1.0).contains(&u.p_value), "{:?}", u);
        prop_assert!((0.0..=1.0).contains(&u.common_language));
        prop_assert!((-1.0..=1.0).contains(&u.rank_biserial));
        if let Some(w) = welch_t_test(&a, &b) {
            prop_assert!((0.0..=1.0).contains(&w.p_value), "{:?}", w);
            prop_assert!(w.df >= 1.0 - 1e-9);
        }
    }

    #[test]
    fn tests_are_symmetric(a in moderate_sample(30), b in integer_sample(30)) {
        let (n1, n2) = (a.len() as f64, b.len() as f64);
        let ab = mann_whitney_u(&a, &b).unwrap();
        let ba = mann_whitney_u(&b, &a).unwrap();
        prop_assert_eq!(ab.p_value, ba.p_value);
        prop_assert_eq!(ab.method, ba.method);
        prop_assert_eq!(ba.u, n1 * n2 - ab.u);
        if let (Some(ab), Some(ba)) = (welch_t_test(&a, &b), welch_t_test(&b, &a)) {
            prop_assert_eq!(ab.t, -ba.t);
            prop_assert_eq!(ab.df, ba.df);
            prop_assert_eq!(ab.p_value, ba.p_value);
            prop_assert_eq!(ab.cohens_d, -ba.cohens_d);
        }
    }

    #[test]
    fn mann_whitney_is_invariant_under_monotone_maps(a in integer_sample(25), b in integer_sample(25)) {
        let base = mann_whitney_u(&a, &b).unwrap();
        let maps: [fn(f64) -> f64; 4] = [
            |x| 3.0 * x - 7.0,
            |x| x * x * x,
            |x| (x / 10.0).exp(),
            |x| x / 7.0 + 1e3,
        ];
        for f in maps {
            let fa: Vec<f64> = a.iter().map(|&x| f(x)).collect();
            let fb: Vec<f64> = b.iter().map(|&x| f(x)).collect();
            let mapped = mann_whitney_u(&fa, &fb).unwrap();
            prop_assert_eq!(mapped, base);
        }
    }

    #[test]
    fn no_panics_on_finite_input(
        a in prop::collection::vec(any_finite(), 0..20),
        b in prop::collection::vec(any_finite(), 0..20),
    ) {
        let _ = describe(&a);
        let _ = welch_t_test(&a, &b);
        if let Some(u) = mann_whitney_u(&a, &b) {
            prop_assert!(u.p_value.is_nan() || (0.0..=1.0).contains(&u.p_value));
        }
    }

    #[test]
    fn describe_orders_and_bounds(xs in moderate_sample(50)) {
        let d = describe(&xs).unwrap();
        prop_assert_eq!(d.n, xs.len());
        prop_assert!(d.min <= d.median && d.median <= d.max);
        prop_assert!(d.min <= d.mean + 1e-9 && d.mean <= d.max + 1e-9);
        prop_assert!(d.std >= 0.0);
    }

    #[test]
    fn special_functions_stay_in_range(
        a in 0.01f64..500.0,
        b in 0.01f64..500.0,
        x in 0.0f64..=1.0,
        t in -1e3f64..1e3,
        df in 0.5f64..1e4,
    ) {
        let i = regularized_incomplete_beta(a, b, x);
        prop_assert!((0.0..=1.0 + 1e-12).contains(&i), "I = {}", i);
        let p = student_t_two_sided_p(t, df);
        prop_assert!((0.0..=1.0).contains(&p));
        let s = student_t_sf(t, df);
        prop_assert!((0.0..=1.0).contains(&s));
        let e = erfc(t / 30.0);
        prop_assert!((0.0..=2.0).contains(&e));
    }
}
