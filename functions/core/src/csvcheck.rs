//! A streaming structural check of a CSV file (RFC 4180, `,` and `"`) before it is loaded.
//!
//! Warehouses load CSV fast but report broken files vaguely, or not at all: an unterminated
//! quote silently swallows the rest of the file into one field. This one pass over the bytes
//! finds, with file, line and column, exactly the problems `Landfall.BadInput` promises to
//! name: invalid UTF-8, an unterminated quoted field, a stray character after a closing quote,
//! a record with the wrong number of fields, and a file with a header but no rows. It keeps
//! nothing but counters, so memory stays flat whatever the file size.
//!
//! Hand-written rather than the `csv` crate because that crate accepts end-of-file inside a
//! quoted field without an error (see docs/decisions.md).

use crate::error::{PipelineError, Result};
use std::io::Read;

/// What a clean pass learned about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvShape {
    /// Header names, in file order.
    pub header: Vec<String>,
    /// Data records (not counting the header).
    pub rows: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
}

struct Checker<'a> {
    file: &'a str,
    state: State,
    line: u64,
    col: u64,
    record_line: u64,
    field: usize,
    records: u64,
    expected_fields: usize,
    header: Vec<Vec<u8>>,
    quote_line: u64,
    quote_col: u64,
    record_has_content: bool,
    /// Bytes of a UTF-8 byte-order mark matched at the start of the file (3: done looking).
    bom: usize,
}

/// The UTF-8 byte-order mark Excel's "CSV UTF-8" writes before the header.
const BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

impl<'a> Checker<'a> {
    fn new(file: &'a str) -> Self {
        Self {
            file,
            state: State::FieldStart,
            line: 1,
            col: 0,
            record_line: 1,
            field: 0,
            records: 0,
            expected_fields: 0,
            header: vec![Vec::new()],
            quote_line: 0,
            quote_col: 0,
            record_has_content: false,
            bom: 0,
        }
    }

    fn field_name(&self, i: usize) -> String {
        match self.header.get(i) {
            Some(h) if self.records > 0 => {
                format!("column {} ({})", i + 1, String::from_utf8_lossy(h))
            }
            _ => format!("column {}", i + 1),
        }
    }

    fn err(&self, line: u64, col: u64, what: impl std::fmt::Display) -> PipelineError {
        PipelineError::bad_input(format!("{} line {line}, column {col}: {what}", self.file))
    }

    fn end_record(&mut self) -> Result<()> {
        let fields = self.field + 1;
        if !self.record_has_content && self.field == 0 {
            // A blank line: nothing to load, nothing to complain about.
            self.reset_record();
            return Ok(());
        }
        if self.records == 0 {
            self.expected_fields = fields;
        } else if fields != self.expected_fields {
            let span = if self.record_line != self.line {
                format!(
                    " (the record runs to line {} inside a quoted field that began at line {}, column {}: an unterminated quote?)",
                    self.line, self.quote_line, self.quote_col
                )
            } else {
                String::new()
            };
            return Err(PipelineError::bad_input(format!(
                "{} line {}: expected {} fields as in the header, found {}{span}",
                self.file, self.record_line, self.expected_fields, fields
            )));
        }
        self.records += 1;
        self.reset_record();
        Ok(())
    }

    fn reset_record(&mut self) {
        self.field = 0;
        self.record_has_content = false;
        self.record_line = self.line + 1;
    }

    fn push_header(&mut self, b: u8) {
        if self.records == 0
            && let Some(h) = self.header.last_mut()
        {
            h.push(b);
        }
    }

