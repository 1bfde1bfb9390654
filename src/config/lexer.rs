//! The configuration lexer: text in, tokens with their 1-based line:col out. Pure, no I/O.
//!
//! Words are separated by whitespace; `;`, `{` and `}` are tokens of their own even when glued to
//! a word (`listen 80;`). `#` at the start of a token begins a comment that runs to the end of the
//! line (inside a word it is an ordinary character, as in nginx). `"..."` (or `'...'`, as nginx
//! also accepts) is a quoted word that may hold whitespace, `;`, braces and `#`; inside it a
//! backslash before the quote character or before `\\` stands for that character, and any other
//! backslash is kept as written. (nginx's `map` snippets write the empty string as `''`.)

use std::iter::Peekable;
use std::str::Chars;

/// A position in the text: 1-based line and column (columns count characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: usize,
    pub col: usize,
}

/// A message about the text at a position; `mod.rs` adds the file path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Error {
    pub pos: Pos,
    pub message: String,
    /// The file the position is in when it is not the configuration file itself (a user file
    /// of `auth_basic_user_file`).
    pub file: Option<std::path::PathBuf>,
}

impl Error {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> Error {
        Error {
            pos,
            message: message.into(),
            file: None,
        }
    }

    /// An error at `pos` of another file than the configuration file.
    pub(crate) fn in_file(file: std::path::PathBuf, pos: Pos, message: impl Into<String>) -> Error {
        Error {
            file: Some(file),
            ..Error::new(pos, message)
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// A bare or quoted word, quotes and escapes already removed.
    Word(String),
    Semicolon,
    OpenBrace,
    CloseBrace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    /// Where the token's first character is (the opening quote for a quoted word).
    pub pos: Pos,
}

/// The tokens of a whole text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub tokens: Vec<Token>,
    /// Just after the last token (1:1 when there is none): where "unexpected end of file" points,
    /// so that the message lands on the last line that has content, not past trailing comments
    /// and blank lines.
    pub eof: Pos,
}

struct Cursor<'a> {
    chars: Peekable<Chars<'a>>,
    pos: Pos,
}

impl Cursor<'_> {
    fn peek(&mut self) -> Option<char> {
        self.chars.peek().copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.chars.next()?;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }
}

/// Whether `c` ends a bare word.
fn is_delimiter(c: char) -> bool {
    c.is_whitespace() || matches!(c, ';' | '{' | '}')
}

pub(crate) fn tokenize(text: &str) -> Result<Tokens, Error> {
    let mut cur = Cursor {
        chars: text.chars().peekable(),
        pos: Pos { line: 1, col: 1 },
    };
    let mut tokens = Vec::new();
    let mut eof = cur.pos;
    while let Some(c) = cur.peek() {
        if c.is_whitespace() {
            cur.bump();
            continue;
        }
        let pos = cur.pos;
        let kind = match c {
            '#' => {
                while let Some(c) = cur.bump() {
                    if c == '\n' {
                        break;
                    }
                }
                continue;
            }
            ';' | '{' | '}' => {
                cur.bump();
                match c {
                    ';' => TokenKind::Semicolon,
                    '{' => TokenKind::OpenBrace,
                    _ => TokenKind::CloseBrace,
                }
            }
            '"' | '\'' => {
                cur.bump();
                let word = quoted(&mut cur, pos, c)?;
                if let Some(next) = cur.peek()
                    && !is_delimiter(next)
                {
                    return Err(Error::new(
                        cur.pos,
                        format!("unexpected \"{next}\" after quoted string"),
                    ));
                }
                TokenKind::Word(word)
            }
            _ => {
                let mut word = String::new();
                while let Some(c) = cur.peek() {
                    if is_delimiter(c) {
                        break;
                    }
                    word.push(c);
                    cur.bump();
                }
                TokenKind::Word(word)
            }
        };
        tokens.push(Token { kind, pos });
        eof = cur.pos;
    }
    Ok(Tokens { tokens, eof })
}

