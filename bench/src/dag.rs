//! The workloads, shared by every system, and the values they must produce: static graphs
//! (chain, fanout, layered) and a task mapped over items (mapped).

use std::fmt;

/// The seed of the layered workload's generator, the same for every system and run.
pub(crate) const LAYERED_SEED: u64 = 0x5EED_F10C_0DE5_1234;

/// How many layers the layered workload has.
pub(crate) const LAYERS: usize = 100;

/// A benchmark workload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Workload {
    /// N tasks, each depending on the previous one.
    Chain,
    /// One source, N children, one sink depending on all children.
    Fanout,
    /// 100 layers of N/100 tasks, each depending on 2 or 3 tasks of the layer before.
    Layered,
    /// One source producing N items, and one task mapped over them: N children, their
    /// number known only once the source has run. Not a static graph: see [`Mapped`].
    Mapped,
}

impl Workload {
    pub(crate) const ALL: [Workload; 4] = [
        Workload::Chain,
        Workload::Fanout,
        Workload::Layered,
        Workload::Mapped,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Workload::Chain => "chain",
            Workload::Fanout => "fanout",
            Workload::Layered => "layered",
            Workload::Mapped => "mapped",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A workload at a size: a static graph, or a task mapped over items.
#[derive(Debug)]
pub(crate) enum Graph {
    Dag(Dag),
    Mapped(Mapped),
}

impl Graph {
    /// The graph of `workload` at size `size`.
    pub(crate) fn new(workload: Workload, size: usize) -> Result<Graph, String> {
        match workload {
            Workload::Mapped => Mapped::new(size).map(Graph::Mapped),
            _ => Dag::new(workload, size).map(Graph::Dag),
        }
    }

    /// How many tasks a run executes.
    pub(crate) fn len(&self) -> usize {
        match self {
            Graph::Dag(dag) => dag.len(),
            Graph::Mapped(mapped) => mapped.len(),
        }
    }

    /// The digest a correct run produces, computed directly.
    pub(crate) fn expected_digest(&self) -> u64 {
        match self {
            Graph::Dag(dag) => dag.expected_digest(),
            Graph::Mapped(mapped) => mapped.expected_digest(),
        }
    }
}

/// The mapped workload: a source task whose value is the N items `0, 1, .., N - 1`, and a
/// task mapped over them, one child per item. The number of children is not part of the
/// graph: it is the length of the source's value, known once the source has run.
///
/// A child's value follows the other workloads' rule with its item as its one upstream
/// value: item + 1. The mapped task's value is its children's values in item order, and the
/// digest of a run is their wrapping sum (the children are the terminal tasks), N(N + 1)/2.
/// [`Mapped::digest`] also checks that the values are in item order.
///
/// A run executes N + 1 tasks: the source and the N children.
#[derive(Debug)]
pub(crate) struct Mapped {
    items: usize,
}

impl Mapped {
    fn new(items: usize) -> Result<Mapped, String> {
        if items == 0 {
            return Err("the size must be at least 1".to_string());
        }
        if items > u32::MAX as usize / 4 {
            return Err(format!("the size {items} is too large"));
        }
        Ok(Mapped { items })
    }

    /// How many items the source produces: the number of children.
    pub(crate) fn items(&self) -> usize {
        self.items
    }

    /// How many tasks a run executes: the source and one child per item.
    pub(crate) fn len(&self) -> usize {
        self.items + 1
    }

    /// The source's value: the items to map over.
    pub(crate) fn source(items: usize) -> Vec<u64> {
        (0..items as u64).collect()
    }

    /// A child's value from its item.
    pub(crate) fn child(item: u64) -> u64 {
        sum_plus_one([item])
    }

    /// The digest of a run from the mapped task's value (its children's values, in the
    /// order the system returned them): their wrapping sum, or an error when they are not
    /// one value per item in item order.
    pub(crate) fn digest(&self, values: &[u64]) -> Result<u64, String> {
        if values.len() != self.items {
            return Err(format!("{} values for {} items", values.len(), self.items));
        }
        for (index, &value) in values.iter().enumerate() {
            let expected = Mapped::child(index as u64);
            if value != expected {
                return Err(format!(
                    "item {index} has the value {value}, expected {expected} (not in item order?)"
                ));
            }
        }
        Ok(digest(values.iter().copied()))
    }

    /// The digest a correct run produces, computed directly.
    pub(crate) fn expected_digest(&self) -> u64 {
        digest((0..self.items as u64).map(Mapped::child))
    }
}

/// A DAG in topological order: task `i` depends only on tasks before it.
///
/// Every task's value is the wrapping sum of its upstream values plus one. The digest of
/// a run is the wrapping sum of the values of the terminal tasks (those nothing depends
/// on): N for a chain of N, 2N + 1 for a fan-out of N children.
#[derive(Debug)]
pub(crate) struct Dag {
    /// `upstream[offsets[i]..offsets[i + 1]]` are the upstream tasks of task `i`.
    offsets: Vec<u32>,
    upstream: Vec<u32>,
    /// The tasks nothing depends on, ascending.
    terminal: Vec<u32>,
}

impl Dag {
    /// The graph of `workload` at size `size`; an error for the mapped workload, which is
    /// not a static graph.
    pub(crate) fn new(workload: Workload, size: usize) -> Result<Dag, String> {
        if size == 0 {
            return Err("the size must be at least 1".to_string());
        }
        if size > u32::MAX as usize / 4 {
            return Err(format!("the size {size} is too large"));
        }
        let mut builder = Builder::with_capacity(size);
        match workload {
            Workload::Chain => {
                builder.push(&[]);
                for task in 1..size as u32 {
                    builder.push(&[task - 1]);
                }
            }
            Workload::Fanout => {
                builder.push(&[]);
                for _ in 0..size {
                    builder.push(&[0]);
                }
                let children: Vec<u32> = (1..=size as u32).collect();
                builder.push(&children);
            }
            Workload::Layered => {
                let width = size / LAYERS;
                if width == 0 {
                    return Err(format!(
                        "the layered workload needs at least {LAYERS} tasks ({LAYERS} layers)"
                    ));
                }
                let mut rng = SplitMix64(LAYERED_SEED);
                for _ in 0..width {
                    builder.push(&[]);
                }
                let mut picked = Vec::with_capacity(3);
                for layer in 1..LAYERS {
                    let previous = ((layer - 1) * width) as u32;
                    for _ in 0..width {
                        let wanted = (2 + rng.next() % 2) as usize;
                        let wanted = wanted.min(width);
                        picked.clear();
                        while picked.len() < wanted {
                            let up = previous + (rng.next() % width as u64) as u32;
                            if !picked.contains(&up) {
                                picked.push(up);
                            }
                        }
                        builder.push(&picked);
                    }
                }
            }
            Workload::Mapped => {
                return Err("the mapped workload is not a static graph".to_string());
            }
        }
        Ok(builder.finish())
    }

    /// How many tasks the graph has.
    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// How many edges the graph has.
    #[cfg(test)]
    pub(crate) fn n_edges(&self) -> usize {
        self.upstream.len()
    }

    /// The upstream tasks of `task`, ascending by position in the graph.
    pub(crate) fn upstream(&self, task: usize) -> &[u32] {
        &self.upstream[self.offsets[task] as usize..self.offsets[task + 1] as usize]
    }

    /// The tasks nothing depends on, ascending.
    pub(crate) fn terminal(&self) -> &[u32] {
        &self.terminal
    }

    /// The digest a correct run produces, computed directly.
    pub(crate) fn expected_digest(&self) -> u64 {
        let mut values = Vec::with_capacity(self.len());
        for task in 0..self.len() {
            let value = sum_plus_one(self.upstream(task).iter().map(|&up| values[up as usize]));
            values.push(value);
        }
        digest(self.terminal.iter().map(|&task| values[task as usize]))
    }
}

/// A task's value from its upstream values: their wrapping sum plus one.
pub(crate) fn sum_plus_one(upstream: impl IntoIterator<Item = u64>) -> u64 {
    upstream.into_iter().fold(1, u64::wrapping_add)
}

/// The digest of a run from the values of its terminal tasks.
pub(crate) fn digest(terminal: impl IntoIterator<Item = u64>) -> u64 {
    terminal.into_iter().fold(0, u64::wrapping_add)
}

struct Builder {
    offsets: Vec<u32>,
    upstream: Vec<u32>,
}

impl Builder {
    fn with_capacity(size: usize) -> Builder {
        let mut offsets = Vec::with_capacity(size + 3);
        offsets.push(0);
        Builder {
            offsets,
            upstream: Vec::with_capacity(size * 3),
        }
    }

    fn push(&mut self, upstream: &[u32]) {
        self.upstream.extend_from_slice(upstream);
        self.offsets.push(self.upstream.len() as u32);
    }

    fn finish(self) -> Dag {
        let n = self.offsets.len() - 1;
        let mut has_downstream = vec![false; n];
        for &up in &self.upstream {
            has_downstream[up as usize] = true;
        }
        let terminal = (0..n as u32)
            .filter(|&task| !has_downstream[task as usize])
            .collect();
        Dag {
            offsets: self.offsets,
            upstream: self.upstream,
            terminal,
        }
    }
}

/// The splitmix64 generator: small, seeded, the same on every platform.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_ends_in_its_length() {
        let dag = Dag::new(Workload::Chain, 1000).unwrap();
        assert_eq!(dag.len(), 1000);
        assert_eq!(dag.n_edges(), 999);
        assert_eq!(dag.terminal(), &[999]);
        assert_eq!(dag.expected_digest(), 1000);
    }

