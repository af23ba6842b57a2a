//! Text encodings of imported files, and decoding to UTF-8: whole (OFX) or streamed (CSV).
//!
//! Decoding never substitutes replacement characters: a byte sequence that is not valid in the
//! declared encoding is an error naming the line, because a wrong encoding silently garbles
//! payee names and, with multi-byte encodings, can swallow delimiters.

use std::io::{self, Read};

use serde::{Deserialize, Serialize};

use super::FileError;

/// A text encoding a CSV import profile can declare.
///
/// Decoding sniffs a byte-order mark first: a file that starts with a UTF-8 or UTF-16 BOM is
/// read in that encoding whatever the profile says (the BOM itself is dropped).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Encoding {
    #[default]
    #[serde(rename = "utf-8", alias = "utf8", alias = "UTF-8")]
    Utf8,
    #[serde(rename = "gbk", alias = "GBK", alias = "cp936")]
    Gbk,
    #[serde(rename = "gb18030", alias = "GB18030")]
    Gb18030,
    /// Also accepted as `latin1` / `iso-8859-1` (the WHATWG encoding standard treats those
    /// labels as windows-1252, which is a superset for printable text).
    #[serde(
        rename = "windows-1252",
        alias = "cp1252",
        alias = "latin1",
        alias = "iso-8859-1",
        alias = "latin-1"
    )]
    Windows1252,
}

impl Encoding {
    /// The canonical label (`utf-8`, `gbk`, `gb18030`, `windows-1252`).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Utf8 => "utf-8",
            Self::Gbk => "gbk",
            Self::Gb18030 => "gb18030",
            Self::Windows1252 => "windows-1252",
        }
    }

    /// Parses a label, case-insensitively, with the aliases listed on the variants.
    #[must_use]
    pub fn from_label(label: &str) -> Option<Self> {
        match label.trim().to_ascii_lowercase().as_str() {
            "utf-8" | "utf8" => Some(Self::Utf8),
            "gbk" | "cp936" => Some(Self::Gbk),
            "gb18030" => Some(Self::Gb18030),
            "windows-1252" | "cp1252" | "latin1" | "latin-1" | "iso-8859-1" => {
                Some(Self::Windows1252)
            }
            _ => None,
        }
    }

    pub(crate) fn codec(self) -> &'static encoding_rs::Encoding {
        match self {
            Self::Utf8 => encoding_rs::UTF_8,
            Self::Gbk => encoding_rs::GBK,
            Self::Gb18030 => encoding_rs::GB18030,
            Self::Windows1252 => encoding_rs::WINDOWS_1252,
        }
    }
}

fn count_newlines(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

/// Decodes a whole buffer. `first_line` is the line number of `bytes[0]` in the file, so errors
/// point at the right line when a header was cut off first.
pub(crate) fn decode_all(
    bytes: &[u8],
    codec: &'static encoding_rs::Encoding,
    first_line: u64,
) -> Result<String, FileError> {
    let mut decoder = codec.new_decoder_without_bom_handling();
    let capacity = decoder
        .max_utf8_buffer_length_without_replacement(bytes.len())
        .ok_or_else(|| FileError::new("the file is too large to decode"))?;
    let mut out = String::with_capacity(capacity);
    let (result, read) = decoder.decode_to_string_without_replacement(bytes, &mut out, true);
    match result {
        encoding_rs::DecoderResult::InputEmpty => Ok(out),
        encoding_rs::DecoderResult::Malformed(_, _) => {
            let consumed = bytes.get(..read).unwrap_or(bytes);
            Err(FileError::at(
                first_line + count_newlines(consumed),
                format!(
                    "the text is not valid {} (wrong encoding, or not a text file)",
                    codec.name()
                ),
            ))
        }
        encoding_rs::DecoderResult::OutputFull => Err(FileError::new(format!(
            "could not decode the file as {}",
            codec.name()
        ))),
    }
}

/// Why a streamed decode stopped. Travels inside an `io::Error` through the CSV reader and is
/// recovered with [`DecodeFailure::from_io`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeFailure {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for DecodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for DecodeFailure {}

impl DecodeFailure {
    pub(crate) fn from_io(err: &io::Error) -> Option<&Self> {
        err.get_ref().and_then(|e| e.downcast_ref::<Self>())
    }

    fn to_io(&self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self.clone())
    }
}

/// Raw read size: starts small so short files cost little, doubles while reads fill it.
const RAW_START: usize = 4 * 1024;
const RAW_MAX: usize = 64 * 1024;

