//! UTC timestamps with milliseconds, written and read in one fixed form,
//! `YYYY-MM-DDTHH:MM:SS.sssZ`, so that records sort and compare as text and parse strictly.

use std::fmt;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;

/// A UTC instant with millisecond precision, between years 0000 and 9999.
///
/// ```
/// use fhir_audit::Timestamp;
/// let t: Timestamp = "2026-01-31T23:59:58.120Z".parse()?;
/// assert_eq!(t.to_string(), "2026-01-31T23:59:58.120Z");
/// assert_eq!(Timestamp::from_millis(t.millis() + 2_000)?.to_string(), "2026-02-01T00:00:00.120Z");
/// # Ok::<(), fhir_audit::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// Milliseconds from the Unix epoch to 0000-01-01T00:00:00.000Z and to 10000-01-01.
const MIN_MILLIS: i64 = -62_167_219_200_000;
const END_MILLIS: i64 = 253_402_300_800_000;
const MILLIS_PER_DAY: i64 = 86_400_000;

impl Timestamp {
    /// The current time, from the system clock.
    pub fn now() -> Self {
        let millis = match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_millis()).unwrap_or(END_MILLIS - 1),
            // A clock before 1970: clamp rather than fail the request being audited.
            Err(_) => 0,
        };
        Timestamp(millis.min(END_MILLIS - 1))
    }

    /// The instant `millis` milliseconds after 1970-01-01T00:00:00Z.
    ///
    /// # Errors
    /// [`Error::Timestamp`] outside years 0000 to 9999.
    pub fn from_millis(millis: i64) -> Result<Self, Error> {
        if (MIN_MILLIS..END_MILLIS).contains(&millis) {
            Ok(Timestamp(millis))
        } else {
            Err(Error::timestamp(
                &millis.to_string(),
                "outside years 0000 to 9999",
            ))
        }
    }

    /// Milliseconds since 1970-01-01T00:00:00Z.
    pub fn millis(self) -> i64 {
        self.0
    }

    /// Parses a full timestamp, or a date `YYYY-MM-DD` meaning its first millisecond (as
    /// search bounds are usually written).
    ///
    /// # Errors
    /// [`Error::Timestamp`] for anything else.
    pub fn parse_date_or_time(text: &str) -> Result<Self, Error> {
        if text.len() == 10 {
            let bytes = text.as_bytes();
            let days =
                parse_date(bytes).ok_or_else(|| Error::timestamp(text, "expected `YYYY-MM-DD`"))?;
            Timestamp::from_millis(days * MILLIS_PER_DAY)
        } else {
            text.parse()
        }
    }

    /// Writes the fixed 24-byte form into `out`.
    pub(crate) fn write_to(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.text());
    }

    /// The fixed 24-byte form, on the stack.
    fn text(self) -> [u8; 24] {
        /// `00` to `99`: one lookup per two digits.
        #[expect(
            clippy::indexing_slicing,
            reason = "n < 100, so n / 10 and n % 10 are digits: in bounds"
        )]
        const fn pairs() -> [[u8; 2]; 100] {
            let mut pairs = [[0_u8; 2]; 100];
            let mut n = 0;
            while n < 100 {
                pairs[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
                n += 1;
            }
            pairs
        }
        static PAIRS: [[u8; 2]; 100] = pairs();
        // Every value passed is in 0..100 (years are 0..=9999), so the fallback never shows.
        let pair = |value: i64| {
            usize::try_from(value.rem_euclid(100))
                .ok()
                .and_then(|n| PAIRS.get(n))
                .copied()
                .unwrap_or([b'0'; 2])
        };
        let days = self.0.div_euclid(MILLIS_PER_DAY);
        let in_day = self.0.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let (hour, minute) = (in_day / 3_600_000, in_day / 60_000 % 60);
        let (second, milli) = (in_day / 1000 % 60, in_day % 1000);
        let [y1, y2] = pair(year / 100);
        let [y3, y4] = pair(year);
        let [mo1, mo2] = pair(month);
        let [d1, d2] = pair(day);
        let [h1, h2] = pair(hour);
        let [mi1, mi2] = pair(minute);
        let [s1, s2] = pair(second);
        let [ms1, ms2] = pair(milli / 10);
        let [_, ms3] = pair(milli);
        [
            y1, y2, y3, y4, b'-', mo1, mo2, b'-', d1, d2, b'T', h1, h2, b':', mi1, mi2, b':', s1,
            s2, b'.', ms1, ms2, ms3, b'Z',
        ]
    }
}

