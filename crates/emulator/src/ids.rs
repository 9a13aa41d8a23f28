//! Identifiers and timestamps: GUIDs, opaque tokens, and the date formats Entra and Graph print.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    // The OS random source does not fail on the platforms the emulator runs on; if it ever
    // did, an all-zero buffer would make tokens collide, which tests would notice.
    let _ = getrandom::fill(&mut buf);
    buf
}

/// A random GUID (version 4 layout), lower-case.
pub fn guid() -> String {
    let mut b = random_bytes::<16>();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// An opaque token: a prefix and 256 random bits, base64url.
pub(crate) fn opaque(prefix: &str) -> String {
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// Civil date from days since 1970-01-01 (proleptic Gregorian).
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn parts(unix: u64) -> (i64, u32, u32, u64, u64, u64) {
    let (y, m, d) = civil((unix / 86_400) as i64);
    let s = unix % 86_400;
    (y, m, d, s / 3600, s / 60 % 60, s % 60)
}

/// `2026-11-25 04:10:00Z`, as in Entra's `timestamp` field.
pub(crate) fn entra_timestamp(unix: u64) -> String {
    let (y, m, d, h, mi, s) = parts(unix);
    format!("{y:04}-{m:02}-{d:02} {h:02}:{mi:02}:{s:02}Z")
}

/// `2026-11-25T04:10:00Z`, as in Graph's date-time properties.
pub(crate) fn iso8601(unix: u64) -> String {
    let (y, m, d, h, mi, s) = parts(unix);
    format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_dates() {
        assert_eq!(entra_timestamp(0), "1970-01-01 00:00:00Z");
        assert_eq!(iso8601(784_111_777), "1994-11-06T08:49:37Z");
        assert_eq!(iso8601(1_709_210_096), "2024-02-29T12:34:56Z");
    }

    #[test]
    fn guids_are_well_formed_and_unique() {
        let a = guid();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, guid());
        assert!(graphgate_core::ClientId::parse(&a).is_ok());
        assert!(opaque("rt.").starts_with("rt."));
    }
}
