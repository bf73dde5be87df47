#![deny(missing_docs)]
//! A crate whose public task is documented.

use flowcore::{Flow, task};

/// Counts the words of `text`.
#[task]
pub async fn count_words(text: String) -> usize {
    text.split_whitespace().count()
}

fn main() {
    let mut flow = Flow::new("pub_with_docs");
    let _count = flow.add(count_words("a b c".to_string()));
}
