//! A token endpoint's answer: the token and its expiry, however spelled.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::ErrorKind;
use crate::secret::{AccessToken, Secret};

/// The longest a token is taken to be valid, whatever its source says.
const MAX_TOKEN_LIFETIME: u64 = 24 * 3600;

/// Reads a token response, however the source spells its expiry:
/// `expires_on` or `expires_in`, as a number or a string of digits, or a
/// date like `06/20/2019 02:57:58 +00:00`.
pub(crate) fn parse_token(body: &[u8]) -> Result<AccessToken, ErrorKind> {
    let bad = |why: &str| ErrorKind::BadResponse(why.to_string());
    let mut json: Value = serde_json::from_slice(body).map_err(|_| bad("the body is not JSON"))?;
    let Some(obj) = json.as_object_mut() else { return Err(bad("the body is not a JSON object")) };
    let token = match obj.get_mut("access_token").map(Value::take) {
        Some(Value::String(t)) if !t.is_empty() => Secret::new(t),
        Some(Value::String(_)) => return Err(bad("access_token is empty")),
        Some(_) => return Err(bad("access_token is not a string")),
        None => return Err(bad("no access_token field")),
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let expires_on = obj
        .get("expires_on")
        .and_then(parse_expiry_instant)
        .or_else(|| obj.get("expires_in").and_then(as_u64).map(|n| now.saturating_add(n)))
        // No Azure token lives longer than a day; a later expiry is a
        // server's mistake, and would keep a dead token in use.
        .map(|t| t.min(now.saturating_add(MAX_TOKEN_LIFETIME)));
    Ok(AccessToken { token, expires_on })
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn parse_expiry_instant(v: &Value) -> Option<u64> {
    as_u64(v).or_else(|| v.as_str().and_then(parse_msi_date))
}

/// `MM/DD/YYYY HH:MM:SS +HH:MM`, as the 2017-09-01 MSI endpoints send.
fn parse_msi_date(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let (date, time, offset) = (parts.next()?, parts.next()?, parts.next().unwrap_or("+00:00"));
    let num = |s: &str| s.parse::<i64>().ok();
    let d: Vec<i64> = date.split('/').map(num).collect::<Option<_>>()?;
    let t: Vec<i64> = time.split(':').map(num).collect::<Option<_>>()?;
    let (sign, off) = match offset.split_at_checked(1)? {
        ("+", rest) => (1, rest),
        ("-", rest) => (-1, rest),
        _ => return None,
    };
    let (oh, om) = off.split_once(':').unwrap_or((off, "0"));
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    let (month, day, year) = (d[0], d[1], d[2]);
    let (oh, om) = (num(oh)?, num(om)?);
    let fields_ok = (1970..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && t.iter().all(|n| *n >= 0)
        && t[0] <= 23
        && t[1] <= 59
        && t[2] <= 60
        && (0..=23).contains(&oh)
        && (0..=59).contains(&om);
    if !fields_ok {
        return None;
    }
    let secs = days_from_civil(year, month, day) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
        - sign * (oh * 3600 + om * 60);
    u64::try_from(secs).ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_in_every_spelling() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let on = |body: &str| parse_token(body.as_bytes()).unwrap().expires_on;
        assert_eq!(on(r#"{"access_token":"t","expires_on":"1506484173"}"#), Some(1506484173));
        assert_eq!(on(r#"{"access_token":"t","expires_on":1506484173}"#), Some(1506484173));
        assert_eq!(on(r#"{"access_token":"t","expires_on":"06/20/2019 02:57:58 +00:00"}"#), Some(1560999478));
        assert_eq!(on(r#"{"access_token":"t","expires_on":"06/20/2019 04:57:58 +02:00"}"#), Some(1560999478));
        let e = on(r#"{"access_token":"t","expires_in":3599}"#).unwrap();
        assert!((now + 3599..=now + 3600 + 5).contains(&e), "{e}");
        let e = on(r#"{"access_token":"t","expires_in":"3599"}"#).unwrap();
        assert!((now + 3599..=now + 3600 + 5).contains(&e), "{e}");
        assert_eq!(on(r#"{"access_token":"t"}"#), None);
        assert_eq!(on(r#"{"access_token":"t","expires_on":"soon"}"#), None);
    }

    /// Absurd expiries neither overflow nor keep a token forever: a day at most.
    #[test]
    fn absurd_expiries_are_clamped() {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
        let on = |body: &str| parse_token(body.as_bytes()).unwrap().expires_on;
        let day = |e: Option<u64>| e.is_some_and(|e| (now + 86_399..=now + 86_405).contains(&e));
        assert!(day(on(r#"{"access_token":"t","expires_in":18446744073709551615}"#)));
        assert!(day(on(r#"{"access_token":"t","expires_in":"18446744073709551615"}"#)));
        assert!(day(on(r#"{"access_token":"t","expires_on":"99999999999"}"#)));
        assert!(day(on(r#"{"access_token":"t","expires_in":1e300}"#)));
        for date in ["01/01/99999999999999 00:00:00 +00:00", "01/01/2030 00:00:00 +99999999999999:00"] {
            assert_eq!(on(&format!(r#"{{"access_token":"t","expires_on":"{date}"}}"#)), None, "{date}");
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn bad_token_bodies_say_why_without_echoing() {
        for (body, why) in [
            ("", "not JSON"),
            ("<html>gateway</html>", "not JSON"),
            ("[]", "not a JSON object"),
            (r#"{"token_type":"Bearer"}"#, "no access_token"),
            (r#"{"access_token":""}"#, "empty"),
            (r#"{"access_token":42}"#, "not a string"),
            (r#"{"access_token":"abc"#, "not JSON"),
        ] {
            let err = parse_token(body.as_bytes()).unwrap_err().to_string();
            assert!(err.contains(why), "{body}: {err}");
        }
    }
}
