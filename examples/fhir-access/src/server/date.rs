//! FHIR dates as time ranges: `2021`, `2021-03`, `2021-03-26`, `2021-03-26T13:31:19.686+00:00`
//! each stand for the whole interval their precision covers, in milliseconds since the Unix
//! epoch, half-open `[low, high)`. Search compares these ranges (the R4 date-search rules).

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, Utc};

/// A half-open interval of milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    pub(crate) low: i64,
    pub(crate) high: i64,
}

impl Range {
    /// The interval a FHIR `date`, `dateTime` or `instant` text covers; `None` when it is not
    /// one. A time without a zone is read as UTC.
    pub(crate) fn parse(text: &str) -> Option<Range> {
        if !text.is_ascii() {
            return None;
        }
        let date_part = text.get(..10).unwrap_or(text);
        match text.len() {
            4 => {
                let year = text.parse::<i32>().ok()?;
                let start = NaiveDate::from_ymd_opt(year, 1, 1)?;
                let end = NaiveDate::from_ymd_opt(year.checked_add(1)?, 1, 1)?;
                Some(Range::of_days(start, end))
            }
            7 => {
                let start = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").ok()?;
                let end = start.checked_add_months(chrono::Months::new(1))?;
                Some(Range::of_days(start, end))
            }
            10 => {
                let start = NaiveDate::parse_from_str(date_part, "%Y-%m-%d").ok()?;
                Some(Range::of_days(start, start.succ_opt()?))
            }
            _ => Range::parse_time(text),
        }
    }

    /// `dateTime` with a time: its precision (minutes, seconds or fractions) sets the width.
    fn parse_time(text: &str) -> Option<Range> {
        let (local, zone) = split_zone(text)?;
        let precision = match local.len() {
            16 => Duration::minutes(1),
            19 => Duration::seconds(1),
            n if n > 20 && local.as_bytes().get(19) == Some(&b'.') => Duration::milliseconds(1),
            _ => return None,
        };
        let format = match local.len() {
            16 => "%Y-%m-%dT%H:%M",
            19 => "%Y-%m-%dT%H:%M:%S",
            _ => "%Y-%m-%dT%H:%M:%S%.f",
        };
        let naive = NaiveDateTime::parse_from_str(local, format).ok()?;
        let instant = match zone {
            "" | "Z" => naive.and_utc(),
            offset => {
                DateTime::parse_from_str(&format!("{local}{offset}"), &format!("{format}%:z"))
                    .ok()?
                    .with_timezone(&Utc)
            }
        };
        let low = instant.timestamp_millis();
        Some(Range {
            low,
            high: low.checked_add(precision.num_milliseconds())?,
        })
    }

    fn of_days(start: NaiveDate, end: NaiveDate) -> Range {
        let millis = |d: NaiveDate| {
            d.and_hms_opt(0, 0, 0)
                .map_or(0, |t| t.and_utc().timestamp_millis())
        };
        Range {
            low: millis(start),
            high: millis(end),
        }
    }
}

/// Splits `...T..:..:..(.fff)(Z|+hh:mm|-hh:mm)` into the local part and the zone text.
fn split_zone(text: &str) -> Option<(&str, &str)> {
    if text.get(10..11) != Some("T") {
        return None;
    }
    if let Some(local) = text.strip_suffix('Z') {
        return Some((local, "Z"));
    }
    let tail = text.get(text.len().checked_sub(6)?..)?;
    if (tail.starts_with('+') || tail.starts_with('-')) && tail.get(3..4) == Some(":") {
        return Some((text.get(..text.len() - 6)?, tail));
    }
    Some((text, ""))
}

/// The current time as a FHIR `instant` with milliseconds, and as epoch milliseconds.
pub(crate) fn now() -> (String, i64) {
    let now = Utc::now();
    (
        now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        now.timestamp_millis(),
    )
}

/// A FHIR `instant` from epoch milliseconds.
pub(crate) fn rfc3339(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// An HTTP date (`Last-Modified`) from epoch milliseconds.
pub(crate) fn http_date(millis: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(millis)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .timestamp_millis()
    }

    #[test]
    fn precisions_cover_their_interval() {
        let cases = [
            ("2021", "2021-01-01T00:00:00Z", "2022-01-01T00:00:00Z"),
            ("2021-02", "2021-02-01T00:00:00Z", "2021-03-01T00:00:00Z"),
            ("2021-12", "2021-12-01T00:00:00Z", "2022-01-01T00:00:00Z"),
            ("2021-03-26", "2021-03-26T00:00:00Z", "2021-03-27T00:00:00Z"),
            (
                "2021-03-26T13:31Z",
                "2021-03-26T13:31:00Z",
                "2021-03-26T13:32:00Z",
            ),
            (
                "2021-03-26T13:31:19+02:00",
                "2021-03-26T11:31:19Z",
                "2021-03-26T11:31:20Z",
            ),
            (
                "2021-03-26T13:31:19.686812+00:00",
                "2021-03-26T13:31:19.686Z",
                "2021-03-26T13:31:19.687Z",
            ),
            (
                "2021-03-26T13:31:19",
                "2021-03-26T13:31:19Z",
                "2021-03-26T13:31:20Z",
            ),
        ];
        for (text, low, high) in cases {
            assert_eq!(
                Range::parse(text),
                Some(Range {
                    low: ms(low),
                    high: ms(high)
                }),
                "{text}"
            );
        }
    }

    #[test]
    fn malformed_dates_are_none() {
        for text in [
            "",
            "20",
            "2021-13",
            "2021-02-30",
            "2021-03-26T",
            "2021-03-26T25:00Z",
            "abcd",
            "2021-03-26 13:31",
            "2021-03-26T13:31:19+0200",
            "２０２１",
            "2021-03-26T13:31:19.Z",
        ] {
            assert_eq!(Range::parse(text), None, "{text}");
        }
    }
}