    fn next_field(&mut self) {
        self.field += 1;
        self.record_has_content = true;
        if self.records == 0 {
            self.header.push(Vec::new());
        }
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        for &b in chunk {
            // A byte-order mark is not part of the first field (the input is valid UTF-8 by
            // now, so the mark arrives whole): skip it, and count columns after it.
            if self.bom < BOM.len() {
                if b == BOM[self.bom] {
                    self.bom += 1;
                    continue;
                }
                self.bom = BOM.len();
            }
            self.col += 1;
            match self.state {
                State::FieldStart | State::Unquoted => match b {
                    b',' => {
                        self.next_field();
                        self.state = State::FieldStart;
                    }
                    b'\n' => {
                        self.end_record()?;
                        self.newline();
                        self.state = State::FieldStart;
                    }
                    b'\r' => {}
                    b'"' if self.state == State::FieldStart => {
                        self.state = State::Quoted;
                        self.record_has_content = true;
                        self.quote_line = self.line;
                        self.quote_col = self.col;
                    }
                    b'"' => {
                        return Err(self.err(
                            self.line,
                            self.col,
                            format!(
                                "a quote inside the unquoted field {}; quote the whole field and double the quote (\"\")",
                                self.field_name(self.field)
                            ),
                        ));
                    }
                    _ => {
                        self.push_header(b);
                        self.record_has_content = true;
                        self.state = State::Unquoted;
                    }
                },
                State::Quoted => match b {
                    b'"' => self.state = State::QuoteInQuoted,
                    b'\n' => {
                        self.push_header(b);
                        self.newline();
                    }
                    _ => self.push_header(b),
                },
                State::QuoteInQuoted => match b {
                    b'"' => {
                        self.push_header(b);
                        self.state = State::Quoted;
                    }
                    b',' => {
                        self.next_field();
                        self.state = State::FieldStart;
                    }
                    b'\n' => {
                        self.end_record()?;
                        self.newline();
                        self.state = State::FieldStart;
                    }
                    b'\r' => {}
                    other => {
                        let hint = if self.quote_line != self.line {
                            format!(
                                "; the quoted field began at line {}, column {}: is a quote there unterminated?",
                                self.quote_line, self.quote_col
                            )
                        } else {
                            String::new()
                        };
                        return Err(self.err(
                            self.line,
                            self.col,
                            format!(
                                "expected a comma or the end of the line after the closing quote of {}, found {:?}{hint}",
                                self.field_name(self.field),
                                other as char
                            ),
                        ));
                    }
                },
            }
        }
        Ok(())
    }

    fn newline(&mut self) {
        self.line += 1;
        self.col = 0;
    }

    fn finish(mut self) -> Result<CsvShape> {
        match self.state {
            State::Quoted => {
                return Err(self.err(
                    self.quote_line,
                    self.quote_col,
                    format!(
                        "the quoted field {} opened here is never closed (unterminated quote reaches the end of the file)",
                        self.field_name(self.field)
                    ),
                ));
            }
            _ => {
                if self.record_has_content || self.field > 0 {
                    self.end_record()?;
                }
            }
        }
        if self.records == 0 {
            return Err(PipelineError::bad_input(format!(
                "{}: the file is empty (no header, no rows)",
                self.file
            )));
        }
        if self.records == 1 {
            return Err(PipelineError::bad_input(format!(
                "{}: the file has a header but no data rows (line 2 expected a record)",
                self.file
            )));
        }
        let header = self
            .header
            .iter()
            .map(|h| {
                let s = String::from_utf8_lossy(h);
                s.trim_start_matches('\u{feff}').trim().to_string()
            })
            .collect();
        Ok(CsvShape {
            header,
            rows: self.records - 1,
        })
    }
}

/// Check a whole CSV stream; `file` names it in errors (a path or `s3://` URL).
pub fn check_csv(file: &str, mut reader: impl Read) -> Result<CsvShape> {
    let mut checker = Checker::new(file);
    let mut buf = vec![0u8; 1 << 20];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| PipelineError::transient(format!("{file}: could not be read: {e}")))?;
        if n == 0 {
            if !carry.is_empty() {
                return Err(checker.err(
                    checker.line,
                    checker.col + 1,
                    "invalid UTF-8: the file ends inside a multi-byte character",
                ));
            }
            break;
        }
        // Validate UTF-8 across chunk boundaries: keep an incomplete trailing sequence for the next read.
        let data: std::borrow::Cow<[u8]> = if carry.is_empty() {
            std::borrow::Cow::Borrowed(&buf[..n])
        } else {
            let mut v = std::mem::take(&mut carry);
            v.extend_from_slice(&buf[..n]);
            std::borrow::Cow::Owned(v)
        };
        let valid = match std::str::from_utf8(&data) {
            Ok(_) => data.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(e) => {
                let ok = e.valid_up_to();
                checker.feed(&data[..ok])?;
                return Err(checker.err(
                    checker.line,
                    checker.col + 1,
                    format!(
                        "invalid UTF-8 (byte 0x{:02x} in {}); save the file as UTF-8",
                        data[ok],
                        checker.field_name(checker.field)
                    ),
                ));
            }
        };
        checker.feed(&data[..valid])?;
        carry.extend_from_slice(&data[valid..]);
    }
    checker.finish()
}

