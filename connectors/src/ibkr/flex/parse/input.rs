//! Before the XML reader runs: byte order marks, declared encodings, binary files, HTML pages,
//! UTF-8 validation, and line numbers.

use std::borrow::Cow;

use super::FlexParseError;

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The statement as UTF-8 text, or why it cannot be one.
///
/// A UTF-8 byte order mark is dropped; UTF-16 (with a byte order mark, or recognisable by its
/// zero bytes) and 8-bit encodings named in the XML declaration are converted. Everything else
/// must be valid UTF-8, which is what IB writes; newlines map one to one, so line numbers are
/// those of the original file.
///
/// # Errors
/// `Binary` for archives, PDFs and data with NUL bytes; `Encoding` for text that is not valid
/// in its encoding or names an encoding this parser does not know; `NotFlex` for HTML pages.
pub(super) fn prepare(xml: &[u8]) -> Result<Cow<'_, str>, FlexParseError> {
    if let Some(utf16) = utf16_of(xml) {
        let (codec, body) = utf16;
        return match codec.decode_without_bom_handling_and_without_replacement(body) {
            Some(text) => {
                check_html(text.as_bytes())?;
                Ok(Cow::Owned(text.into_owned()))
            }
            None => Err(FlexParseError::Encoding {
                line: 1,
                column: 1,
                message: format!(
                    "the file starts like {} text but is not valid",
                    codec.name()
                ),
            }),
        };
    }
    let bytes = xml.strip_prefix(UTF8_BOM).unwrap_or(xml);
    check_binary(bytes)?;
    check_html(bytes)?;
    if let Some(label) = declared_encoding(bytes)
        && !matches!(label.to_ascii_lowercase().as_slice(), b"utf-8" | b"utf8")
    {
        let Some(codec) = encoding_rs::Encoding::for_label(&label) else {
            return Err(FlexParseError::Encoding {
                line: 1,
                column: 1,
                message: format!(
                    "the XML declaration names the encoding {:?}, which this parser does not know",
                    String::from_utf8_lossy(&label)
                ),
            });
        };
        if codec != encoding_rs::UTF_8 {
            return match codec.decode_without_bom_handling_and_without_replacement(bytes) {
                Some(text) => Ok(Cow::Owned(text.into_owned())),
                None => Err(FlexParseError::Encoding {
                    line: 1,
                    column: 1,
                    message: format!("the file is not valid {} text", codec.name()),
                }),
            };
        }
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(Cow::Borrowed(text)),
        Err(err) => {
            let at = err.valid_up_to();
            let (line, column) = line_col(bytes, at);
            let byte = bytes.get(at).copied().unwrap_or_default();
            Err(FlexParseError::Encoding {
                line,
                column,
                message: format!(
                    "byte 0x{byte:02X} is not valid UTF-8; IB writes Flex statements in UTF-8 \
                     (was the file re-saved in another encoding?)"
                ),
            })
        }
    }
}

/// UTF-16 with a byte order mark, or without one when the first character is ASCII.
fn utf16_of(xml: &[u8]) -> Option<(&'static encoding_rs::Encoding, &[u8])> {
    match xml {
        [0xFF, 0xFE, rest @ ..] => Some((encoding_rs::UTF_16LE, rest)),
        [0xFE, 0xFF, rest @ ..] => Some((encoding_rs::UTF_16BE, rest)),
        [b'<', 0, ..] => Some((encoding_rs::UTF_16LE, xml)),
        [0, b'<', ..] => Some((encoding_rs::UTF_16BE, xml)),
        _ => None,
    }
}