/// Decoded bytes one raw chunk can produce (three UTF-8 bytes per input byte at worst).
fn out_len(raw: usize) -> usize {
    raw * 3 + 16
}

/// A `Read` adapter that turns any supported encoding into UTF-8 as it streams, counts lines,
/// and refuses lines longer than `max_line` bytes (so one huge line cannot exhaust memory).
/// Non-empty output always ends with a line feed (one is added when the input lacks it), so
/// every CSV record is newline-terminated and its first line can be computed exactly.
pub(crate) struct DecodingReader<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    label: &'static str,
    raw: Vec<u8>,
    raw_start: usize,
    raw_end: usize,
    inner_eof: bool,
    out: Vec<u8>,
    out_start: usize,
    out_end: usize,
    finished: bool,
    /// `\n` bytes decoded so far (every supported encoding maps LF to LF).
    newlines: u64,
    line_len: usize,
    max_line: usize,
    /// Reported after the bytes decoded before it have been read.
    pending: Option<DecodeFailure>,
    failed: Option<DecodeFailure>,
    last_byte: Option<u8>,
    final_newline: bool,
}

impl<R: Read> DecodingReader<R> {
    pub(crate) fn new(inner: R, encoding: Encoding, max_line: usize) -> Self {
        let codec = encoding.codec();
        Self {
            inner,
            // BOM sniffing: a UTF-8/UTF-16 BOM wins over the declared encoding and is dropped.
            decoder: codec.new_decoder(),
            label: encoding.label(),
            raw: vec![0; RAW_START],
            raw_start: 0,
            raw_end: 0,
            inner_eof: false,
            out: vec![0; out_len(RAW_START)],
            out_start: 0,
            out_end: 0,
            finished: false,
            newlines: 0,
            line_len: 0,
            max_line,
            pending: None,
            failed: None,
            last_byte: None,
            final_newline: false,
        }
    }

    fn fail(&mut self, failure: DecodeFailure) -> io::Error {
        let err = failure.to_io();
        self.failed = Some(failure);
        self.out_start = 0;
        self.out_end = 0;
        err
    }

    /// Counts lines in freshly decoded output and enforces the line-length limit.
    fn account(&mut self, written: usize) -> Result<(), DecodeFailure> {
        let chunk = self.out.get(..written).unwrap_or_default();
        let mut last_newline = None;
        for (i, &b) in chunk.iter().enumerate() {
            if b == b'\n' {
                let len = match last_newline {
                    None => self.line_len + i,
                    Some(prev) => i - prev - 1,
                };
                if len > self.max_line {
                    return Err(self.too_long());
                }
                self.newlines += 1;
                last_newline = Some(i);
            }
        }
        self.line_len = match last_newline {
            None => self.line_len + written,
            Some(prev) => written - prev - 1,
        };
        if self.line_len > self.max_line {
            return Err(self.too_long());
        }
        Ok(())
    }

    fn too_long(&self) -> DecodeFailure {
        DecodeFailure {
            line: self.newlines + 1,
            message: format!(
                "line is longer than {} KiB (not a CSV file, or a broken one)",
                self.max_line / 1024
            ),
        }
    }