/// The header contract: every expected column present (order free, names exact after trimming),
/// `optional` ones allowed; returns the columns beyond both, which load as text and are
/// reported as warnings.
pub fn check_header(file: &str, header: &[String], expected: &[&str], optional: &[&str]) -> Result<Vec<String>> {
    let known = |h: &String| expected.contains(&h.as_str()) || optional.contains(&h.as_str());
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|e| !header.iter().any(|h| h == e))
        .collect();
    if !missing.is_empty() {
        let extra: Vec<&String> = header.iter().filter(|h| !known(h)).collect();
        let hint = if extra.is_empty() {
            String::new()
        } else {
            format!(
                " (found unexpected {}: renamed?)",
                extra.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ")
            )
        };
        return Err(PipelineError::bad_input(format!(
            "{file} line 1: the header lacks the expected column{} {}{hint}; expected columns: {}",
            if missing.len() > 1 { "s" } else { "" },
            missing.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", "),
            expected.join(", ")
        )));
    }
    let mut seen = std::collections::HashSet::new();
    for h in header {
        if !seen.insert(h) {
            return Err(PipelineError::bad_input(format!(
                "{file} line 1: the header names column '{h}' twice"
            )));
        }
    }
    Ok(header.iter().filter(|h| !known(h)).cloned().collect())
}

