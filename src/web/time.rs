//! Times are stored in UTC and shown, and typed, in the workspace's time zone.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// An instant, however many references deep the template hands it over.
pub trait Instant {
    fn utc(&self) -> DateTime<Utc>;
}

impl Instant for DateTime<Utc> {
    fn utc(&self) -> DateTime<Utc> {
        *self
    }
}

impl<T: Instant + ?Sized> Instant for &T {
    fn utc(&self) -> DateTime<Utc> {
        (**self).utc()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Zone(pub Tz);

impl serde::Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = String::deserialize(d)?;
        Ok(Zone::named(&name))
    }
}

impl Default for Zone {
    fn default() -> Self {
        Zone(Tz::UTC)
    }
}

impl Zone {
    /// A workspace's `time_zone` column; an unknown name falls back to UTC.
    pub fn named(name: &str) -> Self {
        Zone(name.parse().unwrap_or(Tz::UTC))
    }

    pub fn name(&self) -> &'static str {
        self.0.name()
    }

    /// `2026-11-27 14:30`
    pub fn time<T: Instant>(&self, t: T) -> String {
        t.utc().with_timezone(&self.0).format("%Y-%m-%d %H:%M").to_string()
    }

    /// `2026-11-27` (written out: chrono's `format` parses its pattern on every call, and the
    /// client list shows fifty of these).
    pub fn date<T: Instant>(&self, t: T) -> String {
        use chrono::Datelike;
        let day = t.utc().with_timezone(&self.0).date_naive();
        format!("{:04}-{:02}-{:02}", day.year(), day.month(), day.day())
    }

    /// An instant as people say it, relative to `now` in this zone (issue 19): "today 18:53",
    /// "yesterday 09:05", "6 Dec 18:53" this year, "6 Dec 2025" in another year. Pages put
    /// the exact `time()` beside it (a `<time>` element's `title`, its `datetime`).
    pub fn when<T: Instant>(&self, now: DateTime<Utc>, t: T) -> String {
        let local = t.utc().with_timezone(&self.0);
        let today = self.day_of(now);
        let day = local.date_naive();
        if day == today {
            local.format("today %H:%M").to_string()
        } else if today.pred_opt() == Some(day) {
            local.format("yesterday %H:%M").to_string()
        } else if day.year() == today.year() {
            local.format("%-d %b %H:%M").to_string()
        } else {
            local.format("%-d %b %Y").to_string()
        }
    }

    /// The value of an `<input type="datetime-local">` for this instant.
    pub fn input<T: Instant>(&self, t: T) -> String {
        t.utc().with_timezone(&self.0).format("%Y-%m-%dT%H:%M").to_string()
    }

    /// The local calendar date of an instant.
    pub fn day_of(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.0).date_naive()
    }

    /// Local midnight of `day` as an instant.
    pub fn start_of(&self, day: NaiveDate) -> DateTime<Utc> {
        let midnight = day.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.0.from_local_datetime(&midnight).earliest().map(|t| t.with_timezone(&Utc)).unwrap_or_else(|| midnight.and_utc())
    }

    /// Reads a typed local time: `2026-11-27 14:30` (what the forms show, 24-hour, as every
    /// time on the pages is written) or a `datetime-local` value `2026-11-27T14:30`.
    pub fn parse_input(&self, value: &str, label: &str) -> Result<DateTime<Utc>, TimeError> {
        let value = value.trim();
        let label = || label.to_string();
        let naive = ["%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
            .iter()
            .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
            .ok_or_else(|| TimeError::Malformed { label: label() })?;
        // In a DST gap the time does not exist; take the instant just after it.
        self.0
            .from_local_datetime(&naive)
            .earliest()
            .or_else(|| self.0.from_local_datetime(&(naive + chrono::Duration::hours(1))).earliest())
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(|| TimeError::NotLocal { label: label() })
    }
}

/// Why a typed local time was refused; `label` is the field as the page names it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("{label} must be a date and 24-hour time like 2026-01-31 14:30.")]
    Malformed { label: String },
    /// A time the zone never shows (neither it nor the hour after it exists there).
    #[error("{label} is not a valid local time.")]
    NotLocal { label: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_times_round_trip_through_utc() {
        let berlin = Zone::named("Europe/Berlin");
        let t = berlin.parse_input("2026-11-27T14:30", "When").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-27T13:30:00+00:00");
        assert_eq!(berlin.time(t), "2026-11-27 14:30");
        assert_eq!(berlin.input(t), "2026-11-27T14:30");
        assert_eq!(Zone::named("Nowhere/Else").name(), "UTC");
        assert!(berlin.parse_input("2026-03-29T02:30", "When").is_ok(), "DST gap resolves");
        assert!(berlin.parse_input("soon", "When").is_err());
        assert_eq!(berlin.parse_input("2026-11-27 14:30", "When"), Ok(t), "the typed 24-hour form");
        assert!(berlin.parse_input("2026-11-27 2:30 pm", "When").is_err());
        assert!(berlin.parse_input("2026-11-27 24:30", "When").is_err());
        let day = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        assert_eq!(berlin.start_of(day).to_rfc3339(), "2026-11-26T23:00:00+00:00");
    }

    /// Issue 19: today's times read "today 18:53" (not a bare "18:53"), this year's carry the
    /// day and month, other years' the year; days are the workspace zone's.
    #[test]
    fn times_are_written_relative_to_today_in_the_workspace_zone() {
        let london = Zone::named("Europe/London");
        let now = london.parse_input("2026-12-06 20:00", "now").unwrap();
        let at = |s: &str| london.parse_input(s, "t").unwrap();
        assert_eq!(london.when(now, at("2026-12-06 18:53")), "today 18:53");
        assert_eq!(london.when(now, at("2026-12-05 09:05")), "yesterday 09:05");
        assert_eq!(london.when(now, at("2026-03-01 07:00")), "1 Mar 07:00");
        assert_eq!(london.when(now, at("2025-12-06 18:53")), "6 Dec 2025");
        // 20:00 in London is already the 7th in Tokyo; 18:53 there is 03:53 the same day.
        let tokyo = Zone::named("Asia/Tokyo");
        assert_eq!(tokyo.when(now, at("2026-12-06 18:53")), "today 03:53");
        assert_eq!(tokyo.when(now, at("2026-12-06 14:00")), "yesterday 23:00");
    }
}
