//! `strftime_now(format)` for templates that print today's date (Llama 3.1: "%d %b %Y"), in UTC,
//! with the common C conversions; others are copied through.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::civil_date::civil_from_days;

const MONTHS: [&str; 12] =
    ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"];
const DAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];

pub fn format_now(format: &str) -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    format_unix(format, secs)
}

pub fn format_unix(format: &str, secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    let weekday = DAYS[((days + 3).rem_euclid(7)) as usize]; // 1970-01-01 was a Thursday
    let month = MONTHS[(m - 1) as usize];
    let mut out = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('d') => out.push_str(&format!("{d:02}")),
            Some('m') => out.push_str(&format!("{m:02}")),
            Some('Y') => out.push_str(&y.to_string()),
            Some('y') => out.push_str(&format!("{:02}", y.rem_euclid(100))),
            Some('b') => out.push_str(&month[..3]),
            Some('B') => out.push_str(month),
            Some('a') => out.push_str(&weekday[..3]),
            Some('A') => out.push_str(weekday),
            Some('H') => out.push_str(&format!("{:02}", rem / 3600)),
            Some('M') => out.push_str(&format!("{:02}", rem / 60 % 60)),
            Some('S') => out.push_str(&format!("{:02}", rem % 60)),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::format_unix;

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_unix("%d %b %Y", 0), "01 Jan 1970");
        // 2024-07-26 13:05:09 UTC was a Friday
        assert_eq!(format_unix("%A %d %B %Y %H:%M:%S %y %m", 1_721_999_109), "Friday 26 July 2024 13:05:09 24 07");
        assert_eq!(format_unix("100%% %q", 0), "100% %q");
    }
}