/// Parse just the header line(s) from the start of a file (for a ranged read before any load).
pub fn parse_header(file: &str, prefix: &[u8]) -> Result<Vec<String>> {
    // Cut at the first newline outside quotes.
    let mut in_q = false;
    let mut end = None;
    for (i, &b) in prefix.iter().enumerate() {
        match b {
            b'"' => in_q = !in_q,
            b'\n' if !in_q => {
                end = Some(i + 1);
                break;
            }
            _ => {}
        }
    }
    let Some(end) = end else {
        if prefix.is_empty() {
            return Err(PipelineError::bad_input(format!(
                "{file}: the file is empty (no header, no rows)"
            )));
        }
        return Err(PipelineError::bad_input(format!(
            "{file} line 1: no complete header line in the first {} bytes (is this a CSV file?)",
            prefix.len()
        )));
    };
    let mut checker = Checker::new(file);
    if std::str::from_utf8(&prefix[..end]).is_err() {
        return Err(PipelineError::bad_input(format!(
            "{file} line 1: the header is not valid UTF-8"
        )));
    }
    checker.feed(&prefix[..end])?;
    Ok(checker
        .header
        .iter()
        .take(checker.expected_fields)
        .map(|h| {
            String::from_utf8_lossy(h)
                .trim_start_matches('\u{feff}')
                .trim()
                .to_string()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &[u8]) -> Result<CsvShape> {
        check_csv("t.csv", s)
    }

    /// A reader that returns one byte at a time: it splits every multi-byte character.
    struct OneByte<'a>(&'a [u8]);
    impl Read for OneByte<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            buf[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn counts_rows_with_quotes_commas_and_newlines() {
        let s = b"id,desc,n\n1,\"a, \"\"b\"\"\nc\",2\n2,,3\n";
        let shape = check(s).unwrap();
        assert_eq!(shape.header, vec!["id", "desc", "n"]);
        assert_eq!(shape.rows, 2);
    }

    #[test]
    fn last_line_without_newline_and_crlf() {
        let shape = check(b"a,b\r\n1,2\r\n3,4").unwrap();
        assert_eq!(shape.rows, 2);
    }

    #[test]
    fn unterminated_quote_names_line_and_column() {
        let e = check(b"a,b\n1,2\n3,\"oops\n4,5\n").unwrap_err();
        assert_eq!(e.name, crate::error::ErrorName::BadInput);
        assert!(e.message.contains("t.csv line 3, column 3"), "{}", e.message);
        assert!(e.message.contains("never closed"), "{}", e.message);
        assert!(e.message.contains("(b)"), "{}", e.message);
    }

    #[test]
    fn wrong_field_count_names_line() {
        let e = check(b"a,b,c\n1,2,3\n4,5\n").unwrap_err();
        assert!(
            e.message
                .contains("line 3: expected 3 fields as in the header, found 2"),
            "{}",
            e.message
        );
    }

    #[test]
    fn field_count_line_is_the_record_start_for_multiline_records() {
        let e = check(b"a,b\n\"x\ny\",1,2\n").unwrap_err();
        assert!(e.message.contains("line 2:"), "{}", e.message);
    }

    #[test]
    fn invalid_utf8_names_line_and_column() {
        let e = check(b"a,b\n1,2\n3,caf\xe9\n").unwrap_err();
        assert!(e.message.contains("line 3, column 6"), "{}", e.message);
        assert!(e.message.contains("UTF-8"), "{}", e.message);
    }

    #[test]
    fn utf8_split_across_chunks_is_fine() {
        let shape = check_csv("t.csv", OneByte("a,b\nJosé,Zoë\n".as_bytes())).unwrap();
        assert_eq!(shape.rows, 1);
    }

    #[test]
    fn header_only_and_empty_files_are_bad_input() {
        assert!(check(b"a,b\n").unwrap_err().message.contains("header but no data rows"));
        assert!(check(b"").unwrap_err().message.contains("empty"));
    }

    #[test]
    fn stray_quote_and_junk_after_quote() {
        assert!(
            check(b"a,b\n1,x\"y\n")
                .unwrap_err()
                .message
                .contains("quote inside the unquoted field")
        );
        assert!(
            check(b"a,b\n1,\"x\"y\n")
                .unwrap_err()
                .message
                .contains("after the closing quote")
        );
    }

    #[test]
    fn header_contract() {
        let h: Vec<String> = ["id", "titel", "extra"].iter().map(|s| s.to_string()).collect();
        let e = check_header("titles.csv", &h, &["id", "title"], &[]).unwrap_err();
        assert!(
            e.message.contains("'title'") && e.message.contains("'titel'"),
            "{}",
            e.message
        );
        let h: Vec<String> = ["id", "title", "extra"].iter().map(|s| s.to_string()).collect();
        assert_eq!(
            check_header("titles.csv", &h, &["id", "title"], &[]).unwrap(),
            vec!["extra"]
        );
    }

    #[test]
    fn excel_csv_utf8_bom_quoted_header_and_crlf() {
        // What Excel writes for "CSV UTF-8 (Comma delimited)".
        let excel = b"\xef\xbb\xbf\"id\",\"title\",\"n\"\r\n1,\"Caf\xc3\xa9, \"\"x\"\"\",2\r\n2,b,3\r\n";
        let shape = check(excel).unwrap();
        assert_eq!(shape.header, vec!["id", "title", "n"]);
        assert_eq!(shape.rows, 2);
        assert_eq!(parse_header("t.csv", excel).unwrap(), vec!["id", "title", "n"]);
        // The header quoted, no BOM.
        let quoted = b"\"id\",\"title\",\"n\"\n1,a,2\n";
        assert_eq!(check(quoted).unwrap().header, vec!["id", "title", "n"]);
        // Columns count from after the mark, and a mark anywhere else is data.
        let e = check(b"\xef\xbb\xbfa,b\n1,x\"y\n").unwrap_err();
        assert!(e.message.contains("line 2, column 4"), "{}", e.message);
        let e = check(b"\xef\xbb\xbf\"a\"x,b\n1,2\n").unwrap_err();
        assert!(e.message.contains("line 1, column 4"), "{}", e.message);
        // Read a byte at a time, the mark still arrives whole.
        struct OneByte<'a>(&'a [u8]);
        impl Read for OneByte<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let Some((first, rest)) = self.0.split_first() else {
                    return Ok(0);
                };
                buf[0] = *first;
                self.0 = rest;
                Ok(1)
            }
        }
        assert_eq!(
            check_csv("t.csv", OneByte(excel)).unwrap().header,
            vec!["id", "title", "n"]
        );
    }

    #[test]
    fn parse_header_from_prefix() {
        let h = parse_header("t.csv", b"\xef\xbb\xbfid,\"a,b\"\n1,2").unwrap();
        assert_eq!(h, vec!["id", "a,b"]);
        assert!(parse_header("t.csv", b"id,a").is_err());
    }
}
