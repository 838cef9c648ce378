//! Durations as a fixed log-scale histogram, the form in which the execution rollup keeps
//! latencies: histograms add up exactly (an hour's plus the next one's is the two hours'), so
//! percentiles over any window of hours come from summing rows, never from rereading calls.
//!
//! Buckets hold whole milliseconds: 0, 1, 2 and 3 each have a bucket of their own; from 4 ms on,
//! every doubling (4-8, 8-16, ...) is cut into four equal buckets, up to 2^20 ms (about 17
//! minutes); the last bucket holds everything longer. A percentile is therefore exact below
//! 4 ms and off by less than a quarter of its value above.
//!
//! The bucket bounds are also written into the migrations that backfill the rollup (a `CASE`
//! for SQLite, `width_bucket` for PostgreSQL); a test reads them back from there.

use crate::error::{Result, StoreError};

/// How many buckets a histogram has.
pub const BUCKETS: usize = 77;

/// The exclusive upper bound, in milliseconds, of every bucket but the last: bucket `i` holds
/// `BOUNDS[i - 1] <= ms < BOUNDS[i]` (from 0 for the first, without end for the last).
pub const BOUNDS: [u64; BUCKETS - 1] = bounds();

const fn bounds() -> [u64; BUCKETS - 1] {
    let mut bounds = [0; BUCKETS - 1];
    let mut i = 0;
    while i < 4 {
        bounds[i] = i as u64 + 1;
        i += 1;
    }
    // Doubling `k` spans 2^k to 2^(k+1) in four steps of 2^(k-2).
    let mut k = 2;
    while k < 20 {
        let mut step = 1;
        while step <= 4 {
            bounds[i] = (4 + step) << (k - 2);
            i += 1;
            step += 1;
        }
        k += 1;
    }
    bounds
}

/// The bucket a duration falls in.
pub fn bucket_of(ms: u64) -> usize {
    BOUNDS.partition_point(|&bound| bound <= ms)
}

/// The durations a bucket holds, as `lowest..=highest` whole milliseconds (`None` above for the
/// last bucket, which has no end).
fn range_of(bucket: usize) -> (u64, Option<u64>) {
    let low = match bucket {
        0 => 0,
        b => BOUNDS[b - 1],
    };
    (low, BOUNDS.get(bucket).map(|high| high - 1))
}

/// Counts of durations per bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationHistogram {
    counts: [u64; BUCKETS],
}

impl Default for DurationHistogram {
    fn default() -> Self {
        Self {
            counts: [0; BUCKETS],
        }
    }
}

impl DurationHistogram {
    /// Counts one duration.
    pub fn record(&mut self, ms: u64) {
        self.counts[bucket_of(ms)] += 1;
    }

    /// Adds another histogram's counts to this one.
    pub fn add(&mut self, other: &DurationHistogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine += theirs;
        }
    }

    /// Takes another histogram's counts out of this one; fails, changing nothing, if that would
    /// leave a bucket below zero (the two do not describe the same calls).
    pub(crate) fn subtract(&mut self, other: &DurationHistogram) -> Result<()> {
        if self.counts.iter().zip(&other.counts).any(|(m, t)| m < t) {
            return Err(StoreError::Corrupt(
                "a duration histogram would go below zero".to_owned(),
            ));
        }
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            *mine -= theirs;
        }
        Ok(())
    }

    /// How many durations were counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The count of each bucket, in bucket order.
    pub fn counts(&self) -> &[u64; BUCKETS] {
        &self.counts
    }

    /// The `p`-th percentile (0 < `p` <= 100) in milliseconds, to a tenth; `None` when empty.
    ///
    /// The duration of nearest rank `ceil(p% of total)`, placed within its bucket as if the
    /// bucket's calls were spread evenly over the whole milliseconds it holds (the last bucket,
    /// which has no end, answers its lower bound).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let total = self.total();
        if total == 0 {
            return None;
        }
        // `p * total` first: for whole percents and counts it is exact, so the rank is too.
        let rank = ((p * total as f64 / 100.0).ceil() as u64).clamp(1, total);
        let mut before = 0;
        for (bucket, &count) in self.counts.iter().enumerate() {
            if before + count >= rank {
                let (low, high) = range_of(bucket);
                let high = high.unwrap_or(low);
                let place = if count > 1 {
                    (rank - before - 1) as f64 / (count - 1) as f64
                } else {
                    0.0
                };
                let ms = low as f64 + (high - low) as f64 * place;
                return Some((ms * 10.0).round() / 10.0);
            }
            before += count;
        }
        None
    }

    /// SQLite's form: for each non-empty bucket in order, its number (one byte) and its count
    /// (eight bytes, big-endian), which the migration can build with `printf` and `unhex`.
    pub(crate) fn to_sparse_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(9 * 8);
        for (bucket, &count) in self.counts.iter().enumerate() {
            if count > 0 {
                bytes.push(bucket as u8);
                bytes.extend_from_slice(&count.to_be_bytes());
            }
        }
        bytes
    }

    /// Reads [`DurationHistogram::to_sparse_bytes`] back.
    pub(crate) fn from_sparse_bytes(bytes: &[u8]) -> Result<Self> {
        let corrupt = || StoreError::Corrupt("a stored duration histogram".to_owned());
        if !bytes.len().is_multiple_of(9) {
            return Err(corrupt());
        }
        let mut histogram = Self::default();
        for entry in bytes.chunks_exact(9) {
            let slot = histogram
                .counts
                .get_mut(usize::from(entry[0]))
                .ok_or_else(corrupt)?;
            let count: [u8; 8] = entry[1..].try_into().map_err(|_| corrupt())?;
            *slot += u64::from_be_bytes(count);
        }
        Ok(histogram)
    }

    /// PostgreSQL's form: one count per bucket, as `bigint[]`; `negate` for taking calls out.
    pub(crate) fn to_dense(&self, negate: bool) -> Vec<i64> {
        let sign = if negate { -1 } else { 1 };
        self.counts
            .iter()
            .map(|&count| sign * i64::try_from(count).unwrap_or(i64::MAX))
            .collect()
    }

    /// Reads [`DurationHistogram::to_dense`] back.
    pub(crate) fn from_dense(counts: &[i64]) -> Result<Self> {
        let corrupt = || StoreError::Corrupt("a stored duration histogram".to_owned());
        if counts.len() != BUCKETS {
            return Err(corrupt());
        }
        let mut histogram = Self::default();
        for (slot, &count) in histogram.counts.iter_mut().zip(counts) {
            *slot = u64::try_from(count).map_err(|_| corrupt())?;
        }
        Ok(histogram)
    }
}

#[cfg(test)]
mod tests;
