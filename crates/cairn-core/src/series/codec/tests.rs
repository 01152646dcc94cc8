use super::*;
use proptest::prelude::*;

fn p(step: i64, timestamp: i64, value: f64) -> Point {
    Point {
        step,
        timestamp,
        value,
    }
}

fn same_bits(a: &[Point], b: &[Point]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(x, y)| {
            x.step == y.step && x.timestamp == y.timestamp && x.value.to_bits() == y.value.to_bits()
        })
}

fn summary_bits_eq(a: &Summary, b: &Summary) -> bool {
    let point_eq = |x: &Option<Point>, y: &Option<Point>| match (x, y) {
        (Some(x), Some(y)) => same_bits(&[*x], &[*y]),
        (None, None) => true,
        _ => false,
    };
    // `f64::min` and `max` may return either zero for `min(0.0, -0.0)`, so which zero a
    // summary holds depends on code generation; everything else must match bit for bit.
    let same_number = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x == 0.0 && y == 0.0);
    a.count == b.count
        && a.nans == b.nans
        && same_number(a.min, b.min)
        && same_number(a.max, b.max)
        && a.sum.to_bits() == b.sum.to_bits()
        && point_eq(&a.first, &b.first)
        && point_eq(&a.last, &b.last)
}

/// Option sets that force the codings the encoder seldom picks on its own.
fn restricted_options() -> [EncodeOptions; 4] {
    let all = EncodeOptions::default();
    [
        // XOR codes for every float block.
        EncodeOptions {
            value_ints: false,
            decimal: false,
            ..all
        },
        // XOR on f64 bits only.
        EncodeOptions {
            value_ints: false,
            decimal: false,
            f32: false,
            ..all
        },
        // Delta-of-delta for steps and timestamps.
        EncodeOptions {
            int_for: false,
            ..all
        },
        // Ordered f64 bits only.
        EncodeOptions {
            decimal: false,
            f32: false,
            value_xor: false,
            ..all
        },
    ]
}

/// Encodes, decodes whole and block by block, and checks every block's meta.
fn check(points: &[Point]) -> Vec<u8> {
    for options in restricted_options() {
        check_with(points, &options);
    }
    check_with(points, &EncodeOptions::default())
}

fn check_with(points: &[Point], options: &EncodeOptions) -> Vec<u8> {
    let bytes = encode_with(points, options);
    assert_eq!(bytes[0], FORMAT_VERSION);
    let decoded = decode(&bytes).unwrap();
    assert!(same_bits(points, &decoded), "round trip differs");
    let chunk = Chunk::parse(&bytes).unwrap();
    assert_eq!(chunk.len(), points.len());
    assert_eq!(chunk.is_empty(), points.is_empty());
    assert_eq!(chunk.blocks().len(), points.len().div_ceil(BLOCK_POINTS));
    for (index, (meta, block)) in chunk
        .blocks()
        .iter()
        .zip(points.chunks(BLOCK_POINTS))
        .enumerate()
    {
        let expected = Summary::of(block);
        assert!(
            summary_bits_eq(&meta.summary, &expected),
            "block {index}: {:?} != {expected:?}",
            meta.summary
        );
        assert_eq!(meta.min_step, block.iter().map(|p| p.step).min().unwrap());
        assert_eq!(meta.max_step, block.iter().map(|p| p.step).max().unwrap());
        assert_eq!(
            meta.min_time,
            block.iter().map(|p| p.timestamp).min().unwrap()
        );
        assert_eq!(
            meta.max_time,
            block.iter().map(|p| p.timestamp).max().unwrap()
        );
        let mut out = vec![p(1, 2, 3.0)];
        chunk.decode_block(index, &mut out).unwrap();
        assert!(same_bits(&out[1..], block));
    }
    let mut whole = Summary::default();
    for block in points.chunks(BLOCK_POINTS) {
        whole.merge(&Summary::of(block));
    }
    assert!(summary_bits_eq(&chunk.summary(), &whole));
    assert!(
        chunk
            .decode_block(chunk.blocks().len(), &mut Vec::new())
            .is_err()
    );
    bytes
}

fn loss_curve(n: usize) -> Vec<Point> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut time = 1_780_000_000_000i64;
    (0..n)
        .map(|i| {
            let noise = (next() % 2001) as f64 / 1000.0 - 1.0;
            time += 47 + (next() % 7) as i64;
            let loss = (2.0 * (-(i as f64) / 20000.0).exp() + 0.05 + noise * 0.02) as f32;
            p(i as i64, time, f64::from(loss))
        })
        .collect()
}

