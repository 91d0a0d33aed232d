//! A streaming structural check of a CSV file before it is loaded, in the file's declared
//! [`Dialect`] (RFC 4180's `,` and `"` by default).
//!
//! Warehouses load CSV fast but report broken files vaguely, or not at all: an unterminated
//! quote silently swallows the rest of the file into one field. This one pass over the bytes
//! finds, with file, line and column, exactly the problems `Landfall.BadInput` promises to
//! name: invalid UTF-8, an unterminated quoted field, a stray character after a closing quote,
//! an escape that escapes nothing, a record with the wrong number of fields, and a file with a
//! header but no rows. It keeps nothing but counters, so memory stays flat whatever the file
//! size.
//!
//! Hand-written rather than the `csv` crate because that crate accepts end-of-file inside a
//! quoted field without an error (see docs/decisions.md).

use crate::error::{PipelineError, Result};
use std::io::Read;

/// How a landing file is written, as its contract declares it. Every value here is one both
/// engines' loaders read the same way (DuckDB's `read_csv`, Snowflake's CSV file format); the
/// contract refuses the rest when the project loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dialect {
    /// Separates fields: one ASCII character other than the quote, a line break or a space.
    pub delimiter: u8,
    /// Encloses a field that holds the delimiter, a line break or the quote itself.
    pub quote: u8,
    /// Inside a quoted field, makes the next character (the quote or the escape itself) a
    /// literal. The same as `quote`: a quote is written twice (`""`), as RFC 4180 says.
    pub escape: u8,
    /// The first record is the header. Without one, the file's fields are the contract's
    /// columns, in the order it declares them.
    pub header: bool,
}

impl Default for Dialect {
    fn default() -> Self {
        Self {
            delimiter: b',',
            quote: b'"',
            escape: b'"',
            header: true,
        }
    }
}

impl Dialect {
    /// A quote inside a quoted field is written twice (the escape is the quote).
    pub fn doubles_quotes(&self) -> bool {
        self.escape == self.quote
    }

    /// The delimiter as prose: "a comma", "a semicolon", "'|'".
    pub fn delimiter_name(&self) -> String {
        char_name(self.delimiter)
    }
}

fn char_name(b: u8) -> String {
    match b {
        b',' => "a comma".into(),
        b';' => "a semicolon".into(),
        b'\t' => "a tab".into(),
        b'|' => "a pipe ('|')".into(),
        other => format!("{:?}", other as char),
    }
}

/// What a clean pass learned about a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvShape {
    /// The first record's fields, in file order: the header's names (trimmed), or, in a file
    /// without a header, its first row.
    pub first_record: Vec<String>,
    /// Data records (not counting a header).
    pub rows: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    FieldStart,
    Unquoted,
    Quoted,
    QuoteInQuoted,
    /// After the escape character inside a quoted field (an escape other than the quote).
    EscapeInQuoted,
}

struct Checker<'a> {
    file: &'a str,
    dialect: Dialect,
    state: State,
    line: u64,
    col: u64,
    record_line: u64,
    field: usize,
    records: u64,
    expected_fields: usize,
    first: Vec<Vec<u8>>,
    quote_line: u64,
    quote_col: u64,
    record_has_content: bool,
    /// Bytes of a UTF-8 byte-order mark matched at the start of the file (3: done looking).
    bom: usize,
    /// Stop after the first record ([`parse_header`]); `done` once it has ended.
    first_only: bool,
    done: bool,
}

/// The UTF-8 byte-order mark Excel's "CSV UTF-8" writes before the header.
const BOM: [u8; 3] = [0xef, 0xbb, 0xbf];

impl<'a> Checker<'a> {
    fn new(file: &'a str, dialect: &Dialect) -> Self {
        Self {
            file,
            dialect: dialect.clone(),
            state: State::FieldStart,
            line: 1,
            col: 0,
            record_line: 1,
            field: 0,
            records: 0,
            expected_fields: 0,
            first: vec![Vec::new()],
            quote_line: 0,
            quote_col: 0,
            record_has_content: false,
            bom: 0,
            first_only: false,
            done: false,
        }
    }