    #[test]
    fn a_fanout_sinks_into_twice_its_width_plus_one() {
        let dag = Dag::new(Workload::Fanout, 1000).unwrap();
        assert_eq!(dag.len(), 1002);
        assert_eq!(dag.n_edges(), 2000);
        assert_eq!(dag.terminal(), &[1001]);
        assert_eq!(dag.upstream(1001).len(), 1000);
        assert_eq!(dag.expected_digest(), 2001);
    }

    #[test]
    fn layered_tasks_depend_on_two_or_three_distinct_tasks_of_the_layer_before() {
        let dag = Dag::new(Workload::Layered, 1000).unwrap();
        assert_eq!(dag.len(), 1000);
        let width = 10;
        for task in 0..dag.len() {
            let ups = dag.upstream(task);
            let layer = task / width;
            if layer == 0 {
                assert!(ups.is_empty());
                continue;
            }
            assert!((2..=3).contains(&ups.len()), "task {task}: {ups:?}");
            for (i, &up) in ups.iter().enumerate() {
                assert_eq!(up as usize / width, layer - 1, "task {task}: {ups:?}");
                assert!(!ups[..i].contains(&up), "task {task}: {ups:?}");
            }
        }
        for last in 990..1000 {
            assert!(dag.terminal().contains(&last));
        }
    }

