//! One tolerant tree builder for both OFX dialects: 1.x SGML, where leaf elements are not
//! closed (`<TRNAMT>-12.50`), and 2.x XML, where they are. A start tag followed by text is a
//! leaf holding that text (its end tag, if any, is consumed); any other start tag opens an
//! aggregate. An aggregate that its parent's end tag closes implicitly was really an empty
//! leaf (`<MEMO>` with no value), so its would-be children are handed back to the parent.
//! A document that ends with aggregates still open is truncated.

use crate::files::FileError;

/// OFX nests about a dozen levels; anything far deeper is not OFX.
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    /// Upper-cased tag name.
    pub name: String,
    /// The trimmed value of a leaf; `None` for aggregates.
    pub text: Option<String>,
    pub children: Vec<Element>,
    /// 1-based line of the start tag.
    pub line: u64,
}

impl Element {
    fn new(name: String, line: u64) -> Self {
        Self {
            name,
            text: None,
            children: Vec::new(),
            line,
        }
    }

    /// The first child named `name`.
    pub(crate) fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The non-empty value of the leaf child `name`.
    pub(crate) fn value(&self, name: &str) -> Option<&str> {
        self.child(name)
            .and_then(|c| c.text.as_deref())
            .filter(|t| !t.is_empty())
    }

    /// Every descendant named `name`, in document order, not looking inside matches.
    pub(crate) fn find_all<'a>(&'a self, name: &str) -> Vec<&'a Element> {
        let mut found = Vec::new();
        let mut stack: Vec<&Element> = self.children.iter().rev().collect();
        while let Some(el) = stack.pop() {
            if el.name == name {
                found.push(el);
            } else {
                stack.extend(el.children.iter().rev());
            }
        }
        found
    }
}

enum Token {
    Open {
        name: String,
        self_closing: bool,
        line: u64,
    },
    Close {
        name: String,
    },
    Text(String),
}

struct Tokenizer<'a> {
    src: &'a str,
    pos: usize,
    line: u64,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic()
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':')
}

impl<'a> Tokenizer<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or_default()
    }

    fn advance(&mut self, len: usize) {
        let consumed = self.src.get(self.pos..self.pos + len).unwrap_or_default();
        self.line += consumed.bytes().filter(|&b| b == b'\n').count() as u64;
        self.pos += len;
    }

    /// Whether the `<` at the start of `s` begins markup (as opposed to a stray `<` in text).
    fn is_markup(s: &str) -> bool {
        let b = s.as_bytes();
        match b.get(1) {
            Some(b'/') => b.get(2).copied().is_some_and(is_name_start),
            Some(b'!' | b'?') => true,
            Some(&c) => is_name_start(c),
            None => false,
        }
    }

    fn skip_past(&mut self, terminator: &str, what: &str) -> Result<(), FileError> {
        let start_line = self.line;
        match self.rest().find(terminator) {
            Some(i) => {
                self.advance(i + terminator.len());
                Ok(())
            }
            None => Err(FileError::at(
                start_line,
                format!("the file ends inside {what} (truncated)"),
            )),
        }
    }

    fn next(&mut self) -> Result<Option<Token>, FileError> {
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Ok(None);
            }
            if !(rest.starts_with('<') && Self::is_markup(rest)) {
                return Ok(Some(Token::Text(self.text())));
            }
            if rest.starts_with("<!--") {
                self.skip_past("-->", "a comment")?;
                continue;
            }
            if let Some(body) = rest.strip_prefix("<![CDATA[") {
                let start_line = self.line;
                let end = body.find("]]>").ok_or_else(|| {
                    FileError::at(
                        start_line,
                        "the file ends inside a CDATA section (truncated)",
                    )
                })?;
                let text = body.get(..end).unwrap_or_default().to_owned();
                self.advance("<![CDATA[".len() + end + 3);
                return Ok(Some(Token::Text(text)));
            }
            if rest.starts_with("<?") {
                self.skip_past("?>", "a processing instruction")?;
                continue;
            }
            if rest.starts_with("<!") {
                self.skip_past(">", "a declaration")?;
                continue;
            }
            let line = self.line;
            let Some(end) = rest.find('>') else {
                return Err(FileError::at(
                    line,
                    "the file ends inside a tag (truncated)",
                ));
            };
            let inner = rest.get(1..end).unwrap_or_default();
            self.advance(end + 1);
            if let Some(name) = inner.strip_prefix('/') {
                return Ok(Some(Token::Close {
                    name: tag_name(name),
                }));
            }
            let self_closing = inner.ends_with('/');
            return Ok(Some(Token::Open {
                name: tag_name(inner),
                self_closing,
                line,
            }));
        }
    }

    /// Text up to the next markup, entities decoded.
    fn text(&mut self) -> String {
        let rest = self.rest();
        let mut end = rest.len();
        let mut search_from = usize::from(rest.starts_with('<'));
        while let Some(i) = rest.get(search_from..).and_then(|r| r.find('<')) {
            let at = search_from + i;
            if rest.get(at..).is_some_and(Self::is_markup) {
                end = at;
                break;
            }
            search_from = at + 1;
        }
        let raw = rest.get(..end).unwrap_or_default();
        self.advance(end);
        decode_entities(raw)
    }
}