#[test]
fn empty_chunk() {
    let bytes = check(&[]);
    assert_eq!(bytes, vec![FORMAT_VERSION, 0]);
    let chunk = Chunk::parse(&bytes).unwrap();
    assert!(chunk.is_empty());
    assert_eq!(chunk.summary(), Summary::default());
}

#[test]
fn one_and_two_points() {
    check(&[p(7, 1_780_000_000_000, 0.25)]);
    check(&[p(-3, -9, f64::NAN)]);
    check(&[p(1, 2, 3.5), p(2, 1, -0.0)]);
    check(&[p(2, 2, f64::NAN), p(1, 3, 1.0)]);
}

#[test]
fn block_boundaries() {
    for n in [3, 127, 128, 129, 255, 256, 257, 4096, 4097] {
        let points = loss_curve(n);
        let bytes = check(&points);
        if n == 4096 {
            let per_point = bytes.len() as f64 / n as f64;
            assert!(per_point < 4.5, "{per_point} bytes per point");
        }
    }
}

#[test]
fn version_is_checked() {
    let mut bytes = encode(&loss_curve(10));
    bytes[0] = 2;
    let error = Chunk::parse(&bytes).unwrap_err();
    assert!(error.to_string().contains("version 2"), "{error}");
    assert!(Chunk::parse(&[]).is_err());
}

#[test]
fn special_values() {
    let nan_payload = f64::from_bits(0x7FF0_0000_0000_0001);
    let negative_nan = f64::from_bits(0xFFF8_0000_0000_0000);
    let nan_f32_payload = f64::from_bits(0x7FF8_0000_2000_0000);
    let values = [
        f64::NAN,
        nan_payload,
        negative_nan,
        nan_f32_payload,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        0.0,
        f64::MIN_POSITIVE / 4.0,
        -f64::from_bits(1),
        f64::MAX,
        f64::MIN,
        f64::from(f32::MIN_POSITIVE) / 8.0,
        1.0,
    ];
    let points: Vec<Point> = (0..300)
        .map(|i| p(i, i * 10, values[i as usize % values.len()]))
        .collect();
    check(&points);
    // Each special value alone, as a constant block and mixed with ordinary f32 values.
    for &v in &values {
        check(&vec![p(0, 0, v); 130]);
        let mixed: Vec<Point> = (0..130)
            .map(|i| {
                p(
                    i,
                    i,
                    if i % 5 == 2 {
                        v
                    } else {
                        f64::from(i as f32 * 0.5)
                    },
                )
            })
            .collect();
        check(&mixed);
    }
}

#[test]
fn nan_blocks() {
    check(&vec![p(0, 0, f64::NAN); 200]);
    let mixed: Vec<Point> = (0..200)
        .map(|i| {
            let bits = 0x7FF8_0000_0000_0000 | (i as u64 % 3);
            p(
                i,
                0,
                f64::from_bits(if i % 2 == 0 { bits | (1 << 63) } else { bits }),
            )
        })
        .collect();
    check(&mixed);
    let chunk_bytes = encode(&mixed);
    let chunk = Chunk::parse(&chunk_bytes).unwrap();
    assert_eq!(chunk.blocks()[0].summary.nans, 128);
    assert_eq!(chunk.blocks()[0].summary.min_max(), None);
}

#[test]
fn extreme_steps_and_times() {
    let extremes = [i64::MIN, i64::MAX, 0, -1, 1, i64::MIN + 1, i64::MAX - 1];
    let points: Vec<Point> = (0..400)
        .map(|i| {
            p(
                extremes[i % extremes.len()],
                extremes[(i * 3 + 1) % extremes.len()],
                i as f64,
            )
        })
        .collect();
    check(&points);
    check(&[p(i64::MIN, i64::MAX, 1.0), p(i64::MAX, i64::MIN, 2.0)]);
    let ascending: Vec<Point> = (0..300)
        .map(|i| p(i64::MAX - 300 + i, i64::MIN + i, 1.0))
        .collect();
    check(&ascending);
}

#[test]
fn unsorted_and_duplicate_points() {
    let mut points = loss_curve(1000);
    points.reverse();
    check(&points);
    let mut shuffled = loss_curve(1000);
    for i in 0..shuffled.len() {
        shuffled.swap(i, (i * 7919) % 1000);
    }
    check(&shuffled);
    let duplicates: Vec<Point> = (0..300).map(|i| p(i / 3, i / 3, 0.5)).collect();
    check(&duplicates);
    check(&vec![p(5, 5, 2.5); 257]);
}

