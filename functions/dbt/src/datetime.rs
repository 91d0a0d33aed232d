//! `run_started_at` as templates see it: Python's timezone-aware `datetime` (dbt's is
//! `datetime.now(tz=pytz.utc)`), rendering as `2026-12-03 12:00:00.123456+00:00`, with the
//! attributes and methods dbt projects use: `year` … `microsecond`, `strftime`, `isoformat`,
//! `timestamp`.

use minijinja::value::{Object, Value};
use minijinja::{Error, ErrorKind, State};
use std::fmt;
use std::sync::Arc;
use time::OffsetDateTime;

/// A UTC instant with Python's `datetime` surface.
#[derive(Debug, Clone, Copy)]
pub struct DateTime(pub OffsetDateTime);

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

impl DateTime {
    /// Python's `strftime` for the directives dbt projects use; any other is refused.
    pub fn strftime(&self, fmt: &str) -> Result<String, String> {
        let t = self.0;
        let mut out = String::new();
        let mut chars = fmt.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            let Some(d) = chars.next() else {
                return Err("a format that ends in a lone %".into());
            };
            let month = t.month() as usize;
            let weekday = t.weekday().number_days_from_monday() as usize;
            let hour12 = match t.hour() % 12 {
                0 => 12,
                h => h,
            };
            match d {
                'Y' => out += &format!("{:04}", t.year()),
                'y' => out += &format!("{:02}", t.year().rem_euclid(100)),
                'm' => out += &format!("{month:02}"),
                'd' => out += &format!("{:02}", t.day()),
                'H' => out += &format!("{:02}", t.hour()),
                'I' => out += &format!("{hour12:02}"),
                'M' => out += &format!("{:02}", t.minute()),
                'S' => out += &format!("{:02}", t.second()),
                'f' => out += &format!("{:06}", t.microsecond()),
                'j' => out += &format!("{:03}", t.ordinal()),
                'p' => out += if t.hour() < 12 { "AM" } else { "PM" },
                'b' => out += &MONTHS[month - 1][..3],
                'B' => out += MONTHS[month - 1],
                'a' => out += &DAYS[weekday][..3],
                'A' => out += DAYS[weekday],
                'w' => out += &((weekday + 1) % 7).to_string(),
                'z' => out += "+0000",
                'Z' => out += "UTC",
                '%' => out.push('%'),
                other => return Err(format!("strftime('%{other}') is not supported")),
            }
        }
        Ok(out)
    }

    /// Python's `isoformat()`: `2026-12-03T12:00:00.123456+00:00` (no fraction when zero).
    pub fn isoformat(&self) -> String {
        let frac = if self.0.microsecond() == 0 { "" } else { ".%f" };
        self.strftime(&format!("%Y-%m-%dT%H:%M:%S{frac}+00:00"))
            .unwrap_or_default()
    }
}

impl fmt::Display for DateTime {
    /// Python's `str()`: a space between date and time, the fraction only when non-zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.isoformat().replacen('T', " ", 1))
    }
}

impl Object for DateTime {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let t = self.0;
        Some(Value::from(match key.as_str()? {
            "year" => t.year() as i64,
            "month" => t.month() as i64,
            "day" => t.day() as i64,
            "hour" => t.hour() as i64,
            "minute" => t.minute() as i64,
            "second" => t.second() as i64,
            "microsecond" => t.microsecond() as i64,
            _ => return None,
        }))
    }

    fn call_method(self: &Arc<Self>, _state: &State<'_, '_>, method: &str, args: &[Value]) -> Result<Value, Error> {
        match method {
            "strftime" => {
                let fmt = args.first().and_then(Value::as_str).unwrap_or_default();
                self.strftime(fmt)
                    .map(Value::from)
                    .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))
            }
            "isoformat" => Ok(Value::from(self.isoformat())),
            "timestamp" => Ok(Value::from(self.0.unix_timestamp_nanos() as f64 / 1e9)),
            other => Err(Error::new(
                ErrorKind::UnknownMethod,
                format!("run_started_at.{other}() is not supported (strftime, isoformat, timestamp are)"),
            )),
        }
    }

    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn renders_and_formats_as_python_does() {
        let d = DateTime(datetime!(2026-12-03 09:05:07.250000 UTC));
        assert_eq!(d.to_string(), "2026-12-03 09:05:07.250000+00:00");
        assert_eq!(d.isoformat(), "2026-12-03T09:05:07.250000+00:00");
        assert_eq!(
            d.strftime("%Y%m%d %I%p %a %b %j %%").unwrap(),
            "20261203 09AM Thu Dec 337 %"
        );
        assert_eq!(
            DateTime(datetime!(2026-01-01 00:00:00 UTC)).to_string(),
            "2026-01-01 00:00:00+00:00"
        );
        assert!(d.strftime("%G").is_err());
    }
}
