//! A Markdown table whose columns are padded to line up as plain text too.

/// Rows of cells under a header; numeric columns are right-aligned.
#[derive(Debug)]
pub(crate) struct Table {
    header: Vec<String>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these columns: (title, right-aligned).
    pub(crate) fn new(columns: &[(&str, bool)]) -> Table {
        Table {
            header: columns.iter().map(|(title, _)| title.to_string()).collect(),
            right: columns.iter().map(|&(_, right)| right).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, row: Vec<String>) {
        self.rows.push(row);
    }

    /// The table as Markdown, each column padded to its widest cell.
    pub(crate) fn to_markdown(&self) -> String {
        let width = |column: usize| {
            std::iter::once(&self.header)
                .chain(&self.rows)
                .filter_map(|row| row.get(column))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
                .max(3)
        };
        let widths: Vec<usize> = (0..self.header.len()).map(width).collect();
        let line = |cells: &[String]| {
            let mut line = String::from("|");
            for (column, &width) in widths.iter().enumerate() {
                let cell = cells.get(column).map_or("", String::as_str);
                let pad = " ".repeat(width - cell.chars().count());
                if self.right[column] {
                    line.push_str(&format!(" {pad}{cell} |"));
                } else {
                    line.push_str(&format!(" {cell}{pad} |"));
                }
            }
            line.push('\n');
            line
        };
        let mut out = line(&self.header);
        out.push('|');
        for (column, &width) in widths.iter().enumerate() {
            if self.right[column] {
                out.push_str(&format!(" {}: |", "-".repeat(width - 1)));
            } else {
                out.push_str(&format!(" {} |", "-".repeat(width)));
            }
        }
        out.push('\n');
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let mut table = Table::new(&[("system", false), ("run ms", true)]);
        table.push(vec!["flowcore".to_string(), "1.25".to_string()]);
        table.push(vec!["tokio".to_string(), "10.50".to_string()]);
        assert_eq!(
            table.to_markdown(),
            "| system   | run ms |\n\
             | -------- | -----: |\n\
             | flowcore |   1.25 |\n\
             | tokio    |  10.50 |\n"
        );
    }
}