#[test]
fn value_domains_are_chosen() {
    let coding = |points: &[Point]| {
        let bytes = encode(points);
        let chunk = Chunk::parse(&bytes).unwrap();
        chunk.describe_block(0).unwrap()
    };
    let constant: Vec<Point> = (0..128).map(|i| p(i, i * 50, 3e-4)).collect();
    assert!(coding(&constant).contains("values=const"));
    let counter: Vec<Point> = (0..128).map(|i| p(i, i * 50, (i * 32) as f64)).collect();
    let described = coding(&counter);
    assert!(described.contains("values=dec0:delta/0"), "{described}");
    assert!(described.contains("steps=delta/0"), "{described}");
    let accuracy: Vec<Point> = (0..128)
        .map(|i| p(i, i * 50, ((i * 37 % 1000) as f64 + 8000.0) / 10000.0))
        .collect();
    assert!(coding(&accuracy).contains("values=dec4"));
    let loss = loss_curve(128);
    assert!(coding(&loss).contains("values=f32"), "{}", coding(&loss));
    let forced = |points: &[Point], options: &EncodeOptions| {
        let bytes = encode_with(points, options);
        let chunk = Chunk::parse(&bytes).unwrap();
        chunk.describe_block(0).unwrap()
    };
    let [xor32, xor64, dod, f64_bits] = restricted_options();
    assert!(forced(&loss, &xor32).contains("values=xor32"));
    assert!(forced(&loss, &xor64).contains("values=xor64"));
    assert!(forced(&loss, &dod).contains("times=dod"));
    assert!(forced(&loss, &f64_bits).contains("values=f64"));
    // A loss spike and a pause in logging: exceptions to the frame of reference.
    let mut spiky = loss_curve(128);
    spiky[40].value = 1e6;
    for point in &mut spiky[90..] {
        point.timestamp += 3_600_000;
    }
    let described = coding(&spiky);
    assert!(
        described.contains("values=f32:raw/") && described.contains('+'),
        "{described}"
    );
    assert!(described.contains("times=delta/3+1"), "{described}");
    check(&spiky);
    check(&constant);
    check(&counter);
    check(&accuracy);
}

#[test]
fn hostile_bytes_are_refused() {
    let points = loss_curve(600);
    let bytes = encode(&points);
    for len in 0..bytes.len() {
        let cut = &bytes[..len];
        if let Ok(chunk) = Chunk::parse(cut) {
            panic!("truncation to {len} bytes parsed ({} points)", chunk.len());
        }
    }
    let mut junk = bytes.clone();
    junk.push(0);
    assert!(Chunk::parse(&junk).is_err());
    // A huge point count with no index behind it.
    let mut huge = vec![FORMAT_VERSION];
    put_varint(&mut huge, u64::MAX);
    huge.extend_from_slice(&[0; 16]);
    assert!(Chunk::parse(&huge).is_err());
    // Every single bit flip of a smaller chunk: no panic; whatever parses decodes to something
    // or fails cleanly. (Packed data has no redundancy and the format no checksum, so most
    // flips there just decode to other points; those in headers and the index are caught.)
    let bytes = encode(&loss_curve(300));
    let mut caught = 0;
    for byte in 0..bytes.len() {
        for bit in 0..8 {
            let mut flipped = bytes.clone();
            flipped[byte] ^= 1 << bit;
            caught += usize::from(!exercise(&flipped));
        }
    }
    assert!(caught > 0);
}

/// Parses and decodes arbitrary bytes (must not panic); whether all of it went through.
fn exercise(bytes: &[u8]) -> bool {
    let Ok(chunk) = Chunk::parse(bytes) else {
        return false;
    };
    let _ = chunk.summary();
    let mut out = Vec::new();
    let mut ok = true;
    for index in 0..chunk.blocks().len() {
        out.clear();
        if chunk.decode_block(index, &mut out).is_ok() {
            assert_eq!(out.len() as u64, chunk.blocks()[index].summary.count);
        } else {
            ok = false;
        }
    }
    out.clear();
    assert_eq!(chunk.decode(&mut out).is_ok(), ok);
    ok
}

fn arbitrary_point() -> impl Strategy<Value = Point> {
    (
        any::<i64>(),
        any::<i64>(),
        any::<u64>().prop_map(f64::from_bits),
    )
        .prop_map(|(s, t, v)| p(s, t, v))
}

