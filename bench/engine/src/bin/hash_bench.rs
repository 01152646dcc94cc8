//! `cairn-hash-bench`: hashing speed behind Cairn's content addressing (run by `bench/artifacts/run`).
//!
//! - `speed`: BLAKE3 (the digest Cairn stores artifacts under) against SHA-256, one thread each,
//!   over one in-memory buffer (1 GiB by default, filled with pseudo-random bytes before any
//!   timing). One untimed pass of each, then `--repeats` timed passes alternating the two; prints
//!   every pass and the median in GB/s (10^9 bytes a second). Also prints which SIMD paths the CPU
//!   offers (BLAKE3 picks SSE4.1/AVX2/AVX-512 at run time; the `sha2` crate uses the SHA-NI
//!   instructions when present, software otherwise).
//! - `file PATH`: the BLAKE3 digest of a file as Cairn writes it (`blake3:<hex>`), read in 1 MiB
//!   blocks on one thread, and the time it took: what a client pays to learn a file's digest
//!   before asking the server whether it already has those bytes.
//!
//! With `--json` each command prints one JSON object instead of text.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use serde_json::json;
use sha2::Digest as _;

#[derive(Debug, Parser)]
#[command(
    name = "cairn-hash-bench",
    version,
    about = "BLAKE3 vs SHA-256 speed; BLAKE3 digest of a file"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Single-thread GB/s of BLAKE3 and SHA-256 over one in-memory buffer.
    Speed {
        /// Buffer size in MiB.
        #[arg(long, default_value_t = 1024)]
        size_mib: usize,
        /// Timed passes of each hash (the median is reported).
        #[arg(long, default_value_t = 5)]
        repeats: usize,
    },
    /// BLAKE3 digest of a file, and how long reading + hashing took.
    File { path: PathBuf },
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Speed { size_mib, repeats } => speed(size_mib, repeats.max(1), cli.json),
        Command::File { path } => file(&path, cli.json),
    }
}

/// Pseudo-random bytes (xorshift64*), so nothing about the input is special.
fn fill(buf: &mut [u8]) {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    for chunk in buf.chunks_mut(8) {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let word = state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

fn blake3_once(buf: &[u8]) -> (f64, String) {
    let start = Instant::now();
    let digest = blake3::Hasher::new().update(buf).finalize();
    (start.elapsed().as_secs_f64(), digest.to_hex().to_string())
}

fn sha256_once(buf: &[u8]) -> (f64, String) {
    let start = Instant::now();
    let digest = sha2::Sha256::digest(buf);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    (start.elapsed().as_secs_f64(), hex)
}

#[allow(clippy::vec_init_then_push)]
fn cpu_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut found = Vec::new();
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        if std::is_x86_feature_detected!("sse4.1") {
            found.push("sse4.1");
        }
        if std::is_x86_feature_detected!("avx2") {
            found.push("avx2");
        }
        if std::is_x86_feature_detected!("avx512f") {
            found.push("avx512f");
        }
        if std::is_x86_feature_detected!("sha") {
            found.push("sha-ni");
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            found.push("neon");
        }
        if std::arch::is_aarch64_feature_detected!("sha2") {
            found.push("sha2");
        }
    }
    found
}

fn speed(size_mib: usize, repeats: usize, as_json: bool) -> Result<()> {
    let bytes = size_mib * 1024 * 1024;
    let mut buf = vec![0u8; bytes];
    fill(&mut buf);
    // One untimed pass each: pages touched, caches and frequency settled.
    let (_, b3) = blake3_once(&buf);
    let (_, s256) = sha256_once(&buf);
    let mut blake3_gbs = Vec::with_capacity(repeats);
    let mut sha256_gbs = Vec::with_capacity(repeats);
    for _ in 0..repeats {
        let (seconds, digest) = blake3_once(&buf);
        anyhow::ensure!(digest == b3, "BLAKE3 digest changed between passes");
        blake3_gbs.push(bytes as f64 / seconds / 1e9);
        let (seconds, digest) = sha256_once(&buf);
        anyhow::ensure!(digest == s256, "SHA-256 digest changed between passes");
        sha256_gbs.push(bytes as f64 / seconds / 1e9);
    }
    let (b, s) = (median(&blake3_gbs), median(&sha256_gbs));
    let features = cpu_features();
    if as_json {
        let out = json!({
            "bytes": bytes,
            "repeats": repeats,
            "blake3_gb_s": b,
            "sha256_gb_s": s,
            "blake3_gb_s_all": blake3_gbs,
            "sha256_gb_s_all": sha256_gbs,
            "ratio": b / s,
            "cpu_features": features,
        });
        println!("{out}");
    } else {
        let list = |v: &[f64]| {
            v.iter()
                .map(|x| format!("{x:.2}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "buffer {size_mib} MiB, {repeats} timed passes each, one thread; CPU: {}",
            features.join(" ")
        );
        println!("BLAKE3  median {b:.2} GB/s  ({})", list(&blake3_gbs));
        println!("SHA-256 median {s:.2} GB/s  ({})", list(&sha256_gbs));
        println!("BLAKE3 / SHA-256: {:.2}x", b / s);
    }
    Ok(())
}

fn file(path: &PathBuf, as_json: bool) -> Result<()> {
    let start = Instant::now();
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    // A page-aligned 1 MiB block: the kernel's copy into a misaligned buffer (what a plain
    // 1 MiB Vec from the system allocator is) was measured 3-4x slower here.
    let mut storage = vec![0u8; (1 << 20) + 4096];
    let skip = (4096 - storage.as_ptr() as usize % 4096) % 4096;
    let block = &mut storage[skip..skip + (1 << 20)];
    let mut total: u64 = 0;
    loop {
        let n = f
            .read(block)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&block[..n]);
        total += n as u64;
    }
    let digest = format!("blake3:{}", hasher.finalize().to_hex());
    let seconds = start.elapsed().as_secs_f64();
    if as_json {
        println!(
            "{}",
            json!({ "digest": digest, "bytes": total, "seconds": seconds })
        );
    } else {
        println!(
            "{digest}  {total} bytes  {seconds:.3} s  {:.2} GB/s",
            total as f64 / seconds / 1e9
        );
    }
    Ok(())
}