fn check_binary(bytes: &[u8]) -> Result<(), FlexParseError> {
    let kind = if bytes.starts_with(b"PK\x03\x04") {
        Some(" (a ZIP archive: unzip it and upload the XML file inside)")
    } else if bytes.starts_with(b"\x1F\x8B") {
        Some(" (gzip-compressed: decompress it first)")
    } else if bytes.starts_with(b"%PDF") {
        Some(" (a PDF: Flex statements are XML; PDF activity statements cannot be imported)")
    } else {
        None
    };
    if let Some(kind) = kind {
        return Err(FlexParseError::Binary {
            line: 1,
            message: format!("binary data, not a Flex statement{kind}"),
        });
    }
    if has_nul(bytes) {
        let at = bytes.iter().position(|&b| b == 0).unwrap_or_default();
        return Err(FlexParseError::Binary {
            line: line_col(bytes, at).0,
            message: "binary data (a NUL byte), not a Flex statement".into(),
        });
    }
    let head = bytes.get(..1024).unwrap_or(bytes);
    let control = head
        .iter()
        .filter(|&&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r' | 0x0C))
        .count();
    if control * 100 > head.len() {
        return Err(FlexParseError::Binary {
            line: 1,
            message: "binary data (control characters), not a Flex statement".into(),
        });
    }
    Ok(())
}

/// Whether there is a NUL byte; a branch-free fold per chunk vectorizes, where the scalar
/// `memchr` behind `contains` costs about an instruction per byte.
fn has_nul(bytes: &[u8]) -> bool {
    bytes
        .chunks(4096)
        .any(|chunk| chunk.iter().fold(0u8, |nul, &b| nul | u8::from(b == 0)) != 0)
}

/// Skips whitespace, the XML declaration, processing instructions, comments and a doctype;
/// returns what follows and whether a doctype naming HTML was seen.
fn skip_prolog(mut bytes: &[u8]) -> (&[u8], bool) {
    let mut html = false;
    loop {
        bytes = bytes.trim_ascii_start();
        let (end_marker, is_doctype): (&[u8], bool) = if bytes.starts_with(b"<?") {
            (b"?>", false)
        } else if bytes.starts_with(b"<!--") {
            (b"-->", false)
        } else if starts_with_ignore_case(bytes, b"<!DOCTYPE") {
            (b">", true)
        } else {
            return (bytes, html);
        };
        let Some(end) = find(bytes, end_marker) else {
            return (&[], html);
        };
        if is_doctype {
            html |= find_ignore_case(bytes.get(..end).unwrap_or_default(), b"html").is_some();
        }
        bytes = bytes.get(end + end_marker.len()..).unwrap_or_default();
    }
}

/// IB's login and maintenance pages come back instead of statements; say so, with the title.
fn check_html(bytes: &[u8]) -> Result<(), FlexParseError> {
    let (body, html_doctype) = skip_prolog(bytes);
    if !html_doctype && !starts_with_ignore_case(body, b"<html") {
        return Ok(());
    }
    let head = bytes.get(..16 * 1024).unwrap_or(bytes);
    let title = find_ignore_case(head, b"<title").and_then(|start| {
        let rest = head.get(start..)?;
        let open = rest.iter().position(|&b| b == b'>')? + 1;
        let rest = rest.get(open..)?;
        let close = find_ignore_case(rest, b"</title")?;
        let text = String::from_utf8_lossy(rest.get(..close)?);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        (!text.is_empty()).then_some(text)
    });
    let at = bytes.len() - body.len();
    Err(FlexParseError::NotFlex {
        line: line_col(bytes, at).0,
        message: match title {
            Some(title) => format!("an HTML page (\"{title}\") came instead of the XML statement"),
            None => "an HTML page came instead of the XML statement".into(),
        },
    })
}

/// The `encoding` of the XML declaration, when there is one.
fn declared_encoding(bytes: &[u8]) -> Option<Vec<u8>> {
    let trimmed = bytes.trim_ascii_start();
    if !trimmed.starts_with(b"<?xml") {
        return None;
    }
    let decl = trimmed.get(..find(trimmed, b"?>")?)?;
    let at = find(decl, b"encoding")? + b"encoding".len();
    let rest = decl.get(at..)?.trim_ascii_start().strip_prefix(b"=")?;
    let rest = rest.trim_ascii_start();
    let quote = *rest.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = rest.get(1..)?;
    let end = value.iter().position(|&b| b == quote)?;
    Some(value.get(..end)?.trim_ascii().to_vec())
}

/// True when the bytes look like a Flex statement: the root element is `FlexQueryResponse`,
/// after an optional byte order mark, whitespace, XML declaration and comments. Give it the
/// first few kilobytes of a file.
#[must_use]
pub fn looks_like_flex(head: &[u8]) -> bool {
    if let Some((codec, body)) = utf16_of(head) {
        let (text, _) = codec.decode_without_bom_handling(body);
        return looks_like_flex(text.as_bytes());
    }
    let bytes = head.strip_prefix(UTF8_BOM).unwrap_or(head);
    let (body, _) = skip_prolog(bytes);
    body.strip_prefix(b"<FlexQueryResponse")
        .is_some_and(|rest| {
            matches!(
                rest.first(),
                None | Some(b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/')
            )
        })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn find_ignore_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes
        .get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn count_newlines(bytes: &[u8]) -> u64 {
    // Per 128-byte chunk the count fits a byte, so the comparison sums stay in u8 lanes and
    // vectorize well; `filter().count()` would widen every byte to a u64 lane.
    let mut chunks = bytes.chunks_exact(128);
    let mut total = 0u64;
    for chunk in &mut chunks {
        let n = chunk
            .iter()
            .fold(0u8, |n, &b| n.wrapping_add(u8::from(b == b'\n')));
        total += u64::from(n);
    }
    total
        + chunks
            .remainder()
            .iter()
            .fold(0u64, |n, &b| n + u64::from(b == b'\n'))
}

/// The 1-based line and column (in bytes) of a byte offset.
pub(super) fn line_col(bytes: &[u8], at: usize) -> (u64, u64) {
    let before = bytes.get(..at).unwrap_or(bytes);
    let line = count_newlines(before) + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (line, (before.len() - line_start) as u64 + 1)
}

/// Line numbers of increasing byte offsets, counting each newline once.
pub(super) struct Lines<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u64,
}

impl<'a> Lines<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> Self {
        Self {
            bytes,
            pos: 0,
            line: 1,
        }
    }

    /// The 1-based line of byte offset `at`.
    pub(super) fn at(&mut self, at: usize) -> u64 {
        let at = at.min(self.bytes.len());
        if at < self.pos {
            // Offsets only grow in the reader; recount from the start if one ever does not.
            self.pos = 0;
            self.line = 1;
        }
        self.line += count_newlines(self.bytes.get(self.pos..at).unwrap_or_default());
        self.pos = at;
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flex_roots_are_recognised_after_a_prolog() {
        assert!(looks_like_flex(
            b"<FlexQueryResponse queryName=\"q\" type=\"AF\">"
        ));
        assert!(looks_like_flex(
            b"\xEF\xBB\xBF\r\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!-- x -->\n<FlexQueryResponse>"
        ));
        assert!(looks_like_flex(b"<FlexQueryResponse"));
        let utf16: Vec<u8> = "\u{feff}<FlexQueryResponse type=\"AF\">"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert!(looks_like_flex(&utf16));
        assert!(!looks_like_flex(
            b"<FlexStatementResponse><Status>Fail</Status>"
        ));
        assert!(!looks_like_flex(b"<FlexQueryResponses>"));
        assert!(!looks_like_flex(
            b"<!DOCTYPE html><html><body>FlexQueryResponse"
        ));
        assert!(!looks_like_flex(b"\"ClientAccountID\",\"Symbol\"\n"));
        assert!(!looks_like_flex(b""));
        assert!(!looks_like_flex(b"<?xml version=\"1.0\""));
    }

    #[test]
    fn text_is_checked_and_converted_before_parsing() {
        assert!(matches!(
            prepare(b"\xEF\xBB\xBF<a/>"),
            Ok(Cow::Borrowed("<a/>"))
        ));
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<a b=\"caf\xE9\"/>";
        assert!(
            matches!(prepare(latin1), Ok(Cow::Owned(ref s)) if s.ends_with("<a b=\"caf\u{e9}\"/>"))
        );
        assert!(matches!(
            prepare(b"<a>\n\n<b c=\"caf\xE9\"/></a>"),
            Err(FlexParseError::Encoding {
                line: 3,
                column: 10,
                ..
            })
        ));
        assert!(matches!(
            prepare(b"<?xml version=\"1.0\" encoding=\"klingon\"?><a/>"),
            Err(FlexParseError::Encoding { .. })
        ));
        assert!(matches!(
            prepare(b"PK\x03\x04\x14\x00"),
            Err(FlexParseError::Binary { .. })
        ));
        assert!(matches!(
            prepare(b"<a>\n<b>\x00</b></a>"),
            Err(FlexParseError::Binary { line: 2, .. })
        ));
        let err = prepare(b"<!doctype html>\n<html><head><title>Maintenance\n window</title>");
        assert!(
            matches!(err, Err(FlexParseError::NotFlex { ref message, .. }) if message.contains("Maintenance window")),
            "{err:?}"
        );
    }

    #[test]
    fn newlines_are_counted_across_chunk_boundaries() {
        let mut text = vec![b'x'; 1000];
        for at in [0, 127, 128, 129, 255, 256, 999] {
            text[at] = b'\n';
        }
        assert_eq!(count_newlines(&text), 7);
        assert_eq!(count_newlines(&[b'\n'; 300]), 300);
        assert_eq!(count_newlines(b""), 0);
    }

    #[test]
    fn lines_count_forward_and_columns_are_in_bytes() {
        let text = b"a\nbc\n\nd";
        let mut lines = Lines::new(text);
        assert_eq!(lines.at(0), 1);
        assert_eq!(lines.at(3), 2);
        assert_eq!(lines.at(6), 4);
        assert_eq!(lines.at(2), 2);
        assert_eq!(line_col(text, 3), (2, 2));
        assert_eq!(line_col(text, 99), (4, 2));
    }
}