/// Monotone steps, a regular cadence with jitter or batches, and values of one family.
fn realistic_series() -> impl Strategy<Value = Vec<Point>> {
    (
        0usize..700,
        any::<i64>(),
        1i64..5,
        0i64..100,
        0i64..4,
        0u8..6,
        any::<u64>(),
    )
        .prop_map(|(n, start, stride, cadence, jitter, family, seed)| {
            let mut state = seed | 1;
            let mut next = move || {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state
            };
            let mut time = 1_780_000_000_000i64;
            let base = (next() % 1000) as f64 / 100.0;
            (0..n)
                .map(|i| {
                    let step = start.wrapping_add(stride * i as i64);
                    if i % 17 != 0 || family != 5 {
                        time += cadence + (next() % (2 * jitter as u64 + 1)) as i64 - jitter;
                    }
                    let noise = (next() % 10_000) as f64 / 10_000.0 - 0.5;
                    let value = match family {
                        0 => f64::from((base + noise) as f32),
                        1 => base + noise * 1e-9,
                        2 => ((base + noise) * 1e4).round() / 1e4,
                        3 => (i as f64 / 10.0).floor(),
                        4 => {
                            if next() % 50 == 0 {
                                f64::NAN
                            } else {
                                base
                            }
                        }
                        _ => f64::from_bits(next()),
                    };
                    p(step, time, value)
                })
                .collect()
        })
}

proptest! {
    #[test]
    fn arbitrary_points_round_trip(points in prop::collection::vec(arbitrary_point(), 0..400)) {
        check(&points);
    }

    #[test]
    fn realistic_points_round_trip(points in realistic_series()) {
        check(&points);
    }

    #[test]
    fn mixed_points_round_trip(
        mut points in realistic_series(),
        extra in prop::collection::vec((any::<prop::sample::Index>(), arbitrary_point()), 0..8),
    ) {
        for (at, point) in extra {
            let at = at.index(points.len() + 1);
            points.insert(at, point);
        }
        check(&points);
    }

    #[test]
    fn an_index_parses_from_any_prefix_that_holds_it(
        points in realistic_series(),
        cut in any::<prop::sample::Index>(),
    ) {
        // What a reader with only the chunk's first bytes does: parse the index from a prefix
        // (asking for more while it is too short), then decode each block from its own bytes.
        let bytes = encode(&points);
        let whole = Chunk::parse(&bytes).unwrap();
        let len = cut.index(bytes.len() + 1);
        let parsed = ChunkIndex::parse_prefix(&bytes[..len], bytes.len()).unwrap();
        prop_assert_eq!(parsed.is_some(), len >= whole.index_len());
        let index = ChunkIndex::parse_prefix(&bytes[..whole.index_len()], bytes.len())
            .unwrap()
            .unwrap();
        prop_assert_eq!(index.blocks().len(), whole.blocks().len());
        let mut decoded = Vec::new();
        for (i, block) in index.blocks().iter().enumerate() {
            prop_assert!(summary_bits_eq(&block.summary, &whole.blocks()[i].summary));
            let range = index.block_bytes(i).unwrap();
            prop_assert!(range.start >= index.index_len() && range.end <= bytes.len());
            index.decode_block(i, &bytes[range.clone()], &mut decoded).unwrap();
            // The wrong bytes' length is refused, not misread.
            if !range.is_empty() {
                prop_assert!(index.decode_block(i, &bytes[range.start + 1..range.end], &mut Vec::new()).is_err());
            }
        }
        let mut want = Vec::new();
        whole.decode(&mut want).unwrap();
        prop_assert!(same_bits(&decoded, &want));
        // A prefix claimed longer than the chunk is refused.
        prop_assert!(ChunkIndex::parse_prefix(&bytes, bytes.len().saturating_sub(1)).is_err());
    }

    #[test]
    fn random_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        let _ = exercise(&bytes);
        if !bytes.is_empty() {
            bytes[0] = FORMAT_VERSION;
            let _ = exercise(&bytes);
        }
    }

    #[test]
    fn garbage_block_data_never_panics(
        points in realistic_series(),
        option in 0usize..5,
        seed in any::<u64>(),
    ) {
        // A valid index over random block data: every decoder sees arbitrary headers and bits.
        let options = restricted_options().get(option).copied().unwrap_or_default();
        let mut bytes = encode_with(&points, &options);
        let index_len = Chunk::parse(&bytes).unwrap().index_len();
        let mut state = seed | 1;
        for byte in &mut bytes[index_len..] {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte = state as u8;
        }
        let _ = exercise(&bytes);
    }

    #[test]
    fn damaged_encodings_never_panic(
        points in realistic_series(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 0u8..8), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let bytes = encode(&points);
        let mut damaged = bytes.clone();
        for (at, bit) in flips {
            let at = at.index(damaged.len());
            damaged[at] ^= 1 << bit;
        }
        let _ = exercise(&damaged);
        prop_assert!(!exercise(&bytes[..cut.index(bytes.len())]));
        let _ = exercise(&damaged[..cut.index(damaged.len())]);
    }
}
