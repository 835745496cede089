//! Time arguments: Node's milliseconds or a Rust [`Duration`].

use std::time::Duration;

/// A time argument: a number of milliseconds, as Node takes it, or a
/// [`Duration`]. Every nodenet function that takes a time takes
/// `impl IntoDuration`, and every time it returns is a `Duration`.
///
/// Implemented for `u64` (milliseconds) and `Duration`. A bare integer
/// literal (`set_timeout(cb, 250)`) is milliseconds: with one integer type
/// implementing the trait, the literal is inferred as that type. (With a
/// second one, `u32` say, the literal would fall back to `i32` and not
/// compile; other integer types convert with `u64::from(n)`.)
///
/// A `Duration` is rounded up to whole milliseconds, so a non-zero one is
/// never 0 (which means "off" for [`Socket::set_timeout`]). The limits of
/// each call still apply: timer delays are clamped to Node's `TIMEOUT_MAX`
/// (2^31 - 1 ms), inactivity timeouts are whole seconds, keep-alive delays
/// are floored to seconds.
///
/// [`Socket::set_timeout`]: crate::Socket::set_timeout
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use nodenet::IntoDuration;
/// assert_eq!(1500u64.into_duration(), Duration::from_millis(1500));
/// assert_eq!(Duration::from_secs(2).into_duration(), Duration::from_secs(2));
/// let t = nodenet::set_timeout(|| {}, 250); // milliseconds
/// nodenet::clear_timeout(t);
/// let t = nodenet::set_timeout(|| {}, Duration::from_millis(250));
/// nodenet::clear_timeout(t);
/// ```
pub trait IntoDuration {
    /// The time as a `Duration`.
    fn into_duration(self) -> Duration;
}

impl IntoDuration for u64 {
    /// Milliseconds, as Node.
    fn into_duration(self) -> Duration {
        Duration::from_millis(self)
    }
}

impl IntoDuration for Duration {
    fn into_duration(self) -> Duration {
        self
    }
}

/// Whole milliseconds, rounded up (a non-zero duration is at least 1),
/// saturating at `u64::MAX`.
pub(crate) fn ms(time: impl IntoDuration) -> u64 {
    let nanos = time.into_duration().as_nanos();
    u64::try_from(nanos.div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_up_and_saturate() {
        assert_eq!(ms(0u64), 0);
        assert_eq!(ms(1500u64), 1500);
        assert_eq!(ms(u64::MAX), u64::MAX);
        assert_eq!(ms(Duration::ZERO), 0);
        assert_eq!(ms(Duration::from_nanos(1)), 1);
        assert_eq!(ms(Duration::from_micros(1500)), 2);
        assert_eq!(ms(Duration::MAX), u64::MAX);
    }
}