    /// Refills the output buffer; leaves it empty only at the end of the input.
    fn fill(&mut self) -> io::Result<()> {
        loop {
            if let Some(failure) = &self.failed {
                return Err(failure.to_io());
            }
            if let Some(failure) = self.pending.take() {
                return Err(self.fail(failure));
            }
            if self.finished {
                if !self.final_newline && self.last_byte.is_some_and(|b| b != b'\n') {
                    self.final_newline = true;
                    if let Some(first) = self.out.first_mut() {
                        *first = b'\n';
                        self.out_start = 0;
                        self.out_end = 1;
                    }
                }
                return Ok(());
            }
            if self.raw_start == self.raw_end && !self.inner_eof {
                let n = loop {
                    match self.inner.read(&mut self.raw) {
                        Ok(n) => break n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                };
                self.raw_start = 0;
                self.raw_end = n;
                self.inner_eof = n == 0;
                if n == self.raw.len() && n < RAW_MAX && self.out_start == self.out_end {
                    let grown = (n * 2).min(RAW_MAX);
                    self.raw.resize(grown, 0);
                    self.out.resize(out_len(grown), 0);
                }
            }
            let input = self
                .raw
                .get(self.raw_start..self.raw_end)
                .unwrap_or_default();
            let (result, read, written) = self.decoder.decode_to_utf8_without_replacement(
                input,
                &mut self.out,
                self.inner_eof,
            );
            self.raw_start += read;
            self.out_start = 0;
            self.out_end = written;
            if let Some(&last) = written.checked_sub(1).and_then(|i| self.out.get(i)) {
                self.last_byte = Some(last);
            }
            if let Err(failure) = self.account(written) {
                return Err(self.fail(failure));
            }
            match result {
                encoding_rs::DecoderResult::InputEmpty => {
                    if self.inner_eof {
                        // Next call (or the next loop turn) adds the final newline if needed.
                        self.finished = true;
                    }
                    if written > 0 {
                        return Ok(());
                    }
                }
                encoding_rs::DecoderResult::OutputFull => {
                    if written > 0 {
                        return Ok(());
                    }
                }
                encoding_rs::DecoderResult::Malformed(_, _) => {
                    let failure = DecodeFailure {
                        line: self.newlines + 1,
                        message: format!(
                            "the text is not valid {} (set the profile's encoding, or this is not a text file)",
                            self.label
                        ),
                    };
                    if written > 0 {
                        self.pending = Some(failure);
                        return Ok(());
                    }
                    return Err(self.fail(failure));
                }
            }
        }
    }

    /// Drops everything up to and including the next line feed. `Ok(false)` at end of input.
    pub(crate) fn skip_line(&mut self) -> io::Result<bool> {
        loop {
            if self.out_start == self.out_end {
                self.fill()?;
                if self.out_start == self.out_end {
                    return Ok(false);
                }
            }
            let window = self
                .out
                .get(self.out_start..self.out_end)
                .unwrap_or_default();
            match window.iter().position(|&b| b == b'\n') {
                Some(pos) => {
                    self.out_start += pos + 1;
                    return Ok(true);
                }
                None => self.out_start = self.out_end,
            }
        }
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.out_start == self.out_end {
            self.fill()?;
        }
        let available = self
            .out
            .get(self.out_start..self.out_end)
            .unwrap_or_default();
        let n = available.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), available.get(..n)) {
            dst.copy_from_slice(src);
        }
        self.out_start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], encoding: Encoding, max_line: usize) -> io::Result<String> {
        let mut reader = DecodingReader::new(bytes, encoding, max_line);
        let mut out = String::new();
        reader.read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn decodes_each_encoding_and_strips_the_bom() {
        assert_eq!(
            read_all(b"\xEF\xBB\xBFa,b\n", Encoding::Utf8, 1024).ok(),
            Some("a,b\n".to_owned())
        );
        assert_eq!(
            read_all(b"no newline", Encoding::Utf8, 1024).ok(),
            Some("no newline\n".to_owned())
        );
        assert_eq!(
            read_all(b"", Encoding::Utf8, 1024).ok(),
            Some(String::new())
        );
        assert_eq!(
            read_all(b"\xD6\xD0\xCE\xC4", Encoding::Gbk, 1024).ok(),
            Some("中文\n".to_owned())
        );
        assert_eq!(
            read_all(b"\x80 M\xFCller", Encoding::Windows1252, 1024).ok(),
            Some("€ Müller\n".to_owned())
        );
    }

    #[test]
    fn invalid_bytes_name_their_line() {
        let err = read_all(b"a\nb\nc\xFF\n", Encoding::Utf8, 1024).err();
        let failure = err.as_ref().and_then(DecodeFailure::from_io).cloned();
        assert_eq!(failure.map(|f| f.line), Some(3));
    }

    #[test]
    fn overlong_lines_are_refused() {
        let long = vec![b'x'; 5000];
        let err = read_all(&long, Encoding::Utf8, 1024).err();
        let failure = err.as_ref().and_then(DecodeFailure::from_io).cloned();
        assert_eq!(failure.map(|f| f.line), Some(1));
        let mut ok = b"short\n".repeat(2000);
        ok.extend_from_slice(b"end");
        assert!(read_all(&ok, Encoding::Utf8, 1024).is_ok());
    }

    #[test]
    fn whole_buffers_decode_or_name_the_line() {
        assert_eq!(
            decode_all(b"x\ny", encoding_rs::UTF_8, 1).ok(),
            Some("x\ny".to_owned())
        );
        let err = decode_all(b"x\n\n\xC3", encoding_rs::UTF_8, 10).err();
        assert_eq!(err.and_then(|e| e.line), Some(12));
    }
}
