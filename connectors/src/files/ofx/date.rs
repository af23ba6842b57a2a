//! OFX date-times: `YYYYMMDD[HHMM[SS[.XXX]]][[offset[:TZ]]]`, e.g.
//! `20240115120000.000[-5:EST]`. Without an offset the time is GMT (OFX spec 3.2.8.2).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};

/// A parsed OFX date-time: the calendar day as the institution wrote it (what a statement
/// means by "posted on"), and the instant in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OfxDateTime {
    pub date: NaiveDate,
    pub utc: DateTime<Utc>,
}

fn zone_hours(name: &str) -> Option<i32> {
    Some(match name.to_ascii_uppercase().as_str() {
        "GMT" | "UTC" | "Z" => 0,
        "EST" => -5,
        "EDT" | "AST" => -4,
        "CST" => -6,
        "CDT" => -5,
        "MST" => -7,
        "MDT" => -6,
        "PST" => -8,
        "PDT" => -7,
        "CET" => 1,
        "CEST" => 2,
        _ => return None,
    })
}

/// Offset seconds from the bracket content (`-5:EST`, `+5.30`, `-3.5`, `:EST`).
fn offset_seconds(zone: &str) -> Result<i32, String> {
    let (offset, name) = zone.split_once(':').unwrap_or((zone, ""));
    let offset = offset.trim();
    if offset.is_empty() || offset == "-" || offset == "+" {
        return Ok(zone_hours(name.trim()).unwrap_or(0) * 3600);
    }
    let (negative, digits) = match offset.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, offset.strip_prefix('+').unwrap_or(offset)),
    };
    let (hours, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let bad = || format!("bad time zone offset [{zone}]");
    let hours: i32 = hours.parse().map_err(|_| bad())?;
    // One fractional digit is tenths of an hour (`-3.5`); two are minutes (`+5.30`, `+5.45`).
    let minutes: i32 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i32>().map_err(|_| bad())? * 6,
        2 => fraction.parse().map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    if hours > 14 || minutes >= 60 {
        return Err(bad());
    }
    let seconds = hours * 3600 + minutes * 60;
    Ok(if negative { -seconds } else { seconds })
}

fn number(s: &str, range: std::ops::Range<usize>) -> Option<u32> {
    s.get(range)?.parse().ok()
}

/// Parses an OFX date or date-time.
pub(crate) fn parse(text: &str) -> Result<OfxDateTime, String> {
    let text = text.trim();
    let bad = || format!("cannot read {text:?} as an OFX date (YYYYMMDD[HHMMSS[.XXX][offset:TZ]])");
    let (main, zone) = match text.split_once('[') {
        Some((main, zone)) => (main.trim(), Some(zone.trim_end_matches(']'))),
        None => (text, None),
    };
    let digits = main.bytes().take_while(u8::is_ascii_digit).count();
    let date = NaiveDate::from_ymd_opt(
        number(main, 0..4).ok_or_else(bad)? as i32,
        number(main, 4..6).ok_or_else(bad)?,
        number(main, 6..8).ok_or_else(bad)?,
    )
    .ok_or_else(bad)?;
    let time = match digits {
        8 => NaiveTime::MIN,
        12 | 14 => NaiveTime::from_hms_opt(
            number(main, 8..10).ok_or_else(bad)?,
            number(main, 10..12).ok_or_else(bad)?,
            if digits >= 14 {
                number(main, 12..14).ok_or_else(bad)?
            } else {
                0
            },
        )
        .ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    // After the digits: nothing, or a fraction of a second (`.XXX`; some banks write `:XXX`).
    let tail = main.get(digits..).unwrap_or_default();
    let fraction_ok = tail.is_empty()
        || ((tail.starts_with('.') || tail.starts_with(':'))
            && tail.len() > 1
            && tail.bytes().skip(1).all(|b| b.is_ascii_digit()));
    if !fraction_ok || (digits < 14 && !tail.is_empty()) {
        return Err(bad());
    }
    let seconds = match zone {
        Some(zone) => offset_seconds(zone)?,
        None => 0,
    };
    let offset = FixedOffset::east_opt(seconds).ok_or_else(bad)?;
    let local = NaiveDateTime::new(date, time);
    let utc = offset
        .from_local_datetime(&local)
        .single()
        .ok_or_else(bad)?
        .with_timezone(&Utc);
    Ok(OfxDateTime { date, utc })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> String {
        parse(text).map_or_else(|e| e, |d| d.utc.to_rfc3339())
    }

    #[test]
    fn every_documented_shape_parses() {
        assert_eq!(utc("20240115"), "2024-01-15T00:00:00+00:00");
        assert_eq!(utc("20240115120000"), "2024-01-15T12:00:00+00:00");
        assert_eq!(
            utc("20240115120000.000[-5:EST]"),
            "2024-01-15T17:00:00+00:00"
        );
        assert_eq!(utc("20240115233000[-5:EST]"), "2024-01-16T04:30:00+00:00");
        assert_eq!(
            parse("20240115233000[-5:EST]").map(|d| d.date),
            Ok(NaiveDate::from_ymd_opt(2024, 1, 15).unwrap_or_default())
        );
        assert_eq!(
            utc("20240115120000[+5.30:IST]"),
            "2024-01-15T06:30:00+00:00"
        );
        assert_eq!(utc("20240115120000[-3.5:NST]"), "2024-01-15T15:30:00+00:00");
        assert_eq!(utc("20240115120000[0:GMT]"), "2024-01-15T12:00:00+00:00");
        assert_eq!(
            utc("20091217162416.000[-:EST]"),
            "2009-12-17T21:24:16+00:00"
        );
        assert_eq!(utc("20180804093914:014"), "2018-08-04T09:39:14+00:00");
        assert_eq!(utc("202401151200"), "2024-01-15T12:00:00+00:00");
        assert_eq!(utc("20240115120000[+1]"), "2024-01-15T11:00:00+00:00");
    }

    #[test]
    fn malformed_dates_are_errors() {
        for bad in [
            "",
            "2024",
            "20241301",
            "20240230",
            "2024011512",
            "20240115x",
            "20240115256000",
            "20240115120000[-99:X]",
            "20240115120000[abc]",
            "20240115120000.",
            "２０２４０１０１",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
