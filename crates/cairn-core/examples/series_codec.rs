//! Benchmark of the metric chunk codec (`cairn_core::series::codec`).
//!
//! `cargo run --release -p cairn-core --example series_codec [-- name-filter]`
//!
//! Six workloads of 1,000,000 points each (steps 0, 1, 2, …; timestamps from 1,780,000,000,000
//! ms advancing 50 ± 3 ms a step unless said otherwise), encoded as chunks of 4,096 points:
//!
//! - `loss f32`: `(2·exp(-step/20000) + 0.05 + 0.02·N(0,1)) as f32`, widened to f64;
//! - `loss f64`: the same curve and noise, not rounded to f32;
//! - `accuracy 4dp`: `0.97 - 0.6·exp(-step/30000) + 0.01·N(0,1)`, clamped to [0, 1] and rounded
//!   to 4 decimals;
//! - `constant`: 3e-4 (a learning rate);
//! - `int counter`: tokens seen, growing by 3,900..=4,096 a step;
//! - `batch times`: the `loss f32` values, with one timestamp per batch of 100 steps
//!   (batches 5 s ± 300 ms apart).
//!
//! The first table gives bytes per point (all of it, and the part that is the version, count
//! and block index, which holds each block's first and last points and summary), encode speed,
//! decode speed (parse and decode whole chunks), block decode speed (`decode_block` on parsed
//! chunks) and the time to parse one chunk's index; speeds are medians of 5 runs on one thread,
//! after one untimed run.
//! The next tables give size and decode speed when the encoder may use only some codings (the
//! alternatives the format was chosen against), then the codings the encoder picked.
//! Deterministic: every workload comes from a seeded generator.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::Instant;

use cairn_core::series::Point;
use cairn_core::series::codec::{self, BLOCK_POINTS, Chunk, EncodeOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const POINTS: usize = 1_000_000;
const CHUNK: usize = 4096;
const RUNS: usize = 5;
const START_MS: i64 = 1_780_000_000_000;

/// A standard normal variate (Box-Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// Timestamps advancing 50 ms per step with ±3 ms of uniform jitter per step.
fn jittered_times(rng: &mut StdRng) -> Vec<i64> {
    let mut time = START_MS;
    (0..POINTS)
        .map(|_| {
            let now = time;
            time += 50 + rng.random_range(-3..=3);
            now
        })
        .collect()
}

fn loss(step: usize, noise: f64) -> f64 {
    2.0 * (-(step as f64) / 20000.0).exp() + 0.05 + noise * 0.02
}

fn with_times(values: Vec<f64>, times: Vec<i64>) -> Vec<Point> {
    values
        .into_iter()
        .zip(times)
        .enumerate()
        .map(|(step, (value, timestamp))| Point {
            step: step as i64,
            timestamp,
            value,
        })
        .collect()
}

fn workloads() -> Vec<(&'static str, Vec<Point>)> {
    let mut rng = StdRng::seed_from_u64(20_240_601);
    let mut out = Vec::new();

    let noise: Vec<f64> = (0..POINTS).map(|_| normal(&mut rng)).collect();
    let times = jittered_times(&mut rng);
    let f32_loss: Vec<f64> = (0..POINTS)
        .map(|i| f64::from(loss(i, noise[i]) as f32))
        .collect();
    out.push(("loss f32", with_times(f32_loss.clone(), times.clone())));

    let f64_loss: Vec<f64> = (0..POINTS).map(|i| loss(i, noise[i])).collect();
    out.push(("loss f64", with_times(f64_loss, times.clone())));

    let accuracy: Vec<f64> = (0..POINTS)
        .map(|i| {
            let acc = 0.97 - 0.6 * (-(i as f64) / 30000.0).exp() + normal(&mut rng) * 0.01;
            (acc.clamp(0.0, 1.0) * 10_000.0).round() / 10_000.0
        })
        .collect();
    out.push((
        "accuracy 4dp",
        with_times(accuracy, jittered_times(&mut rng)),
    ));

    out.push((
        "constant",
        with_times(vec![3e-4; POINTS], jittered_times(&mut rng)),
    ));

    let mut tokens = 0u64;
    let counter: Vec<f64> = (0..POINTS)
        .map(|_| {
            tokens += rng.random_range(3_900..=4_096);
            tokens as f64
        })
        .collect();
    out.push(("int counter", with_times(counter, jittered_times(&mut rng))));

    let mut time = START_MS;
    let batched: Vec<i64> = (0..POINTS)
        .map(|i| {
            if i > 0 && i % 100 == 0 {
                time += 5_000 + rng.random_range(-300..=300);
            }
            time
        })
        .collect();
    out.push(("batch times", with_times(f32_loss, batched)));
    out
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Points per second (millions), median over runs after one to warm up.
fn mpps(points: usize, mut run: impl FnMut()) -> f64 {
    run();
    let samples = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            run();
            points as f64 / start.elapsed().as_secs_f64() / 1e6
        })
        .collect();
    median(samples)
}

fn encode_all(points: &[Point], options: &EncodeOptions) -> Vec<Vec<u8>> {
    points
        .chunks(CHUNK)
        .map(|chunk| codec::encode_with(chunk, options))
        .collect()
}

