//! `debug.log`: timestamped lines, as Bitcoin Core writes them, to the file
//! and (with `-printtoconsole`) to standard output.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

struct Sink {
    file: Option<File>,
    console: bool,
}

static SINK: Mutex<Sink> = Mutex::new(Sink {
    file: None,
    console: false,
});

/// Starts logging to `path` (appending), and to stdout if `console`.
pub fn init(path: &Path, console: bool) -> std::io::Result<()> {
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    sink.file = Some(file);
    sink.console = console;
    Ok(())
}

/// Formats seconds since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso8601(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Writes one line.
pub fn log(msg: &str) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let line = format!("{} {msg}\n", iso8601(now));
    let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = sink.file.as_mut() {
        let _ = f.write_all(line.as_bytes());
    }
    if sink.console {
        let _ = std::io::stdout().write_all(line.as_bytes());
    }
}

/// `format!`-style logging to `debug.log`.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => { $crate::logging::log(&format!($($arg)*)) };
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso8601_dates() {
        assert_eq!(super::iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::iso8601(1_296_688_602), "2011-02-02T23:16:42Z");
        assert_eq!(super::iso8601(951_782_400), "2000-02-29T00:00:00Z");
    }
}
