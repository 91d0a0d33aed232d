//! The dialect of a sample: its delimiter, quote, escape and whether its first record is a
//! header. Sniffed once, at `landfall init`, and written into the contract: the pipeline never
//! guesses (a later file in another dialect is refused, not misread).

use landfall_core::csvcheck::Dialect;
use landfall_core::{PipelineError, Result};

/// How much of a sample the sniffing reads.
const HEAD: usize = 64 * 1024;

/// The delimiters tried, in order of preference when two read a sample equally well.
const DELIMITERS: [u8; 4] = [b',', b';', b'\t', b'|'];

/// A sample's dialect and its columns' names (as the header has them; `column_1`, … without one).
#[derive(Debug, Clone, PartialEq)]
pub struct Sniffed {
    pub dialect: Dialect,
    pub names: Vec<String>,
}

/// Sniff the dialect of `bytes` (named `file` in errors) from its first 64 KiB.
pub fn sniff(file: &str, bytes: &[u8]) -> Result<Sniffed> {
    let text = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let head = &text[..text.len().min(HEAD)];
    if head.iter().all(u8::is_ascii_whitespace) {
        return Err(PipelineError::bad_input(format!(
            "{file}: the file is empty (no header, no rows)"
        )));
    }
    let quote = if !head.contains(&b'"') && quoted_with(head, b'\'') {
        b'\''
    } else {
        b'"'
    };
    let escaped = head.windows(2).any(|w| w == [b'\\', quote]);
    // A doubled quote not itself after a backslash (`\""` is an escaped quote, then the end).
    let doubled =
        head.windows(3).any(|w| w[1] == quote && w[2] == quote && w[0] != b'\\') || head.starts_with(&[quote, quote]);
    let escape = if escaped && !doubled { b'\\' } else { quote };
    // The delimiter that splits every record of the head into the same number of fields, the
    // most of them; a file of one column has no delimiter to find (`,` then).
    let mut best: Option<(u8, usize)> = None;
    for d in DELIMITERS {
        let dialect = Dialect {
            delimiter: d,
            quote,
            escape,
            header: true,
        };
        let counts: Vec<usize> = records(head, &dialect).iter().map(Vec::len).collect();
        let Some(&first) = counts.first() else { continue };
        if first > 1 && counts.iter().all(|&c| c == first) && best.is_none_or(|(_, n)| first > n) {
            best = Some((d, first));
        }
    }
    let delimiter = best.map_or(b',', |(d, _)| d);
    let mut dialect = Dialect {
        delimiter,
        quote,
        escape,
        header: true,
    };
    let first = records(head, &dialect).into_iter().next().unwrap_or_default();
    // A first record of names: none empty, none a number, none twice.
    let looks_like_header = first.iter().all(|f| {
        let t = f.trim();
        !t.is_empty() && t.parse::<f64>().is_err()
    }) && {
        let mut seen: Vec<String> = first.iter().map(|f| f.trim().to_lowercase()).collect();
        seen.sort();
        seen.windows(2).all(|w| w[0] != w[1])
    };
    let names = if looks_like_header {
        first.iter().map(|f| f.trim().to_string()).collect()
    } else {
        dialect.header = false;
        (1..=first.len()).map(|i| format!("column_{i}")).collect()
    };
    Ok(Sniffed { dialect, names })
}

/// Does some field start with `q` (at a line's start or after a delimiter candidate)?
fn quoted_with(head: &[u8], q: u8) -> bool {
    head.iter()
        .enumerate()
        .any(|(i, &b)| b == q && (i == 0 || matches!(head[i - 1], b'\n' | b',' | b';' | b'\t' | b'|')))
}

/// The records of `head` as `dialect` reads them, the last (maybe cut) one left out when
/// `head` does not end at a line break.
pub(crate) fn records(head: &[u8], dialect: &Dialect) -> Vec<Vec<String>> {
    let mut r = reader(head, dialect);
    let mut out: Vec<Vec<String>> = r
        .records()
        .take(50)
        .filter_map(|x| x.ok())
        .map(|rec| rec.iter().map(str::to_string).collect())
        .collect();
    if out.len() > 1 && !head.ends_with(b"\n") && head.len() == HEAD {
        out.pop();
    }
    out
}

/// A `csv` reader over `bytes` in `dialect`, every record returned (the header too).
pub(crate) fn reader<'a>(bytes: &'a [u8], dialect: &Dialect) -> csv::Reader<&'a [u8]> {
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let mut b = csv::ReaderBuilder::new();
    b.has_headers(false)
        .flexible(true)
        .delimiter(dialect.delimiter)
        .quote(dialect.quote);
    if !dialect.doubles_quotes() {
        b.double_quote(false).escape(Some(dialect.escape));
    }
    b.from_reader(bytes)
}

/// `Order ID` → `order_id`, `2nd-Price` → `c_2nd_price`: a name both engines take unquoted.
pub fn snake(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            if c.is_ascii_uppercase() && prev_lower {
                out.push('_');
            }
            prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
            out.push(c.to_ascii_lowercase());
        } else {
            prev_lower = false;
            if !out.ends_with('_') {
                out.push('_');
            }
        }
    }
    let out = out.trim_matches('_').to_string();
    match out.chars().next() {
        None => "column".into(),
        Some(c) if c.is_ascii_digit() => format!("c_{out}"),
        _ => out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sniffed(s: &str) -> Sniffed {
        sniff("t.csv", s.as_bytes()).unwrap()
    }

    #[test]
    fn the_delimiter_is_the_one_that_splits_every_record_alike() {
        let s = sniffed("id;name;note\n1;\"a, b\";x\n2;c;\"y; z\"\n");
        assert_eq!((s.dialect.delimiter, s.dialect.header), (b';', true));
        assert_eq!(s.names, ["id", "name", "note"]);
        assert_eq!(sniffed("a,b\n1,2\n").dialect.delimiter, b',');
        assert_eq!(sniffed("a\tb|c\n1\t2|3\n").dialect.delimiter, b'\t');
        assert_eq!(sniffed("only\n1\n2\n").dialect.delimiter, b',');
    }

    #[test]
    fn quotes_escapes_headers_and_a_byte_order_mark() {
        let s = sniffed("\u{feff}\"Order ID\",\"Customer\"\r\n1,\"say \"\"hi\"\"\"\r\n");
        assert_eq!((s.dialect.quote, s.dialect.escape), (b'"', b'"'));
        assert_eq!(s.names, ["Order ID", "Customer"]);
        let s = sniffed("a,b\n1,\"say \\\"hi\\\"\"\n");
        assert_eq!(s.dialect.escape, b'\\');
        let s = sniffed("a,b\n1,'x, y'\n");
        assert_eq!((s.dialect.quote, s.dialect.escape), (b'\'', b'\''));
        let s = sniffed("1,Ann,3.5\n2,Bo,4\n");
        assert!(!s.dialect.header);
        assert_eq!(s.names, ["column_1", "column_2", "column_3"]);
        assert!(sniff("t.csv", b"  \n").unwrap_err().message.contains("empty"));
    }

    #[test]
    fn names_become_snake_case() {
        assert_eq!(snake("Order ID"), "order_id");
        assert_eq!(snake("customerName"), "customer_name");
        assert_eq!(snake("2nd-Price (€)"), "c_2nd_price");
        assert_eq!(snake("__"), "column");
    }
}