    #[test]
    fn the_layered_graph_is_the_same_every_time() {
        let a = Dag::new(Workload::Layered, 10_000).unwrap();
        let b = Dag::new(Workload::Layered, 10_000).unwrap();
        assert_eq!(a.upstream, b.upstream);
        assert_eq!(a.offsets, b.offsets);
        assert_eq!(a.expected_digest(), b.expected_digest());
    }

    #[test]
    fn layered_needs_a_task_per_layer() {
        assert!(Dag::new(Workload::Layered, 99).is_err());
        assert_eq!(Dag::new(Workload::Layered, 150).unwrap().len(), 100);
        assert!(Dag::new(Workload::Chain, 0).is_err());
    }

    #[test]
    fn mapped_children_are_their_items_plus_one() {
        let Graph::Mapped(mapped) = Graph::new(Workload::Mapped, 1000).unwrap() else {
            panic!("not mapped");
        };
        assert_eq!(mapped.items(), 1000);
        assert_eq!(mapped.len(), 1001);
        assert_eq!(Mapped::source(4), [0, 1, 2, 3]);
        assert_eq!(mapped.expected_digest(), 1000 * 1001 / 2);
        let values: Vec<u64> = Mapped::source(1000)
            .into_iter()
            .map(Mapped::child)
            .collect();
        assert_eq!(mapped.digest(&values), Ok(mapped.expected_digest()));
        assert_eq!(Graph::new(Workload::Mapped, 1000).unwrap().len(), 1001);
    }

    #[test]
    fn mapped_values_must_be_one_per_item_in_item_order() {
        let Graph::Mapped(mapped) = Graph::new(Workload::Mapped, 3).unwrap() else {
            panic!("not mapped");
        };
        assert_eq!(mapped.digest(&[1, 2, 3]), Ok(6));
        assert!(mapped.digest(&[2, 1, 3]).is_err());
        assert!(mapped.digest(&[1, 2]).is_err());
        assert!(Graph::new(Workload::Mapped, 0).is_err());
        assert!(Dag::new(Workload::Mapped, 3).is_err());
    }
}
