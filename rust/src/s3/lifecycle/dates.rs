//! When lifecycle actions become due. AWS adds the rule's days to the object's creation
//! (or the time it became noncurrent, or an upload's initiation) and rounds up to the
//! next midnight UTC; a Date rule applies from that date on. `Clock` can shorten the
//! day (`lifecycle.dayLengthSeconds`, a test setting): "midnight" is then any multiple
//! of the day length since the epoch, and days count in that unit.

/// The lifecycle day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Seconds in a day (86400 unless shortened for tests).
    pub day_seconds: u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock {
            day_seconds: 86_400,
        }
    }
}

impl Clock {
    /// The start of the day after `since_ms` + `days` days: when an object made at
    /// `since_ms` (milliseconds since the epoch) is due; seconds since the epoch.
    pub fn eligible_at(self, since_ms: i64, days: u32) -> i64 {
        let day = self.day_seconds.max(1) as i64;
        let start_day = since_ms.div_euclid(1000).div_euclid(day);
        (start_day + i64::from(days) + 1) * day
    }

    /// Whether something made (or made noncurrent) at `since_ms` is due `days` days on, at `now` (seconds).
    pub fn due(self, since_ms: i64, days: u32, now: i64) -> bool {
        now >= self.eligible_at(since_ms, days)
    }

    /// A Date rule's date (seconds since the epoch): real dates stay real.
    pub fn date(self, date: i64) -> i64 {
        date
    }
}

/// Now, in seconds since the epoch.
pub fn now_seconds() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Parses a rule's `<Date>` (ISO 8601); `Some(Err(()))` if it is not at midnight UTC.
pub fn parse_date(text: &str) -> Option<Result<i64, ()>> {
    let text = text.trim();
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .map(|d| d.timestamp())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map(|d| {
                d.and_hms_opt(0, 0, 0)
                    .expect("midnight")
                    .and_utc()
                    .timestamp()
            })
        })
        .ok()?;
    Some(if parsed.rem_euclid(86_400) == 0 {
        Ok(parsed)
    } else {
        Err(())
    })
}

/// A date as GetBucketLifecycleConfiguration answers it: `2026-12-05T00:00:00.000Z`.
pub fn iso_midnight(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_at_the_midnight_after_creation_plus_days() {
        let clock = Clock::default();
        // AWS's example: made 2014-01-15 10:30 UTC, 3 days: due 2014-01-19 00:00 UTC.
        let made = parse_date("2014-01-15T00:00:00Z").unwrap().unwrap() + 10 * 3600 + 1800;
        let due = parse_date("2014-01-19T00:00:00Z").unwrap().unwrap();
        assert_eq!(clock.eligible_at(made * 1000, 3), due);
        assert!(!clock.due(made * 1000, 3, due - 1));
        assert!(clock.due(made * 1000, 3, due));
        // Made at midnight exactly: still the next day's midnight.
        let midnight = parse_date("2014-01-15").unwrap().unwrap();
        assert_eq!(clock.eligible_at(midnight * 1000, 1), midnight + 2 * 86_400);
    }

    #[test]
    fn a_short_day_counts_in_its_own_unit() {
        let clock = Clock { day_seconds: 2 };
        assert_eq!(clock.eligible_at(11_500, 1), 14);
        assert_eq!(clock.eligible_at(10_000, 3), 18);
        let second = Clock { day_seconds: 1 };
        assert_eq!(second.eligible_at(10_999, 1), 12);
    }

    #[test]
    fn dates_must_be_midnight_utc() {
        assert_eq!(
            parse_date("2026-12-05T00:00:00.000Z"),
            Some(Ok(1_796_428_800))
        );
        assert_eq!(parse_date("2026-12-05T00:00:00Z"), Some(Ok(1_796_428_800)));
        assert_eq!(parse_date("2026-12-05T01:00:00Z"), Some(Err(())));
        assert_eq!(parse_date("2026-12-05T00:00:00+01:00"), Some(Err(())));
        assert_eq!(parse_date("tomorrow"), None);
        assert_eq!(iso_midnight(1_796_428_800), "2026-12-05T00:00:00.000Z");
    }
}