fn tag_name(inner: &str) -> String {
    inner
        .trim_start()
        .chars()
        .take_while(|&c| is_name_char(c))
        .collect::<String>()
        .to_ascii_uppercase()
}

fn decode_entities(raw: &str) -> String {
    if !raw.contains('&') {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find('&') {
        out.push_str(rest.get(..i).unwrap_or_default());
        let tail = rest.get(i..).unwrap_or_default();
        let decoded = tail.get(1..).and_then(|t| {
            let semi = t.find(';').filter(|&s| s <= 10)?;
            let entity = t.get(..semi)?;
            let c = match entity {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                "nbsp" => '\u{a0}',
                _ => {
                    let code = if let Some(hex) = entity
                        .strip_prefix("#x")
                        .or_else(|| entity.strip_prefix("#X"))
                    {
                        u32::from_str_radix(hex, 16).ok()?
                    } else {
                        entity.strip_prefix('#')?.parse().ok()?
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, semi + 2))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = tail.get(len..).unwrap_or_default();
            }
            None => {
                out.push('&');
                rest = tail.get(1..).unwrap_or_default();
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses an OFX body into a tree and returns the `<OFX>` element. `first_line` is the file
/// line `text` starts on.
pub(crate) fn parse_document(text: &str, first_line: u64) -> Result<Element, FileError> {
    let mut tokens = Tokenizer {
        src: text,
        pos: 0,
        line: first_line,
    };
    let mut stack: Vec<Element> = vec![Element::new("#document".to_owned(), first_line)];
    let mut lookahead: Option<Token> = None;
    loop {
        let token = match lookahead.take() {
            Some(t) => Some(t),
            None => tokens.next()?,
        };
        let Some(token) = token else { break };
        match token {
            Token::Text(_) => {} // text outside a leaf: whitespace, or junk we ignore
            Token::Open {
                name,
                self_closing,
                line,
            } => {
                if name.is_empty() {
                    continue;
                }
                let mut el = Element::new(name, line);
                if self_closing {
                    el.text = Some(String::new());
                    push_child(&mut stack, el);
                    continue;
                }
                match tokens.next()? {
                    Some(Token::Text(t)) if !t.trim().is_empty() => {
                        el.text = Some(t.trim().to_owned());
                        match tokens.next()? {
                            Some(Token::Close { name }) if name == el.name => {}
                            other => lookahead = other,
                        }
                        push_child(&mut stack, el);
                    }
                    other => {
                        if stack.len() > MAX_DEPTH {
                            return Err(FileError::at(
                                line,
                                format!(
                                    "elements nest deeper than {MAX_DEPTH} levels: not an OFX file"
                                ),
                            ));
                        }
                        stack.push(el);
                        lookahead = match other {
                            Some(Token::Text(_)) => None,
                            other => other,
                        };
                    }
                }
            }
            Token::Close { name } => close(&mut stack, &name),
        }
    }
    if stack.len() > 1 {
        let open = stack
            .iter()
            .skip(1)
            .rev()
            .find(|el| !el.children.is_empty())
            .or_else(|| stack.last());
        let (name, line) = open.map_or(("OFX", first_line), |el| (el.name.as_str(), el.line));
        return Err(FileError::at(
            tokens.line,
            format!("the file ends before </{name}> (opened on line {line}): truncated"),
        )
        .with_field(name.to_owned()));
    }
    let document = stack
        .pop()
        .unwrap_or_else(|| Element::new(String::new(), first_line));
    document
        .children
        .into_iter()
        .find(|el| el.name == "OFX")
        .ok_or_else(|| FileError::at(first_line, "no <OFX> element: not an OFX file"))
}

fn push_child(stack: &mut [Element], el: Element) {
    if let Some(parent) = stack.last_mut() {
        parent.children.push(el);
    }
}

/// Handles `</name>`: closes the innermost open element of that name, turning the unclosed
/// elements above it into empty leaves. A stray end tag (an SGML leaf closed twice, say) is
/// ignored.
fn close(stack: &mut Vec<Element>, name: &str) {
    let Some(index) = stack
        .iter()
        .skip(1)
        .rposition(|el| el.name == name)
        .map(|i| i + 1)
    else {
        return;
    };
    while stack.len() > index + 1 {
        let Some(mut unclosed) = stack.pop() else {
            break;
        };
        let adopted = std::mem::take(&mut unclosed.children);
        unclosed.text = Some(String::new());
        if let Some(parent) = stack.last_mut() {
            parent.children.push(unclosed);
            parent.children.extend(adopted);
        }
    }
    if let Some(el) = stack.pop() {
        push_child(stack, el);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Element {
        parse_document(text, 1).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn sgml_leaves_need_no_end_tags() {
        let ofx = parse("<OFX>\n<STMTTRN>\n<TRNAMT>-12.50\n<NAME>A &amp; B\n</STMTTRN>\n</OFX>\n");
        let trn = ofx.child("STMTTRN").unwrap_or_else(|| panic!("{ofx:?}"));
        assert_eq!(trn.value("TRNAMT"), Some("-12.50"));
        assert_eq!(trn.value("NAME"), Some("A & B"));
        assert_eq!(trn.line, 2);
        assert_eq!(trn.child("NAME").map(|n| n.line), Some(4));
    }

    #[test]
    fn xml_leaves_and_empty_elements() {
        let ofx = parse(
            "<?xml version=\"1.0\"?><?OFX OFXHEADER=\"200\"?>\n<!-- c --><OFX><A><B>1</B><C></C><D/><E><![CDATA[x<y]]></E></A></OFX>",
        );
        let a = ofx.child("A").unwrap_or_else(|| panic!("{ofx:?}"));
        assert_eq!(a.value("B"), Some("1"));
        assert_eq!(a.child("C").map(|c| c.children.len()), Some(0));
        assert_eq!(a.value("C"), None);
        assert!(a.child("D").is_some());
        assert_eq!(a.value("E"), Some("x<y"));
    }

    #[test]
    fn an_unclosed_empty_leaf_gives_its_siblings_back() {
        let ofx = parse("<OFX><STMTTRN><MEMO><NAME>Shop<TRNAMT>1</STMTTRN></OFX>");
        let trn = ofx.child("STMTTRN").unwrap_or_else(|| panic!("{ofx:?}"));
        assert_eq!(trn.value("NAME"), Some("Shop"));
        assert_eq!(trn.value("TRNAMT"), Some("1"));
        assert_eq!(trn.value("MEMO"), None);
    }

    #[test]
    fn stray_angle_brackets_stay_text() {
        let ofx = parse("<OFX><NAME>A < B <3</OFX>");
        assert_eq!(ofx.value("NAME"), Some("A < B <3"));
    }

    #[test]
    fn truncation_names_the_open_element() {
        let err = parse_document("<OFX>\n<BANKTRANLIST>\n<STMTTRN>\n<TRNAMT>1\n", 1).err();
        let err = err.unwrap_or_else(|| panic!("accepted"));
        assert_eq!(err.field.as_deref(), Some("STMTTRN"));
        assert!(err.message.contains("line 3"), "{err}");
        assert!(parse_document("<OFX><A>1</A", 1).is_err());
        assert!(parse_document("<OFX><!-- x", 1).is_err());
        assert!(parse_document("plain text", 1).is_err());
    }

    #[test]
    fn absurd_nesting_is_refused() {
        let deep = "<A>".repeat(10_000);
        assert!(parse_document(&deep, 1).is_err());
    }

    #[test]
    fn numeric_entities_decode() {
        assert_eq!(
            decode_entities("&#233;t&#xE9; &bogus; & x"),
            "été &bogus; & x"
        );
    }
}
