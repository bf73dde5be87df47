//! The validated graph of a flow: upstream and downstream adjacency, cycle detection, terminal tasks.

use crate::block::Block;
use crate::error::BuildError;
use crate::flow::Node;

/// Adjacency in compressed rows: the neighbours of task `i` are `items[start[i]..start[i + 1]]`.
#[derive(Debug)]
pub(crate) struct Adjacency {
    start: Vec<u32>,
    items: Vec<u32>,
}

impl Adjacency {
    pub(crate) fn of(&self, task: u32) -> &[u32] {
        let task = task as usize;
        &self.items[self.start[task] as usize..self.start[task + 1] as usize]
    }
}

/// A flow's graph, checked to be acyclic: what the runner walks.
#[derive(Debug)]
pub(crate) struct Graph {
    /// Each task's distinct upstream tasks (data and order-only edges).
    pub(crate) upstream: Adjacency,
    /// Each task's distinct downstream tasks.
    pub(crate) downstream: Adjacency,
    /// The tasks whose states decide the flow's final state: main tasks only.
    pub(crate) reference: Vec<u32>,
    /// The tasks of the `errors` and `finally` blocks, in the order they were added.
    pub(crate) errors: Vec<u32>,
    pub(crate) finally: Vec<u32>,
}

impl Graph {
    /// Builds the adjacency of `nodes`; `may_have_cycle` is false when every edge points
    /// from a lower index to a higher one, which rules cycles out without a search.
    pub(crate) fn build(
        nodes: &[Node],
        reference: Option<&[u32]>,
        may_have_cycle: bool,
    ) -> Result<Graph, BuildError> {
        let n_tasks = nodes.len();
        let mut start = Vec::with_capacity(n_tasks + 1);
        let mut items = Vec::with_capacity(n_tasks);
        let mut n_downstream = vec![0u32; n_tasks];
        // `last_seen[u]` is one more than the last task that listed `u` as an upstream,
        // which keeps each task's upstream list distinct in time linear in its edges.
        let mut last_seen = vec![0u32; n_tasks];
        start.push(0u32);
        for (task, node) in nodes.iter().enumerate() {
            let mark = task as u32 + 1;
            let edges = node.edges.iter().map(|edge| edge.upstream);
            for upstream in edges.chain(node.after.iter().copied()) {
                let seen = &mut last_seen[upstream as usize];
                if *seen != mark {
                    *seen = mark;
                    items.push(upstream);
                    n_downstream[upstream as usize] += 1;
                }
            }
            start.push(items.len() as u32);
        }
        let upstream = Adjacency { start, items };
        let (mut errors, mut finally) = (Vec::new(), Vec::new());
        for (task, node) in nodes.iter().enumerate() {
            match node.block {
                Block::Main => continue,
                Block::Errors => errors.push(task as u32),
                Block::Finally => finally.push(task as u32),
            }
        }
        if !errors.is_empty() || !finally.is_empty() {
            check_block_order(nodes, &upstream)?;
        }

        let mut down_start = Vec::with_capacity(n_tasks + 1);
        let mut total = 0u32;
        down_start.push(0);
        for count in &n_downstream {
            total += count;
            down_start.push(total);
        }
        let mut fill: Vec<u32> = down_start[..n_tasks].to_vec();
        let mut down_items = vec![0u32; total as usize];
        for task in 0..n_tasks as u32 {
            for &up in upstream.of(task) {
                let slot = &mut fill[up as usize];
                down_items[*slot as usize] = task;
                *slot += 1;
            }
        }
        let downstream = Adjacency {
            start: down_start,
            items: down_items,
        };

        if may_have_cycle {
            check_acyclic(nodes, &upstream, &downstream)?;
        }

        let reference = match reference {
            Some(reference) => {
                if let Some(&task) = reference
                    .iter()
                    .find(|&&task| nodes[task as usize].block != Block::Main)
                {
                    let node = &nodes[task as usize];
                    return Err(BuildError::ReferenceOutsideMain {
                        task: node.name.to_string(),
                        block: node.block.name(),
                    });
                }
                reference.to_vec()
            }
            // The terminal main tasks: an edge into `errors` or `finally` does not count.
            None => (0..n_tasks as u32)
                .filter(|&task| {
                    nodes[task as usize].block == Block::Main
                        && downstream
                            .of(task)
                            .iter()
                            .all(|&down| nodes[down as usize].block != Block::Main)
                })
                .collect(),
        };
        Ok(Graph {
            upstream,
            downstream,
            reference,
            errors,
            finally,
        })
    }
}

/// Every edge points into the same block or a later one.
fn check_block_order(nodes: &[Node], upstream: &Adjacency) -> Result<(), BuildError> {
    for (task, node) in nodes.iter().enumerate() {
        for &up in upstream.of(task as u32) {
            let up = &nodes[up as usize];
            if up.block > node.block {
                return Err(BuildError::BlockOrder {
                    task: node.name.to_string(),
                    block: node.block.name(),
                    upstream: up.name.to_string(),
                    upstream_block: up.block.name(),
                });
            }
        }
    }
    Ok(())
}

/// Kahn's algorithm; on a cycle, names the tasks of one cycle in order.
fn check_acyclic(
    nodes: &[Node],
    upstream: &Adjacency,
    downstream: &Adjacency,
) -> Result<(), BuildError> {
    let n_tasks = nodes.len();
    let mut remaining: Vec<u32> = (0..n_tasks as u32)
        .map(|task| upstream.of(task).len() as u32)
        .collect();
    let mut ready: Vec<u32> = (0..n_tasks as u32)
        .filter(|&task| remaining[task as usize] == 0)
        .collect();
    let mut n_done = 0;
    while let Some(task) = ready.pop() {
        n_done += 1;
        for &down in downstream.of(task) {
            remaining[down as usize] -= 1;
            if remaining[down as usize] == 0 {
                ready.push(down);
            }
        }
    }
    if n_done == n_tasks {
        return Ok(());
    }
    // Every task left has an upstream task that is also left: walk upstream until a task repeats.
    let mut seen_at = vec![u32::MAX; n_tasks];
    let mut path = Vec::new();
    let mut task = (0..n_tasks as u32)
        .find(|&task| remaining[task as usize] > 0)
        .expect("a task is left when Kahn's algorithm stops early");
    while seen_at[task as usize] == u32::MAX {
        seen_at[task as usize] = path.len() as u32;
        path.push(task);
        task = *upstream
            .of(task)
            .iter()
            .find(|&&up| remaining[up as usize] > 0)
            .expect("a task on a cycle has an upstream task on the cycle");
    }
    let mut cycle: Vec<String> = path[seen_at[task as usize] as usize..]
        .iter()
        .rev()
        .map(|&task| nodes[task as usize].name.to_string())
        .collect();
    // Start the cycle at its smallest name so the message is stable.
    let min = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap_or(0);
    cycle.rotate_left(min);
    Err(BuildError::Cycle { tasks: cycle })
}