    fn field_name(&self, i: usize) -> String {
        match self.first.get(i) {
            Some(h) if self.records > 0 && self.dialect.header => {
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
            let like = if self.dialect.header {
                "the header"
            } else {
                "the first row"
            };
            return Err(PipelineError::bad_input(format!(
                "{} line {}: expected {} fields as in {like}, found {}{span}",
                self.file, self.record_line, self.expected_fields, fields
            )));
        }
        self.records += 1;
        self.done = self.first_only;
        self.reset_record();
        Ok(())
    }

    fn reset_record(&mut self) {
        self.field = 0;
        self.record_has_content = false;
        self.record_line = self.line + 1;
    }

    fn push_first(&mut self, b: u8) {
        if self.records == 0
            && let Some(h) = self.first.last_mut()
        {
            h.push(b);
        }
    }

    fn next_field(&mut self) {
        self.field += 1;
        self.record_has_content = true;
        if self.records == 0 {
            self.first.push(Vec::new());
        }
    }

    /// The end of a field or record after an unquoted or closed quoted field; `false` when
    /// `b` is neither the delimiter nor a line break.
    fn separator(&mut self, b: u8) -> Result<bool> {
        if b == self.dialect.delimiter {
            self.next_field();
            self.state = State::FieldStart;
        } else if b == b'\n' {
            self.end_record()?;
            self.newline();
            self.state = State::FieldStart;
        } else if b != b'\r' {
            return Ok(false);
        }
        Ok(true)
    }

    fn feed(&mut self, chunk: &[u8]) -> Result<()> {
        let (quote, escape) = (self.dialect.quote, self.dialect.escape);
        for &b in chunk {
            if self.done {
                return Ok(());
            }
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
                State::FieldStart | State::Unquoted => {
                    if self.separator(b)? {
                    } else if b == quote && self.state == State::FieldStart {
                        self.state = State::Quoted;
                        self.record_has_content = true;
                        self.quote_line = self.line;
                        self.quote_col = self.col;
                    } else if b == quote {
                        let how = if self.dialect.doubles_quotes() {
                            format!("double the quote ({0}{0})", quote as char)
                        } else {
                            format!("escape the quote ({}{})", escape as char, quote as char)
                        };
                        return Err(self.err(
                            self.line,
                            self.col,
                            format!(
                                "a quote inside the unquoted field {}; quote the whole field and {how}",
                                self.field_name(self.field)
                            ),
                        ));
                    } else {
                        self.push_first(b);
                        self.record_has_content = true;
                        self.state = State::Unquoted;
                    }
                }
                State::Quoted => {
                    if b == escape && !self.dialect.doubles_quotes() {
                        self.state = State::EscapeInQuoted;
                    } else if b == quote {
                        self.state = State::QuoteInQuoted;
                    } else {
                        if b == b'\n' {
                            self.newline();
                        }
                        self.push_first(b);
                    }
                }
                State::EscapeInQuoted => {
                    if b != quote && b != escape {
                        // Engines disagree on what `\n` or `\t` mean (Snowflake reads escape
                        // sequences, DuckDB does not): refused, not guessed.
                        return Err(self.err(
                            self.line,
                            self.col,
                            format!(
                                "{:?} after the escape character {:?} in {}: only the quote or the escape itself may be escaped (write {0:?} twice for a literal one)",
                                b as char,
                                escape as char,
                                self.field_name(self.field)
                            ),
                        ));
                    }
                    self.push_first(b);
                    self.state = State::Quoted;
                }
                State::QuoteInQuoted => {
                    if b == quote && self.dialect.doubles_quotes() {
                        self.push_first(b);
                        self.state = State::Quoted;
                    } else if !self.separator(b)? {
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
                                "expected {} or the end of the line after the closing quote of {}, found {:?}{hint}",
                                self.dialect.delimiter_name(),
                                self.field_name(self.field),
                                b as char
                            ),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    fn newline(&mut self) {
        self.line += 1;
        self.col = 0;
    }

    /// The end of the input: the last record, which needs no line break.
    fn end_input(&mut self) -> Result<()> {
        if matches!(self.state, State::Quoted | State::EscapeInQuoted) {
            return Err(self.err(
                self.quote_line,
                self.quote_col,
                format!(
                    "the quoted field {} opened here is never closed (unterminated quote reaches the end of the file)",
                    self.field_name(self.field)
                ),
            ));
        }
        if !self.done && (self.record_has_content || self.field > 0) {
            self.end_record()?;
        }
        Ok(())
    }

    fn first_record(&self) -> Vec<String> {
        self.first
            .iter()
            .take(self.expected_fields)
            .map(|h| String::from_utf8_lossy(h).trim().to_string())
            .collect()
    }

    fn finish(mut self) -> Result<CsvShape> {
        self.end_input()?;
        let header = u64::from(self.dialect.header);
        if self.records == 0 {
            let what = if self.dialect.header {
                "no header, no rows"
            } else {
                "no rows"
            };
            return Err(PipelineError::bad_input(format!(
                "{}: the file is empty ({what})",
                self.file
            )));
        }
        if self.records == header {
            return Err(PipelineError::bad_input(format!(
                "{}: the file has a header but no data rows (line 2 expected a record)",
                self.file
            )));
        }
        Ok(CsvShape {
            first_record: self.first_record(),
            rows: self.records - header,
        })
    }
}

/// Check a whole CSV stream written in `dialect`; `file` names it in errors (a path or `s3://` URL).
pub fn check_csv(file: &str, mut reader: impl Read, dialect: &Dialect) -> Result<CsvShape> {
    let mut checker = Checker::new(file, dialect);
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

/// The columns a file loads as, from its first record, and those beyond the contract: with a
/// header, its names ([`check_header`]); without one, the declared `expected` columns in order,
/// which the record's field count must match (a file without a header has no optional or
/// extra columns: nothing would name them).
pub fn file_columns(
    file: &str,
    dialect: &Dialect,
    first_record: &[String],
    expected: &[&str],
    optional: &[&str],
) -> Result<(Vec<String>, Vec<String>)> {
    if dialect.header {
        let extra = check_header(file, first_record, expected, optional)?;
        return Ok((first_record.to_vec(), extra));
    }
    if first_record.len() != expected.len() {
        return Err(PipelineError::bad_input(format!(
            "{file} line 1: expected {} fields, the declared columns {} (the file has no header), found {}",
            expected.len(),
            expected.join(", "),
            first_record.len()
        )));
    }
    Ok((expected.iter().map(|c| c.to_string()).collect(), vec![]))
}

/// Parse just the first record from the start of a file (a ranged read before any load);
/// `whole` says `prefix` is the whole file, so a record may end without a line break.
pub fn parse_header(file: &str, prefix: &[u8], dialect: &Dialect, whole: bool) -> Result<Vec<String>> {
    if prefix.is_empty() {
        return Err(PipelineError::bad_input(format!(
            "{file}: the file is empty (no header, no rows)"
        )));
    }
    // The prefix may end inside a character: feed what is whole.
    let (valid, invalid) = match std::str::from_utf8(prefix) {
        Ok(_) => (prefix.len(), false),
        Err(e) => (e.valid_up_to(), e.error_len().is_some() || whole),
    };
    let mut checker = Checker::new(file, dialect);
    checker.first_only = true;
    checker.feed(&prefix[..valid])?;
    if !checker.done {
        if invalid {
            return Err(PipelineError::bad_input(format!(
                "{file} line {}: the first record is not valid UTF-8",
                checker.line
            )));
        }
        if !whole {
            return Err(PipelineError::bad_input(format!(
                "{file} line 1: no complete first record in the first {} bytes (is this a CSV file?)",
                prefix.len()
            )));
        }
        checker.end_input()?;
    }
    Ok(checker.first_record())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &[u8]) -> Result<CsvShape> {
        check_csv("t.csv", s, &Dialect::default())
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
        assert_eq!(shape.first_record, vec!["id", "desc", "n"]);
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
        let shape = check_csv("t.csv", OneByte("a,b\nJosé,Zoë\n".as_bytes()), &Dialect::default()).unwrap();
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
        assert_eq!(shape.first_record, vec!["id", "title", "n"]);
        assert_eq!(shape.rows, 2);
        assert_eq!(
            parse_header("t.csv", excel, &Dialect::default(), true).unwrap(),
            vec!["id", "title", "n"]
        );
        // The header quoted, no BOM.
        let quoted = b"\"id\",\"title\",\"n\"\n1,a,2\n";
        assert_eq!(check(quoted).unwrap().first_record, vec!["id", "title", "n"]);
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
            check_csv("t.csv", OneByte(excel), &Dialect::default())
                .unwrap()
                .first_record,
            vec!["id", "title", "n"]
        );
    }

    #[test]
    fn parse_header_from_prefix() {
        let d = Dialect::default();
        let h = parse_header("t.csv", b"\xef\xbb\xbfid,\"a,b\"\n1,2", &d, false).unwrap();
        assert_eq!(h, vec!["id", "a,b"]);
        // A prefix of a longer file must hold the whole first record; the whole file need not
        // end it with a line break.
        assert!(
            parse_header("t.csv", b"id,a", &d, false)
                .unwrap_err()
                .message
                .contains("no complete first record")
        );
        assert_eq!(parse_header("t.csv", b"id,a", &d, true).unwrap(), vec!["id", "a"]);
        // A prefix cut inside a character is fine; an invalid byte in the first record is not.
        assert_eq!(
            parse_header("t.csv", "id,é\nJosé".as_bytes().split_at(11).0, &d, false).unwrap(),
            vec!["id", "é"]
        );
        assert!(
            parse_header("t.csv", b"id,caf\xe9\n", &d, false)
                .unwrap_err()
                .message
                .contains("not valid UTF-8")
        );
    }

    fn semi() -> Dialect {
        Dialect {
            delimiter: b';',
            ..Dialect::default()
        }
    }

    #[test]
    fn a_semicolon_file_splits_on_semicolons_and_keeps_commas() {
        let s = b"\"id\";\"name\";\"price\"\n1;\"Caf\xc3\xa9; \"\"x\"\"\";2,50\n2;b,c;3\n";
        let shape = check_csv("t.csv", &s[..], &semi()).unwrap();
        assert_eq!(
            (shape.first_record, shape.rows),
            (vec!["id".into(), "name".into(), "price".into()], 2)
        );
        // Commas are data: a record of two semicolon fields is short, whatever its commas.
        let e = check_csv("t.csv", &b"a;b;c\n1,2,3;4\n"[..], &semi()).unwrap_err();
        assert!(
            e.message
                .contains("line 2: expected 3 fields as in the header, found 2"),
            "{}",
            e.message
        );
        let e = check_csv("t.csv", &b"a;b\n\"x\",y\n"[..], &semi()).unwrap_err();
        assert!(
            e.message
                .contains("expected a semicolon or the end of the line after the closing quote"),
            "{}",
            e.message
        );
        assert_eq!(
            parse_header("t.csv", b"\"a;b\";c\n1;2", &semi(), false).unwrap(),
            vec!["a;b", "c"]
        );
    }

    #[test]
    fn a_backslash_escape_escapes_the_quote_and_itself_only() {
        let d = Dialect {
            escape: b'\\',
            ..Dialect::default()
        };
        let shape = check_csv(
            "t.csv",
            &br#"a,b
1,"say \"hi\", C:\\dir"
"#[..],
            &d,
        )
        .unwrap();
        assert_eq!(shape.rows, 1);
        // A doubled quote is not an escaped one here: the field closes at the first.
        let e = check_csv("t.csv", &b"a,b\n1,\"x\"\"y\"\n"[..], &d).unwrap_err();
        assert!(e.message.contains("after the closing quote"), "{}", e.message);
        // `\n` means a newline to Snowflake and a backslash and an n to DuckDB: refused.
        let e = check_csv(
            "t.csv",
            &br#"a,b
1,"line\nnext"
"#[..],
            &d,
        )
        .unwrap_err();
        assert!(
            e.message.contains("line 2, column 9") && e.message.contains("only the quote or the escape itself"),
            "{}",
            e.message
        );
        // An escaped quote does not end the field; the unterminated one is found.
        let e = check_csv(
            "t.csv",
            &br#"a,b
1,"x\"
"#[..],
            &d,
        )
        .unwrap_err();
        assert!(
            e.message.contains("line 2, column 3") && e.message.contains("never closed"),
            "{}",
            e.message
        );
        // Outside quotes the escape is an ordinary character.
        assert_eq!(
            check_csv(
                "t.csv",
                &br"a,b
1,C:\dir
"[..],
                &d
            )
            .unwrap()
            .rows,
            1
        );
        let e = check_csv("t.csv", &b"a,b\n1,x\"y\n"[..], &d).unwrap_err();
        assert!(e.message.contains("escape the quote (\\\")"), "{}", e.message);
    }

    #[test]
    fn a_single_quote_quote_is_doubled_like_the_double_quote() {
        let d = Dialect {
            quote: b'\'',
            escape: b'\'',
            ..Dialect::default()
        };
        let shape = check_csv("t.csv", &b"a,b\n1,'it''s, \"fine\"'\n"[..], &d).unwrap();
        assert_eq!(shape.rows, 1);
    }

    #[test]
    fn without_a_header_every_record_is_a_row_and_the_contract_names_the_columns() {
        let d = Dialect {
            header: false,
            ..semi()
        };
        let shape = check_csv("t.csv", &b"1;a\n2;b\n"[..], &d).unwrap();
        assert_eq!((shape.rows, shape.first_record.len()), (2, 2));
        // One row is a whole file; none is empty.
        assert_eq!(check_csv("t.csv", &b"1;a"[..], &d).unwrap().rows, 1);
        assert!(
            check_csv("t.csv", &b""[..], &d)
                .unwrap_err()
                .message
                .contains("empty (no rows)")
        );
        let e = check_csv("t.csv", &b"1;a\n2\n"[..], &d).unwrap_err();
        assert!(
            e.message
                .contains("line 2: expected 2 fields as in the first row, found 1"),
            "{}",
            e.message
        );
        // The columns are the declared ones, in order, and the field count must match them.
        let (cols, extra) = file_columns("t.csv", &d, &shape.first_record, &["id", "name"], &[]).unwrap();
        assert_eq!((cols, extra), (vec!["id".to_string(), "name".into()], vec![]));
        let e = file_columns("t.csv", &d, &shape.first_record, &["id", "name", "n"], &[]).unwrap_err();
        assert!(
            e.message.contains(
                "t.csv line 1: expected 3 fields, the declared columns id, name, n (the file has no header), found 2"
            ),
            "{}",
            e.message
        );
        // With a header, the names are the header's and the contract checks them.
        let h = vec!["name".to_string(), "id".into(), "x".into()];
        let (cols, extra) = file_columns("t.csv", &semi(), &h, &["id", "name"], &[]).unwrap();
        assert_eq!((cols, extra), (h.clone(), vec!["x".to_string()]));
    }
}