fn main() {
    // An optional argument keeps only the workloads whose name contains it.
    let filter = std::env::args().nth(1).unwrap_or_default();
    let mut workloads = workloads();
    workloads.retain(|(name, _)| name.contains(filter.as_str()));
    println!(
        "{} points per workload, chunks of {CHUNK} points, blocks of {BLOCK_POINTS}; speeds are \
         millions of points per second, median of {RUNS} runs, one thread",
        POINTS
    );
    println!();
    println!(
        "{:<13} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "workload", "B/point", "index", "index %", "encode", "decode", "block", "parse µs"
    );
    let all = EncodeOptions::default();
    let mut mixes = Vec::new();
    for (name, points) in &workloads {
        let chunks = encode_all(points, &all);
        let bytes: usize = chunks.iter().map(Vec::len).sum();
        let index: usize = chunks
            .iter()
            .map(|c| Chunk::parse(c).unwrap().index_len())
            .sum();
        let mut check = Vec::with_capacity(POINTS);
        for chunk in &chunks {
            codec::Chunk::parse(chunk)
                .unwrap()
                .decode(&mut check)
                .unwrap();
        }
        assert!(
            check.iter().zip(points).all(|(a, b)| a.step == b.step
                && a.timestamp == b.timestamp
                && a.value.to_bits() == b.value.to_bits())
                && check.len() == points.len(),
            "{name}: round trip failed"
        );

        let encode = mpps(points.len(), || {
            for chunk in points.chunks(CHUNK) {
                black_box(codec::encode(black_box(chunk)));
            }
        });
        let mut out = Vec::with_capacity(CHUNK);
        let decode = mpps(points.len(), || {
            for chunk in &chunks {
                out.clear();
                let parsed = Chunk::parse(black_box(chunk)).unwrap();
                parsed.decode(&mut out).unwrap();
                black_box(&out);
            }
        });
        let parsed: Vec<Chunk> = chunks.iter().map(|c| Chunk::parse(c).unwrap()).collect();
        let mut block_out = Vec::with_capacity(BLOCK_POINTS);
        let block = mpps(points.len(), || {
            for chunk in &parsed {
                for index in 0..chunk.blocks().len() {
                    block_out.clear();
                    chunk.decode_block(index, &mut block_out).unwrap();
                    black_box(&block_out);
                }
            }
        });
        let parse_us = {
            let samples = (0..RUNS)
                .map(|_| {
                    let start = Instant::now();
                    for chunk in &chunks {
                        black_box(Chunk::parse(black_box(chunk)).unwrap());
                    }
                    start.elapsed().as_secs_f64() * 1e6 / chunks.len() as f64
                })
                .collect();
            median(samples)
        };
        println!(
            "{:<13} {:>8.3} {:>8.3} {:>7.1}% {:>8.1} {:>8.1} {:>8.1} {:>8.2}",
            name,
            bytes as f64 / points.len() as f64,
            index as f64 / points.len() as f64,
            100.0 * index as f64 / bytes as f64,
            encode,
            decode,
            block,
            parse_us,
        );

        let mut mix: BTreeMap<String, usize> = BTreeMap::new();
        for chunk in &parsed {
            for index in 0..chunk.blocks().len() {
                *mix.entry(chunk.describe_block(index).unwrap()).or_default() += 1;
            }
        }
        let mut mix: Vec<(String, usize)> = mix.into_iter().collect();
        mix.sort_by_key(|(_, count)| std::cmp::Reverse(*count));
        mixes.push((name, mix));
    }

    println!();
    println!("bytes/point when the encoder may use only some codings:");
    let variants: [(&str, EncodeOptions); 6] = [
        ("all", all),
        ("no f32", EncodeOptions { f32: false, ..all }),
        (
            "no decimal",
            EncodeOptions {
                decimal: false,
                ..all
            },
        ),
        (
            "xor values",
            EncodeOptions {
                value_ints: false,
                decimal: false,
                ..all
            },
        ),
        (
            "int values",
            EncodeOptions {
                value_xor: false,
                ..all
            },
        ),
        (
            "dod times",
            EncodeOptions {
                int_for: false,
                ..all
            },
        ),
    ];
    print!("{:<13}", "workload");
    for (label, _) in &variants {
        print!(" {label:>10}");
    }
    println!();
    let mut speeds = Vec::new();
    for (name, points) in &workloads {
        print!("{name:<13}");
        let mut row = Vec::new();
        for (_, options) in &variants {
            let chunks = encode_all(points, options);
            let bytes: usize = chunks.iter().map(Vec::len).sum();
            print!(" {:>10.3}", bytes as f64 / points.len() as f64);
            let mut out = Vec::with_capacity(CHUNK);
            row.push(mpps(points.len(), || {
                for chunk in &chunks {
                    out.clear();
                    Chunk::parse(black_box(chunk))
                        .unwrap()
                        .decode(&mut out)
                        .unwrap();
                    black_box(&out);
                }
            }));
        }
        println!();
        speeds.push((name, row));
    }
    println!();
    println!("decode speed (M points/s) of the same:");
    print!("{:<13}", "workload");
    for (label, _) in &variants {
        print!(" {label:>10}");
    }
    println!();
    for (name, row) in speeds {
        print!("{name:<13}");
        for speed in row {
            print!(" {speed:>10.1}");
        }
        println!();
    }

    println!();
    println!("most common block codings:");
    for (name, mix) in mixes {
        let total: usize = mix.iter().map(|(_, count)| count).sum();
        let top: Vec<String> = mix
            .iter()
            .take(3)
            .map(|(coding, count)| {
                format!("{coding} ({:.0}%)", 100.0 * *count as f64 / total as f64)
            })
            .collect();
        println!("{name:<13} {}", top.join(", "));
    }
}
