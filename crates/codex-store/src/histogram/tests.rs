use super::*;

#[test]
fn bounds_rise_and_quarter_each_doubling() {
    assert!(BOUNDS.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(&BOUNDS[..12], &[1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16]);
    assert_eq!(BOUNDS[BOUNDS.len() - 1], 1 << 20);
    // Every bucket from 4 ms on is at most a quarter of its lower bound wide.
    for bucket in 4..BUCKETS - 1 {
        let (low, high) = range_of(bucket);
        let high = high.unwrap();
        assert!(
            (high + 1 - low) * 4 <= low,
            "bucket {bucket}: {low}..={high}"
        );
    }
}

#[test]
fn durations_land_in_their_bucket() {
    check_buckets(&[
        (0, 0),
        (1, 1),
        (3, 3),
        (4, 4),
        (7, 7),
        (8, 8),
        (9, 8),
        (10, 9),
        (1023, 35),
        (1024, 36),
        ((1 << 20) - 1, 75),
        (1 << 20, 76),
        (u64::MAX, 76),
    ]);
}

fn check_buckets(cases: &[(u64, usize)]) {
    for &(ms, bucket) in cases {
        assert_eq!(bucket_of(ms), bucket, "{ms} ms");
        let (low, high) = range_of(bucket);
        assert!(low <= ms && high.is_none_or(|high| ms <= high), "{ms} ms");
    }
}

fn histogram(durations: &[u64]) -> DurationHistogram {
    let mut histogram = DurationHistogram::default();
    for &ms in durations {
        histogram.record(ms);
    }
    histogram
}

#[test]
fn percentiles_are_exact_below_four_milliseconds() {
    check_percentiles(
        &[0, 0, 0, 1, 1, 2, 3, 3, 3, 3],
        &[(50.0, 1.0), (95.0, 3.0), (10.0, 0.0)],
    );
    check_percentiles(&[2], &[(50.0, 2.0), (99.0, 2.0), (100.0, 2.0)]);
    // Nearest rank: the 95th of 100 calls is the 95th smallest.
    let hundred: Vec<u64> = (0..100).map(|i| if i < 95 { 1 } else { 3 }).collect();
    check_percentiles(&hundred, &[(95.0, 1.0), (96.0, 3.0)]);
}

#[test]
fn percentiles_above_stay_within_a_quarter() {
    let durations: Vec<u64> = (1..=1000).map(|i| i * 37 % 5000 + 4).collect();
    let mut sorted = durations.clone();
    sorted.sort_unstable();
    let h = histogram(&durations);
    for p in [50.0, 90.0, 95.0, 99.0] {
        let rank = (p * 1000.0_f64 / 100.0).ceil() as usize;
        let truth = sorted[rank - 1] as f64;
        let estimate = h.percentile(p).unwrap();
        assert!(
            (estimate - truth).abs() <= truth / 4.0,
            "p{p}: {estimate} against {truth}"
        );
    }
    // Beyond the last bound the estimate is the bound itself.
    assert_eq!(histogram(&[5_000_000]).percentile(50.0), Some(1_048_576.0));
}

fn check_percentiles(durations: &[u64], expected: &[(f64, f64)]) {
    let h = histogram(durations);
    for &(p, ms) in expected {
        assert_eq!(h.percentile(p), Some(ms), "p{p} of {durations:?}");
    }
}

#[test]
fn an_empty_histogram_has_no_percentile() {
    assert_eq!(DurationHistogram::default().percentile(50.0), None);
}

#[test]
fn histograms_add_and_subtract_exactly() {
    let mut a = histogram(&[0, 5, 5, 900]);
    let b = histogram(&[5, 70_000]);
    a.add(&b);
    assert_eq!(a, histogram(&[0, 5, 5, 900, 5, 70_000]));
    a.subtract(&b).unwrap();
    assert_eq!(a, histogram(&[0, 5, 5, 900]));
    let before = a.clone();
    assert!(a.subtract(&histogram(&[1])).is_err());
    assert_eq!(a, before, "a failed subtraction changes nothing");
}

#[test]
fn stored_forms_round_trip() {
    let h = histogram(&[0, 3, 3, 17, 1 << 30]);
    assert_eq!(
        DurationHistogram::from_sparse_bytes(&h.to_sparse_bytes()).unwrap(),
        h
    );
    assert_eq!(h.to_sparse_bytes().len(), 4 * 9);
    assert_eq!(
        DurationHistogram::from_dense(&h.to_dense(false)).unwrap(),
        h
    );
    assert!(DurationHistogram::from_dense(&h.to_dense(true)).is_err());
    assert!(DurationHistogram::from_sparse_bytes(&[1, 2, 3]).is_err());
    assert!(DurationHistogram::from_sparse_bytes(&[200, 0, 0, 0, 0, 0, 0, 0, 1]).is_err());
    assert!(DurationHistogram::from_dense(&[1, 2]).is_err());
}

/// The migrations that backfill the rollup bucket durations in SQL; their bounds must be these.
#[test]
fn the_migrations_bucket_as_this_module_does() {
    let sqlite = include_str!("../../migrations/sqlite/20261125000001_executions_and_rollups.sql");
    let sqlite_bounds: Vec<u64> = sqlite
        .split("WHEN duration_ms < ")
        .skip(1)
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(sqlite_bounds, BOUNDS);
    assert!(sqlite.contains(&format!("ELSE {} END", BUCKETS - 1)));

    let postgres =
        include_str!("../../migrations/postgres/20261125000001_executions_and_rollups.sql");
    let list = postgres
        .split("width_bucket(duration_ms, ARRAY[")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap();
    let postgres_bounds: Vec<u64> = list.split(',').map(|n| n.trim().parse().unwrap()).collect();
    assert_eq!(postgres_bounds, BOUNDS);
    assert!(postgres.contains(&format!("generate_series(0, {})", BUCKETS - 1)));
}
