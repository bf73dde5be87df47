//! Renders a flow's graph as Mermaid or Graphviz DOT, without running it.

use std::fmt::Write;

use crate::flow::{Flow, Node};
use crate::trigger::Trigger;

impl Flow {
    /// The flow's graph as a Mermaid flowchart: one node per task (with its trigger when it
    /// is not the default), a labelled arrow per data edge and a dotted arrow per order-only edge.
    /// Inputs are parallelograms: `t0[/"n"/]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, task};
    ///
    /// #[task]
    /// async fn load() -> u32 { 1 }
    /// #[task]
    /// async fn save(rows: u32) -> u32 { rows }
    ///
    /// let mut flow = Flow::new("etl");
    /// let rows = flow.add(load());
    /// flow.add(save(rows));
    /// assert_eq!(
    ///     flow.to_mermaid(),
    ///     "flowchart TD\n    t0[\"load\"]\n    t1[\"save\"]\n    t0 -->|rows| t1\n"
    /// );
    /// ```
    pub fn to_mermaid(&self) -> String {
        let data = self.data();
        let nodes = &data.nodes;
        let mut out = String::from("flowchart TD\n");
        for (i, node) in nodes.iter().enumerate() {
            let label = mermaid_escape(&label(node));
            if data.input_at(i as u32).is_some() {
                let _ = writeln!(out, "    t{i}[/\"{label}\"/]");
            } else {
                let _ = writeln!(out, "    t{i}[\"{label}\"]");
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            for edge in node.edges.iter() {
                let _ = writeln!(
                    out,
                    "    t{} -->|{}| t{i}",
                    edge.upstream,
                    mermaid_escape(edge.name)
                );
            }
            for upstream in &node.after {
                let _ = writeln!(out, "    t{upstream} -.-> t{i}");
            }
        }
        out
    }

    /// The flow's graph in Graphviz DOT: one node per task, a labelled edge per data edge
    /// and a dashed edge per order-only edge. Inputs have `shape=parallelogram`.
    ///
    /// # Examples
    ///
    /// ```
    /// use flowcore::{Flow, task};
    ///
    /// #[task]
    /// async fn load() -> u32 { 1 }
    ///
    /// let mut flow = Flow::new("etl");
    /// flow.add(load());
    /// assert_eq!(flow.to_dot(), "digraph \"etl\" {\n    t0 [label=\"load\"];\n}\n");
    /// ```
    pub fn to_dot(&self) -> String {
        let data = self.data();
        let nodes = &data.nodes;
        let mut out = format!("digraph \"{}\" {{\n", dot_escape(self.name()));
        for (i, node) in nodes.iter().enumerate() {
            let label = dot_escape(&label(node));
            if data.input_at(i as u32).is_some() {
                let _ = writeln!(out, "    t{i} [label=\"{label}\", shape=parallelogram];");
            } else {
                let _ = writeln!(out, "    t{i} [label=\"{label}\"];");
            }
        }
        for (i, node) in nodes.iter().enumerate() {
            for edge in node.edges.iter() {
                let _ = writeln!(
                    out,
                    "    t{} -> t{i} [label=\"{}\"];",
                    edge.upstream,
                    dot_escape(edge.name)
                );
            }
            for upstream in &node.after {
                let _ = writeln!(out, "    t{upstream} -> t{i} [style=dashed];");
            }
        }
        out.push_str("}\n");
        out
    }
}

fn label(node: &Node) -> String {
    match node.options.trigger() {
        Trigger::AllSuccessful => node.name.to_string(),
        trigger => format!("{} ({})", node.name, trigger.name()),
    }
}

fn mermaid_escape(text: &str) -> String {
    text.replace('"', "#quot;").replace('|', "#124;")
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}
