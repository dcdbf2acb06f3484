//! Docker's table alignment and cell helpers (`docker-formats.md` §1.2, §1.3).
//!
//! Owns: a port of Go's `text/tabwriter` as forked by docker/cli
//! (`cli/command/formatter/tabwriter`), run with docker's parameters — minwidth 10, tabwidth 1,
//! padding 3, padchar `' '`, flags 0 — plus `Ellipsis` and Go's `strconv.Quote`.
//!
//! Model: text is lines (`\n`), a line is cells; a cell is text terminated by TAB. The text
//! after the last TAB of a line is not part of any column and is written unpadded. A *column
//! block* is a run of consecutive lines that all have a given column; its width is
//! `max(minwidth, widest cell + padding)`, measured in display cells (East-Asian wide = 2).
//! A line with fewer cells ends the blocks of the columns it lacks, exactly as in Go.
//!
//! ```
//! use kasane::output::tabwrite;
//! let table = tabwrite("REPOSITORY\tTAG\tSIZE\ndemo\t1\t1.98MB\n");
//! assert_eq!(table, "REPOSITORY   TAG       SIZE\ndemo         1         1.98MB\n");
//! ```

use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Tabwriter parameters; [`Default`] is docker's (minwidth 10, padding 3, padchar space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TabOptions {
    /// Minimal column width, padding included.
    pub min_width: usize,
    /// Spaces added to the widest cell of a column.
    pub padding: usize,
}

impl Default for TabOptions {
    fn default() -> Self {
        TabOptions {
            min_width: 10,
            padding: 3,
        }
    }
}

struct Cell<'a> {
    text: &'a str,
    width: usize,
}

struct Line<'a> {
    cells: Vec<Cell<'a>>,
    /// Terminated by `\f`: Go flushes there, so no column block spans it.
    flush_after: bool,
}

/// Aligns TAB-separated `text` with docker's tabwriter parameters.
pub fn tabwrite(text: &str) -> String {
    tabwrite_with(text, &TabOptions::default())
}

/// Aligns TAB-separated `text` with the given parameters (Go `text/tabwriter`, flags 0).
pub fn tabwrite_with(text: &str, options: &TabOptions) -> String {
    let lines = split_lines(text);
    let mut writer = Writer {
        options: *options,
        lines: &lines,
        out: String::with_capacity(text.len() * 2),
        widths: Vec::new(),
    };
    let mut start = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.flush_after {
            writer.format(start, i + 1);
            start = i + 1;
        }
    }
    writer.format(start, lines.len());
    writer.out
}

fn split_lines(text: &str) -> Vec<Line<'_>> {
    let mut lines = Vec::new();
    let mut rest = text;
    loop {
        match rest.find(['\n', '\x0c']) {
            Some(end) => {
                let flush_after = rest.as_bytes()[end] == b'\x0c';
                lines.push(Line {
                    cells: split_cells(&rest[..end]),
                    flush_after,
                });
                rest = &rest[end + 1..];
            }
            None => {
                lines.push(Line {
                    cells: split_cells(rest),
                    flush_after: false,
                });
                return lines;
            }
        }
    }
}

fn split_cells(line: &str) -> Vec<Cell<'_>> {
    // `\v` terminates a cell too (a "soft" cell in Go; the difference only matters with
    // DiscardEmptyColumns, which docker does not set).
    line.split(['\t', '\x0b'])
        .map(|text| Cell {
            text,
            width: UnicodeWidthStr::width(text),
        })
        .collect()
}

struct Writer<'a, 'b> {
    options: TabOptions,
    lines: &'b [Line<'a>],
    out: String,
    widths: Vec<usize>,
}

impl Writer<'_, '_> {
    /// Go `(*Writer).format`: find the column blocks of column `widths.len()` in
    /// `line0..line1`, size each, and recurse for the columns to their right.
    fn format(&mut self, mut line0: usize, line1: usize) {
        let column = self.widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= self.lines[this].cells.len() {
                this += 1;
                continue;
            }
            // A cell exists in this column: print the lines before the block.
            self.write_lines(line0, this);
            line0 = this;
            let mut width = self.options.min_width;
            while this < line1 {
                let cells = &self.lines[this].cells;
                if column + 1 >= cells.len() {
                    break;
                }
                width = width.max(cells[column].width + self.options.padding);
                this += 1;
            }
            self.widths.push(width);
            self.format(line0, this);
            self.widths.pop();
            line0 = this;
        }
        self.write_lines(line0, line1);
    }

    fn write_lines(&mut self, line0: usize, line1: usize) {
        for i in line0..line1 {
            for (j, cell) in self.lines[i].cells.iter().enumerate() {
                self.out.push_str(cell.text);
                if let Some(&width) = self.widths.get(j) {
                    let pad = width.saturating_sub(cell.width);
                    self.out.extend(std::iter::repeat_n(' ', pad));
                }
            }
            if i + 1 < self.lines.len() {
                self.out.push('\n');
            }
        }
    }
}

/// Docker `charWidth`: East-Asian wide and fullwidth characters take 2 cells, all else 1.
fn char_width(c: char) -> usize {
    if UnicodeWidthChar::width(c) == Some(2) {
        2
    } else {
        1
    }
}

/// Docker `Ellipsis`: `s` unchanged if it fits in `max_width` display cells, else the longest
/// prefix of width ≤ `max_width − 1` followed by `…` (ps COMMAND 20, history CREATED BY 45).
pub fn ellipsis(s: &str, max_width: usize) -> String {
    if max_width == 0 {
        return String::new();
    }
    let Some(first) = s.chars().next() else {
        return String::new();
    };
    if max_width == 1 {
        // "For maxDisplayWidth of 1, first char of string will return even if its width > 1."
        return first.to_string();
    }
    let mut width = 0;
    let mut cut = None;
    for (i, c) in s.char_indices() {
        let next = width + char_width(c);
        if cut.is_none() && next > max_width - 1 {
            cut = Some(i);
        }
        width = next;
    }
    match cut {
        // Docker finds no cut point when the first character alone is too wide, and then
        // returns the string unchanged.
        Some(end) if width > max_width && end > 0 => format!("{}…", &s[..end]),
        _ => s.to_string(),
    }
}

