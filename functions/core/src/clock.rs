//! Wall-clock times as the pipeline records them (its own module, so the states' functions, the
//! report and the local runner share them without depending on each other).

/// Milliseconds since the Unix epoch (the Lambda runtime's deadline unit).
pub fn unix_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Now, in RFC 3339 (UTC), as audit rows and alerts carry it.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