impl FromStr for Timestamp {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        const FORM: &str = "expected `YYYY-MM-DDTHH:MM:SS.sssZ`";
        let bytes = text.as_bytes();
        let [
            date @ ..,
            b'T',
            h1,
            h2,
            b':',
            m1,
            m2,
            b':',
            s1,
            s2,
            b'.',
            f1,
            f2,
            f3,
            b'Z',
        ] = bytes
        else {
            return Err(Error::timestamp(text, FORM));
        };
        let days = parse_date(date).ok_or_else(|| Error::timestamp(text, FORM))?;
        let number = |digits: &[u8]| -> Option<i64> {
            digits.iter().try_fold(0_i64, |acc, &b| {
                b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
            })
        };
        let (Some(hour), Some(minute), Some(second), Some(milli)) = (
            number(&[*h1, *h2]),
            number(&[*m1, *m2]),
            number(&[*s1, *s2]),
            number(&[*f1, *f2, *f3]),
        ) else {
            return Err(Error::timestamp(text, FORM));
        };
        // A leap second (`:60`) is not accepted: records are ordered by this value.
        if hour > 23 || minute > 59 || second > 59 {
            return Err(Error::timestamp(text, "time of day out of range"));
        }
        Timestamp::from_millis(
            days * MILLIS_PER_DAY + ((hour * 60 + minute) * 60 + second) * 1000 + milli,
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(std::str::from_utf8(&self.text()).map_err(|_| fmt::Error)?)
    }
}

impl serde::Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer
            .serialize_str(std::str::from_utf8(&self.text()).map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> serde::Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a timestamp `YYYY-MM-DDTHH:MM:SS.sssZ`")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date, checking the day against the month.
fn parse_date(bytes: &[u8]) -> Option<i64> {
    let [y1, y2, y3, y4, b'-', m1, m2, b'-', d1, d2] = *bytes else {
        return None;
    };
    let number = |digits: &[u8]| -> Option<i64> {
        digits.iter().try_fold(0_i64, |acc, &b| {
            b.is_ascii_digit().then(|| acc * 10 + i64::from(b - b'0'))
        })
    };
    let (year, month, day) = (
        number(&[y1, y2, y3, y4])?,
        number(&[m1, m2])?,
        number(&[d1, d2])?,
    );
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let length = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    (1..=length)
        .contains(&day)
        .then(|| days_from_civil(year, month, day))
}

/// Howard Hinnant's `days_from_civil`: proleptic Gregorian date to days since 1970-01-01.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of [`days_from_civil`].
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants() {
        assert_eq!(Timestamp(0).to_string(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            Timestamp(MIN_MILLIS).to_string(),
            "0000-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp(END_MILLIS - 1).to_string(),
            "9999-12-31T23:59:59.999Z"
        );
        let t: Timestamp = "2024-02-29T12:34:56.789Z".parse().unwrap();
        assert_eq!(t.millis(), 1_709_210_096_789);
        assert_eq!(
            Timestamp::parse_date_or_time("2026-01-01")
                .unwrap()
                .millis(),
            1_767_225_600_000
        );
    }

    #[test]
    fn bad_timestamps_are_typed_errors() {
        for (text, reason) in [
            (
                "2023-02-29T00:00:00.000Z",
                "expected `YYYY-MM-DDTHH:MM:SS.sssZ`",
            ),
            ("2023-01-01T24:00:00.000Z", "time of day out of range"),
            ("2023-01-01T23:59:60.000Z", "time of day out of range"),
            (
                "2023-01-01T00:00:00Z",
                "expected `YYYY-MM-DDTHH:MM:SS.sssZ`",
            ),
            (
                "2023-01-01T00:00:00.000+01:00",
                "expected `YYYY-MM-DDTHH:MM:SS.sssZ`",
            ),
            (
                "２023-01-01T00:00:00.000Z",
                "expected `YYYY-MM-DDTHH:MM:SS.sssZ`",
            ),
            ("", "expected `YYYY-MM-DDTHH:MM:SS.sssZ`"),
        ] {
            let error = text.parse::<Timestamp>().unwrap_err();
            assert_eq!(error.to_string(), format!("timestamp `{text}`: {reason}"));
        }
        assert_eq!(
            Timestamp::parse_date_or_time("2026-13-01")
                .unwrap_err()
                .to_string(),
            "timestamp `2026-13-01`: expected `YYYY-MM-DD`"
        );
        assert!(Timestamp::from_millis(END_MILLIS).is_err());
    }
}