/// Go `strconv.Quote`: `"`-wrapped, `"` and `\` escaped, non-printable characters as
/// `\a \b \f \n \r \t \v`, `\xNN`, `\uNNNN` or `\UNNNNNNNN`; printable Unicode kept.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_go_printable(c) => out.push(c),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x1_0000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

/// Approximates Go `strconv.IsPrint` (categories L, M, N, P, S and U+0020) without Unicode
/// category tables: rejects controls, spaces other than U+0020, format characters (Cf),
/// private use and noncharacters. Unassigned code points are treated as printable.
fn is_go_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_char = matches!(
        u,
        0xAD | 0x600..=0x605
            | 0x61C
            | 0x6DD
            | 0x70F
            | 0x890..=0x891
            | 0x8E2
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x206F
            | 0xFEFF
            | 0xFFF9..=0xFFFB
            | 0x110BD
            | 0x110CD
            | 0x13430..=0x1343F
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0001
            | 0xE0020..=0xE007F
    );
    let private_use = matches!(u, 0xE000..=0xF8FF | 0xF_0000..=0x10_FFFF);
    let noncharacter = matches!(u, 0xFDD0..=0xFDEF) || (u & 0xFFFE) == 0xFFFE;
    !(format_char || private_use || noncharacter)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    macro_rules! cases {
        ($f:ident: $($name:ident: ($($arg:expr),*) => $want:expr;)*) => {
            $(#[test] fn $name() { assert_eq!($f($($arg),*), $want); })*
        };
    }

    cases! { tabwrite:
        images_table: ("REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\ndemo\t1\t4438967ac10e\tAbout a minute ago\t1.98MB\n<none>\t<none>\t656d11b0c211\t2 minutes ago\t1.98MB\n")
            => "REPOSITORY   TAG       IMAGE ID       CREATED              SIZE\ndemo         1         4438967ac10e   About a minute ago   1.98MB\n<none>       <none>    656d11b0c211   2 minutes ago        1.98MB\n";
        header_only: ("REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n")
            => "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE\n";
        trailing_empty_cell_padded: ("SIZE\tCOMMENT\n0B\t\n") => "SIZE      COMMENT\n0B        \n";
        empty_column_cell: ("A\tB\tC\n\t\tx\n") => "A         B         C\n                    x\n";
        no_tabs: ("hello\nworld\n") => "hello\nworld\n";
        no_trailing_newline: ("a\tb") => "a         b";
        empty: ("") => "";
        wide_chars: ("名前\tX\nab\tY\n") => "名前      X\nab        Y\n";
        long_cell: ("0123456789abc\tx\n") => "0123456789abc   x\n";
        // A line without the column ends the block: widths are computed per block.
        block_break: ("aaaaaaaaaaaaaaa\tx\nno tabs\nb\ty\n") => "aaaaaaaaaaaaaaa   x\nno tabs\nb         y\n";
        // The second column block only spans lines that have a second column.
        nested_blocks: ("a\tbbbbbbbbbbbbbb\tc\nd\te\n") => "a         bbbbbbbbbbbbbb   c\nd         e\n";
        formfeed_flushes: ("aaaaaaaaaaaaaaa\tx\x0cb\ty\n") => "aaaaaaaaaaaaaaa   x\nb         y\n";
    }

    #[test]
    fn custom_options() {
        let options = TabOptions {
            min_width: 0,
            padding: 1,
        };
        assert_eq!(tabwrite_with("a\tbb\tc\n", &options), "a bb c\n");
    }

    cases! { ellipsis:
        fits: ("hello", 5) => "hello";
        ascii_cut: ("docker-entrypoint.sh nginx", 20) => "docker-entrypoint.s…";
        zero: ("abc", 0) => "";
        one: ("abc", 1) => "a";
        one_wide: ("名前", 1) => "名";
        empty_string: ("", 5) => "";
        wide_fits: ("名前", 4) => "名前";
        wide_cut: ("名前です", 5) => "名前…";
        wide_cut_odd: ("名前です", 6) => "名前…";
        wide_first_too_wide: ("名前です", 2) => "名前です";
        ambiguous_is_one: ("a…b", 3) => "a…b";
        combining_counts_one: ("e\u{301}e\u{301}", 3) => "e\u{301}…";
        history_45: ("ADD alpine-minirootfs-3.22.1-x86_64.tar.gz / # buildkit", 45)
            => "ADD alpine-minirootfs-3.22.1-x86_64.tar.gz /…";
    }

    cases! { go_quote:
        plain: ("sh -c 'exit 3'") => "\"sh -c 'exit 3'\"";
        quote_and_backslash: ("a\"b\\c") => "\"a\\\"b\\\\c\"";
        controls: ("\x07\x08\x0c\n\r\t\x0b") => "\"\\a\\b\\f\\n\\r\\t\\v\"";
        hex: ("\x01\x7f") => "\"\\x01\\x7f\"";
        unicode_kept: ("héllo 名前 …") => "\"héllo 名前 …\"";
        nbsp: ("a\u{a0}b") => "\"a\\u00a0b\"";
        zero_width_space: ("\u{200b}") => "\"\\u200b\"";
        private_use_astral: ("\u{F0000}") => "\"\\U000f0000\"";
        emoji_kept: ("🐳") => "\"🐳\"";
    }
}