/// The rest of a word quoted with `quote`, the opening quote (at `open`) already consumed.
fn quoted(cur: &mut Cursor<'_>, open: Pos, quote: char) -> Result<String, Error> {
    let mut word = String::new();
    loop {
        match cur.bump() {
            None => return Err(Error::new(open, "unterminated quoted string")),
            Some(c) if c == quote => return Ok(word),
            Some('\\') => match cur.peek() {
                Some(c) if c == quote || c == '\\' => {
                    cur.bump();
                    word.push(c);
                }
                _ => word.push('\\'),
            },
            Some(c) => word.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(s: &str, line: usize, col: usize) -> Token {
        Token {
            kind: TokenKind::Word(s.to_string()),
            pos: Pos { line, col },
        }
    }

    fn punct(kind: TokenKind, line: usize, col: usize) -> Token {
        Token {
            kind,
            pos: Pos { line, col },
        }
    }

    /// The tokens as a compact string: words as-is, punctuation as itself, each with line:col.
    fn render(text: &str) -> String {
        let tokens = tokenize(text).unwrap_or_else(|e| panic!("{text:?}: {e:?}"));
        tokens
            .tokens
            .iter()
            .map(|t| {
                let s = match &t.kind {
                    TokenKind::Word(w) => format!("<{w}>"),
                    TokenKind::Semicolon => ";".to_string(),
                    TokenKind::OpenBrace => "{".to_string(),
                    TokenKind::CloseBrace => "}".to_string(),
                };
                format!("{s}@{}:{}", t.pos.line, t.pos.col)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn error(text: &str) -> String {
        match tokenize(text) {
            Ok(t) => panic!("{text:?} lexed to {t:?}"),
            Err(e) => format!("{}:{}: {}", e.pos.line, e.pos.col, e.message),
        }
    }

    #[test]
    fn tokens_carry_the_line_and_column_of_their_first_character() {
        let tokens = tokenize("server {\n  listen 80;\n}\n").map(|t| t.tokens);
        assert_eq!(
            tokens,
            Ok(vec![
                word("server", 1, 1),
                punct(TokenKind::OpenBrace, 1, 8),
                word("listen", 2, 3),
                word("80", 2, 10),
                punct(TokenKind::Semicolon, 2, 12),
                punct(TokenKind::CloseBrace, 3, 1),
            ])
        );
    }

    #[test]
    fn punctuation_glued_to_words_is_split_off() {
        assert_eq!(
            render("a{b;c}d;"),
            "<a>@1:1 {@1:2 <b>@1:3 ;@1:4 <c>@1:5 }@1:6 <d>@1:7 ;@1:8"
        );
        assert_eq!(render("}}{;;"), "}@1:1 }@1:2 {@1:3 ;@1:4 ;@1:5");
    }

    #[test]
    fn comments_run_to_the_end_of_the_line_only_at_the_start_of_a_token() {
        assert_eq!(
            render("# top\nroot /a#b; # trailing ; { }\n\tx;#c\ny"),
            "<root>@2:1 </a#b>@2:6 ;@2:10 <x>@3:2 ;@3:3 <y>@4:1"
        );
    }

    #[test]
    fn quoted_words_keep_whitespace_punctuation_and_handle_escapes() {
        assert_eq!(
            render(r#"return 200 "a b;{}#c";"#),
            "<return>@1:1 <200>@1:8 <a b;{}#c>@1:12 ;@1:22"
        );
        assert_eq!(
            render(r#""say \"hi\"" "back\\slash" "\n stays" """#),
            r#"<say "hi">@1:1 <back\slash>@1:14 <\n stays>@1:28 <>@1:39"#
        );
        assert_eq!(render("\"two\nlines\" x"), "<two\nlines>@1:1 <x>@2:8");
    }

    #[test]
    fn a_json_log_format_needs_no_escapes_in_single_quotes() {
        assert_eq!(
            render(r#"log_format j '{"a":"$b"}' 'it\'s';"#),
            r#"<log_format>@1:1 <j>@1:12 <{"a":"$b"}>@1:14 <it's>@1:27 ;@1:34"#
        );
        assert_eq!(render(r#"a'b' c"#), r#"<a'b'>@1:1 <c>@1:6"#);
    }

    #[test]
    fn single_quotes_quote_as_double_quotes_do() {
        assert_eq!(
            render(r#"'' close; 'a "b" c' '\'x\'' '\"';"#),
            r#"<>@1:1 <close>@1:4 ;@1:9 <a "b" c>@1:11 <'x'>@1:21 <\">@1:29 ;@1:33"#
        );
        assert_eq!(error("map x { 'open; }"), "1:9: unterminated quoted string");
        assert_eq!(error("'a'b;"), "1:4: unexpected \"b\" after quoted string");
    }

    #[test]
    fn a_quote_inside_a_bare_word_is_an_ordinary_character() {
        assert_eq!(render(r#"a"b" c"#), r#"<a"b">@1:1 <c>@1:6"#);
    }

    #[test]
    fn an_unterminated_quote_is_an_error_at_the_opening_quote() {
        assert_eq!(
            error("root /a;\n  index \"x.html;\n}\n"),
            "2:9: unterminated quoted string"
        );
        assert_eq!(error(r#"x "ends in \""#), "1:3: unterminated quoted string");
    }

    #[test]
    fn a_closing_quote_must_be_followed_by_a_delimiter() {
        assert_eq!(
            error(r#"index "a"b;"#),
            "1:10: unexpected \"b\" after quoted string"
        );
        assert_eq!(render(r#"index "a";"b"{"c"}"#).matches('<').count(), 4);
    }

    #[test]
    fn columns_count_characters_and_tabs_count_as_one() {
        assert_eq!(
            render("\t\"é\" ü x\r\ny"),
            "<é>@1:2 <ü>@1:6 <x>@1:8 <y>@2:1"
        );
    }

    #[test]
    fn end_of_file_points_just_after_the_last_token() {
        let eof = |t: &str| tokenize(t).map(|t| t.eof);
        assert_eq!(eof(""), Ok(Pos { line: 1, col: 1 }));
        assert_eq!(eof("# only a comment\n"), Ok(Pos { line: 1, col: 1 }));
        assert_eq!(eof("a {\n b;\n\n# done\n"), Ok(Pos { line: 2, col: 4 }));
        assert_eq!(eof("x \"q\"  \n"), Ok(Pos { line: 1, col: 6 }));
    }

    #[test]
    fn any_split_of_the_input_between_tokens_gives_the_same_tokens() {
        // The lexer works on whole texts, but whitespace and comments between any two tokens must
        // not change what the tokens are: re-lay the same tokens out with different separators.
        let base = ["server", "{", "listen", "80", ";", "}"];
        for sep in [" ", "\n", "\t", " # c\n", "\r\n"] {
            let text = base.join(sep);
            let words: Vec<TokenKind> = tokenize(&text)
                .map(|t| t.tokens.into_iter().map(|t| t.kind).collect())
                .unwrap_or_default();
            assert_eq!(
                words,
                vec![
                    TokenKind::Word("server".into()),
                    TokenKind::OpenBrace,
                    TokenKind::Word("listen".into()),
                    TokenKind::Word("80".into()),
                    TokenKind::Semicolon,
                    TokenKind::CloseBrace,
                ],
                "{text:?}"
            );
        }
    }
}
